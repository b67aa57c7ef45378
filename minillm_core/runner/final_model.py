"""Which model a run hands over: the report's `final_model`, read by `chat`, agents and people.

By answer accuracy, never by stage order: the best model that eval measured (minillm_core/eval/evaluate.py
best_model), else, when no eval ran, the last trained stage's model unless its answer check reported a drop
from the model it started from (a paired sign test), a leak of its data into unrelated answers or fewer right
tool calls where a tool is due (minillm_core/train/answer_check.py), or worse answers to the user's own held-out
records (the same paired rule, minillm_core/train/held_out_check.py), else the previous
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
        check, own = metrics.get("answer_check"), metrics.get("on_your_data")
        if record["status"] in ("ok", "skipped") and check:
            return _from_answer_check(record["skill"], check, own, workdir)
        if record["status"] in ("ok", "skipped") and own and own.get("trained_model"):
            return _from_own_data(record["skill"], own, workdir)
    return previous(workdir)


def _from_own_data(skill: str, own: dict[str, Any], workdir: Path) -> dict:
    """A fine-tune with no answer check (its start model came from elsewhere): judged on the user's data alone."""
    keep_start = bool(own.get("dropped"))
    path = own["start_model"] if keep_start else own["trained_model"]
    verdict = "worse on your own held-out data: the start model kept" if keep_start else "no drop"
    return {"path": workdir_relative(path, workdir), "answer_accuracy": None,
            "chosen_by": f"{skill} on your data: {own['before']:.2f} -> {own['after']:.2f}, {verdict}",
            "figures": {"on_your_data": {"start": own["before"], skill: own["after"]}}}


def _from_answer_check(skill: str, check: dict[str, Any], own: dict[str, Any] | None, workdir: Path) -> dict:
    """The start model when the check reported a drop, else the new model; the reason says which figures."""
    worse_on_yours = bool(own and own.get("dropped"))
    keep_start = check["regressed"] or worse_on_yours
    path = check["start_model"] if keep_start else check["trained_model"]
    own_line = f"; on your data {own['before']:.2f} -> {own['after']:.2f}" if own else ""
    tools = check.get("tool_calls") or {}
    tools_line = f"; calculator calls {tools['before']:.2f} -> {tools['after']:.2f}" if tools else ""
    found = [reason for reason, seen in (("a drop", check.get("dropped", check["regressed"])),
                                         ("its data leaked into unrelated answers", check.get("leaked")),
                                         ("fewer right tool calls", tools.get("dropped")),
                                         ("worse on your own held-out data", worse_on_yours)) if seen]
    verdict = f"{', '.join(found)}: the start model kept" if keep_start else "no drop, no leak"
    why = (f"{skill}'s answer check: of what the start model knew, {check.get('lost', '?')} held-out prompts lost "
           f"and {check.get('gained', '?')} gained{tools_line}, {verdict}{own_line}")
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
