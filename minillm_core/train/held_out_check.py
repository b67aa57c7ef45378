"""After a fine-tune: how well do the start model and the new one answer the held-out part of the user's data?

The held-out records are either the dataset's own held-out file (the registry's `held_out` key: the
embedded datasets have one) or a split of the records that the stage did not train on (the `eval_split`
option, minillm_core/data/held_out.py). Both models answer them greedily; the rule that says an answer is
right is minillm_core/eval/own_data.py's `carries`. The stage's metrics hold `on_your_data` and its summary
says `on your data: BEFORE -> AFTER`. A fine-tune that answers the user's own held-out records worse than its
start model, by the answer check's paired rule (`dropped`), is not handed over as the run's final model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minillm_core.train.answer_check import paired_drop

if TYPE_CHECKING:
    from minillm_core.train.model_pair import ModelPair

EXAMPLES = 3  # held-out answers kept in the metrics, for a person to read


def measure(models: ModelPair, records: list[dict[str, Any]], kind: str, source: str,
            examples: list[tuple[str, str]] = ()) -> dict[str, Any]:
    """Both models on the held-out records: the figures for the stage's metrics. `examples`: (prompt, reply)
    pairs of the user's file; a reply to the same prompt is a right answer too (own_data.replies_by_prompt)."""
    from minillm_core.eval.own_data import RULE, own_data_scores, replies_by_prompt  # loads torch: only when run

    also = replies_by_prompt(examples)
    scores = {name: own_data_scores(*models[name], records, kind, also) for name in ("before", "after")}
    drop = paired_drop(*([row["right"] for row in scores[name]["rows"]] for name in ("before", "after")))
    return {"source": source, "items": scores["after"]["items"], "start_model": str(models.start),
            "trained_model": str(models.trained),
            "before": scores["before"]["accuracy"], "after": scores["after"]["accuracy"], "rule": RULE, **drop,
            "examples": [{key: row[key] for key in ("prompt", "reference", "answer", "right")}
                         for row in scores["after"]["rows"][:EXAMPLES]]}


def summary(check: dict[str, Any]) -> str:
    return f"on your data: {check['before']:.2f} -> {check['after']:.2f} ({check['items']} held-out)"
