"""Keep stdout for the command's own output: route everything else printed there to stderr.

Under `--json` stdout carries exactly one JSON document, so whatever a library or a plugin prints
(even from C or a subprocess, through file descriptor 1) must go to stderr instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout


@contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Within the block, Python's sys.stdout and, when it is a real file, descriptor 1 write to stderr."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    try:
        real_fd = sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):  # click's test runner: no real file descriptor
        real_fd = False
    saved = os.dup(1) if real_fd else None
    if saved is not None:
        os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
