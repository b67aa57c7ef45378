"""A Hub-ready model folder: a model card (README.md with the Hub's metadata) written through huggingface_hub.

Each training stage writes the card of the model it saved: what it is, what it was trained from and on, the
training figures and how to load it. eval adds its figures to the card of every model it measured, as the
Hub's `model-index` (shown on the model's page) and as a table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from minillm_core.util.atomic import write_text_atomic

CARD = "README.md"
LICENSE = "apache-2.0"  # the project's; the data's own licenses are the datasets' to state
# eval's figures as the Hub names them: (our key, metric type, what it is)
EVAL_FIGURES = (("answer_accuracy", "accuracy", "held-out answer accuracy (greedy)"),
                ("degenerate_rate", "degenerate_rate", "degenerate answers"),
                ("chat_perplexity", "perplexity", "chat perplexity (replies only)"),
                ("perplexity", "perplexity", "text perplexity"))


def write_training_card(folder: Path, stage: str, workdir: Path, start: str | None, dataset: Any,
                        metrics: dict[str, Any]) -> None:
    """The card of a model a training stage saved in `folder`; `start` is what it started from (None: new)."""
    hub_dataset = (dataset.hub or {}).get("repo") if getattr(dataset, "hub", None) else None
    start_label = _start_label(start, workdir)
    data = ModelCardData(
        model_name=folder.name, license=LICENSE, library_name="transformers", pipeline_tag="text-generation",
        language=["en", "zh"], tags=["minillm-skill", stage, *(["trl", stage] if stage in ("sft", "dpo") else [])],
        base_model=start if start and not Path(start).exists() else None,  # only a hub id is a Hub base model
        datasets=[hub_dataset] if hub_dataset else None)
    data.tags = sorted(set(data.tags))
    lines = [f"# {folder.name}", "",
             f"A small language model trained with minillm-skill (stage `{stage}`), "
             f"{'from ' + start_label if start_label else 'from scratch'}, on `{dataset.name}`"
             + (f" ([{hub_dataset}](https://huggingface.co/datasets/{hub_dataset}))" if hub_dataset else "") + ".",
             "", "## Training", "", "| figure | value |", "|---|---|"]
    shown = ("parameters", "steps", "tokens", "first_loss", "final_loss", "train_seconds")
    lines += [f"| {key} | {metrics[key]} |" for key in shown if metrics.get(key) is not None]
    lines += ["", "## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
              f'model = AutoModelForCausalLM.from_pretrained("{folder.name}")',
              f'tokenizer = AutoTokenizer.from_pretrained("{folder.name}")', "```", "",
              "`trainer_state.json` beside the weights holds the Trainer's log of every step."]
    _save(folder, data, "\n".join(lines))


def add_eval_results(folder: Path, result: dict[str, Any], dataset_name: str = "minillm-skill held-out set") -> None:
    """Put eval's figures for the model in `folder` into its card (a card is made when it has none)."""
    path = folder / CARD
    card = ModelCard.load(path) if path.is_file() else None
    data = card.data if card else ModelCardData(model_name=folder.name, library_name="transformers",
                                                pipeline_tag="text-generation")
    figures = [(metric, label, result[key]) for key, metric, label in EVAL_FIGURES if result.get(key) is not None]
    data.eval_results = [EvalResult(task_type="text-generation", dataset_type="minillm-skill-eval",
                                    dataset_name=dataset_name, metric_type=metric, metric_name=label,
                                    metric_value=round(float(value), 4)) for metric, label, value in figures]
    data.model_name = data.model_name or folder.name
    body = card.text.split("\n## Evaluation\n")[0].rstrip() if card else f"# {folder.name}"
    table = ["", "## Evaluation", "", "| figure | value |", "|---|---|",
             *(f"| {label} | {value:.4g} |" for _, label, value in figures)]
    _save(folder, data, body + "\n" + "\n".join(table))


def _start_label(start: str | None, workdir: Path) -> str | None:
    if not start:
        return None
    if Path(start).exists():
        return f"`{os.path.relpath(start, workdir)}`" if Path(start).is_absolute() else f"`{start}`"
    return f"[{start}](https://huggingface.co/{start})"


def _save(folder: Path, data: ModelCardData, body: str) -> None:
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body.rstrip()}\n")
    write_text_atomic(folder / CARD, str(card))
