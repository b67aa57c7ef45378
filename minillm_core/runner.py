"""The runner: resolve a skill into stages, check every precondition first, run, report.

    plan = make_plan(host, "bot-start", workdir, sets={"preset": "tiny"})
    report = run_plan(host, plan)     # also writes reports/latest.json and reports/latest.md

A stage whose outputs are complete and whose settings and inputs are unchanged since its last
successful run is skipped (its earlier result is reported) unless `force`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from minillm_core import final_model, stamps
from minillm_core.distributed import is_main_process
from minillm_core.gitcheck import git_check, git_state
from minillm_core.options import (
    OptionError,
    check_known_keys,
    collect_settings,
    load_config,
    parse_set_pairs,
    resolve_settings,
)
from minillm_core.outputs import OutputRefused, check_output
from minillm_core.plugins import PluginHost
from minillm_core.skill import Check, Skill, SkillError, StageContext, StageResult
from minillm_core.status import environment, write_reports


@dataclass
class Stage:
    skill: Skill
    context: StageContext
    checks: list[Check] = field(default_factory=list)


@dataclass
class Plan:
    name: str
    workdir: Path
    stages: list[Stage]
    force: bool = False

    @property
    def ready(self) -> bool:
        return all(check.holds for stage in self.stages for check in stage.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"skill": self.name, "dry_run": True, "ready": self.ready, "workdir": str(self.workdir),
                "stages": [{"skill": s.skill.name, "settings": s.context.settings,
                            "up_to_date": not self.force and stamps.is_up_to_date(s.skill, s.context),
                            "checks": [c.to_dict() for c in s.checks]} for s in self.stages]}


@dataclass
class StageRecord:
    skill: str
    status: str  # ok | failed | precondition_failed | skipped
    duration_s: float = 0.0
    summary: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    details: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_plan(host: PluginHost, name: str, workdir: Path, config: Path | None = None,
              sets: list[str] | tuple[str, ...] = (), cwd: Path | None = None, force: bool = False) -> Plan:
    """Resolve `name` into its stages with settings, and evaluate every precondition.

    Raises UnknownSkill or OptionError (both usage errors) before anything is run.
    """
    skill = host.get_skill(name)
    steps = [host.get_skill(step) for step in skill.steps] or [skill]
    workdir = Path(workdir).resolve()
    cwd = Path(cwd or Path.cwd()).resolve()
    config = config or skill.default_config
    grouped = collect_settings(load_config(config) if config else {},
                               Path(config).resolve().parent if config else cwd,
                               parse_set_pairs(sets), cwd, [s.name for s in steps])
    check_known_keys(grouped, {s.name: s.options for s in steps})
    stages = []
    for step in steps:
        raw = {k: v for k, v in grouped.get(None, {}).items() if k in step.options}
        raw.update(grouped.get(step.name, {}))
        settings, explicit = resolve_settings(step.options, raw)
        stages.append(Stage(step, StageContext(step.name, workdir, settings, explicit, force,
                                               tuple(s.name for s in steps))))
    _check_outputs(stages)
    plan = Plan(name, workdir, stages, force)
    for index, stage in enumerate(stages):
        earlier = {s.skill.name for s in stages[:index]}
        stage.checks = _evaluate_checks(host, stage, earlier)
    return plan


def _check_outputs(stages: list[Stage]) -> None:
    """Every stage that saves to `output` may replace that folder, and no two stages share one (exit 2)."""
    owners: dict[Path, str] = {}
    for stage in stages:
        ctx = stage.context
        if "output" not in stage.skill.options:
            continue
        try:
            path = check_output(ctx.skill, ctx.settings.get("output"), ctx.workdir)
        except OutputRefused as exc:
            raise OptionError(f"{ctx.skill}: {exc}") from None
        if path in owners:
            raise OptionError(f"option 'output': {owners[path]} and {ctx.skill} would both save to {path}; "
                              f"give each its own, e.g. `--set {ctx.skill}.output=out/{ctx.skill}-2`")
        owners[path] = ctx.skill


def _evaluate_checks(host: PluginHost, stage: Stage, earlier: set[str]) -> list[Check]:
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


# -- running ------------------------------------------------------------------------------------


def run_plan(host: PluginHost, plan: Plan) -> dict[str, Any]:
    """Run every stage in order (nothing at all if a precondition fails); write and return the report."""
    started = time.monotonic()
    unwritable = _unwritable(plan.workdir) if plan.ready else None
    git_before = git_state(plan.workdir) if plan.workdir.is_dir() else {"checked": False,
                                                                         "reason": f"{plan.workdir} does not exist"}
    if not plan.ready or unwritable:
        records = [_precondition_record(stage, unwritable if index == 0 else None)
                   for index, stage in enumerate(plan.stages)]
    else:
        records = _run_stages(host, plan)
    statuses = {record.status for record in records}
    status = next((s for s in ("precondition_failed", "failed") if s in statuses), "ok")
    report = {"skill": plan.name, "status": status, "duration_s": round(time.monotonic() - started, 2),
              "workdir": str(plan.workdir), "environment": environment(git_before, records),
              "stages": [r.to_dict() for r in records],
              "plugin_errors": [p.to_dict() for p in host.problems]}
    if not is_main_process():  # under torchrun every rank runs the stage; one writes the reports
        report["git"] = {"checked": False, "reason": "checked by the main process"}
        return report
    if status == "precondition_failed":  # exit 3: nothing was run, so nothing is written, not even a report
        report["reports"] = None
        report["git"] = git_check(plan.workdir, git_before) if plan.workdir.is_dir() else git_before
        return report
    report["final_model"] = final_model.choose(report["stages"], plan.workdir)
    # The git check comes last, after the reports exist, because they too must be ignored by git.
    report["reports"] = _write_reports_safely(plan.workdir, report)
    report["git"] = git_check(plan.workdir, git_before)
    if report["reports"]:
        _write_reports_safely(plan.workdir, report, paths=report["reports"])
    return report


def _unwritable(workdir: Path) -> str | None:
    """Why a run could not write to the work directory (made here when missing), or None."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=workdir):
            pass
    except OSError as exc:
        return f"cannot write to the work directory {workdir}: {exc.strerror or exc}"
    return None


