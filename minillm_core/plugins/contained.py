"""Call plugin code so that it cannot take the CLI down: contained in time, in output and in errors.

    value = call_contained(hook_function, args, timeout_s=30)

The call runs in a daemon thread with stdout routed to stderr, and this thread waits at most
`timeout_s` seconds for it. Whatever the call raises, SystemExit included, is re-raised here, where the
plugin host records it against the plugin; a call that does not return in time raises `HookTimeout`.
A hung call cannot be stopped safely inside the process: its thread is left behind (a daemon, so it
never keeps the process alive) and whatever it does later is ignored.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from minillm_core.util.stdout_guard import stdout_to_stderr

TIMEOUT_ENV = "MINILLM_HOOK_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
log = logging.getLogger("minillm.plugins")


class HookTimeout(Exception):
    def __init__(self, timeout_s: float):
        super().__init__(f"did not return within {timeout_s:g} s; it is left running and ignored, and the plugin "
                         f"is switched off for the rest of this process (raise the limit with --hook-timeout or "
                         f"{TIMEOUT_ENV}; 0 means no limit)")


def timeout_from_env() -> float:
    """The hook timeout in seconds from MINILLM_HOOK_TIMEOUT (0: no limit), else the default."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        seconds = float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        log.warning("%s must be a number of seconds, 0 for no limit; got %r: using %g s", TIMEOUT_ENV, value,
                    DEFAULT_TIMEOUT_S)
        return DEFAULT_TIMEOUT_S
    return seconds


def call_contained(function: Callable[..., Any], args: Sequence[Any], timeout_s: float) -> Any:
    """`function(*args)`, run as described at the top of this module; `timeout_s` 0 waits as long as it takes."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: it would end only this thread, silently
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"plugin-hook-{getattr(function, '__name__', '?')}",
                              daemon=True)
    with stdout_to_stderr():
        thread.start()
        thread.join(timeout_s or None)
    if thread.is_alive():
        raise HookTimeout(timeout_s)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
