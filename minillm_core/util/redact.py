"""Credentials never leave in what we log or report.

A hub mirror may be given as `HF_ENDPOINT=https://user:password@mirror.example`; the address is still
worth showing, the credentials are not. `redact` replaces the `user:password@` of every URL in a text
with `***@`; `without_credentials` drops it, for a request that must not send them.
"""

from __future__ import annotations

import re
from typing import Any

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def redact_all(value: Any) -> Any:
    """`redact` applied to every string in nested dicts, lists and tuples (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_all(key): redact_all(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_all(item) for item in value)
    return value


def without_credentials(url: str) -> str:
    return _USERINFO.sub(r"\g<scheme>", url)
