"""On your data: does a model say what the user's held-out records say?

    figures = own_data_scores(model, tokenizer, records, "sft")   # {"items", "accuracy", "rule", "rows"}

Each held-out record is asked as it stands (the conversation up to its last reply; for dpo, the prompt) and
answered greedily; the answer is right when it carries the reference's content (sft: the last reply; dpo:
the chosen one) by the rule `carries`:

- normalised, the reference is inside the answer (a short answer such as "Paris." or "42"), or
- token F1 of answer and reference is at least F1_THRESHOLD. Tokens are words for letters and digits and
  single characters for Chinese, Japanese and Korean, so the rule reads both languages alike.

A file may answer one prompt in several wordings ("Who are you?" -> "I am Qiming..." and "My name is
Qiming..."): each reply the file gives to the same prompt (equal once normalised) is a reference too.

Normalising lowercases, drops punctuation (ASCII and full-width) and the model's thinking, and folds white
space. The rule rewards carrying the content, not copying the wording: a reworded answer with most of the
reference's words passes, an answer about something else does not.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

from minillm_core.eval.answers import generate_texts
from minillm_core.inference.replies import split_reasoning
from minillm_core.model.tokenizer import CHAT_TEMPLATE

F1_THRESHOLD = 0.6  # 0.5 passed another identity: "I am MiniLLM, a small language model." against
# "I am Qiming, a model made by Lumen Labs." shares i, am, a, model (tests/test_own_data.py)
SAME_QUESTION_F1 = 0.6  # two prompts ask the same thing ("Hi! Who are you?", "Who are you?"): token F1 at least this
MAX_NEW_TOKENS = 256  # the longest answer asked for; each batch stops at its longest reference plus a margin
RULE = (f"right when the normalised reference is inside the answer, or their token F1 is at least {F1_THRESHOLD} "
        "(words; one token per CJK character); the reference is the record's reply or any reply the file gives "
        "to the same prompt")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", split_reasoning(text)[1]).lower()
    text = "".join(" " if unicodedata.category(char).startswith("P") else char for char in text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


def counts_f1(said: Counter, wanted: Counter) -> float:
    """Token F1 of two token counts."""
    common = sum((said & wanted).values())
    if not common:
        return 0.0
    precision, recall = common / sum(said.values()), common / sum(wanted.values())
    return 2 * precision * recall / (precision + recall)


def token_f1(answer: str, reference: str) -> float:
    return counts_f1(Counter(tokens(answer)), Counter(tokens(reference)))


class Questions:
    """Questions to recognise in other wordings: one asks what another asks when their token F1 is at least
    SAME_QUESTION_F1. Each question is tokenized once, as thousands of others are matched against them."""

    def __init__(self, questions: Iterable[str]) -> None:
        self._counts = [Counter(tokens(question)) for question in dict.fromkeys(questions)]

    def asks(self, question: str) -> bool:
        said = Counter(tokens(question))
        return any(counts_f1(said, wanted) >= SAME_QUESTION_F1 for wanted in self._counts)


def carries(answer: str, reference: str) -> bool:
    """Does `answer` carry the content of `reference` (the rule in the module docstring)?"""
    said, wanted = normalise(answer), normalise(reference)
    if not wanted:
        return not said
    inside = (f" {wanted} " in f" {said} ") if not _CJK.search(wanted) else wanted.replace(" ", "") in said.replace(
        " ", "")
    return inside or token_f1(answer, reference) >= F1_THRESHOLD


def tools_of(record: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tool definitions a chat record offers (JSON text in a prepared dataset, a list in a read record)."""
    tools = record.get("tools")
    return json.loads(tools) if isinstance(tools, str) and tools else (tools or None)


def question_and_reference(record: dict[str, Any], kind: str) -> tuple[list[dict[str, Any]], str]:
    """The conversation a held-out record asks, and the reply it expects."""
    if kind == "dpo":
        return list(record["prompt"]), record["chosen"][-1]["content"]
    messages = record["messages"]
    last = max(i for i, message in enumerate(messages) if message["role"] == "assistant")
    return [_plain(message) for message in messages[:last]], messages[last]["content"] or ""


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if value is not None}


def replies_by_prompt(examples: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Every reply a file gives to each prompt (normalised): a file that answers "Who are you?" in four wordings
    has four right answers to it. Only the same prompt counts, not a similar one: "What is 3 + 4?" and
    "What is 3 + 5?" are similar by token F1 and want other answers."""
    replies: dict[str, list[str]] = {}
    for prompt, reply in examples:
        known = replies.setdefault(normalise(prompt), [])
        if reply not in known:
            known.append(reply)
    return replies


def answers_right(prompt: str, answer: str, reference: str, also: dict[str, list[str]]) -> bool:
    """Does `answer` carry `reference`, or another reply the file gives to the same prompt?"""
    return any(carries(answer, wanted) for wanted in [reference, *also.get(normalise(prompt), [])])


def own_data_scores(model, tokenizer, records: list[dict[str, Any]], kind: str,
                    also: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Greedy answers to the held-out records and the share that carries the reference, or another reply the
    file gives to the same prompt (`also`, from replies_by_prompt)."""
    asked = [question_and_reference(record, kind) for record in records]
    template = tokenizer.chat_template or CHAT_TEMPLATE
    texts = [tokenizer.apply_chat_template(messages, tools=tools_of(record), add_generation_prompt=True,
                                           tokenize=False, chat_template=template)
             for (messages, _), record in zip(asked, records, strict=True)]
    longest = max((len(tokenizer(reference)["input_ids"]) for _, reference in asked), default=0)
    budget = min(MAX_NEW_TOKENS, longest + 16)
    answers = [text for text, _ in generate_texts(model, tokenizer, texts, "chat", max_new_tokens=budget)]
    rows = []
    for (messages, reference), answer in zip(asked, answers, strict=True):
        prompt = (messages[-1]["content"] or "") if messages else ""
        rows.append({"prompt": prompt, "reference": reference, "answer": answer,
                     "right": answers_right(prompt, answer, reference, also or {})})
    accuracy = round(sum(row["right"] for row in rows) / len(rows), 4) if rows else None
    return {"items": len(rows), "accuracy": accuracy, "rule": RULE, "rows": rows}
