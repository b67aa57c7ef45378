"""The built-in tools, reading tool calls from a reply, and running them: errors come back as text."""

from __future__ import annotations

import pytest

from minillm_core.inference.replies import tool_turns
from minillm_core.inference.tools import BUILTIN_TOOLS, CALCULATOR, calculate, lookup, parse_tool_calls, run_tool_call
from tests.helpers import call_text

TOOLS = {tool.name: tool for tool in BUILTIN_TOOLS}


@pytest.mark.parametrize(("expression", "value"), [
    ("347 + 589", "936"), ("47 * 6", "282"), ("47 × 6", "282"), ("(2 + 3) * 4", "20"), ("7 / 2", "3.5"),
    ("8 / 2", "4"), ("-3 + 1", "-2"), ("2 ** 10", "1024"), ("100 ÷ 8", "12.5"), ("17 % 5", "2"),
    # The tool chats' four operations on 6-digit numbers: an exact quotient is written as an integer, as the
    # answer says it ("123456 ÷ 2 = 61728."), and a product keeps every digit.
    ("123456 / 2", "61728"), ("123456 ÷ 2", "61728"), ("999999 * 999999", "999998000001"),
    ("654321 + 345679", "1000000"), ("100000 - 99999", "1"), ("100000 - 999999", "-899999")])
def test_the_calculator_works_out_arithmetic(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(("expression", "message"), [
    ("__import__('os').system('true')", "only numbers"), ("1 / 0", "division by zero"), ("", "1 to 200"),
    ("2 ** 10 ** 10", "exponents above"), ("347 +", "not an arithmetic expression"), ("x + 1", "only numbers")])
def test_the_calculator_never_runs_code_and_says_what_is_wrong(expression, message):
    with pytest.raises(ValueError, match=message):
        calculate(expression)


def test_lookup_finds_facts_in_both_languages_and_near_misses():
    assert lookup("capital of France") == "The capital of France is Paris."
    assert lookup("法国的首都") == "法国的首都是巴黎。"
    assert lookup("Capital of France?") == "The capital of France is Paris."  # case and punctuation
    assert lookup("capitol of France") == "The capital of France is Paris."  # a near miss
    with pytest.raises(ValueError, match="no fact found"):
        lookup("the meaning of life")


def test_parse_reads_every_call_and_marks_the_broken_ones():
    reply = (call_text("calculator", expression="1 + 2") + "\n<tool_call>\n{not json}\n</tool_call>"
             + '\n<tool_call>\n{"arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "lookup", "arguments": "'
             + '{\\"query\\": \\"days in May\\"}"}\n</tool_call>\n<tool_call>\n{"name": "calculator", "argu')
    calls = parse_tool_calls(reply)
    assert [(call.name, call.error is None) for call in calls] == [
        ("calculator", True), (None, False), (None, False), ("lookup", True), (None, False)]
    assert calls[3].arguments == {"query": "days in May"}  # arguments written as JSON text are read too
    assert parse_tool_calls("no calls here") == []


@pytest.mark.parametrize(("call", "expected"), [
    ('{"name": "calculator", "arguments": {"expression": "2 + 2"}}', ("4", True)),
    ('{"name": "weather", "arguments": {}}', ("error: unknown tool 'weather'; the tools are calculator, lookup",
                                              False)),
    ('{"name": "calculator", "arguments": {}}', ("error: calculator needs the argument(s) expression", False)),
    ('{"name": "calculator", "arguments": {"expression": "1 / 0"}}', ("error: division by zero", False)),
    ('{"name": "calculator", "arguments": {"expression": "2 + 2", "extra": 1}}', ("4", True)),
])
def test_a_call_runs_or_its_error_is_the_result(call, expected):
    assert run_tool_call(parse_tool_calls(f"<tool_call>{call}</tool_call>")[0], TOOLS) == expected


def test_a_reply_with_calls_becomes_the_assistant_and_tool_messages():
    reply = "<think>\nuse it\n</think>\n\n" + call_text("calculator", expression="347 + 589")
    messages, calls = tool_turns(reply, TOOLS)
    assert messages == [
        {"role": "assistant", "content": "", "reasoning_content": "use it",
         "tool_calls": [{"type": "function", "function": {"name": "calculator",
                                                          "arguments": {"expression": "347 + 589"}}}]},
        {"role": "tool", "content": "936"}]
    assert calls == [{"name": "calculator", "arguments": {"expression": "347 + 589"}, "result": "936", "ok": True}]
    assert tool_turns("347 + 589 = 936.", TOOLS) == ([], [])


def test_the_schema_is_what_the_chat_template_renders():
    assert CALCULATOR.schema() == {"type": "function", "function": {
        "name": "calculator", "description": "Evaluate an arithmetic expression.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                       "required": ["expression"]}}}
