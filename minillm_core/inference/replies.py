"""Reading a chat model's reply: its thinking apart from its answer, and the tool turns it asks for.

    thinking, answer = split_reasoning(reply)
    messages = tool_turns(reply, tools)    # the assistant's call and each tool's result, as chat messages

Chat, eval and the answer check all read replies this way.
"""

from __future__ import annotations

from typing import Any

from minillm_core.inference.tools import Tool, parse_tool_calls, run_tool_call


def split_reasoning(text: str) -> tuple[str | None, str]:
    """(thinking, answer) of a reply: what stands in <think>...</think> before the answer, and the rest.
    No </think> in the reply: no thinking (None), all answer."""
    if "</think>" not in text:
        return None, text
    thought, answer = text.split("</think>", 1)
    return thought.replace("<think>", "", 1).strip("\n"), answer.lstrip("\n")


def tool_turns(reply: str, tools: dict[str, Tool]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(messages, calls) for a reply that calls tools: the assistant message (its text before the first call,
    its thinking apart, and the calls), then one `tool` message per call with what the tool returned; `calls`
    lists {"name", "arguments", "result", "ok"}. A reply without calls gives ([], [])."""
    parsed = parse_tool_calls(reply)
    if not parsed:
        return [], []
    reasoning, said = split_reasoning(reply.split("<tool_call>", 1)[0])
    assistant: dict[str, Any] = {"role": "assistant", "content": said.strip(),
                                 "tool_calls": [call.as_message_call() for call in parsed]}
    if reasoning is not None:
        assistant["reasoning_content"] = reasoning
    messages, calls = [assistant], []
    for call in parsed:
        result, ok = run_tool_call(call, tools)
        messages.append({"role": "tool", "content": result})
        calls.append({"name": call.name, "arguments": call.arguments, "result": result, "ok": ok})
    return messages, calls
