"""After a training stage: does its model answer at least as well as the model it started from?

A quick subset of the held-out answer items (every 4th: 48 prompts, greedy only, seconds on a CPU) is
answered by both models. A drop beyond TOLERANCE is a regression: the stage's metrics, its warnings and
its hint say so, and the run report's `final_model` (minillm_core/runner/final_model.py) keeps the better model.

The items ask what the embedded dataset teaches (MiniLLM's identity, sums, facts), so the check runs by
default (`answer_check=auto`) only when the stage trained on embedded data; `true` forces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minillm_core.eval.answers import QUICK_EVERY, answer_scores, load_items

TOLERANCE = 0.1  # answer accuracy, mean over topics; one identity item of 6 in the subset moves it by 0.056


def wanted(setting: str | bool | None, dataset_name: str) -> bool:
    choice = str(setting).lower()
    return choice == "true" or (choice == "auto" and dataset_name.startswith("embedded-"))


def compare(start: Path, trained: Path, style: str) -> dict[str, Any]:
    """Quick answer accuracy of `start` and `trained` (both answered in `style`), and whether it regressed."""
    from minillm_core.eval.evaluate import load_model  # loads torch and transformers only when a check runs

    items = load_items(every=QUICK_EVERY)
    figures = {}
    for name, path in (("before", start), ("after", trained)):
        model, tokenizer = load_model(path)
        figures[name] = answer_scores(model, tokenizer, items, style, samples=0)
    before, after = figures["before"]["accuracy"], figures["after"]["accuracy"]
    return {"start_model": str(start), "items": len(items), "before": before, "after": after,
            "degenerate_before": figures["before"]["degenerate_rate"],
            "degenerate_after": figures["after"]["degenerate_rate"],
            "tolerance": TOLERANCE, "regressed": after < before - TOLERANCE}


def regression_warning(stage: str, check: dict[str, Any]) -> tuple[str, str]:
    """(warning, hint) for a regressed check."""
    warning = (f"{stage} answers worse than the model it started from: answer accuracy {check['before']:.2f} -> "
               f"{check['after']:.2f} on {check['items']} held-out prompts (degenerate "
               f"{check['degenerate_before']:.2f} -> {check['degenerate_after']:.2f})")
    hint = (f"the report's final_model keeps {check['start_model']}; to make {stage} help, lower `lr` (e.g. "
            f"`--set {stage}.lr=...` at a tenth), train fewer steps (`max_steps`), and for dpo keep the sft loss "
            "term (`--set loss_type=sigmoid,sft`)")
    return warning, hint
