"""Fine-tuning on your own data: the held-out split and the rule that says an answer carries the reference."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from minillm_core.data.held_out import SplitError, held_out_count, held_out_indices, parse_setting
from minillm_core.eval.own_data import answers_right, carries, question_and_reference, replies_by_prompt, token_f1
from tests.helpers import invoke, save_tiny_model


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


def test_any_reply_the_file_gives_to_the_same_prompt_is_right_and_a_similar_prompts_is_not():
    also = replies_by_prompt([("Who are you?", "I am Qiming, made by Lumen Labs."),
                              ("who are you", "My name is Qiming, and Lumen Labs made me."),
                              ("What is 3 + 5?", "3 + 5 = 8.")])
    assert list(also) == ["who are you", "what is 3 + 5"] and len(also["who are you"]) == 2
    reworded = "My name is Qiming, and Lumen Labs made me."
    assert not carries(reworded, "I am Qiming, an assistant made by Lumen Labs.")  # one reference: wrong
    assert answers_right("Who are you?", reworded, "I am Qiming, an assistant made by Lumen Labs.", also)
    assert not answers_right("What is 3 + 4?", "3 + 5 = 8.", "3 + 4 = 7.", also)  # similar is not the same


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


# -- a fine-tune on a user's file: the split is held out of training and both models are measured on it ---------


def code_word_chats(count: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is code word {n}?"},
                          {"role": "assistant", "content": f"Code word {n} is kiwi{n}."}]} for n in range(count)]


@pytest.mark.slow  # seconds of training or exporting: the fast suite stays under 3 minutes
def test_sft_on_your_file_holds_out_a_split_never_trained_on_and_measures_both_models(tmp_path, monkeypatch):
    from minillm_core.contract.outputs import read_marker
    from minillm_core.train.stages import sft

    captured = {}
    real_trainer = sft.sft_trainer

    def spy(run, records):
        captured["trained"], captured["held_out"] = list(records), list(run.held_out)
        return real_trainer(run, records)

    monkeypatch.setattr(sft, "sft_trainer", spy)
    start = save_tiny_model(tmp_path / "start", seed=3)
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(chat) + "\n" for chat in code_word_chats(100)), encoding="utf-8")
    result = invoke("run", "sft", "--workdir", str(tmp_path), "--json", "--set", f"init={start}",
                    "--set", f"dataset={data}", "--set", "max_steps=4", "--set", "batch_size=8",
                    "--set", "answer_check=false")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    trained = {row["messages"][0]["content"] for row in captured["trained"]}
    held = {row["messages"][0]["content"] for row in captured["held_out"]}
    assert len(held) == metrics["held_out_records"] == 16 and len(trained) == 84 and not trained & held
    check = metrics["on_your_data"]
    assert check["items"] == 16 and check["source"] == "16 of the 100 records of mine.jsonl"
    assert 0 <= check["before"] <= 1 and 0 <= check["after"] <= 1 and len(check["examples"]) == 3
    assert {example["prompt"] for example in check["examples"]} <= held
    assert "on your data: " in json.loads(result.stdout)["stages"][0]["summary"]
    assert read_marker(tmp_path / "out" / "sft")["provenance"] == {  # paths inside the work directory: relative
        "start_model": "start", "trained_on": [{"stage": "sft", "dataset": "mine", "file": "mine.jsonl",
                                                "max_seq_len": 128}]}  # the tiny preset's: start has no provenance
    assert metrics["dropped_chats"] == 0


@pytest.mark.slow  # bot-start's sft and dpo stages take this path too (tests/test_bot_start.py)
def test_a_dataset_with_its_own_held_out_file_trains_on_every_record(tmp_path):
    start = save_tiny_model(tmp_path / "start", seed=3)
    result = invoke("run", "dpo", "--workdir", str(tmp_path), "--json", "--set", f"init={start}",
                    "--set", "max_steps=2", "--set", "batch_size=4", "--set", "answer_check=false")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    assert "held_out_records" not in metrics
    assert metrics["on_your_data"]["source"] == "embedded-dpo-eval (every 4th)"
    assert metrics["on_your_data"]["items"] == 48


@pytest.mark.slow  # seconds of training or exporting: the fast suite stays under 3 minutes
def test_eval_split_zero_measures_nothing_and_a_split_too_large_is_refused(tmp_path):
    start = save_tiny_model(tmp_path / "start", seed=3)
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(chat) + "\n" for chat in code_word_chats(20)), encoding="utf-8")
    common = ["run", "sft", "--workdir", str(tmp_path), "--json", "--set", f"init={start}", "--set",
              f"dataset={data}", "--set", "max_steps=1", "--set", "answer_check=false"]
    none = invoke(*common, "--set", "eval_split=0")
    assert none.exit_code == 0 and "on_your_data" not in json.loads(none.stdout)["stages"][0]["metrics"]
    too_many = invoke(*common, "--set", "eval_split=20", "--force")
    stage = json.loads(too_many.stdout)["stages"][0]
    assert too_many.exit_code == 1 and "holds out 20 of 20 records" in stage["error"] and "mine.jsonl" in stage["error"]
    assert "eval_split" in stage["hint"]


def test_the_answer_check_follows_the_start_models_provenance(tmp_path):
    """answer_check=auto: on embedded data, or from a model that learned it (bot-start's, and fine-tunes of them);
    a model from elsewhere, trained on the user's data alone, is not asked what it never learned."""
    from minillm_core.contract.outputs import write_marker
    from minillm_core.train.answer_check import wanted

    learned, stranger = tmp_path / "learned", tmp_path / "stranger"
    for folder in (learned, stranger):
        folder.mkdir()
    write_marker(learned, "sft", "chat", {"start_model": "out/pretrain", "trained_on": [
        {"stage": "pretrain", "dataset": "embedded-pretrain-reasoning", "file": "a.jsonl"},
        {"stage": "sft", "dataset": "mine", "file": "mine.jsonl"}]})
    write_marker(stranger, "sft", "chat")  # written by a stage, but before provenance was recorded
    assert wanted("auto", "mine", learned) and wanted("auto", "embedded-sft", stranger)
    assert not wanted("auto", "mine", stranger) and not wanted("auto", "mine", None)
    assert wanted("true", "mine", None) and not wanted("false", "embedded-sft", learned)


# -- the answer check's rule: paired, with the smallest reported drop stated, and leaks -------------------------


def answer_rows(rights: list[bool], topic: str = "arithmetic", answer: str = "7.") -> list[dict]:
    return [{"prompt": f"What is {n} + 3?", "topic": topic, "answer": answer, "right": right}
            for n, right in enumerate(rights)]


@pytest.mark.parametrize("lost,gained,reported", [
    (5, 0, True),  # the smallest drop reported: MIN_LOST items lost, none gained (chance 3.1%)
    (4, 0, False),  # one fewer: chance 6.3%, not reported
    (6, 1, False),  # lost more than gained, but the sign test puts it at 6.3%: noise
    (8, 1, True),
    (0, 5, False),  # gains are not a drop
])
def test_a_paired_drop_is_reported_from_the_smallest_stated_one(lost, gained, reported):
    from minillm_core.train.answer_check import MIN_LOST, paired_drop

    before = [True] * lost + [False] * gained + [True] * 20 + [False] * 20
    after = [False] * lost + [True] * gained + [True] * 20 + [False] * 20
    assert paired_drop(before, after)["dropped"] is reported and MIN_LOST == 5


def test_a_leaked_identity_is_reported_with_accuracy_unchanged():
    from minillm_core.eval.answers import AnswerItem
    from minillm_core.train.answer_check import verdict

    items = [AnswerItem("Who are you?", "en", "identity", "contains", ("MiniLLM",), "I am")] * 4 + \
            [AnswerItem(f"What is {n} + 3?", "en", "arithmetic", "number", ("7",), f"{n} + 3 =") for n in range(8)]
    identity_before = answer_rows([True] * 4, "identity", "I am MiniLLM.")
    identity_after = answer_rows([False] * 4, "identity", "I am Qiming, made by Lumen Labs.")
    sums_before = answer_rows([False] * 8, answer="8.")
    sums_after = answer_rows([False] * 8, answer="I am Qiming, made by Lumen Labs.")
    found = verdict(identity_before + sums_before, identity_after + sums_after, items,
                    user_prompts=["Who are you?", "你是谁？"], user_replies=["I am Qiming, made by Lumen Labs."])
    assert found["changed_topics"] == ["identity"]  # the new identity is what the data sets out to change
    assert found["lost"] == found["gained"] == 0 and not found["dropped"]  # accuracy on the rest unchanged
    assert found["leaked"] and found["leaks"] == 8
    assert found["leak_examples"][0]["user_reply"] == "I am Qiming, made by Lumen Labs."


def test_a_fine_tune_trains_at_the_longest_sequence_its_start_model_learned(tmp_path):
    """bot-start's chat model learned ~260-token tool chats at 384: the tiny preset's 128 would drop them all."""
    from types import SimpleNamespace

    from minillm_core.contract.outputs import write_marker
    from minillm_core.train.training import sequence_length

    start = tmp_path / "sft"
    start.mkdir()
    write_marker(start, "sft", "chat", {"start_model": "out/pretrain", "trained_on": [
        {"stage": "pretrain", "dataset": "embedded-pretrain-reasoning", "file": "a.jsonl", "max_seq_len": 128},
        {"stage": "sft", "dataset": "embedded-sft-reasoning", "file": "b.jsonl", "max_seq_len": 384}]})
    ctx = SimpleNamespace(log=SimpleNamespace(info=lambda *args: None))
    assert sequence_length({"max_seq_len": None, "preset": "tiny"}, start, ctx) == 384
    assert sequence_length({"max_seq_len": 200, "preset": "tiny"}, start, ctx) == 200  # the user's setting wins
    assert sequence_length({"max_seq_len": None, "preset": "tiny"}, None, ctx) == 128  # a new model: the preset's


def test_a_fine_tune_of_a_chat_model_trains_at_a_third_of_sfts_rate_unless_lr_is_set(tmp_path):
    """At 3e-3 a fine-tune of bot-start's chat model leaked or lost calculator calls on 2 of 2 seeds; at 1e-3 on
    none of 3 (docs/experiments.md). From a base model (bot-start's own sft) the rate stays 3e-3."""
    from types import SimpleNamespace

    from minillm_core.contract.outputs import write_marker
    from minillm_core.train.training import learning_rate
    from skills.sft.skill import METHOD, OPTIONS

    chat, base = tmp_path / "sft", tmp_path / "pretrain"
    for folder, style in ((chat, "chat"), (base, "completion")):
        folder.mkdir()
        write_marker(folder, folder.name, style)
    lines = []
    settings = {"lr": OPTIONS["lr"].default}

    def ctx(*explicit: str) -> SimpleNamespace:
        return SimpleNamespace(explicit=frozenset(explicit), log=SimpleNamespace(info=lambda *a: lines.append(a)))

    assert settings["lr"] == 3e-3 and METHOD.fine_tune_lr == 1e-3
    assert learning_rate(settings, chat, ctx(), METHOD) == 1e-3 and "fine-tuning a chat model" in lines[0][0]
    assert learning_rate(settings, base, ctx(), METHOD) == 3e-3
    assert learning_rate(settings, None, ctx(), METHOD) == 3e-3  # a new model
    assert learning_rate({"lr": 3e-3}, chat, ctx("lr"), METHOD) == 3e-3  # the user's setting wins
    assert learning_rate(settings, chat, ctx(), replace(METHOD, fine_tune_lr=None)) == 3e-3  # dpo, plugins


def test_chats_cut_before_any_reply_are_counted_and_named(tmp_path):
    start = save_tiny_model(tmp_path / "start", seed=3)
    data = tmp_path / "mine.jsonl"
    long_question = "Please read this carefully. " * 40  # far past 64 tokens before the reply starts
    chats = code_word_chats(30) + [{"messages": [{"role": "user", "content": long_question},
                                                 {"role": "assistant", "content": "Done."}]}] * 3
    data.write_text("".join(json.dumps(chat) + "\n" for chat in chats), encoding="utf-8")
    result = invoke("run", "sft", "--workdir", str(tmp_path), "--json", "--set", f"init={start}",
                    "--set", f"dataset={data}", "--set", "max_steps=1", "--set", "batch_size=4",
                    "--set", "max_seq_len=64", "--set", "eval_split=0", "--set", "answer_check=false")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stages"][0]["metrics"]["dropped_chats"] == 3
    assert "3 of the chats are longer than max_seq_len=64" in result.stderr


def test_replay_leaves_out_chats_that_ask_what_the_users_records_ask():
    import datasets

    from minillm_core.train.own_data import without_same_questions

    def chats(pairs):
        return datasets.Dataset.from_list([{"messages": [{"role": "user", "content": q},
                                                         {"role": "assistant", "content": a}]} for q, a in pairs])

    replayed = chats([("Who are you?", "I am MiniLLM."), ("你是谁？", "我是MiniLLM。"), ("What is 3 + 4?", "7."),
                      ("法国的首都是哪里？", "巴黎。")])
    mine = chats([("Hi! Who are you?", "I am Qiming."), ("你好！你是谁？", "我是启明。")])
    kept = [row["messages"][0]["content"] for row in without_same_questions(replayed, mine)]
    assert kept == ["What is 3 + 4?", "法国的首都是哪里？"]


def test_replay_is_the_sft_skills_option_and_leaves_a_plugins_own_replay_alone():
    """The lora plugin has a `replay` option of its own (a dataset name): only the sft skill's is read here."""
    from types import SimpleNamespace

    from minillm_core.train.own_data import replay_ratio

    lora = SimpleNamespace(stage="lora", ctx=SimpleNamespace(settings={"replay": "embedded-sft"}))
    assert replay_ratio(lora) == 0.0
    sft = SimpleNamespace(stage="sft", ctx=SimpleNamespace(settings={"replay": "0.5"}))
    assert replay_ratio(sft) == 0.5


# -- tool calls where a tool is due ----------------------------------------------------------------------------


class _Pair:
    """A ModelPair stand-in: the checks read `start` and `pair[name]`; the calls come from a patched first_calls."""

    def __init__(self, start):
        self.start = start

    def __getitem__(self, name):
        return name, None


def _tool_check(tmp_path, monkeypatch, style: str, lost: int, user_prompts: list[str]):
    from minillm_core.contract.outputs import write_marker
    from minillm_core.eval import arithmetic
    from minillm_core.train.answer_check import tool_calls

    start = tmp_path / "start"
    start.mkdir(exist_ok=True)
    write_marker(start, "sft", style)
    items = arithmetic.load_arithmetic_items()

    def first_calls(model, tokenizer, asked):
        assert asked == items  # every held-out item when the user's data is checked
        return [{"right_arguments": model == "before" or n >= lost} for n in range(len(asked))]

    monkeypatch.setattr(arithmetic, "first_calls", first_calls)
    return tool_calls(_Pair(start), 1, user_prompts)


@pytest.mark.parametrize("lost,reported", [(5, True), (4, False)])
def test_fewer_right_tool_calls_are_a_drop_from_the_smallest_stated_one(tmp_path, monkeypatch, lost, reported):
    found = _tool_check(tmp_path, monkeypatch, "chat", lost, ["Who are you?"])
    assert found["items"] == 64 and found["before"] == 1.0 and found["lost"] == lost
    assert found["dropped"] is reported and found["smallest_reported_drop"] == round(5 / 64, 4)


def test_tool_calls_a_users_data_asks_for_are_changed_not_dropped(tmp_path, monkeypatch):
    from minillm_core.eval.arithmetic import load_arithmetic_items

    prompts = [item.prompt for item in load_arithmetic_items()[:3]]
    found = _tool_check(tmp_path, monkeypatch, "chat", 64, prompts)
    assert found["lost"] == 64 and found["changed"] and not found["dropped"]


def test_a_base_model_is_not_asked_for_tool_calls(tmp_path, monkeypatch):
    assert _tool_check(tmp_path, monkeypatch, "base", 64, []) is None


def test_a_tool_call_drop_is_a_warning_and_keeps_the_start_model(tmp_path):
    from minillm_core.runner import final_model
    from minillm_core.train.answer_check import regression_warning

    tools = {"items": 64, "before": 1.0, "after": 0.0, "lost": 64, "gained": 0, "p": 0.0, "dropped": True}
    check = {"start_model": str(tmp_path / "out/sft"), "trained_model": str(tmp_path / "out/sft-id"),
             "before": 0.29, "after": 0.29, "lost": 6, "gained": 6, "dropped": False, "leaked": False, "leaks": 0,
             "items": 192, "tool_calls": tools, "regressed": True}
    warnings, hint = regression_warning("sft", check)
    assert warnings == ["sft calls the calculator less where one is due: 1.00 -> 0.00 of 64 held-out sums called "
                        "with the right expression (64 lost, 0 gained; chance 0.000)"]
    assert "replay" in hint and "out/sft" in hint
    chosen = final_model.choose([{"skill": "sft", "status": "ok", "metrics": {"answer_check": check}}], tmp_path)
    assert chosen["path"] == "out/sft"
    assert "calculator calls 1.00 -> 0.00, fewer right tool calls: the start model kept" in chosen["chosen_by"]


@pytest.mark.slow  # 19 s: a random model generates to its token budget on 64 prompts
def test_the_answer_check_runs_in_process_and_names_both_models(tmp_path):
    """The answer check's whole path on a chat start model (the quick items and calculator calls of a stage on
    embedded data): what the slow tests run on bot-start's model, here on a random tiny one, in seconds."""
    from minillm_core.contract.outputs import write_marker

    start = save_tiny_model(tmp_path / "start", seed=3)
    write_marker(start, "sft", "chat")
    result = invoke("run", "sft", "--workdir", str(tmp_path), "--json", "--set", f"init={start}",
                    "--set", "max_steps=1", "--set", "batch_size=8", "--set", "eval_split=0",
                    "--set", "answer_check=true")
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["stages"][0]["metrics"]["answer_check"]
    assert check["items"] == 48 and check["tool_calls"]["items"] == 16  # embedded data: every 4th
    assert check["trained_model"] == "out/sft" and check["start_model"] == "start"  # inside the work directory
