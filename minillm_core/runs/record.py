"""The record of each run: logs/runs/<run id>.json, kept up to date while the run goes on.

Every `minillm-skill run` that runs something writes one: the skill, the process (pid and start time, so a
run whose process is gone without finishing reads as `died`), the command, each stage's status, and, once
finished, the paths of its report. `status`, `runs` and `stop` read these files and nothing else of the
run's process, so they are cheap and never disturb it. A detached run's stderr goes to logs/runs/<id>.log.
Its paths are relative to the work directory, which it names "." (the command stays as it was typed).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

import psutil

from minillm_core.contract.outputs import relative_paths
from minillm_core.util.atomic import write_text_atomic

RUNS_DIR = "logs/runs"
RUN_ID_ENV = "MINILLM_RUN_ID"  # a detached run is told the id its starter already printed
_RUN_ID = re.compile(r"^\d{8}-\d{6}-[a-z0-9][a-z0-9-]*-[0-9a-f]{4}$")
FINISHED = ("ok", "failed", "stopped")


class UnknownRun(ValueError):
    """No run with that id (or no run at all) in the work directory: a usage error."""


def new_run_id(skill: str) -> str:
    """Sortable by start time, readable, and unique: 20261130-114502-bot-start-3fa2."""
    given = os.environ.pop(RUN_ID_ENV, "")  # popped: a run this one starts gets its own
    if _RUN_ID.match(given):
        return given
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{skill}-{secrets.token_hex(2)}"


def record_path(workdir: Path, run_id: str) -> Path:
    if not _RUN_ID.match(run_id):
        raise UnknownRun(f"'{run_id}' is not a run id (they look like 20261130-114502-pretrain-3fa2); "
                         "`minillm-skill runs` lists them")
    return Path(workdir) / RUNS_DIR / f"{run_id}.json"


def log_path(workdir: Path, run_id: str) -> Path:
    return record_path(workdir, run_id).with_suffix(".log")


def process_identity(pid: int) -> float | None:
    """The process's start time: with the pid, it tells the run's process from a later one given its pid."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def is_alive(record: dict[str, Any]) -> bool:
    started = process_identity(record.get("pid") or 0)
    return started is not None and abs(started - (record.get("process_started") or 0)) < 1.0


class RunRecord:
    """The live record of this process's run, saved (atomically) at every change."""

    def __init__(self, workdir: Path, run_id: str, data: dict[str, Any]):
        self.workdir, self.run_id, self.data = Path(workdir), run_id, data

    @classmethod
    def start(cls, workdir: Path, run_id: str, skill: str, stages: list[str], command: list[str]) -> RunRecord:
        """Record a run starting in this process; a detached run's starter may have written the file first."""
        data = read_record(workdir, run_id, missing_ok=True) or {}
        pid = os.getpid()
        data.update(run_id=run_id, skill=skill, status="running", pid=pid, process_started=process_identity(pid),
                    workdir=".", command=data.get("command") or command,
                    started_at=data.get("started_at") or _now(), started_ts=data.get("started_ts") or time.time(),
                    finished_at=None, log=data.get("log"),
                    stages=[{"skill": name, "status": "pending"} for name in stages], report=None)
        record = cls(workdir, run_id, data)
        record.save()
        return record

    def stage(self, name: str) -> dict[str, Any]:
        return next(s for s in self.data["stages"] if s["skill"] == name)

    def update_stage(self, name: str, **fields: Any) -> None:
        self.stage(name).update(relative_paths(fields, self.workdir))  # a plugin's stage may note absolute ones
        self.save()

    def finish(self, status: str, report: dict[str, Any]) -> None:
        for row in report.get("stages", []):
            self.stage(row["skill"]).update(status=row["status"], summary=row["summary"],
                                            duration_s=row["duration_s"], hint=row.get("hint"))
        paths = report.get("reports") or {}
        self.data.update(status=status, finished_at=_now(), duration_s=report.get("duration_s"),
                         report=paths.get("history_json"))
        self.save()

    def save(self) -> None:
        write_text_atomic(record_path(self.workdir, self.run_id), json.dumps(self.data, indent=1) + "\n")


def read_record(workdir: Path, run_id: str, missing_ok: bool = False) -> dict[str, Any] | None:
    path = record_path(workdir, run_id)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return None
        raise UnknownRun(f"no run {run_id} in {Path(workdir).resolve()} (looked for {path}); "
                         "`minillm-skill runs` lists them") from None
    except ValueError as exc:
        raise UnknownRun(f"{path} is not a readable run record ({exc}); delete it") from exc


def list_runs(workdir: Path) -> list[dict[str, Any]]:
    """Every recorded run in the work directory, newest first, with its status as it is now."""
    folder = Path(workdir) / RUNS_DIR
    runs = []
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced this instant, or not ours
        record["status"] = current_status(record)
        runs.append(record)
    return runs


def latest_run_id(workdir: Path) -> str:
    """The run `status` and `stop` mean without an id: the newest one still running, else the newest."""
    runs = list_runs(workdir)
    if not runs:
        raise UnknownRun(f"no run recorded in {Path(workdir).resolve()} ({RUNS_DIR}/ is empty); "
                         "start one with `minillm-skill run NAME`")
    running = [run for run in runs if run["status"] == "running"]
    return (running or runs)[0]["run_id"]


def current_status(record: dict[str, Any]) -> str:
    """running, ok, failed or stopped as recorded; `died` when it says running but its process is gone."""
    status = record.get("status", "died")
    if status in ("running", "starting"):  # starting: a detached run before it has written its own record
        return "running" if is_alive(record) else "died"
    return status


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
