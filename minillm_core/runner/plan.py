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

from minillm_core.contract.options import (
    OptionError,
    check_known_keys,
    collect_settings,
    load_config,
    option_of,
    parse_set_pairs,
    resolve_settings,
)
from minillm_core.contract.outputs import OutputRefused, check_output, output_path, relative_paths
from minillm_core.contract.skill import Check, Skill, SkillError, StageContext, StageResult
from minillm_core.plugins.host import PluginHost
from minillm_core.runner import final_model, stamps
from minillm_core.runner.gitcheck import git_check, git_state
from minillm_core.runner.preconditions import evaluate_checks
from minillm_core.runner.report import environment, write_reports
from minillm_core.runs.locks import RunLocked, holding
from minillm_core.runs.recovery import restore_set_aside
from minillm_core.runs.session import RunSession, lock_names
from minillm_core.runs.stopping import StageStopped, stop_requested
from minillm_core.util.distributed import is_main_process


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
        raw = {k: v for k, v in grouped.get(None, {}).items() if option_of(k) in step.options}
        raw.update(grouped.get(step.name, {}))
        settings, explicit = resolve_settings(step.options, raw)
        stages.append(Stage(step, StageContext(step.name, workdir, settings, explicit, force,
                                               tuple(s.name for s in steps))))
    if is_main_process():  # before any check reads them: a model folder a kill left set aside is put back
        restore_set_aside(workdir, _model_folders(stages, workdir))
    _check_outputs(stages)
    plan = Plan(name, workdir, stages, force)
    for index, stage in enumerate(stages):
        earlier = {s.skill.name for s in stages[:index]}
        stage.checks = evaluate_checks(host, stage, earlier)
    return plan


def _model_folders(stages: list[Stage], workdir: Path) -> set[Path]:
    """Where the plan's stages read and write models: out/, and the folders of their `output` and `init`."""
    folders = {workdir / "out"}
    for stage in stages:
        settings = stage.context.settings
        if "output" in stage.skill.options:
            folders.add(output_path(stage.skill.name, settings.get("output"), workdir).parent)
        if isinstance(settings.get("init"), str) and Path(settings["init"]).is_absolute():
            folders.add(Path(settings["init"]).parent)
    return folders


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


# -- running ------------------------------------------------------------------------------------


def run_plan(host: PluginHost, plan: Plan) -> dict[str, Any]:
    """Run every stage in order (nothing at all if a precondition fails, or another run is running one of
    them); write and return the report. While it runs, logs/runs/<run id>.json says how far it got."""
    started = time.monotonic()
    unwritable = _unwritable(plan.workdir) if plan.ready else None
    git_before = git_state(plan.workdir) if plan.workdir.is_dir() else {"checked": False,
                                                                         "reason": f"{plan.workdir} does not exist"}
    if not plan.ready or unwritable:
        records = [_precondition_record(stage, unwritable if index == 0 else None)
                   for index, stage in enumerate(plan.stages)]
        return _report(host, plan, records, started, git_before)
    try:
        with RunSession.begin(plan.name, plan.workdir, _lockable(plan)) as session:
            records = _run_stages(host, plan, session)
            report = _report(host, plan, records, started, git_before, session.run_id)
            session.finish(report)
            return report
    except RunLocked as exc:
        return _report(host, plan, _locked_records(plan, exc), started, git_before)


