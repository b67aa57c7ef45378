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

from minillm_core.contract.options import Option
from minillm_core.data.held_out import parse_setting

SHIPPED_EVERY = 4  # a dataset's own held-out file is read every 4th record: what a subset tells, in seconds
EXAMPLES = 3  # held-out answers kept in the metrics, for a person to read


def eval_split_option() -> Option:
    """The `eval_split` option of the stages that measure a fine-tune on held-out records (sft, dpo)."""

    def valid(value: str) -> str | None:
        try:
            parse_setting(value)
        except ValueError as exc:
            return str(exc)
        return None

    return Option("eval_split", str, "auto", "records held out of training to measure the model on: auto (5%, "
                  "16 to 256; none when the dataset is too small to spare them; a dataset with its own held-out "
                  "file uses that), a share (0.1), a number of records (32), or 0 for none", valid=valid)


def replay_option() -> Option:
    """The `replay` option of sft (minillm_core/train/own_data.py)."""

    def valid(value: str) -> str | None:
        if str(value).lower() == "auto":
            return None
        try:
            return None if float(value) >= 0 else "must be auto or a ratio of 0 or more"
        except ValueError:
            return "must be auto or a ratio of 0 or more (replayed chats per record of yours; 0: none)"

    return Option("replay", str, "auto", "chats the start model was trained on, mixed in so a fine-tune keeps what "
                  "the model knew: auto (as many as your records, when you fine-tune a model of this project on "
                  "your own data), a ratio (replayed chats per record of yours), or 0 for none", valid=valid)


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
