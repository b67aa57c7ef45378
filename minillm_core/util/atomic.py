"""Write a file so that a crash leaves the old version or the new one, never half of either."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file beside it, then rename it into place.

    The temporary file is the writer's own (process and thread): two runs writing reports/latest.json at
    once must not write into one temporary file and rename it from under each other."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when the write or the rename failed
