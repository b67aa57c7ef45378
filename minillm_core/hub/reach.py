"""Is the model hub reachable? Asked once, bounded, so offline runs never wait on library retries.

huggingface_hub retries for about 23 s before it gives up on an unreachable hub; with
HF_HUB_OFFLINE=1 it fails at once. We probe once with a hard time limit and decide.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request

from minillm_core.util.redact import redact, without_credentials

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    """The hub address, honouring HF_ENDPOINT (mirrors such as hf-mirror.com). It may hold credentials
    (`https://user:password@host`): show `public_endpoint()` instead, in anything logged or reported."""
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def public_endpoint() -> str:
    """The hub address as it may be shown: credentials replaced by `***`."""
    return redact(hub_endpoint())


def offline_requested() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def probe_hub(timeout_s: float = 2.0) -> tuple[bool, str]:
    """(reachable, detail), in at most about `timeout_s` seconds whatever DNS or the network does."""
    if offline_requested():
        return False, "HF_HUB_OFFLINE is set"
    endpoint = public_endpoint()
    outcome: list[tuple[bool, str]] = []

    def attempt() -> None:
        try:  # without the credentials: urllib cannot send them from the URL, and any answer will do
            request = urllib.request.Request(f"{without_credentials(hub_endpoint())}/api/whoami-v2", method="HEAD")
            urllib.request.urlopen(request, timeout=timeout_s)
            outcome.append((True, f"{endpoint} answered"))
        except urllib.error.HTTPError as exc:  # any HTTP answer (401 here) proves the hub is reachable
            outcome.append((True, f"{endpoint} answered (HTTP {exc.code})"))
        except (OSError, ValueError) as exc:
            outcome.append((False, f"{endpoint} unreachable: {redact(str(getattr(exc, 'reason', exc)))}"))

    thread = threading.Thread(target=attempt, daemon=True)  # daemon: a hung DNS lookup can't block exit
    thread.start()
    thread.join(timeout_s + 0.5)
    return outcome[0] if outcome else (False, f"{endpoint} did not answer within {timeout_s:.0f} s")
