"""The grpo plugin's rewards and prompt selection; the skill itself runs in the main suite's plugin test."""

from __future__ import annotations

from minillm_skill_grpo.plugin import METHOD, OPTIONS
from minillm_skill_grpo.rewards import answer_form, correct_result, is_arithmetic, result_of


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
