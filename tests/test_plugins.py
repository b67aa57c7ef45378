"""Third-party plugins from entry points: loaded one at a time, and a broken one breaks nothing else."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.plugins.host import PluginHost, get_host
from tests.helpers import ECHO_PLUGIN, make_distribution, make_skill_folder

RAISES_ON_IMPORT = "raise RuntimeError('this plugin cannot import')\n"
HOOK_RAISES = '''
from minillm_core.plugins.hookspecs import hookimpl

@hookimpl
def register_skills(register):
    raise ValueError("this hook is broken")
'''
CLASHES = '''
from pathlib import Path
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.contract.skill import Skill, StageResult

@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent / "sft", run=lambda ctx: StageResult("not the real sft")))
'''
BAD_SKILL_MD = '''
from pathlib import Path
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.contract.skill import Skill, StageResult

@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent / "badly-named", run=lambda ctx: StageResult("never")))
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path that holds test distributions, as site-packages would."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("MINILLM_LOAD_PLUGINS")
    return site


def install_all(site):
    make_distribution(site, "minillm-skill-echo", "echo_plugin", ECHO_PLUGIN, version="2.1")
    make_skill_folder(site, "echo")
    make_distribution(site, "minillm-skill-broken-import", "broken_import", RAISES_ON_IMPORT)
    make_distribution(site, "minillm-skill-broken-hook", "broken_hook", HOOK_RAISES)
    make_distribution(site, "minillm-skill-clash", "clash_plugin", CLASHES)
    make_skill_folder(site, "sft")
    make_distribution(site, "minillm-skill-bad-md", "bad_md_plugin", BAD_SKILL_MD)
    folder = make_skill_folder(site, "badly-named")
    (folder / "SKILL.md").write_text("---\nname: Not_Kebab\ndescription: x\n---\n")


def test_broken_plugins_are_reported_and_everything_else_works(site, tmp_path):
    install_all(site)
    host = get_host()
    assert "sft" in host.skills and host.skills["sft"].source == "builtin"  # the clash did not win
    assert host.skills["echo"].source == "minillm-skill-echo"
    problems = {p.plugin: p for p in host.problems}
    assert problems["minillm-skill-broken-import"].when == "import"
    assert "this plugin cannot import" in problems["minillm-skill-broken-import"].error
    assert problems["minillm-skill-broken-hook"].when == "register_skills"
    assert "this hook is broken" in problems["minillm-skill-broken-hook"].error
    assert "skill 'sft' is already registered by builtin" in problems["minillm-skill-clash"].error
    assert "name must be kebab-case" in problems["minillm-skill-bad-md"].error

    result = CliRunner().invoke(cli, ["run", "echo", "--workdir", str(tmp_path), "--set", "word=hi", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["stages"][0]["summary"] == "echoed hi"
    reported = {p["plugin"] for p in report["plugin_errors"]}
    assert {"minillm-skill-broken-import", "minillm-skill-broken-hook"} <= reported


def test_plugins_command_shows_versions_hooks_skills_and_errors(site):
    install_all(site)
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["minillm-skill-echo"] == {
        "name": "minillm-skill-echo", "distribution": "minillm-skill-echo", "version": "2.1",
        "hooks": ["register_skills"], "skills": ["echo"], "formats": [], "errors": []}
    assert plugins["minillm-skill-broken-import"]["errors"] == [
        "import: RuntimeError: this plugin cannot import"]
    text = CliRunner().invoke(cli, ["plugins"]).stdout
    assert "minillm-skill-echo (minillm-skill-echo 2.1): hooks register_skills; skills echo" in text
    assert "ERROR import: RuntimeError: this plugin cannot import" in text


def test_load_plugins_variable_chooses_which_load(site, monkeypatch):
    install_all(site)
    monkeypatch.setenv("MINILLM_LOAD_PLUGINS", "minillm-skill-echo")
    host = PluginHost()
    assert "echo" in host.skills and host.problems == []
    monkeypatch.setenv("MINILLM_LOAD_PLUGINS", "")
    assert "echo" not in PluginHost().skills


def test_strict_mode_makes_plugin_errors_fatal(site, monkeypatch):
    make_distribution(site, "minillm-skill-broken-import", "broken_import", RAISES_ON_IMPORT)
    monkeypatch.setenv("MINILLM_STRICT_PLUGINS", "1")
    with pytest.raises(RuntimeError, match="this plugin cannot import"):
        PluginHost()


def test_a_stage_observer_that_raises_does_not_fail_the_stage(tmp_path):
    from minillm_core.plugins.hookspecs import hookimpl

    seen = []

    class Observer:
        @hookimpl
        def stage_started(self, stage):
            seen.append(("started", stage))

        @hookimpl
        def stage_finished(self, stage, result):
            seen.append(("finished", stage, result.status))
            raise RuntimeError("tracker is down")

    get_host().register(Observer(), name="observer")
    result = CliRunner().invoke(cli, ["run", "report", "--workdir", str(tmp_path), "--json"])
    assert result.exit_code == 0
    assert seen == [("started", "report"), ("finished", "report", "ok")]
    assert json.loads(result.stdout)["plugin_errors"] == [
        {"plugin": "observer", "error": "RuntimeError: tracker is down", "when": "stage_finished"}]
