"""What `minillm-skill status` and `stop` say about a run, read from its record and the logs it writes.

Reading never disturbs the run: the record (runs.py), the last line of each stage's JSONL log (step, loss,
tokens/s, ETA) and of its sample answers, and the report once it is written. The ETA is the log line's,
less the time since it was written (minillm_core/util/eta.py): one figure, the same the progress bar shows.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from minillm_core.runs.record import FINISHED, RunRecord, current_status, is_alive, latest_run_id, read_record
from minillm_core.util.eta import time_left_now

_PROGRESS = {"step": "step", "total_steps": "total_steps", "loss": "loss", "tokens_per_s": "tokens_per_s",
             "elapsed_s": "elapsed_s"}  # log line key -> status key


def describe(workdir: Path, run_id: str | None = None) -> dict[str, Any]:
    """The live state of run `run_id` (default: the one running, else the newest) in `workdir`."""
    workdir = Path(workdir).resolve()
    run_id = run_id or latest_run_id(workdir)
    record = read_record(workdir, run_id)
    status = current_status(record)
    started = record.get("started_ts")
    return {"run_id": run_id, "skill": record.get("skill"), "status": status, "pid": record.get("pid"),
            "workdir": str(workdir), "command": record.get("command"), "started_at": record.get("started_at"),
            "finished_at": record.get("finished_at"),
            "elapsed_s": round(time.time() - started, 1) if started and status == "running" else record.get(
                "duration_s"),
            "log": record.get("log"), "stages": [_stage(workdir, stage) for stage in record.get("stages", [])],
            "report": _report(workdir, record) if status in FINISHED else None,
            "hint": _hint(run_id, status, record)}


def _stage(workdir: Path, stage: dict[str, Any]) -> dict[str, Any]:
    """A finished stage: its summary (the report has the rest). A running one: its progress, from its logs,
    which are the stage's, not the run's: once it has ended, a later run of the stage writes them."""
    row = {key: stage.get(key) for key in ("skill", "status", "summary", "duration_s")}
    if stage.get("preflight"):  # the training stage's estimate of its peak memory and time
        row["preflight"] = stage["preflight"]
    if stage.get("status") != "running":
        return row
    line = _last_json_line(workdir / stage["log"]) if stage.get("log") else None
    if line:
        row.update({ours: line.get(theirs) for theirs, ours in _PROGRESS.items()})
        row["eta_s"] = time_left_now(line.get("remaining_s"), line.get("time"))
    sample = _last_json_line(workdir / stage["samples"]) if stage.get("samples") else None
    if sample:
        row["last_sample"] = {key: sample.get(key) for key in ("step", "prompt", "answer")}
    return row


def _last_json_line(path: Path) -> dict[str, Any] | None:
    """The last whole line of a JSONL file, reading only its tail (the log of a long run grows large)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(handle.seek(0, os.SEEK_END) - 8192, 0))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue  # the line being written this instant, or the cut first one
    return None


def _report(workdir: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return json.loads((workdir / record["report"]).read_text(encoding="utf-8")) if record.get("report") else None
    except (OSError, ValueError):
        return None


def _hint(run_id: str, status: str, record: dict[str, Any]) -> str | None:
    again = " ".join(part for part in record.get("command") or [] if part != "--detach")
    if status == "running":
        return (f"poll with `minillm-skill status {run_id}` (cheap; every 30-60 s is plenty); "
                f"`minillm-skill stop {run_id}` stops it at the next step and keeps a checkpoint")
    if status == "stopped":
        return f"run the same command again to resume: `{again}`"
    if status == "died":
        return (f"its process ended without a report (killed, out of memory, or the machine went down; its log: "
                f"{record.get('log') or 'stderr of the command'}); run the same command again to resume: `{again}`")
    return None


def stop(workdir: Path, run_id: str | None = None, now: bool = False, timeout_s: float = 300.0) -> dict[str, Any]:
    """Ask the run to stop (SIGTERM: a checkpoint at the next step boundary; `now`: a second one, at once),
    wait up to `timeout_s` for its process to end, and describe it."""
    workdir = Path(workdir).resolve()
    run_id = run_id or latest_run_id(workdir)
    record = read_record(workdir, run_id)
    if current_status(record) != "running":
        return {**describe(workdir, run_id), "stop": "not running: nothing to stop"}
    os.kill(record["pid"], signal.SIGTERM)
    if now:
        time.sleep(0.5)  # two signals close together may arrive as one
        os.kill(record["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.2)
    if is_alive(record):
        return {**describe(workdir, run_id), "stop": f"asked; still saving after {timeout_s:.0f} s: poll `status`"}
    _mark_stopped_if_silent(workdir, run_id)
    return {**describe(workdir, run_id), "stop": "stopped"}


def _mark_stopped_if_silent(workdir: Path, run_id: str) -> None:
    """A run stopped before it could record anything (still starting up) ended at our request: say so."""
    record = read_record(workdir, run_id)
    if record.get("status") in ("running", "starting"):
        record["status"] = "stopped"
        RunRecord(workdir, run_id, record).save()
