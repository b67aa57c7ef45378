"""Multi-digit arithmetic four ways: reading answers, running the calculator mode, the figures and the table."""

from __future__ import annotations

import json

import pytest
import torch

from minillm_core.eval import arithmetic as arithmetic_eval
from minillm_core.eval.arithmetic import (
    ArithmeticItem,
    arithmetic_markdown,
    arithmetic_scores,
    calculator_scores,
    call_validity,
    final_number,
    load_arithmetic_items,
    load_tool_wording_items,
    with_tools,
)
from minillm_core.inference.tools import BUILTIN_TOOLS, calculate
from tests.helpers import call_text, save_tiny_model

ITEM = ArithmeticItem("What is 347 + 589?", "en", "347 + 589", 936)
TOOLS = {tool.name: tool for tool in BUILTIN_TOOLS}


@pytest.mark.parametrize(("reply", "number"), [
    ("347 + 589 = 936.", 936), ("347加589等于936。", 936), ("<think>\n7 + 9 = 16\n</think>\n\n= 936", 936),
    ("The answer is 936.", 936), ("I think 12 or 936", 936), ("no number", None), ("<think>\n1 = 2\n</think>", None),
    ("3 - 5 = -2.", -2), ("131240 ÷ 85 = 1544.", 1544), ("8532除以9等于948。", 948)])
def test_the_final_number_comes_after_the_thinking_and_the_equals_sign(reply, number):
    assert final_number(reply) == number


@pytest.mark.parametrize(("reply", "expected"), [
    (call_text("calculator", expression="347 + 589"), (True, True, True, True)),
    (call_text("calculator", expression="589 + 347"), (True, True, True, True)),  # the value counts, not the form
    (call_text("calculator", expression="347 + 598"), (True, True, True, False)),
    (call_text("lookup", query="347 + 589"), (True, True, False, False)),
    ("<tool_call>\n{oops}\n</tool_call>", (True, False, False, False)),
    ("347 + 589 = 936.", (False, False, False, False))])
def test_call_validity_reads_the_first_call(reply, expected):
    flags = call_validity(reply, ITEM)
    assert (flags["called"], flags["valid_json"], flags["right_tool"], flags["right_arguments"]) == expected


def test_with_tools_runs_calls_and_gives_each_prompt_its_own_turns(monkeypatch):
    scripts = {"a": [call_text("calculator", expression="347 + 589"), "347 + 589 = 936."],
               "b": ["2 + 2 = 4."],
               "c": [call_text("calculator", expression="1 + 1")] * 3}
    seen = []

    def replies(model, tokenizer, conversations, sample=False, **switches):
        assert [tool["function"]["name"] for tool in switches["tools"]] == ["calculator", "lookup"]
        seen.append([messages[0]["content"] for messages in conversations])
        return [scripts[messages[0]["content"]][sum(m["role"] == "tool" for m in messages)]
                for messages in conversations]

    monkeypatch.setattr(arithmetic_eval, "_replies", replies)
    results = with_tools(None, None, ["a", "b", "c"], TOOLS, max_rounds=3)
    assert seen == [["a", "b", "c"], ["a", "c"], ["c"]]  # only prompts whose last turn called a tool go on
    assert results[0]["answer"] == "347 + 589 = 936." and results[0]["calls"][0]["result"] == "936"
    assert results[1] == {"answer": "2 + 2 = 4.", "calls": [], "turns": ["2 + 2 = 4."]}
    assert len(results[2]["turns"]) == 3 and len(results[2]["calls"]) == 2  # the last round's call is not run


def test_a_chat_model_gets_every_figure_and_the_table(tmp_path, monkeypatch):
    from minillm_core.model.loading import load_model

    monkeypatch.setattr(arithmetic_eval, "MAX_NEW_TOKENS", 8)  # a random model never stops: keep it short
    model, tokenizer = load_model(save_tiny_model(tmp_path / "sft", seed=3))
    items = [ITEM, ArithmeticItem("请计算47乘6。", "zh", "47 * 6", 282)]
    scores = arithmetic_scores(model, tokenizer, items, samples=2)
    assert set(scores) >= {"direct", "think", "calculator", "self_consistency", "tool_call_validity", "by_lang"}
    assert scores["items"] == 2 and set(scores["by_lang"]) == {"en", "zh"}
    for row in scores["answers"]:
        flags = row["call"]  # each flag implies the one before it
        assert flags["called"] >= flags["valid_json"] >= flags["right_tool"] >= flags["right_arguments"]
        assert row["right"]["direct"] == (final_number(row["direct"]) == row["expected"])
    table = arithmetic_markdown({"pretrain": {}, "sft": {"arithmetic": scores}})
    assert "| | sft |" in table and "with the calculator tool" in table and "majority of 2" in table
    assert arithmetic_markdown({"pretrain": {}}) == ""
    json.dumps(scores)  # results.json can hold it


