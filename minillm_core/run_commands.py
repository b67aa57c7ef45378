"""The commands that follow a run from outside it: `run --detach`, `status`, `runs` and `stop`.

With --json each prints one JSON document; an unknown run id is a usage error (exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from minillm_core.plugins.contained import TIMEOUT_ENV
from minillm_core.plugins.host import get_host
from minillm_core.runs.detach import start_detached
from minillm_core.runs.record import UnknownRun, list_runs
from minillm_core.runs.status import describe, stop
from minillm_core.util.stdout_guard import print_json

_WORKDIR = click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=".",
                        help="The run's work directory (default: the current directory).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for agents.")


def _emit(data: Any, as_json: bool, human: str) -> None:
    if as_json:  # the real stdout even when the CLI has sent descriptor 1 to stderr (util.stdout_guard)
        print_json(data)
    else:
        click.echo(human)


def run_detached(plan, config: Path | None, sets: tuple[str, ...], force: bool, debug: bool, as_json: bool) -> None:
    """Start `plan` in the background (detach.py) and print how to follow it."""
    args = [*(["--config", str(Path(config).resolve())] if config else []),
            *[part for pair in sets for part in ("--set", pair)], *(["--force"] if force else []),
            *(["--debug"] if debug else [])]
    env = {**os.environ, TIMEOUT_ENV: str(get_host().hook_timeout)}  # the child loads the plugins anew
    started = start_detached(plan.name, plan.workdir, args, env)
    _emit(started, as_json, f"Started {plan.name} in the background: run {started['run_id']} (pid {started['pid']}).\n"
                            f"  log:    {started['log']}\n  status: {started['status_command']}\n"
                            f"  stop:   {started['stop_command']}")


@click.command("status")
@click.argument("run_id", required=False)
@_WORKDIR
@_JSON
def status_command(run_id: str | None, workdir: Path, as_json: bool) -> None:
    """The live state of a run (default: the one running, else the last): each stage's step, loss, speed,
    ETA and last sample answer; the report once it has finished. Cheap to call in a loop."""
    try:
        state = describe(workdir, run_id)
    except UnknownRun as exc:
        raise click.UsageError(str(exc)) from None
    _emit(state, as_json, _describe_state(state))


@click.command("runs")
@_WORKDIR
@_JSON
def runs_command(workdir: Path, as_json: bool) -> None:
    """Past and running runs in the work directory, newest first, with their outcome."""
    rows = [{key: run.get(key) for key in ("run_id", "skill", "status", "started_at", "duration_s", "pid")}
            for run in list_runs(workdir)]
    human = "\n".join(f"{r['run_id']:<40} {r['status']:<8} {r['started_at']}"
                      + (f"  {r['duration_s']:.0f} s" if r["duration_s"] is not None else "") for r in rows)
    _emit(rows, as_json, human or f"No runs recorded in {workdir.resolve()}.")


@click.command("stop")
@click.argument("run_id", required=False)
@_WORKDIR
@_JSON
@click.option("--now", is_flag=True, help="Stop at once instead of at the next step (the last checkpoint stays).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Seconds to wait for the run to save and end.")
def stop_command(run_id: str | None, workdir: Path, as_json: bool, now: bool, timeout_s: float) -> None:
    """Stop a run (default: the one running): it saves a checkpoint at the next training step and ends;
    the same command resumes from there. Prints the run's status once it has ended."""
    try:
        state = stop(workdir, run_id, now=now, timeout_s=timeout_s)
    except UnknownRun as exc:
        raise click.UsageError(str(exc)) from None
    _emit(state, as_json, f"stop: {state['stop']}\n{_describe_state(state)}")


def _describe_state(state: dict[str, Any]) -> str:
    elapsed = f", {state['elapsed_s']:.0f} s" if state.get("elapsed_s") is not None else ""
    lines = [f"run {state['run_id']} ({state['skill']}): {state['status']}{elapsed}"]
    for stage in state["stages"]:
        line = f"  {stage['skill']:<14} {stage['status']:<9}"
        if stage["status"] == "running" and stage.get("step") is not None:
            eta = "after the next steps" if stage["eta_s"] is None else f"{stage['eta_s']:.0f} s"
            line += f" step {stage['step']}/{stage['total_steps']}  loss {stage['loss']:.3f}"
            line += f"  {stage['tokens_per_s'] or 0:,.0f} tok/s  ETA {eta}"
        elif stage.get("summary"):
            line += f" {stage['summary']}"
        lines.append(line)
        if stage.get("preflight") and stage["status"] == "running":
            lines.append(f"  {'':<14} preflight: {stage['preflight']}")
        if stage.get("last_sample"):
            sample = stage["last_sample"]
            lines.append(f"  {'':<14} sample at step {sample['step']}: "
                         f"{sample['prompt']!r} -> {sample['answer'][:60]!r}")
    report = state.get("report")
    if report and report.get("reports"):
        lines.append(f"Report: {Path(state['workdir']) / report['reports']['history_markdown']}")
    if state.get("hint"):
        lines.append(f"Next: {state['hint']}")
    return "\n".join(lines)
