"""`run --detach`: start the run in the background, in its own session, and say at once how to follow it.

The run is the same command without --detach, as a child process that outlives the terminal (a new
session: no SIGHUP when the shell closes), with its stdout and stderr in logs/runs/<run id>.log. The
starter writes the run's record first, so `status` knows the run from the first instant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from minillm_core.runs.record import RUN_ID_ENV, log_path, new_run_id, process_identity, record_path
from minillm_core.util.atomic import write_text_atomic


def start_detached(skill: str, workdir: Path, run_args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start `minillm-skill run SKILL *run_args --json` in the background; return what a caller needs to follow it."""
    workdir = Path(workdir).resolve()
    run_id = new_run_id(skill)
    log = log_path(workdir, run_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "minillm_core", "run", skill, "--workdir", str(workdir), *run_args, "--json"]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                   start_new_session=True, env={**(env or os.environ), RUN_ID_ENV: run_id})
    relative_log = os.path.relpath(log, workdir)
    again = ["minillm-skill", "run", skill, "--workdir", str(workdir), *run_args]
    _record_start(workdir, run_id, skill, process.pid, again, relative_log)
    where = f" --workdir {workdir}" if workdir != Path.cwd().resolve() else ""
    return {"run_id": run_id, "skill": skill, "status": "running", "pid": process.pid, "workdir": str(workdir),
            "log": relative_log, "status_command": f"minillm-skill status {run_id}{where} --json",
            "stop_command": f"minillm-skill stop {run_id}{where}"}


def _record_start(workdir: Path, run_id: str, skill: str, pid: int, command: list[str], log: str) -> None:
    """The record until the run writes its own (which keeps `command` and `log`); never over the run's."""
    path = record_path(workdir, run_id)
    if path.exists():
        return
    write_text_atomic(path, json.dumps({
        "run_id": run_id, "skill": skill, "status": "starting", "pid": pid, "process_started": process_identity(pid),
        "workdir": ".", "command": command, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "started_ts": time.time(), "finished_at": None, "log": log, "stages": [], "report": None}, indent=1) + "\n")
