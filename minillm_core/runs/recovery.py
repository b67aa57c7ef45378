"""A work directory left by a kill: a model folder that an unfinished save moved aside is put back.

A training stage's final save swaps its new model in with two renames (contract/outputs.py): out/<stage> to
out/.<stage>.old, then the new folder to out/<stage>. A kill between the two leaves out/<stage> missing and
the last good model in out/.<stage>.old, so the next run, whatever it runs, puts that model back (and says
so) before it checks its inputs, unless a run holding the folder's lock is between those renames right now.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from minillm_core.contract.outputs import run_name
from minillm_core.runs.locks import RunLocked, holding

_log = logging.getLogger("minillm")
_ASIDE = ".old"  # contract.outputs.set_aside: out/pretrain -> out/.pretrain.old


def restore_set_aside(workdir: Path, folders: Iterable[Path]) -> list[Path]:
    """Put back every model folder moved aside (.<name>.old) in `folders` whose own folder is missing; only
    folders inside the work directory are looked in. Returns the folders put back."""
    workdir = Path(workdir).resolve()
    restored = []
    for folder in sorted({Path(f) for f in folders if Path(f) == workdir or workdir in Path(f).parents}):
        for aside in sorted(folder.glob(f".?*{_ASIDE}")):
            output = aside.with_name(aside.name[1:-len(_ASIDE)])
            if aside.is_dir() and not output.exists() and _put_back(workdir, aside, output):
                restored.append(output)
    return restored


def _put_back(workdir: Path, aside: Path, output: Path) -> bool:
    """Rename `aside` to `output` under the folder's stage lock: a run holding it may be saving there now."""
    try:
        with holding(workdir, [run_name(output.name, output, workdir)], run_id=None):
            if output.exists() or not aside.is_dir():  # put back by another process meanwhile
                return False
            os.replace(aside, output)
    except RunLocked:
        return False  # that run renames its new model into place itself
    _log.warning("restored %s from %s: a run was killed while saving a new model there, so this is the "
                 "model from before that run", os.path.relpath(output, workdir), os.path.relpath(aside, workdir))
    return True