def _report(host: PluginHost, plan: Plan, records: list[StageRecord], started: float,
            git_before: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    statuses = {record.status for record in records}
    status = next((s for s in ("precondition_failed", "failed", "stopped") if s in statuses), "ok")
    # Paths inside the work directory are relative to it (the files say workdir "."; stdout has the folder).
    report = {"skill": plan.name, "status": status, "run_id": run_id,
              "duration_s": round(time.monotonic() - started, 2),
              "workdir": str(plan.workdir), "environment": environment(git_before, records),
              "stages": [_relative_record(r.to_dict(), plan.workdir) for r in records],
              "plugin_errors": [p.to_dict() for p in host.problems]}
    if not is_main_process():  # under torchrun every rank runs the stage; one writes the reports
        report["git"] = {"checked": False, "reason": "checked by the main process"}
        return report
    if status == "precondition_failed":  # exit 3: nothing was run, so nothing is written, not even a report
        report["reports"] = None
        report["git"] = git_check(plan.workdir, git_before) if plan.workdir.is_dir() else git_before
        return report
    report["final_model"] = final_model.choose([r.to_dict() for r in records], plan.workdir)
    # The git check comes last, after the reports exist, because they too must be ignored by git.
    report["reports"] = _write_reports_safely(plan.workdir, report)
    report["git"] = git_check(plan.workdir, git_before)
    if report["reports"]:
        _write_reports_safely(plan.workdir, report, paths=report["reports"])
    return report


# A record's structured fields, whose path values are made relative; messages (error, hint, summary) are text
# that may merely start with a path, and stay as written.
PATH_FIELDS = ("settings", "artifacts", "metrics")


def _relative_record(record: dict[str, Any], workdir: Path) -> dict[str, Any]:
    return {key: relative_paths(value, workdir) if key in PATH_FIELDS else value for key, value in record.items()}


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


def locked_report(host: PluginHost, plan: Plan) -> dict[str, Any] | None:
    """The refusal (exit 3) when another run holds a stage of `plan` now; None when every stage is free."""
    try:
        with holding(plan.workdir, lock_names(_lockable(plan), plan.workdir), run_id=None):
            return None
    except RunLocked as exc:
        return _report(host, plan, _locked_records(plan, exc), time.monotonic(), git_state(plan.workdir))


def _locked_records(plan: Plan, exc: RunLocked) -> list[StageRecord]:
    """Refused (exit 3, nothing run, nothing written): the stage another run holds, named with that run."""
    run = exc.holder.get("run_id") or ""
    hint = (f"wait for it to finish: `minillm-skill status {run}` shows it, `minillm-skill stop {run}` stops it "
            "at its next step; or give this run its own `--set output=...`")
    names = lock_names(_lockable(plan), plan.workdir)
    return [StageRecord(stage.skill.name, "precondition_failed", summary=str(exc), error=str(exc), hint=hint,
                        metrics={"locked_by": exc.holder}, settings=stage.context.settings)
            if name == exc.name else
            StageRecord(stage.skill.name, "skipped", summary="not run: another run holds a stage of this one",
                        settings=stage.context.settings)
            for stage, name in zip(plan.stages, names, strict=True)]


def _lockable(plan: Plan) -> list[tuple[str, dict[str, Any], bool]]:
    return [(s.skill.name, s.context.settings, "output" in s.skill.options) for s in plan.stages]


def _run_stages(host: PluginHost, plan: Plan, session: RunSession) -> list[StageRecord]:
    records: list[StageRecord] = []
    for stage in plan.stages:
        ended = next((r for r in records if r.status in ("failed", "stopped")), None)
        if ended or stop_requested():
            why = f"{ended.skill} {ended.status}" if ended else "the run was stopped"
            records.append(StageRecord(stage.skill.name, "skipped", summary=f"not run: {why}",
                                       settings=stage.context.settings))
        elif not plan.force and stamps.is_up_to_date(stage.skill, stage.context):
            records.append(_reuse_record(stage))
        else:
            session.stage_started(stage.skill.name)
            stage.context.on_note = lambda name=stage.skill.name, **fields: session.note(name, **fields)
            records.append(_run_stage(host, stage, plan.name))
        session.stage_finished(stage.skill.name, records[-1].status)
    return records


def _reuse_record(stage: Stage) -> StageRecord:
    earlier = stamps.read_stamp(stage.context.workdir, stage.skill.name)["record"]
    earlier.update(status="skipped", duration_s=0.0,
                   summary=f"up to date, not re-run (use --force to re-run): {earlier['summary']}")
    return StageRecord(**earlier)


def _run_stage(host: PluginHost, stage: Stage, command: str) -> StageRecord:
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
    except StageStopped as exc:
        checkpoint = os.path.relpath(exc.checkpoint, ctx.workdir) if exc.checkpoint else None
        record = StageRecord(ctx.skill, "stopped", summary=f"stopped on request at step {exc.step}",
                             metrics={"stopped_at_step": exc.step, "checkpoint": checkpoint}, settings=ctx.settings,
                             hint=f"run the same command again (`minillm-skill run {command}`, same settings): "
                                  f"it resumes from step {exc.step}")
    except KeyboardInterrupt:  # a second Ctrl-C, or a stage with no training step to wait for
        record = StageRecord(ctx.skill, "stopped", summary="stopped at once", settings=ctx.settings,
                             hint=f"run the same command again (`minillm-skill run {command}`): finished stages are "
                                  "not re-run, training resumes from its last checkpoint")
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