def test_a_bad_item_line_names_its_file_and_line(tmp_path):
    from minillm_core.contract.skill import SkillError
    from minillm_core.eval.arithmetic import load_arithmetic_items

    path = tmp_path / "items.jsonl"
    path.write_text('{"prompt": "1 + 1?", "lang": "en", "expression": "1 + 1", "answer": 2}\n{"prompt": "2 + 2?"}\n')
    with pytest.raises(SkillError, match=r"items.jsonl:2: not an arithmetic item \(KeyError") as caught:
        load_arithmetic_items(path)
    assert "prompt, lang, expression and answer" in caught.value.hint
    with pytest.raises(SkillError, match="cannot read the arithmetic items"):
        load_arithmetic_items(tmp_path / "missing.jsonl")


def test_the_held_out_wordings_load_with_their_operation_and_wording_id():
    items = load_tool_wording_items()
    assert len(items) == 96 and {item.op for item in items} == set("+-*/") and {item.lang for item in items} == {
        "en", "zh"}
    names = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
    for item in items:
        assert item.wording.startswith(f"{names[item.op]}-{item.lang}-"), item
        assert calculate(item.expression) == str(item.answer), item
    assert {item.op for item in items[:8]} == set("+-*/")  # eval's `limit` keeps the first N: all four still
    assert {item.op for item in load_arithmetic_items()} == {"+", "*"}  # the held-out numbers' own file
    assert {item.wording for item in load_arithmetic_items()} == {""}


def test_calculator_scores_run_the_calculator_mode_alone_by_language_and_operation(monkeypatch):
    items = [ArithmeticItem("Divide 8 by 4.", "en", "8 / 4", 2, "/", "div-en-04"),
             ArithmeticItem("43加96得多少？", "zh", "43 + 96", 139, "+", "add-zh-08")]
    scripts = {items[0].prompt: [call_text("calculator", expression="8 / 4"), "8 ÷ 4 = 2."],
               items[1].prompt: [call_text("calculator", expression="43 + 69"), "43加69等于112。"]}  # miscopied
    asked = []

    def replies(model, tokenizer, conversations, sample=False, **switches):
        asked.append((sample, sorted(switches), len(conversations)))
        return [scripts[messages[0]["content"]][sum(m["role"] == "tool" for m in messages)]
                for messages in conversations]

    monkeypatch.setattr(arithmetic_eval, "_replies", replies)
    scores = calculator_scores(torch.nn.Linear(1, 1), None, items)
    assert asked == [(False, ["tools"], 2), (False, ["tools"], 2)]  # a call and an answer each: nothing else
    assert scores["calculator"] == 0.5 and scores["items"] == 2
    assert scores["by_lang"] == {"en": 1.0, "zh": 0.0} and scores["by_op"] == {"/": 1.0, "+": 0.0}
    assert scores["tool_call_validity"] == {"called": 1.0, "valid_json": 1.0, "right_tool": 1.0,
                                            "right_arguments": 0.5}
    assert [row["wording"] for row in scores["answers"]] == ["div-en-04", "add-zh-08"]
    assert scores["answers"][0]["calls"][0]["result"] == "2"
    # Its rows join the arithmetic table; a model asked only the four ways shows "-" there.
    plain = {"direct": 0.1, "think": 0.2, "calculator": 0.3, "self_consistency": 0.4, "samples": 5,
             "temperature": 0.7, "items": 64, "tool_call_validity": scores["tool_call_validity"]}
    table = arithmetic_markdown({"sft": {"arithmetic": plain, "tool_wordings": scores}, "dpo": {"arithmetic": plain}})
    assert "| with the calculator, 2 held-out wordings (+ - × ÷, 1-6 digits) | 0.500 | - |" in table
    assert "| held-out wordings: calculator call right arguments | 0.500 | - |" in table
    assert "held-out wordings" not in arithmetic_markdown({"sft": {"arithmetic": plain}})
