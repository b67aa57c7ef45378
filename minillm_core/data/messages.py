"""Checks on chat messages: the one conversation shape every reader yields.

Readers build `[{"role": ..., "content": ...}, ...]` lists from whatever their format holds, then
call `check_conversation` so that every format enforces the same rules with the same messages. An assistant
message may also hold `reasoning_content` (its thinking) and `tool_calls` ([{"name", "arguments"}], the
arguments as JSON text of an object); a `tool` message holds a tool's response.
"""

from __future__ import annotations

import json

ROLES = ("system", "user", "assistant", "tool")


class RecordError(ValueError):
    """What is wrong with one record; the reader adds the file, the line and the expectation."""


def message(role: str, content: object, reasoning: object = None, tool_calls: list[dict] | None = None) -> dict:
    """A message in the normalized shape, its content checked to be a non-empty string (an assistant turn
    that calls tools may have none)."""
    if content is None and tool_calls:
        content = ""
    if not isinstance(content, str):
        raise RecordError(f"{role} content must be a string, got {type(content).__name__}")
    if not content.strip() and not tool_calls:
        raise RecordError(f"{role} content is empty")
    result = {"role": role, "content": content}
    if reasoning is not None:
        if not isinstance(reasoning, str):
            raise RecordError(f"reasoning_content must be a string, got {type(reasoning).__name__}")
        result["reasoning_content"] = reasoning
    if tool_calls:
        result["tool_calls"] = tool_calls
    return result


def tool_calls_of(value: object) -> list[dict]:
    """OpenAI's tool calls ([{"type": "function", "function": {"name", "arguments"}}], or bare {"name",
    "arguments"} objects) as [{"name": str, "arguments": JSON text of an object}]."""
    if not isinstance(value, list) or not value:
        raise RecordError(f"tool_calls must be a non-empty list, got {value!r:.80}")
    calls = []
    for call in value:
        function = call.get("function", call) if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise RecordError(f'each tool call needs a "name" (a string), got {call!r:.80}')
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as error:
                raise RecordError(f'tool call "{name}": arguments are not valid JSON ({error.msg})') from None
        if not isinstance(arguments, dict):
            raise RecordError(f'tool call "{name}": arguments must be a JSON object, got {arguments!r:.80}')
        calls.append({"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)})
    return calls


def tools_of(value: object) -> str:
    """A record's tool definitions (a list of objects, or that list as JSON text) as JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise RecordError(f"tools are not valid JSON ({error.msg})") from None
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise RecordError(f"tools must be a list of tool definitions (objects), got {value!r:.80}")
    return json.dumps(value, ensure_ascii=False)


def check_conversation(messages: list[dict], last_role: str) -> list[dict]:
    """Check the turn order: an optional system message, then user/assistant alternating, where an assistant
    turn with tool_calls is followed by one or more tool messages and then an assistant turn again.

    The conversation starts with user and ends with `last_role` ("assistant" for sft,
    "user" for a dpo prompt). Returns `messages` unchanged so callers can chain it.
    """
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not turns:
        raise RecordError("conversation has no user/assistant turns")
    previous, called = None, False
    for turn in turns:
        role = turn["role"]
        if role == "system":
            raise RecordError("a system message may only come first")
        if previous is None and role != "user":
            raise RecordError(f"conversation must start with a user turn, got {role}")
        if role == "tool" and not (called or previous == "tool"):
            raise RecordError("a tool message must follow an assistant turn with tool_calls, or another tool message")
        if called and role != "tool":
            raise RecordError(f"an assistant turn with tool_calls must be followed by tool messages, got {role}")
        if previous == "tool" and role not in ("tool", "assistant"):
            raise RecordError(f"tool messages must be followed by an assistant turn, got {role}")
        if role == previous and role != "tool":
            raise RecordError(f"conversation must alternate user/assistant turns, got {role} then {role}")
        previous, called = role, role == "assistant" and bool(turn.get("tool_calls"))
    if previous != last_role:
        article = "an" if last_role == "assistant" else "a"
        raise RecordError(f"conversation must end with {article} {last_role} turn, got {previous}")
    return messages
