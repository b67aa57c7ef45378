"""The grpo plugin's rewards and prompt selection; the skill itself runs in the main suite's plugin test."""

from __future__ import annotations

import json

from minillm_skill_grpo.plugin import METHOD, OPTIONS
from minillm_skill_grpo.recipe import tool_call_prompts
from minillm_skill_grpo.rewards import (
    answer_form,
    call_result,
    correct_result,
    is_arithmetic,
    result_of,
    tool_form,
    tool_result,
)

from minillm_core.api import ToolCall


def chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def test_the_result_reward_checks_the_stated_result_against_the_reference():
    completions = [chat("3 + 4 = 7."), chat("3 + 4 = 8."), chat("seven"), "3加4等于7。", chat("= 7 and = 8")]
    answers = ["3 + 4 = 7."] * 4 + ["3 + 4 = 7."]
    assert correct_result(completions, answers) == [1.0, 0.0, 0.0, 1.0, 1.0]


def test_the_form_reward_wants_the_answer_form_right_or_wrong():
    completions = [chat("3 + 4 = 7."), chat("3 + 4 = 8."), chat("It is 7."), chat("12减5等于7。"),
                   chat("3 + 4 = 7. ok")]
    assert answer_form(completions) == [0.25, 0.25, 0.0, 0.25, 0.0]


def test_only_arithmetic_replies_are_prompts():
    assert is_arithmetic("12 + 2 = 14.") and is_arithmetic("22减11等于11。") and is_arithmetic("6 * 7 = 42.")
    assert not is_arithmetic("I am MiniLLM.") and not is_arithmetic("The capital of France is Paris.")
    assert result_of("12 - 15 = -3.") == "-3" and result_of("no result") is None


def test_the_method_reads_sft_records_and_starts_from_sft():
    assert (METHOD.kind, METHOD.default_init, METHOD.sample_style) == ("sft", "out/sft", "chat")
    assert OPTIONS["batch_size"].default % OPTIONS["generations"].default == 0  # TRL needs whole groups


def call(name: str, **arguments) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": arguments})}\n</tool_call>'


def test_the_tool_reward_runs_the_sampled_call_and_compares_what_it_returns():
    completions = [
        chat(call("calculator", expression="347 + 589")),  # the reference call itself
        chat(call("calculator", expression="589 + 347")),  # another call with the same value
        chat(call("calculator", expression="347 + 598")),  # a digit copied wrong
        chat(call("lookup", query="capital of France")),  # the wrong tool
        chat("<tool_call>\n{not json}\n</tool_call>"),
        chat("347 + 589 = 936."),  # no call at all
        call("lookup", query="the capital of Peru"),  # worded differently, finds the same fact
    ]
    # What the reference calls calculator("347 + 589") and lookup("capital of Peru") return.
    expected = [call_result(ToolCall("calculator", {"expression": "347 + 589"}))] * 6
    expected += [call_result(ToolCall("lookup", {"query": "capital of Peru"}))]
    assert expected[0] == "936" and "Lima" in expected[-1]
    assert tool_result(completions, expected) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert tool_form(completions) == [0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.25]


def test_tool_prompts_are_the_chats_up_to_a_first_reply_that_calls_a_builtin_tool():
    from types import SimpleNamespace

    import datasets

    def message(role, content="", calls=()):
        return {"role": role, "content": content, "reasoning_content": None,
                "tool_calls": [{"name": name, "arguments": json.dumps(args)} for name, args in calls]}

    tools = json.dumps([{"type": "function", "function": {"name": "calculator", "parameters": {}}}])
    records = datasets.Dataset.from_list([
        {"messages": [message("user", "What is 2 + 3?"),
                      message("assistant", calls=[("calculator", {"expression": "2 + 3"})]),
                      message("tool", "5"), message("assistant", "2 + 3 = 5.")], "tools": tools},
        {"messages": [message("user", "Hi"), message("assistant", "Hello.")], "tools": tools},  # no call
        {"messages": [message("user", "Count"), message("assistant", calls=[("word_count", {"text": "a b"})]),
                      message("tool", "2"), message("assistant", "2.")], "tools": tools},  # not a built-in tool
        {"messages": [message("user", "What is 2 + 3?"), message("assistant", "5.")], "tools": None},
    ])
    rendered = []
    tokenizer = SimpleNamespace(apply_chat_template=lambda messages, **kw: rendered.append((messages, kw)) or "P")
    [row] = tool_call_prompts(records, tokenizer)
    assert row == {"prompt": "P", "expected": "5"}  # what the reference call calculator("2 + 3") returns
    [(messages, switches)] = rendered
    assert [m["content"] for m in messages] == ["What is 2 + 3?"]
    assert switches["tools"] == json.loads(tools) and switches["add_generation_prompt"] is True


def test_task_is_answer_or_tools():
    assert OPTIONS["task"].default == "answer"
    assert OPTIONS["task"].valid("tools") is None and OPTIONS["task"].valid("think") == "must be answer or tools"
