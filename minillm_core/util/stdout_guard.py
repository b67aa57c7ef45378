"""Keep stdout for the command's own output: route everything else printed there to stderr.

Under `--json` stdout carries exactly one JSON document, so whatever a library or a plugin prints
(even from C or a subprocess, through file descriptor 1) must go to stderr instead.

Two ways: `stdout_to_stderr()` for a block of code, and `reserve_stdout()` for the whole process. The CLI
reserves stdout before any plugin loads when a command prints JSON (or serves MCP): from then on
descriptor 1 itself is stderr, so even a thread a plugin started, printing at any moment, cannot reach
stdout, and `command_stdout()` is the one way left to the real one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any, TextIO

_reserved: TextIO | None = None  # the real stdout, once reserve_stdout() has taken it


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


def reserve_stdout() -> None:
    """For the rest of the process, descriptor 1 (and so sys.stdout, print, C code, child processes) writes to
    stderr; the real stdout is kept on a private descriptor that only `command_stdout()` hands out.

    Nothing to do when stdout is no real file, or already reserved."""
    global _reserved
    if _reserved is not None:
        return
    try:
        sys.stdout.flush()
        private = os.dup(1)  # not inherited by child processes (os.dup makes it non-inheritable)
    except (AttributeError, OSError, ValueError):
        return
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr to send it to: leave stdout as it is
        os.close(private)
        return
    _reserved = os.fdopen(private, "w", encoding="utf-8", closefd=True)


def command_stdout() -> TextIO:
    """Where the command's own output goes: the reserved real stdout, else sys.stdout."""
    return _reserved if _reserved is not None else sys.stdout


def print_json(data: Any) -> None:
    """The command's one JSON document (as every `--json` command prints it), on `command_stdout()`."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str), file=command_stdout(), flush=True)


def reserved_stdout() -> TextIO | None:
    """The real stdout when `reserve_stdout()` took it (the MCP server writes its protocol there), else None."""
    return _reserved
