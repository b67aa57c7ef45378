"""Tool chats asked in many wordings: a quarter of them held out, and eval's tool_wordings_eval.jsonl asks only
those, on numbers no tool chat or copy document holds."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from minillm_core.inference.tools import calculate
from tests.helpers import EMBEDDED
from tests.helpers import read_embedded as read
from tests.test_embedded_dataset import load_generator

NUMBER = re.compile(r"\d+")
SLOT = "<n>"  # what every number becomes when a wording is looked for as a template
TRAINING_FILES = sorted(path.name for path in EMBEDDED.glob("*.jsonl")
                        if path.name.startswith(("pretrain", "sft", "dpo")) and "eval" not in path.name)
EXPRESSION = re.compile(r"(\d+) ([-+*/]) (\d+)")


@pytest.fixture(scope="module")
def gen():
    return load_generator()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return read("tool_wordings_eval.jsonl")


def strings(value) -> list[str]:
    """Every string in a record, however deep (user turns, tool calls, documents)."""
    if isinstance(value, str):
        return [value]
    values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in values for text in strings(item)]


def template(text: str) -> str:
    return NUMBER.sub(SLOT, text)


def training_expressions() -> dict[str, list[tuple[str, int, int]]]:
    """The calculator expressions of each training file's tool calls and copy documents, as (op, a, b)."""
    found = {}
    for name in TRAINING_FILES:
        calls = []
        for record in read(name):
            for turn in record.get("conversations", []):
                calls += [call["function"]["arguments"]["expression"] for call in turn.get("tool_calls", [])
                          if call["function"]["name"] == "calculator"]
            text = record.get("text", "")
            calls += re.findall(r"calculator\(([^)]*)\)", text)  # copy documents
            calls += re.findall(r'"expression": "([^"]*)"', text)  # tool chats as the chat template writes them
        found[name] = [(op, int(a), int(b)) for a, op, b in (EXPRESSION.fullmatch(c).groups() for c in calls)]
    return found


def test_each_operation_and_language_has_many_wordings_and_a_quarter_is_held_out(gen):
    held = gen.held_out_wordings()
    assert held == gen.held_out_wordings()  # drawn from a fixed stream
    assert set(gen.TOOL_WORDINGS) == {(op, lang) for op in "+-*/" for lang in ("en", "zh")}
    for key, wordings in gen.TOOL_WORDINGS.items():
        assert len(wordings) >= 16 and len(set(wordings)) == len(wordings), key
        assert len(held[key]) == round(len(wordings) / 4), key
        # ARITH_QUESTIONS' plain wordings (sft.jsonl asks them) are always trained on.
        assert min(held[key]) >= len(gen.ARITH_QUESTIONS[key]), key
        for wording in wordings:  # two numbers, no digit of its own: the template test below relies on it
            assert wording.count("{a}") == wording.count("{b}") == 1 and not NUMBER.search(wording), wording
    # Held out whole: no held-out wording reads like a trained one once the numbers are taken out.
    trained = {wording.format(a=SLOT, b=SLOT) for key, wordings in gen.TOOL_WORDINGS.items()
               for index, wording in enumerate(wordings) if index not in held[key]}
    for key, indices in held.items():
        for index in indices:
            assert gen.TOOL_WORDINGS[key][index].format(a=SLOT, b=SLOT) not in trained


def test_no_held_out_wording_is_in_any_training_file(gen):
    held = gen.held_out_wordings()
    held_templates = {gen.TOOL_WORDINGS[key][i].format(a=SLOT, b=SLOT) for key, indices in held.items()
                      for i in indices}
    trained_templates = {wording.format(a=SLOT, b=SLOT) for key, wordings in gen.TOOL_WORDINGS.items()
                         for i, wording in enumerate(wordings) if i not in held[key]}
    assert {"pretrain_reasoning.jsonl", "sft_reasoning.jsonl", "sft.jsonl", "dpo.jsonl"} <= set(TRAINING_FILES)
    for name in TRAINING_FILES:
        text = "\n".join(template(text) for record in read(name) for text in strings(record))
        assert not [t for t in held_templates if t in text], name
        if name in ("pretrain_reasoning.jsonl", "sft_reasoning.jsonl"):  # the templates are found where they are
            assert sum(t in text for t in trained_templates) >= 0.95 * len(trained_templates), name


def test_the_eval_asks_held_out_wordings_of_all_four_operations_on_numbers_of_every_length(gen, records):
    held = gen.held_out_wordings()
    ids = {gen.wording_id(op, lang, i): gen.TOOL_WORDINGS[(op, lang)][i] for (op, lang), indices in held.items()
           for i in indices}
    assert len(records) == 96
    assert Counter((r["op"], r["lang"]) for r in records) == {(op, lang): 12 for op in "+-*/" for lang in ("en", "zh")}
    assert set(ids) == {r["wording"] for r in records}  # every held-out wording is asked
    for r in records:
        assert set(r) == {"prompt", "lang", "op", "a", "b", "answer", "expression", "wording"}
        assert r["prompt"] == ids[r["wording"]].format(a=r["a"], b=r["b"])
        assert r["expression"] == f"{r['a']} {r['op']} {r['b']}" and calculate(r["expression"]) == str(r["answer"])
        if r["op"] == "-":
            assert r["a"] >= r["b"], r  # no negative results
        if r["op"] == "/":
            assert r["a"] % r["b"] == 0, r  # exact quotients only
    for op in "+-*/":  # 24 problems, 48 numbers: each length from 1 to 6 digits 8 times
        lengths = Counter(len(str(r[side])) for r in records if r["op"] == op for side in "ab")
        assert lengths == {digits: 8 for digits in range(1, 7)}, op
    assert {r["op"] for r in records[:8]} == set("+-*/") and {r["lang"] for r in records[:8]} == {"en", "zh"}


def test_no_eval_problem_is_in_a_training_tool_chat_or_copy_document(records):
    held = {(min(r["a"], r["b"]), max(r["a"], r["b"])) for r in records}
    held |= {(min(r["a"], r["b"]), max(r["a"], r["b"])) for r in read("big_arithmetic_eval.jsonl")}
    found = training_expressions()
    assert len(found["sft_reasoning.jsonl"]) == 560 and len(found["pretrain_reasoning.jsonl"]) > 3000
    for name, problems in found.items():
        assert not [p for p in problems if (min(p[1:]), max(p[1:])) in held], name
    tool_chats = found["sft_reasoning.jsonl"]
    assert Counter(op for op, _, _ in tool_chats) == {op: 140 for op in "+-*/"}
    assert {len(str(n)) for _, a, b in tool_chats for n in (a, b)} == set(range(1, 7))


def test_the_frozen_eval_file_is_what_the_generator_writes(gen, tmp_path):
    # The full regeneration test compares every file; this one pins the eval file alone, cheaply.
    train_big, held_big = gen.big_problems()
    held = held_big + gen.held_out_problems(gen.all_problems())
    gen.write({"tool_wordings_eval.jsonl": gen.tool_parts(train_big, held)[0]}, tmp_path)
    assert (tmp_path / "tool_wordings_eval.jsonl").read_bytes() == (EMBEDDED / "tool_wordings_eval.jsonl").read_bytes()
