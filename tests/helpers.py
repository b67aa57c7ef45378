"""What several test files share: builders for test plugins (skill folders, plugin modules, installed-looking
distributions), the CLI runner, a random tiny model, a tool call's text."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.contract.skill import Skill
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.plugins.host import get_host


def make_skill_folder(root: Path, name: str, description: str = "A skill made by a test.",
                      metadata: dict[str, str] | None = None) -> Path:
    """skills/<name>/SKILL.md with valid front matter."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    meta = "".join(f'\n  {key}: "{value}"' for key, value in (metadata or {}).items())
    front = f"name: {name}\ndescription: {description}" + (f"\nmetadata:{meta}" if meta else "")
    (folder / "SKILL.md").write_text(f"---\n{front}\n---\n\n# {name}\n\nUsed by the test suite.\n")
    return folder


def make_distribution(site: Path, dist_name: str, module_name: str, module_source: str,
                      version: str = "1.0") -> None:
    """An installed-looking package in `site`: a module and a dist-info with a `minillm_skill` entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[minillm_skill]\n{dist_name} = {module_name}\n")


# A plugin module adding one skill, "echo", whose folder sits beside the module.
ECHO_PLUGIN = '''
from pathlib import Path
import os, sys
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.contract.options import Option
from minillm_core.contract.skill import Skill, StageResult

def run(ctx):
    print("noise from print")                  # must not reach stdout under --json
    os.write(1, b"noise from the fd\\n")          # nor this, written below Python
    return StageResult(f"echoed {ctx.settings['word']}", metrics={"word": ctx.settings["word"]})

@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent / "echo", run=run,
                               options={"word": Option("word", str, "hello", "what to echo")}))
'''


class SkillsPlugin:
    """An in-process plugin adding the given skills."""

    def __init__(self, *skills: Skill):
        self.skills = skills

    @hookimpl
    def register_skills(self, register):
        for skill in self.skills:
            register(skill)


def add_test_skill(tmp_path: Path, name: str, run, **metadata: str) -> Skill:
    skill = Skill.from_folder(make_skill_folder(tmp_path / "skills", name, metadata=metadata), run=run)
    get_host().register(SkillsPlugin(skill), name=f"test-{name}")
    return skill


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def save_tiny_model(folder: Path, seed: int, chat: bool = True) -> Path:
    """A random tiny model; a chat model's tokenizer carries the chat template, a base model's none."""
    import torch

    from minillm_core.model.presets import build_model, model_config, vocab_size_for
    from minillm_core.model.tokenizer import load_tokenizer, with_chat_template

    torch.manual_seed(seed)
    tokenizer = with_chat_template(load_tokenizer()) if chat else load_tokenizer()
    build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def call_text(name: str, **arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


EMBEDDED = Path(__file__).resolve().parents[1] / "dataset" / "embedded"


def read_embedded(name: str) -> list[dict]:
    """The records of a file of the embedded dataset."""
    return [json.loads(line) for line in (EMBEDDED / name).read_text(encoding="utf-8").splitlines()]


def line_model():
    """One linear layer that returns the loss a transformers Trainer reads: a model of milliseconds a step, for
    tests of the training loop around it (resuming, out of memory)."""
    import torch

    class Line(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def forward(self, x, labels):
            return {"loss": torch.nn.functional.mse_loss(self.layer(x), labels)}

    return Line()


def wait_for(condition, what: str, timeout: float = 120, poll: float = 0.3):
    """`condition()`'s first true value, polled every `poll` seconds; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)
    return value
