"""bot-start: the whole pipeline; the runner runs the steps listed in its SKILL.md metadata."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Skill, hookimpl


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent))
