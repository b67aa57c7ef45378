"""Which model a run hands over: the report's `final_model`, read by `chat`, agents and people.

By answer accuracy, never by stage order: the best model that eval measured (minillm_core/eval/evaluate.py
best_model), else, when no eval ran, the last trained stage's model unless its answer check reported a drop
from the model it started from (a paired sign test) or a leak of its data into unrelated answers
(minillm_core/train/answer_check.py), else the previous
report's choice. `chosen_by` says which, with the figures (a fine-tune's `on your data` too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from minillm_core.contract.outputs import workdir_relative


def choose(records: list[dict[str, Any]], workdir: Path) -> dict[str, Any] | None:
    """The final model of a run from its stage records (dicts as in the report), or the previous choice."""
    for record in reversed(records):
        metrics = record.get("metrics") or {}
        if record["status"] in ("ok", "skipped") and metrics.get("best_model") and metrics.get("models"):
            return _from_eval(metrics, workdir)
        check = metrics.get("answer_check")
        if record["status"] in ("ok", "skipped") and check:
            return _from_answer_check(record["skill"], check, metrics.get("on_your_data"), workdir)
    return previous(workdir)


def _from_answer_check(skill: str, check: dict[str, Any], own: dict[str, Any] | None, workdir: Path) -> dict:
    """The start model when the check reported a drop, else the new model; the reason says which figures."""
    keep_start = check["regressed"]
    path = check["start_model"] if keep_start else check["trained_model"]
    own_line = f"; on your data {own['before']:.2f} -> {own['after']:.2f}" if own else ""
    verdict = ("a drop: the start model kept" if check.get("dropped", keep_start) else
               "its data leaked into unrelated answers: the start model kept" if keep_start else "no drop, no leak")
    why = (f"{skill}'s answer check: of what the start model knew, {check.get('lost', '?')} held-out prompts lost "
           f"and {check.get('gained', '?')} gained, {verdict}{own_line}")
    return {"path": workdir_relative(path, workdir), "chosen_by": why,
            "answer_accuracy": check["before" if keep_start else "after"],
            "figures": {"start": check["before"], skill: check["after"],
                        **({"on_your_data": {"start": own["before"], skill: own["after"]}} if own else {})}}


def _from_eval(metrics: dict[str, Any], workdir: Path) -> dict[str, Any]:
    models = metrics["models"]
    best = models[metrics["best_model"]]
    return {"path": workdir_relative(best["path"], workdir), "chosen_by": "eval: highest answer accuracy",
            "answer_accuracy": best["answer_accuracy"], "degenerate_rate": best["degenerate_rate"],
            "figures": {name: {"answer_accuracy": result["answer_accuracy"],
                               "degenerate_rate": result["degenerate_rate"]}
                        for name, result in models.items() if not result.get("untrained")}}


def previous(workdir: Path) -> dict[str, Any] | None:
    """The final model named by the last report, while its folder still exists."""
    try:
        final = json.loads((Path(workdir) / "reports" / "latest.json").read_text(encoding="utf-8"))["final_model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return final if final and (Path(workdir) / final["path"]).is_dir() else None
