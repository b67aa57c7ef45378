"""After a fine-tune: how well do the start model and the new one answer the held-out part of the user's data?

The held-out records are either the dataset's own held-out file (the registry's `held_out` key: the
embedded datasets have one) or a split of the records that the stage did not train on (the `eval_split`
option, minillm_core/data/held_out.py). Both models answer them greedily; the rule that says an answer is
right is minillm_core/eval/own_data.py's `carries`. The stage's metrics hold `on_your_data` and its summary
says `on your data: BEFORE -> AFTER`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXAMPLES = 3  # held-out answers kept in the metrics, for a person to read


def measure(start: Path, trained: Path, records: list[dict[str, Any]], kind: str, source: str) -> dict[str, Any]:
    """Both models on the held-out records: the figures for the stage's metrics."""
    from minillm_core.eval.evaluate import load_model  # torch and transformers load only when a check runs
    from minillm_core.eval.own_data import RULE, own_data_scores

    scores = {}
    for name, path in (("before", start), ("after", trained)):
        model, tokenizer = load_model(path)
        scores[name] = own_data_scores(model, tokenizer, records, kind)
    return {"source": source, "items": scores["after"]["items"], "start_model": str(start),
            "before": scores["before"]["accuracy"], "after": scores["after"]["accuracy"], "rule": RULE,
            "examples": [{key: row[key] for key in ("prompt", "reference", "answer", "right")}
                         for row in scores["after"]["rows"][:EXAMPLES]]}


def summary(check: dict[str, Any]) -> str:
    return f"on your data: {check['before']:.2f} -> {check['after']:.2f} ({check['items']} held-out)"
