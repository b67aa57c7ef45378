"""Rule-based rewards for arithmetic answers such as "3 + 4 = 7." or "3加4等于7。" (no reward model).

TRL calls each with the completions of a batch and every other dataset column as a keyword argument
(here `answer`, the reference reply); each returns one float per completion.
"""

from __future__ import annotations

import re

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
