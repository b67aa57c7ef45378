"""Answer accuracy's rules, the final model's choice and sft's automatic epochs: no model needed."""

from __future__ import annotations

import json

import pytest

from minillm_core.contract.skill import SkillError
from minillm_core.eval.answers import AnswerItem, degeneration, first_sentence, is_right, load_items, summarize
from minillm_core.runner import final_model
from minillm_core.train.stages.sft import auto_epochs

SUM = AnswerItem("What is 3 + 4?", "en", "arithmetic", "number", ("7",), "3 + 4 =")
SUM_ZH = AnswerItem("3加4等于多少？", "zh", "arithmetic", "number", ("7",), "3加4等于")
WHO = AnswerItem("Who are you?", "en", "identity", "contains", ("MiniLLM", "minillm-skill"), "I am")
WHO_ZH = AnswerItem("你是谁？", "zh", "identity", "contains", ("MiniLLM", "minillm-skill"), "我是")
CAPITAL = AnswerItem("What is the capital of France?", "en", "fact", "contains", ("Paris",), "The capital of France is")


@pytest.mark.parametrize(("item", "answer", "right"), [
    (SUM, "3 + 4 = 7.", True),
    (SUM, "7", True),
    (SUM, " 7.", True),  # a base model continues "3 + 4 =", cut at its first sentence end
    (SUM, "3 + 4 = 17.", False),
    (SUM, "3 + 4 = 8. Or 7.", False),  # the first number after "=" counts, not any number
    (SUM, "9 + 4 = 13.", False),
    (SUM, "", False),
    (SUM_ZH, "3加4等于7。", True),
    (SUM_ZH, "3加4等于8。", False),
    (WHO, "I am MiniLLM, a small language model trained from scratch with minillm-skill.", True),
    (WHO, "No. I am MiniLLM, a small language model trained from scratch with minillm-skill.", True),
    (WHO, "The capital a small language model trained from scratch with minillm-skill.", False),  # no name
    (WHO, "I am MiniLLM.", False),  # no maker
    (WHO_ZH, "我是MiniLLM，一个用minillm-skill从零训练的小型语言模型。", True),
    (WHO_ZH, "我是MiniLLM，，用minillm-skillskill", False),
    (CAPITAL, "The capital of France is Paris.", True),
    (CAPITAL, "The capital of France is Parisville.", False),
    (CAPITAL, "The capital of France is Rome.", False),
])
def test_rules_read_what_the_answer_says(item, answer, right):
    assert is_right(item, answer) is right


@pytest.mark.parametrize(("item", "answer", "stopped", "kinds"), [
    (WHO, "I am MiniLLM, made with minillm-skill.", True, []),
    (WHO, "", True, ["empty"]),
    (WHO, "I am MiniLLM", False, ["cut_short"]),
    (WHO, "I am L L L L L L", True, ["loop"]),
    (WHO, "skillskillskillskill.", True, ["loop"]),
    (WHO_ZH, "我是��", True, ["replacement_char"]),
    (WHO_ZH, "I am MiniLLM.", True, ["wrong_language"]),
    (WHO, "我是MiniLLM。", True, ["wrong_language"]),
])
def test_degenerate_answers_are_named(item, answer, stopped, kinds):
    assert degeneration(item, answer, stopped) == kinds


def test_a_base_models_answer_is_its_first_sentence():
    assert first_sentence(" Paris. Berlin is the capital of Germany.") == " Paris."
    assert first_sentence("28 days, or 29 in a leap year.") == "28 days, or 29 in a leap year."
    assert first_sentence("3.5 is a number") == "3.5 is a number"  # a decimal point ends nothing
    assert first_sentence("巴黎。柏林") == "巴黎。"


def test_the_embedded_items_cover_every_topic_in_both_languages():
    items = load_items()
    assert len(items) == 192 and len(load_items(every=4)) == 48
    assert {(item.topic, item.lang) for item in items} == {
        (topic, lang) for topic in ("identity", "arithmetic", "fact") for lang in ("en", "zh")}
    assert all(is_right(item, item.reference) for item in items)  # the reference answers pass their rules
    assert not any(is_right(item, "") for item in items)


def test_a_malformed_items_file_names_its_line(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"prompt": "x", "lang": "en", "topic": "fact", "rule": "contains", "expect": ["y"],
                                "completion": "z"}) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(SkillError, match=r"items\.jsonl:2"):
        load_items(path)


def test_accuracy_is_the_mean_over_topics():
    rows = ([{"topic": "identity", "lang": "en", "right": True, "degenerate": [], "samples_right": 1}] * 2
            + [{"topic": "arithmetic", "lang": "zh", "right": False, "degenerate": ["loop"], "samples_right": 0}] * 8)
    scores = summarize(rows, samples=1, style="chat")
    assert scores["accuracy"] == 0.5 and scores["by_topic"] == {"identity": 1.0, "arithmetic": 0.0}
    assert scores["degenerate_rate"] == 0.8 and scores["degenerate_by_kind"] == {"loop": 8}
    assert scores["sample_accuracy"] == 0.2


