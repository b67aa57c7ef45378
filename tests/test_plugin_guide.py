"""docs/plugins.md's minimal plugin works as printed: its files, built from the guide's code blocks, make a
skill that `list` shows and whose precondition `run` checks; its test example passes too."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.plugins.host import get_host, reset_host

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture
def hello_package(tmp_path, monkeypatch):
    """minillm_skill_hello as the guide lays it out, importable; the host reset after the test."""
    package = tmp_path / "minillm_skill_hello"
    (package / "hello").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(blocks("python")[0])
    (package / "hello" / "SKILL.md").write_text(blocks("markdown")[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    reset_host(None)
    for name in [name for name in sys.modules if name.startswith("minillm_skill_hello")]:
        del sys.modules[name]


def test_the_guides_pyproject_declares_the_entry_point():
    assert '[project.entry-points.minillm_skill]\nhello = "minillm_skill_hello.plugin"\n' in blocks("toml")[0]


def test_the_guides_plugin_adds_a_skill_with_its_option_and_precondition(hello_package, tmp_path):
    import minillm_skill_hello.plugin as plugin

    host = get_host()
    host.register(plugin, name="hello")
    assert host.get_skill("hello").requires == ("sft",)
    listed = CliRunner().invoke(cli, ["list"])
    assert "hello" in listed.output and "Say hello to the model" in listed.output
    result = CliRunner().invoke(cli, ["run", "hello", "--workdir", str(tmp_path / "work"), "--json"])
    assert result.exit_code == 3 and "minillm-skill run sft" in result.stdout


def test_the_guides_test_example_passes(hello_package):
    namespace: dict = {}
    test_block = next(block for block in blocks("python") if "def test_hello" in block)
    exec(compile(test_block, str(GUIDE), "exec"), namespace)  # noqa: S102 - our own documentation
    namespace["test_hello"](hello_package.parent / "work")
