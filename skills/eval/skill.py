"""eval: sample answers, held-out perplexity and lm_eval accuracies for each trained stage model."""

from __future__ import annotations

from pathlib import Path

from minillm_core.hookspecs import hookimpl
from minillm_core.options import Option
from minillm_core.skill import Check, Skill, SkillError, StageContext, StageResult

STAGE_MODELS = ("out/pretrain", "out/sft", "out/dpo")
OPTIONS = {
    "models": Option("models", str, None, "comma-separated model folders (default: every stage model present)"),
    "prompts": Option("prompts", str, None, "text file of prompts, one per line", is_path=True),
    "tasks": Option("tasks", str, None, "comma-separated extra lm_eval task names"),
    "limit": Option("limit", int, None, "at most this many examples per task"),
}


def checks(ctx: StageContext) -> list[Check]:
    if ctx.settings["models"]:
        return []
    present = [path for path in STAGE_MODELS if ctx.path(path).exists()]
    return [Check("a trained model to evaluate", bool(present),
                  f"found {', '.join(present)}" if present else f"none of {', '.join(STAGE_MODELS)} exists",
                  made_by="pretrain", hint="run `minillm-skill run pretrain` (or bot-start) first")]


def run(ctx: StageContext) -> StageResult:
    raise SkillError("eval is not implemented yet", hint="follow the project's bot-start issue")


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS, checks=checks))
