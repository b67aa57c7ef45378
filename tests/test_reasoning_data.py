"""The embedded thinking and tool chats: well-formed, right, answerable by the tools, and held out from eval."""

from __future__ import annotations

import json
import re

import pytest

from minillm_core.data.formats import RecordReader
from minillm_core.eval.arithmetic import final_number, load_arithmetic_items
from minillm_core.inference.tools import calculate, lookup
from tests.helpers import EMBEDDED
from tests.helpers import read_embedded as read

NUMBERS = re.compile(r"\d+")


@pytest.fixture(scope="module")
def reasoning() -> list[dict]:
    return read("sft_reasoning.jsonl")


def kind_of(record: dict) -> str:
    turns = record["conversations"]
    calls = [call["function"]["name"] for turn in turns for call in turn.get("tool_calls", [])]
    if calls:
        return calls[0]
    if "tools" in record:
        return "no_tool"
    reasoning = [turn["reasoning_content"] for turn in turns if "reasoning_content" in turn]
    return ("think" if reasoning[0] else "no_think") if reasoning else "plain"


def test_it_is_the_plain_chats_plus_every_kind_in_both_languages(reasoning):
    plain = [json.dumps(r, sort_keys=True) for r in reasoning if kind_of(r) == "plain"]
    assert sorted(plain) == sorted(json.dumps(r, sort_keys=True) for r in read("sft.jsonl"))
    kinds = {kind_of(r) for r in reasoning}
    assert kinds == {"plain", "calculator", "lookup", "no_tool", "think", "no_think"}
    for kind in kinds:
        texts = [r["conversations"][0]["content"] for r in reasoning if kind_of(r) == kind]
        assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts) and any(t.isascii() for t in texts), kind


def test_every_record_reads_as_an_sft_chat():
    records = list(RecordReader(EMBEDDED / "sft_reasoning.jsonl", "sft", "minimind"))
    assert len(records) == len(read("sft_reasoning.jsonl"))
    with_tools = [r for r in records if "tools" in r]
    assert with_tools and all(json.loads(r["tools"])[0]["function"]["name"] == "calculator" for r in with_tools)


def test_tool_results_are_what_the_tools_return_and_the_answer_uses_them(reasoning):
    for record in reasoning:
        turns = record["conversations"]
        for index, turn in enumerate(turns):
            for call in turn.get("tool_calls", []):
                name, arguments = call["function"]["name"], call["function"]["arguments"]
                result = turns[index + 1]["content"]
                assert turns[index + 1]["role"] == "tool"
                assert (calculate(**arguments) if name == "calculator" else lookup(**arguments)) == result
                final = turns[-1]["content"]
                assert (final_number(final) == int(result)) if name == "calculator" else final == result


def test_worked_steps_reach_the_right_answer_and_thinking_off_is_empty(reasoning):
    thought = [r for r in reasoning if kind_of(r) in ("think", "no_think")]
    assert thought
    for record in thought:
        answer = record["conversations"][-1]
        a, b, c = map(int, NUMBERS.findall(answer["content"])[:3])
        if kind_of(record) == "no_think":
            assert answer["reasoning_content"] == ""
        else:
            assert int(NUMBERS.findall(answer["reasoning_content"])[-1]) == c
        assert c in (a + b, a * b)


def test_the_held_out_problems_are_never_trained_on(reasoning):
    items = load_arithmetic_items()
    assert len(items) == 64 and {item.lang for item in items} == {"en", "zh"}
    held = {tuple(sorted(map(int, NUMBERS.findall(item.expression)))) for item in items}
    prompts = {item.prompt for item in items}
    for record in reasoning:
        question = record["conversations"][0]["content"]
        assert question not in prompts
        if kind_of(record) in ("calculator", "think", "no_think"):
            assert tuple(sorted(map(int, NUMBERS.findall(question)))) not in held, question
    for item in items:
        assert calculate(item.expression) == str(item.answer)
