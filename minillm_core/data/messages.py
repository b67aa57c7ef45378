"""Checks on chat messages: the one conversation shape every reader yields.

Readers build `[{"role": ..., "content": ...}, ...]` lists from whatever their format holds, then
call `check_conversation` so that every format enforces the same rules with the same messages.
"""

from __future__ import annotations

ROLES = ("system", "user", "assistant")


class RecordError(ValueError):
    """What is wrong with one record; the reader adds the file, the line and the expectation."""


def message(role: str, content: object) -> dict:
    """A message in the normalized shape, its content checked to be a non-empty string."""
    if not isinstance(content, str):
        raise RecordError(f"{role} content must be a string, got {type(content).__name__}")
    if not content.strip():
        raise RecordError(f"{role} content is empty")
    return {"role": role, "content": content}


def check_conversation(messages: list[dict], last_role: str) -> list[dict]:
    """Check the turn order: an optional system message, then user/assistant alternating.

    The conversation starts with user and ends with `last_role` ("assistant" for sft,
    "user" for a dpo prompt). Returns `messages` unchanged so callers can chain it.
    """
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not turns:
        raise RecordError("conversation has no user/assistant turns")
    previous = None
    for turn in turns:
        role = turn["role"]
        if role == "system":
            raise RecordError("a system message may only come first")
        if previous is None and role != "user":
            raise RecordError(f"conversation must start with a user turn, got {role}")
        if role == previous:
            raise RecordError(f"conversation must alternate user/assistant turns, got {role} then {role}")
        previous = role
    if previous != last_role:
        article = "an" if last_role == "assistant" else "a"
        raise RecordError(f"conversation must end with {article} {last_role} turn, got {previous}")
    return messages