def _check_record(skill: str, regressed: bool, tmp_path) -> dict:
    check = {"start_model": str(tmp_path / "out/sft"), "trained_model": str(tmp_path / "out/dpo"),
             "before": 0.3, "after": 0.1 if regressed else 0.32, "regressed": regressed, "items": 48}
    return {"skill": skill, "status": "ok", "metrics": {"answer_check": check}}


def test_without_eval_the_final_model_is_the_last_stage_unless_it_answers_worse(tmp_path):
    assert final_model.choose([_check_record("dpo", False, tmp_path)], tmp_path)["path"] == "out/dpo"
    kept = final_model.choose([_check_record("dpo", True, tmp_path)], tmp_path)
    assert kept["path"] == "out/sft" and kept["answer_accuracy"] == 0.3


def test_a_fine_tune_without_a_drop_is_handed_over_and_the_report_says_why(tmp_path):
    record = _check_record("sft", False, tmp_path)
    record["metrics"]["answer_check"].update(lost=2, gained=1)
    record["metrics"]["on_your_data"] = {"before": 0.1, "after": 0.9, "items": 16}
    chosen = final_model.choose([record], tmp_path)
    assert chosen["path"] == "out/dpo" and chosen["figures"]["on_your_data"] == {"start": 0.1, "sft": 0.9}
    assert chosen["chosen_by"] == ("sft's answer check: of what the start model knew, 2 held-out prompts lost and 1 "
                                   "gained, no drop, no leak; on your data 0.10 -> 0.90")


def test_eval_picks_the_final_model_by_answer_accuracy_not_by_order(tmp_path):
    models = {"untrained": {"untrained": True, "path": "x", "answer_accuracy": 0.0, "degenerate_rate": 1.0},
              "sft": {"untrained": False, "path": str(tmp_path / "out/sft"), "answer_accuracy": 0.4,
                      "degenerate_rate": 0.0},
              "dpo": {"untrained": False, "path": str(tmp_path / "out/dpo"), "answer_accuracy": 0.2,
                      "degenerate_rate": 0.1}}
    from minillm_core.eval.evaluate import best_model

    best = best_model({name: result for name, result in models.items() if not result["untrained"]})
    records = [_check_record("dpo", False, tmp_path),
               {"skill": "eval", "status": "ok", "metrics": {"best_model": best, "models": models}}]
    chosen = final_model.choose(records, tmp_path)
    assert chosen["path"] == "out/sft" and chosen["answer_accuracy"] == 0.4 and "untrained" not in chosen["figures"]


def test_a_chat_model_is_handed_over_before_a_base_model_that_completes_more(tmp_path):
    from minillm_core.eval.evaluate import best_model

    models = {"pretrain": {"style": "completion", "answer_accuracy": 0.31, "degenerate_rate": 0.27},
              "sft": {"style": "chat", "answer_accuracy": 0.27, "degenerate_rate": 0.0},
              "dpo": {"style": "chat", "answer_accuracy": 0.24, "degenerate_rate": 0.0}}
    assert best_model(models) == "sft"
    assert best_model({"pretrain": models["pretrain"]}) == "pretrain"  # no chat model: the base model


def test_a_later_report_keeps_the_final_model_while_its_folder_exists(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/latest.json").write_text(json.dumps({"final_model": {"path": "out/sft"}}))
    assert final_model.choose([], tmp_path) is None  # out/sft does not exist
    (tmp_path / "out/sft").mkdir(parents=True)
    assert final_model.choose([{"skill": "report", "status": "ok", "metrics": {}}], tmp_path)["path"] == "out/sft"


@pytest.mark.parametrize(("records", "epochs"), [(400, 6), (2502, 1), (10, 10), (100_000, 1)])
def test_sft_auto_epochs_give_small_datasets_enough_steps(records, epochs):
    args = {"per_device_train_batch_size": 16, "gradient_accumulation_steps": 1}
    assert auto_epochs(records, args, min_steps=150) == epochs


def test_a_fine_tune_that_answers_your_own_data_worse_is_not_handed_over(tmp_path):
    record = _check_record("sft", False, tmp_path)
    record["metrics"]["on_your_data"] = {"before": 0.9, "after": 0.5, "items": 20, "lost": 8, "gained": 0,
                                         "dropped": True, "start_model": str(tmp_path / "out/sft"),
                                         "trained_model": str(tmp_path / "out/dpo")}
    chosen = final_model.choose([record], tmp_path)
    assert chosen["path"] == "out/sft" and "worse on your own held-out data: the start model kept" in \
        chosen["chosen_by"]


@pytest.mark.parametrize("dropped,expected", [(False, "out/sft-mine"), (True, "out/base")])
def test_a_fine_tune_of_a_model_from_elsewhere_is_judged_on_your_data(tmp_path, dropped, expected):
    """No answer check (the start model never learned the embedded data): the user's held-out records decide."""
    own = {"before": 0.2, "after": 0.1 if dropped else 0.8, "items": 20, "lost": 6 if dropped else 0,
           "gained": 0 if dropped else 12, "dropped": dropped, "start_model": str(tmp_path / "out/base"),
           "trained_model": str(tmp_path / "out/sft-mine")}
    chosen = final_model.choose([{"skill": "sft", "status": "ok", "metrics": {"on_your_data": own}}], tmp_path)
    assert chosen["path"] == expected and chosen["chosen_by"].startswith("sft on your data: 0.20 -> ")
