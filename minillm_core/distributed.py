"""Which process am I? Under torchrun / accelerate launch every rank runs the same command."""

from __future__ import annotations

import os


def is_main_process() -> bool:
    """False in the other processes of a multi-process launch (RANK > 0): they write no files."""
    return os.environ.get("RANK", "0") == "0"
