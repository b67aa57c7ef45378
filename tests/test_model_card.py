"""Model cards: eval's figures go into a model's card once, replacing the previous ones, and a folder with no
card gets one; huggingface_hub reads them back."""

from __future__ import annotations

from huggingface_hub import ModelCard

from minillm_core.data.registry import DatasetSpec
from minillm_core.hub.model_card import add_eval_results, write_training_card


def test_eval_figures_join_the_training_card_and_replace_the_last_ones(tmp_path):
    folder = tmp_path / "out" / "sft"
    folder.mkdir(parents=True)
    dataset = DatasetSpec("minimind-sft-mini", "sft", None, tmp_path / "sft.jsonl",
                          hub={"repo": "jingyaogong/minimind_dataset", "file": "sft_mini_512.jsonl"})
    write_training_card(folder, "sft", tmp_path, "Qwen/Qwen3-0.6B", dataset, {"steps": 7, "final_loss": 1.5})
    add_eval_results(folder, {"answer_accuracy": 0.25, "perplexity": 12.0})
    add_eval_results(folder, {"answer_accuracy": 0.5, "degenerate_rate": 0.1})

    card = ModelCard.load(folder / "README.md")
    assert card.data.base_model == "Qwen/Qwen3-0.6B" and card.data.datasets == ["jingyaogong/minimind_dataset"]
    assert {"trl", "sft", "minillm-skill"} <= set(card.data.tags)
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [
        ("accuracy", 0.5), ("degenerate_rate", 0.1)]
    assert card.text.count("## Evaluation") == 1 and "| final_loss | 1.5 |" in card.text


def test_a_model_without_a_card_gets_one_from_eval(tmp_path):
    add_eval_results(tmp_path, {"answer_accuracy": 0.125})
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.eval_results[0].metric_value == 0.125 and card.data.model_name == tmp_path.name
