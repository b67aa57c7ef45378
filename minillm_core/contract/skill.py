"""What a skill is: its SKILL.md (read by agents and by the runner) plus the Python that runs it.

The SKILL.md front matter is the single source of the skill's name, description, order and
preconditions (under `metadata`, as space-separated strings, per the Agent Skills spec):

    metadata:
      requires: "sft"            # skills whose outputs this skill reads
      produces: "out/dpo"        # paths under the work directory it writes (a re-run skips when unchanged)
      steps: "env-check ..."     # only for a skill that runs other skills in order (bot-start)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from minillm_core.contract.options import Option

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FRONT_MATTER_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}


class SkillDefinitionError(ValueError):
    """A skill folder whose SKILL.md is missing or does not follow the Agent Skills spec."""


class SkillError(Exception):
    """A clean, expected failure inside a skill: `message` says what went wrong, `hint` what to run."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass
class StageResult:
    """What a skill's `run` returns: one line for people, numbers for agents, files it wrote."""

    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    details: str = ""  # optional Markdown section for the report
    warnings: list[str] = field(default_factory=list)  # it ran, but a person should know (e.g. a worse model)
    hint: str | None = None  # what to run about the warnings


@dataclass
class StageContext:
    """Everything a skill's `run` may use. Paths in `settings` are already absolute."""

    skill: str
    workdir: Path
    settings: dict[str, Any]
    explicit: frozenset[str] = frozenset()  # the keys the user set (config file or --set)
    force: bool = False
    run_stages: tuple[str, ...] = ()  # every stage of this run, in order (bot-start: all seven)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("minillm"))
    on_note: Callable[..., None] | None = None  # set by the runner: the run's record, which `status` reads

    def path(self, relative: str | Path) -> Path:
        return self.workdir / relative

    def note(self, **fields: Any) -> None:
        """Tell `minillm-skill status` something about the running stage (its log files, say)."""
        if self.on_note:
            self.on_note(**fields)


@dataclass(frozen=True)
class Check:
    """One precondition of one stage, evaluated: does it hold, and if not, what makes it hold."""

    what: str
    holds: bool
    detail: str
    made_by: str | None = None
    hint: str | None = None
    figures: dict[str, Any] | None = None  # what the check measured or estimated (the training preflight's)

    def to_dict(self) -> dict[str, Any]:
        checked = {"what": self.what, "holds": self.holds, "detail": self.detail,
                   "made_by": self.made_by, "hint": self.hint}
        return {**checked, "figures": self.figures} if self.figures is not None else checked


RunFn = Callable[[StageContext], StageResult]
ChecksFn = Callable[[StageContext], list[Check]]
InputsFn = Callable[[StageContext], list[Path]]


@dataclass
class Skill:
    name: str
    description: str
    folder: Path
    run: RunFn | None = None
    options: Mapping[str, Option] = field(default_factory=dict)
    checks: ChecksFn | None = None  # preconditions beyond `requires`, evaluated in code
    inputs: InputsFn | None = None  # files the result depends on that settings only name (a re-run checks them)
    steps: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    source: str = "builtin"

    @property
    def skill_md(self) -> Path:
        return self.folder / "SKILL.md"

    @property
    def default_config(self) -> Path | None:
        """`config.yaml` beside SKILL.md: the skill's own settings, used when the user gives no --config."""
        path = self.folder / "config.yaml"
        return path if path.is_file() else None

    @classmethod
    def from_folder(cls, folder: Path, run: RunFn | None = None,
                    options: Mapping[str, Option] | None = None, checks: ChecksFn | None = None,
                    inputs: InputsFn | None = None) -> Skill:
        """Build a skill from `folder/SKILL.md`; `run` is None only for a skill made of `steps`."""
        front = read_front_matter(folder / "SKILL.md")
        meta = front.get("metadata") or {}
        skill = cls(name=front["name"], description=front["description"].strip(), folder=Path(folder),
                    run=run, options=dict(options or {}), checks=checks, inputs=inputs,
                    steps=_words(meta.get("steps")), requires=_words(meta.get("requires")),
                    produces=_words(meta.get("produces")))
        if skill.run is None and not skill.steps:
            raise SkillDefinitionError(f"{skill.skill_md}: a skill needs a run function or metadata.steps")
        return skill


def read_front_matter(skill_md: Path) -> dict[str, Any]:
    """Parse and check the YAML front matter of a SKILL.md, with errors that name the file."""
    try:
        text = skill_md.read_text(encoding="utf-8")
    except OSError as exc:
        raise SkillDefinitionError(f"{skill_md}: cannot read SKILL.md ({exc.strerror})") from exc
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    if not match:
        raise SkillDefinitionError(f"{skill_md}: no YAML front matter (a '---' block at the top)")
    try:
        front = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise SkillDefinitionError(f"{skill_md}: front matter is not valid YAML: {exc}") from exc
    problems = _front_matter_problems(front, skill_md.parent.name)
    if problems:
        raise SkillDefinitionError(f"{skill_md}: " + "; ".join(problems))
    return front


def _front_matter_problems(front: Any, folder_name: str) -> list[str]:
    if not isinstance(front, dict):
        return ["front matter must be a mapping"]
    problems = [f"unknown key '{key}'" for key in front if key not in _FRONT_MATTER_KEYS]
    name = front.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"name must be kebab-case, got {name!r}")
    elif name != folder_name:
        problems.append(f"name '{name}' must equal its folder name '{folder_name}'")
    if not isinstance(front.get("description"), str) or not front["description"].strip():
        problems.append("description must be a non-empty string")
    meta = front.get("metadata", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        problems.append("metadata must map strings to strings")
    return problems


def _words(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()