def _write_reports_safely(workdir: Path, report: dict[str, Any], paths: dict[str, str] | None = None):
    """write_reports, or, when the disk is full or read-only, None and the reason in the report and on stderr."""
    try:
        return write_reports(workdir, report, paths=paths)
    except OSError as exc:
        report["report_error"] = f"could not write the report under {workdir / 'reports'}: {exc}"
        logging.getLogger("minillm").error("%s", report["report_error"])
        return None


def _precondition_record(stage: Stage, unwritable: str | None = None) -> StageRecord:
    failing = [check for check in stage.checks if not check.holds]
    if unwritable:
        failing.insert(0, Check("a writable work directory", False, unwritable,
                                hint="make it writable, or run with `--workdir DIR` in a folder you can write to"))
    if not failing:
        return StageRecord(stage.skill.name, "skipped", summary="not run: a precondition of this run "
                           "does not hold", settings=stage.context.settings)
    return StageRecord(stage.skill.name, "precondition_failed",
                       summary=f"needs {failing[0].what}",
                       error="; ".join(f"{c.what}: {c.detail}" for c in failing),
                       hint="; ".join(c.hint for c in failing if c.hint) or None,
                       settings=stage.context.settings)


def _run_stages(host: PluginHost, plan: Plan) -> list[StageRecord]:
    records: list[StageRecord] = []
    for stage in plan.stages:
        broken = next((r.skill for r in records if r.status == "failed"), None)
        if broken:
            records.append(StageRecord(stage.skill.name, "skipped", summary=f"not run: {broken} failed",
                                       settings=stage.context.settings))
        elif not plan.force and stamps.is_up_to_date(stage.skill, stage.context):
            records.append(_reuse_record(stage))
        else:
            records.append(_run_stage(host, stage))
    return records


def _reuse_record(stage: Stage) -> StageRecord:
    earlier = stamps.read_stamp(stage.context.workdir, stage.skill.name)["record"]
    earlier.update(status="skipped", duration_s=0.0,
                   summary=f"up to date, not re-run (use --force to re-run): {earlier['summary']}")
    return StageRecord(**earlier)


def _run_stage(host: PluginHost, stage: Stage) -> StageRecord:
    ctx = stage.context
    ctx.log.info("== %s ==", ctx.skill)
    host.call_each("stage_started", stage=ctx.skill, context=ctx)
    started = time.monotonic()
    record = StageRecord(ctx.skill, "failed", settings=ctx.settings)
    try:
        result = stage.skill.run(ctx)
        if not isinstance(result, StageResult):
            raise TypeError(f"skill '{ctx.skill}' returned {type(result).__name__}, expected StageResult")
        record = StageRecord(ctx.skill, "ok", summary=result.summary, metrics=result.metrics,
                             artifacts=result.artifacts, settings=ctx.settings, details=result.details,
                             warnings=list(result.warnings), hint=result.hint)
        for warning in record.warnings:
            ctx.log.warning("%s", warning)
    except SkillError as exc:
        record.summary, record.error, record.hint = f"failed: {exc}", str(exc), exc.hint
    except KeyboardInterrupt:
        record.summary = record.error = "interrupted"
        record.hint = f"run the same command again: `minillm-skill run {ctx.skill}` resumes where it stopped"
    except (Exception, SystemExit) as exc:  # a skill's bug (or a plugin's sys.exit) still ends in a report
        ctx.log.error("skill %s failed: %s: %s", ctx.skill, type(exc).__name__, exc)
        ctx.log.debug("the traceback:", exc_info=True)
        record.summary, record.error = f"failed: {type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}"
        record.hint = f"see the log above; fix the cause and run `minillm-skill run {ctx.skill}` again"
    record.duration_s = round(time.monotonic() - started, 2)
    if record.status == "ok" and is_main_process():
        try:
            stamps.write_stamp(stage.skill, stage.context, record.to_dict())
        except OSError as exc:  # a full disk: the stage ran; it is only not known to be up to date
            ctx.log.error("could not record that %s finished: %s", ctx.skill, exc)
    host.call_each("stage_finished", stage=ctx.skill, context=ctx, result=record)
    ctx.log.info("%s: %s (%.1f s)", ctx.skill, record.summary, record.duration_s)
    return record
