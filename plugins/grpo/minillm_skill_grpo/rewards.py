"""Rule-based rewards (no reward model): for arithmetic answers such as "3 + 4 = 7." or "3加4等于7。"
(task=answer), and for whole tool episodes (task=tools): a call, the tool's result, and the answer after it.

TRL calls each with the completions of a batch and every other dataset column as a keyword argument (`answer`,
the reference reply); each returns one float per completion. A completion is a list of messages (the prompts
are chats); with task=tools it holds every turn of the episode: the assistant's call (`tool_calls`, as the
response template parses them), the `tool` message with the result, and the assistant's answer.
"""

from __future__ import annotations

import re

from minillm_core.api import BUILTIN_TOOLS

RESULT = re.compile(r"(?:=|等于)\s*(-?\d+)")  # the result in "3 + 4 = 7." and "3加4等于7。"
ANSWER_FORM = re.compile(r"^\s*\d+\s*[-+*×]\s*\d+\s*=\s*-?\d+\.\s*$|^\s*\d+[加减乘]\d+等于-?\d+。\s*$")


def result_of(text: str) -> str | None:
    """The first result stated in `text`, or None."""
    match = RESULT.search(text)
    return match[1] if match else None


def is_arithmetic(reply: str) -> bool:
    """A reference reply in the answer form, whose result the reward can check."""
    return bool(ANSWER_FORM.match(reply))


def _text(completion) -> str:
    """A conversational completion is a list of messages; a plain one is a string."""
    return completion[-1]["content"] if isinstance(completion, list) else completion


def correct_result(completions: list, answer: list[str], **_) -> list[float]:
    """1.0 when the completion states the reference's result, else 0.0."""
    return [float(result_of(_text(c)) is not None and result_of(_text(c)) == result_of(ref))
            for c, ref in zip(completions, answer, strict=True)]


def answer_form(completions: list, **_) -> list[float]:
    """0.25 for an answer in the form "a + b = c." / "a加b等于c。", right or wrong: a small shaping reward."""
    return [0.25 * bool(ANSWER_FORM.match(_text(c))) for c in completions]


# -- task=tools: whole episodes (call, result, answer) from TRL's tool loop -------------------------------

TOOLS = {tool.name: tool for tool in BUILTIN_TOOLS}
_PUNCTUATION = re.compile(r"[\s\"'?？.。!！,，]+")


def _normal(text: str) -> str:
    return _PUNCTUATION.sub(" ", text.lower()).strip()


def final_reply(completion: list[dict]) -> str:
    """What the episode ends with: the content of its last assistant message ("" when it ended on a call)."""
    replies = [message for message in completion if message["role"] == "assistant"]
    return (replies[-1].get("content") or "") if replies else ""


def states_answer(reply: str, reference: str) -> bool:
    """Whether `reply` gives the reference reply's answer: its result for arithmetic ("81 × 2 = 162."), else the
    reference sentence itself (a fact such as "The capital of Peru is Lima.", what the lookup returns)."""
    expected = result_of(reference)
    if expected is not None:
        return result_of(reply) == expected
    return bool(_normal(reference)) and _normal(reference) in _normal(reply)


def final_answer(completions: list[list[dict]], answer: list[str], **_) -> list[float]:
    """1.0 when the episode's last reply gives the reference's answer, however it got there, else 0.0."""
    return [float(states_answer(final_reply(c), ref)) for c, ref in zip(completions, answer, strict=True)]


def well_formed(call: dict) -> bool:
    """A parsed call (TRL's shape) that names a built-in tool with arguments it takes, the required ones present."""
    function = call.get("function") or {}
    tool = TOOLS.get(function.get("name"))
    arguments = function.get("arguments")
    if tool is None or not isinstance(arguments, dict):
        return False
    return set(tool.parameters.get("required", [])) <= set(arguments) <= set(tool.parameters.get("properties", {}))


def call_form(completions: list[list[dict]], **_) -> list[float]:
    """0.25 for an episode that calls a tool and whose every call is well formed, right or wrong: the shaping term.
    A call the chat template's response parser cannot read is no call: the episode's text is then plain content."""
    rewards = []
    for completion in completions:
        calls = [call for message in completion if message["role"] == "assistant"
                 for call in message.get("tool_calls") or []]
        rewards.append(0.25 * (bool(calls) and all(map(well_formed, calls))))
    return rewards
