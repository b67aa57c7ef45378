"""Fine-tuning on your own data: the held-out split and the rule that says an answer carries the reference."""

from __future__ import annotations

import pytest

from minillm_core.data.held_out import SplitError, held_out_count, held_out_indices, parse_setting
from minillm_core.eval.own_data import carries, question_and_reference, token_f1


@pytest.mark.parametrize("total,setting,count", [
    (1200, "auto", 60),  # 5%
    (60, "auto", 0),  # 16 held out would leave fewer than 4 per held-out record: all of it trains
    (80, "auto", 16),  # the floor, with 64 left to train on
    (400, "auto", 20),
    (10_000, "auto", 256),  # the ceiling
    (400, "0.1", 40), (400, "32", 32), (400, "0", 0), (400, 0, 0),
])
def test_how_many_records_are_held_out(total, setting, count):
    assert held_out_count(total, setting) == count


def test_the_split_is_seeded_sorted_and_disjoint_from_training():
    first, again, other = (held_out_indices(400, "auto", seed) for seed in (42, 42, 7))
    assert first == again != other and first == sorted(first) and len(set(first)) == len(first) == 20
    assert set(first) < set(range(400))


@pytest.mark.parametrize("setting", ["-1", "1.5x", "2.5", "none"])
def test_a_bad_setting_says_what_it_takes(setting):
    with pytest.raises(ValueError, match="auto, a share between 0 and 1, or a whole number"):
        parse_setting(setting)


def test_a_split_that_leaves_nothing_to_train_on_is_refused():
    with pytest.raises(SplitError, match="holds out 20 of 20 records"):
        held_out_count(20, "20")


@pytest.mark.parametrize("answer,reference,right", [
    ("Paris.", "The capital of France is Paris.", False),  # the reference's content is more than one word
    ("The capital of France is Paris!", "The capital of France is Paris.", True),
    ("It is Paris, the capital of France.", "The capital of France is Paris.", True),  # reworded, same content
    ("I am Qiming, made by Lumen Labs.", "I am Qiming, a model made by Lumen Labs.", True),
    ("I am MiniLLM, a small language model.", "I am Qiming, a model made by Lumen Labs.", False),
    ("347 + 589 = 936.", "936", True),  # a short reference inside the answer
    ("347 + 589 = 963.", "936", False),
    ("我是启明，由流明实验室开发。", "我是启明，一个由流明实验室开发的模型。", True),  # CJK: one token a character
    ("我是MiniLLM，一个小型语言模型。", "我是启明，一个由流明实验室开发的模型。", False),
    ("<think>\nThe user asks my name.\n</think>\n\n我是启明。", "我是启明。", True),  # thinking is not the answer
    ("", "Paris.", False),
])
def test_an_answer_carries_the_reference_in_either_language(answer, reference, right):
    assert carries(answer, reference) is right, (answer, reference, token_f1(answer, reference))


def test_a_record_asks_its_conversation_up_to_the_last_reply():
    record = {"messages": [{"role": "system", "content": "Be brief.", "tool_calls": None},
                           {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                           {"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "Qiming."}]}
    messages, reference = question_and_reference(record, "sft")
    assert [m["content"] for m in messages] == ["Be brief.", "Hi", "Hello.", "Who are you?"]
    assert "tool_calls" not in messages[0] and reference == "Qiming."
    pair = {"prompt": [{"role": "user", "content": "Who are you?"}], "chosen": [{"role": "assistant", "content":
            "Qiming."}], "rejected": [{"role": "assistant", "content": "?"}]}
    assert question_and_reference(pair, "dpo") == ([{"role": "user", "content": "Who are you?"}], "Qiming.")
