"""Crash-safe checkpoints: resume only from a checkpoint known to be whole.

The Trainer writes checkpoint-N/ piece by piece (weights, optimizer, scheduler, RNG, trainer state),
so a kill can leave a half-written folder. After the Trainer finishes one, we write a marker file
into it (temp file, then rename: atomic), and resume only from the newest marked checkpoint. With
`save_total_limit=2` the Trainer keeps the previous, marked checkpoint until the new one is whole.
A checkpoint folder also records the settings it was made with: changed settings start afresh.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from minillm_core.util.atomic import write_text_atomic
from minillm_core.util.distributed import is_main_process

MARKER = "minillm-checkpoint-complete"
SETTINGS_FILE = "settings.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def mark_complete(checkpoint: Path) -> None:
    write_text_atomic(checkpoint / MARKER, "ok\n")


def last_good_checkpoint(directory: Path, log: logging.Logger | None = None) -> Path | None:
    """The newest checkpoint with its completion marker; half-written ones are passed over."""
    found = sorted(((int(m.group(1)), path) for path in directory.glob("checkpoint-*")
                    if (m := _CHECKPOINT.match(path.name))), reverse=True)
    for _, path in found:
        if (path / MARKER).exists():
            return path
        if log:
            log.warning("ignoring %s: it was not finished (the run was killed while writing it)", path.name)
    return None


def holds_last_step(checkpoint: Path) -> bool:
    """Whether `checkpoint` is the one the Trainer saves after the run's last step (before the final save):
    its trainer state has reached its `max_steps`."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return 0 < state.get("max_steps", 0) <= state.get("global_step", 0)


# Settings that change how fast a run goes, not the weights it makes: a run resumes across a change of them.
SPEED_ONLY = ("compile",)


def prepare_checkpoint_dir(directory: Path, settings: dict[str, Any], log: logging.Logger) -> bool:
    """True when an unfinished run with the same settings left a good checkpoint to resume from;
    otherwise the folder is emptied for a fresh run (can_resume, then start_afresh)."""
    if can_resume(directory, settings, log):
        return True
    start_afresh(directory, settings, log)
    return False


def _wanted(settings: dict[str, Any]) -> Any:
    return json.loads(json.dumps({key: value for key, value in settings.items() if key not in SPEED_ONLY},
                                 sort_keys=True, default=str))


def can_resume(directory: Path, settings: dict[str, Any], log: logging.Logger) -> bool:
    """True when an unfinished run with the same settings left a good checkpoint to resume from. Reads only:
    every process decides the same way, and nothing is lost before the new run has checked its inputs."""
    try:
        saved = json.loads((directory / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        saved = None
    if saved == _wanted(settings) and last_good_checkpoint(directory) is not None:
        log.info("resuming from the last checkpoint in %s", directory)
        return True
    return False


def start_afresh(directory: Path, settings: dict[str, Any], log: logging.Logger) -> None:
    """Discard the checkpoints an earlier run of this output made with other settings (main process only);
    call it once the new run's data has been read, so a run that fails on its inputs discards nothing."""
    if is_main_process():
        if directory.exists():
            if any(directory.glob("checkpoint-*")):
                log.info("discarding checkpoints in %s made with other settings", directory)
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        (directory / SETTINGS_FILE).write_text(json.dumps(_wanted(settings), indent=1))


def clear_checkpoints(directory: Path) -> None:
    """After a finished run the final model is saved; its checkpoints would only waste disk."""
    shutil.rmtree(directory, ignore_errors=True)
