"""eval: sample answers, held-out perplexity and lm_eval accuracies for each trained stage model."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Check, Option, Skill, StageContext, StageResult, hookimpl
from minillm_core.contract import at_least
from minillm_core.data import prompts_problem

STAGE_MODELS = ("out/pretrain", "out/sft", "out/dpo")
OPTIONS = {
    "models": Option("models", str, None, "comma-separated model folders (default: every stage model present)"),
    "prompts": Option("prompts", str, None, "text file of prompts, one per line", is_path=True,
                      valid=prompts_problem),
    "tasks": Option("tasks", str, None, "comma-separated extra lm_eval task names"),
    "limit": Option("limit", int, None, "at most this many examples per task", valid=at_least(1)),
    "baseline": Option("baseline", bool, True, "also measure an untrained model of the same architecture"),
    "samples": Option("samples", int, 3, "sampled answers per held-out prompt (T=0.7), for the consistency figure",
                      valid=at_least(0)),
    "arithmetic": Option("arithmetic", bool, True, "chat models: held-out multi-digit sums and products answered "
                                                   "directly, thinking first, with the calculator, and by majority"),
}


def model_paths(ctx: StageContext) -> dict[str, Path]:
    """The models to evaluate, by name: those `models` lists, else every stage model present in out/."""
    if not ctx.settings["models"]:
        return {Path(stage).name: ctx.path(stage) for stage in STAGE_MODELS if ctx.path(stage).is_dir()}
    paths: dict[str, Path] = {}
    for given in (part.strip() for part in ctx.settings["models"].split(",")):
        if given:
            path = _model_path(given, ctx.workdir)
            paths[path.name if path.name not in paths else f"{path.parent.name}/{path.name}"] = path
    return paths


def _model_path(given: str, workdir: Path) -> Path:
    """Absolute; else relative to the current directory when it is there; else to the work directory."""
    path = Path(given).expanduser()
    return path.resolve() if path.is_absolute() or path.exists() else (workdir / path).resolve()


def checks(ctx: StageContext) -> list[Check]:
    if ctx.settings["models"]:
        # One check per folder; a stage's own folder (out/sft) may be made by an earlier step of this run.
        makers = {ctx.path(stage).resolve(): Path(stage).name for stage in STAGE_MODELS}
        return [_folder_check(path, makers.get(path)) for path in model_paths(ctx).values()] or [
            Check("a model given by models", False, "models names no folder", hint="`--set models=PATH,...`")]
    present = [path for path in STAGE_MODELS if ctx.path(path).exists()]
    return [Check("a trained model to evaluate", bool(present),
                  f"found {', '.join(present)}" if present else f"none of {', '.join(STAGE_MODELS)} exists",
                  made_by="pretrain", hint="run `minillm-skill run pretrain` (or bot-start) first")]


def _folder_check(path: Path, made_by: str | None) -> Check:
    hint = f"run `minillm-skill run {made_by}` first" if made_by else "check the folders given to `--set models=...`"
    return Check(f"the model folder {path}", path.is_dir(), "found" if path.is_dir() else "missing",
                 made_by=made_by, hint=hint)


def model_folders(ctx: StageContext) -> list[Path]:
    """Eval's inputs: retrained models make a re-run evaluate again instead of reporting stale numbers."""
    return list(model_paths(ctx).values())


def run(ctx: StageContext) -> StageResult:
    from minillm_core.eval import run_eval  # torch, transformers and lm_eval load only when eval runs

    return run_eval(ctx, model_paths(ctx))


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS, checks=checks,
                               inputs=model_folders))
