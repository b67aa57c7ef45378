"""One run at a time per stage and work directory: a second run that would write the same outputs is refused.

Each stage of a run holds logs/locks/<name>.lock (an OS file lock, through filelock) for the whole run; the
name is the stage's output (out/sft-2 -> sft-2), so runs into different folders go side by side. The OS
drops the lock when its process ends, however it ends: a lock left by a killed run is simply taken over.
Beside the lock, <name>.json says who holds it (pid, run id), for the refusal to name them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock, Timeout

from minillm_core.util.atomic import write_text_atomic

LOCKS_DIR = "logs/locks"
_log = logging.getLogger("minillm")


class RunLocked(Exception):
    """Another run holds the lock of `name`; `holder` is what it wrote beside the lock (pid, run id)."""

    def __init__(self, name: str, holder: dict[str, Any]):
        self.name, self.holder = name, holder
        who = f"pid {holder.get('pid', '?')}" + (f", run {holder['run_id']}" if holder.get("run_id") else "")
        super().__init__(f"another run ({who}) is running {name} in this work directory")


def _paths(workdir: Path, name: str) -> tuple[Path, Path]:
    base = Path(workdir) / LOCKS_DIR / name
    return base.with_suffix(".lock"), base.with_suffix(".json")


def read_holder(workdir: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads(_paths(workdir, name)[1].read_text())
    except (OSError, ValueError):
        return {}


@contextmanager
def holding(workdir: Path, names: list[str], run_id: str | None) -> Iterator[None]:
    """Hold the lock of every name for the block, or raise RunLocked naming the run that holds one.

    With run_id None it only checks that every lock is free (a detached run's starter asks before it starts)."""
    with ExitStack() as stack:
        for name in sorted(set(names)):  # one order for every run: two runs never wait on each other in a circle
            lock_file, holder_file = _paths(workdir, name)
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(lock_file, timeout=0, thread_local=False)
            try:
                lock.acquire()
            except Timeout:
                raise RunLocked(name, _current_holder(workdir, name)) from None
            stack.callback(lock.release)
            if run_id is None:
                continue
            _take_over(workdir, name)
            write_text_atomic(holder_file, json.dumps({"pid": os.getpid(), "run_id": run_id}) + "\n")
            stack.callback(holder_file.unlink, missing_ok=True)  # runs before the release: LIFO
        yield


def _current_holder(workdir: Path, name: str, wait_s: float = 2.0) -> dict[str, Any]:
    """Who holds the lock: the holder writes its file just after taking the lock, so wait a moment for a
    file naming a live process (not the one a killed run left)."""
    deadline = time.monotonic() + wait_s
    while True:
        holder = read_holder(workdir, name)
        pid = holder.get("pid")
        if (pid and psutil.pid_exists(pid)) or time.monotonic() > deadline:
            return holder
        time.sleep(0.05)


def _take_over(workdir: Path, name: str) -> None:
    """A holder file with the lock free means its run ended without letting go: killed, or the machine died."""
    stale = read_holder(workdir, name)
    if stale:
        _log.warning("taking over the lock on %s left by pid %s (run %s), which is no longer running",
                     name, stale.get("pid"), stale.get("run_id"))
