"""A stage's preconditions, evaluated before anything runs: the outputs of the skills it `requires` exist
(or an earlier stage of the same run makes them, or `init` names another model), and the skill's own checks.
A failing one says what to run first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from minillm_core.contract.skill import Check
from minillm_core.plugins.host import PluginHost
from minillm_core.runner import stamps

if TYPE_CHECKING:  # the runner imports this module: a type-only reference keeps one direction
    from minillm_core.runner.plan import Stage


def evaluate_checks(host: PluginHost, stage: Stage, earlier: set[str]) -> list[Check]:
    checks = [_requirement(host, stage, required, earlier) for required in stage.skill.requires]
    init = stage.context.settings.get("init") if "init" in stage.skill.options else None
    if init and not stage.skill.requires:  # with requires, _requirement checks init in their place
        checks.append(_init_check(init))
    extra = stage.skill.checks(stage.context) if stage.skill.checks else []
    for check in extra:
        if not check.holds and check.made_by in earlier:
            check = Check(check.what, True, f"made by {check.made_by} earlier in this run", check.made_by)
        checks.append(check)
    return checks


def _requirement(host: PluginHost, stage: Stage, required: str, earlier: set[str]) -> Check:
    """A skill reads another's outputs: they exist, an earlier stage makes them, or `init` replaces them."""
    ctx = stage.context
    if "init" in ctx.explicit and ctx.settings.get("init"):
        return _init_check(ctx.settings["init"])
    producer = host.skills.get(required)
    if producer is None:
        return Check(f"outputs of skill '{required}'", False, f"skill '{required}' is not installed",
                     hint="`minillm-skill list` shows the installed skills")
    outputs = ", ".join(producer.produces) or f"a finished {required} run"
    what = f"the output of {required} ({outputs})"
    if required in earlier:
        return Check(what, True, f"made by {required} earlier in this run", required)
    if is_complete(host, ctx.workdir, required):
        return Check(what, True, f"found {outputs}", required)
    hint = _run_first_hint(host, ctx.workdir, required, earlier)
    if "init" in stage.skill.options:
        hint += ", or `--set init=PATH` to start from another model"
    return Check(what, False, f"missing: {outputs} in {ctx.workdir}", required, hint)


def _run_first_hint(host: PluginHost, workdir: Path, required: str, earlier: set[str]) -> str:
    """The whole way to `required`'s outputs: every missing skill it needs, in order, from their `requires`,
    and a skill made of steps that runs them all, when there is one."""
    chain: list[str] = []

    def visit(name: str) -> None:
        if name in chain or name in earlier or (name != required and is_complete(host, workdir, name)):
            return
        for needed in getattr(host.skills.get(name), "requires", ()):
            visit(needed)
        chain.append(name)

    visit(required)
    commands = ", then ".join(f"`minillm-skill run {name}`" for name in chain)
    if len(chain) == 1:
        return f"run {commands} first"
    covering = sorted((s for s in host.skills.values() if s.steps and set(chain) <= set(s.steps)),
                      key=lambda s: len(s.steps))
    return f"run `minillm-skill run {covering[0].name}` (or {commands})" if covering else f"run {commands}"


def _init_check(init: str) -> Check:
    what = "the model given by init"
    if Path(init).is_absolute():
        if not Path(init).exists():
            return Check(what, False, f"missing: {init}", hint="check the path given to `--set init=...`")
        if not (Path(init) / "config.json").is_file():
            return Check(what, False, f"{init} is not a model folder (it has no config.json)",
                         hint="`--set init=` a folder a stage saved (out/pretrain, say) or a Hugging Face hub id")
        return Check(what, True, f"found {init}")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = isinstance(try_to_load_from_cache(init, "config.json"), str)
        except Exception:  # not a valid hub id
            cached = False
        if not cached:
            return Check(what, False, f"hub id {init} is not in the local cache, and HF_HUB_OFFLINE is set",
                         hint="unset HF_HUB_OFFLINE to download it, or `--set init=` a local model folder")
        return Check(what, True, f"hub id {init}, in the local cache")
    return Check(what, True, f"hub id {init}, fetched when the stage runs")


def is_complete(host: PluginHost, workdir: Path, skill_name: str) -> bool:
    """A skill's outputs are complete when its last run succeeded and every output still exists."""
    skill = host.skills.get(skill_name)
    if skill is None or not skill.produces or not stamps.stamp_path(workdir, skill_name).exists():
        return False
    return all((workdir / path).exists() for path in skill.produces)
