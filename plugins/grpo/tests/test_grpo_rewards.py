"""The grpo plugin's rewards and prompt selection; the skill itself runs in the main suite's plugin test."""

from __future__ import annotations

import json

from minillm_skill_grpo.plugin import METHOD, OPTIONS
from minillm_skill_grpo.recipe import episode_prompts
from minillm_skill_grpo.rewards import answer_form, call_form, correct_result, final_answer, is_arithmetic, result_of


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


def call(name: str, **arguments) -> dict:
    """A call as TRL's loop reads it from a reply (the response template's shape)."""
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def episode(*calls: dict, result: str = "936", answer: str = "347 + 589 = 936.") -> list[dict]:
    """A completion as TRL's tool loop hands it to the rewards: the call, the tool's result, the answer."""
    return [{"role": "assistant", "content": "", "tool_calls": list(calls)},
            {"role": "tool", "name": "calculator", "content": result}, {"role": "assistant", "content": answer}]


def test_the_answer_reward_reads_the_last_reply_of_the_episode():
    arithmetic, fact = "347 + 589 = 936.", "The capital of Peru is Lima."
    completions = [
        episode(call("calculator", expression="347 + 589")),
        episode(call("calculator", expression="347 + 598"), result="945", answer="347 + 589 = 945."),
        [{"role": "assistant", "content": "347 + 589 = 936."}],  # right without the tool: still right
        episode(call("calculator", expression="347 + 589"), answer=""),  # cut off before answering
        [{"role": "assistant", "content": "", "tool_calls": [call("calculator", expression="1 + 1")]}],
        episode(call("lookup", query="capital of Peru"), answer="the capital of peru is Lima"),
        episode(call("lookup", query="capital of Peru"), answer="The capital of Peru is Quito."),
    ]
    answers = [arithmetic] * 5 + [fact] * 2
    assert final_answer(completions, answers) == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_the_call_term_wants_every_call_well_formed_right_or_wrong():
    completions = [
        episode(call("calculator", expression="347 + 598")),  # wrong value, well formed
        episode(call("lookup", query="capital of Peru"), call("calculator", expression="1 + 1")),
        episode(call("calculator", expression="1 + 1"), call("word_count", text="a b")),  # not a built-in tool
        episode(call("calculator", expr="1 + 1")),  # an argument the calculator does not take
        episode(call("calculator")),  # the required argument missing
        episode({"type": "function", "function": {"name": "calculator", "arguments": "1 + 1"}}),
        [{"role": "assistant", "content": "<tool_call>\n{not json}\n</tool_call>"}],  # unparsed: no call
        [{"role": "assistant", "content": "347 + 589 = 936."}],
    ]
    assert call_form(completions) == [0.25, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_episode_prompts_are_the_chats_up_to_a_first_reply_that_calls_a_builtin_tool():
    import datasets

    def message(role, content="", calls=()):
        return {"role": role, "content": content, "reasoning_content": None,
                "tool_calls": [{"name": name, "arguments": json.dumps(args)} for name, args in calls] or None}

    tools = json.dumps([{"type": "function", "function": {"name": "calculator", "parameters": {}}}])
    records = datasets.Dataset.from_list([
        {"messages": [message("system", "Be brief."), message("user", "What is 2 + 3?"),
                      message("assistant", calls=[("calculator", {"expression": "2 + 3"})]),
                      message("tool", "5"), message("assistant", "2 + 3 = 5.")], "tools": tools},
        {"messages": [message("user", "Hi"), message("assistant", "Hello.")], "tools": tools},  # no call
        {"messages": [message("user", "Count"), message("assistant", calls=[("word_count", {"text": "a b"})]),
                      message("tool", "2"), message("assistant", "2.")], "tools": tools},  # not a built-in tool
        {"messages": [message("user", "What is 2 + 3?"), message("assistant", "5.")], "tools": None},
        {"messages": [message("user", "What is 2 + 3?"),  # no answer after the result
                      message("assistant", calls=[("calculator", {"expression": "2 + 3"})]),
                      message("tool", "5")], "tools": tools},
    ])
    [row] = episode_prompts(records)
    assert row["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 3?"}]
    assert row["answer"] == "2 + 3 = 5."


def test_task_is_answer_or_tools():
    assert OPTIONS["task"].default == "answer"
    assert OPTIONS["task"].valid("tools") is None and OPTIONS["task"].valid("think") == "must be answer or tools"
