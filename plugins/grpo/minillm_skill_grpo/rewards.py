"""Rule-based rewards (no reward model): for arithmetic answers such as "3 + 4 = 7." or "3加4等于7。"
(task=answer), and for tool calls such as `<tool_call>{"name": "calculator", ...}</tool_call>` (task=tools).

TRL calls each with the completions of a batch and every other dataset column as a keyword argument
(`answer`, the reference reply; `expected`, what the reference tool call returned); each returns one float per
completion.
"""

from __future__ import annotations

import re

from minillm_core.api import BUILTIN_TOOLS, ToolCall, parse_tool_calls, run_tool_call

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


# -- task=tools: the first reply calls a tool ------------------------------------------------------------

TOOLS = {tool.name: tool for tool in BUILTIN_TOOLS}


def first_call(text: str) -> ToolCall | None:
    calls = parse_tool_calls(text)
    return calls[0] if calls else None


def call_result(call: ToolCall | None) -> str | None:
    """What the built-in tool returns for the call, or None when it does not run (bad JSON, unknown tool, ...)."""
    if call is None:
        return None
    text, ran = run_tool_call(call, TOOLS)
    return text if ran else None


def tool_result(completions: list, expected: list[str | None], **_) -> list[float]:
    """1.0 when the completion's first tool call runs and returns what the reference call returned (`expected`):
    the right sum, the right fact (a lookup worded differently that finds the same fact counts), else 0.0."""
    rewards = []
    for completion, wanted in zip(completions, expected, strict=True):
        got = call_result(first_call(_text(completion)))
        rewards.append(float(got is not None and got == wanted))
    return rewards


def tool_form(completions: list, **_) -> list[float]:
    """0.25 for a first tool call that parses and names a built-in tool, right or wrong: the shaping reward."""
    rewards = []
    for completion in completions:
        call = first_call(_text(completion))
        rewards.append(0.25 * (call is not None and call.error is None and call.name in TOOLS))
    return rewards
