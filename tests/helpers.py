"""Builders for test plugins: skill folders, plugin modules, and installed-looking distributions."""

from __future__ import annotations

import textwrap
from pathlib import Path


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
from minillm_core.hookspecs import hookimpl
from minillm_core.options import Option
from minillm_core.skill import Skill, StageResult

def run(ctx):
    print("noise from print")                  # must not reach stdout under --json
    os.write(1, b"noise from the fd\\n")          # nor this, written below Python
    return StageResult(f"echoed {ctx.settings['word']}", metrics={"word": ctx.settings["word"]})

@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent / "echo", run=run,
                               options={"word": Option("word", str, "hello", "what to echo")}))
'''
