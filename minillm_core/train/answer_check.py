"""After a training stage: does its model still answer what its start model knew?

Both models answer the same held-out items (MiniLLM's identity, sums, facts: what the embedded dataset
teaches), greedily. The verdict is a paired comparison on the same prompts, so it needs no tolerance guessed
from noise:

- `lost`: items the start model got right and the new one gets wrong; `gained`: the reverse. A drop is
  reported when lost > gained and a one-sided sign test on those changed items puts chance below 5%. With
  nothing gained that takes at least MIN_LOST (5) lost items: on the 192 held-out prompts a fine-tune on the
  user's own data is checked on, the smallest drop reported is 2.6 points of answer accuracy (5 / 192); on
  the quick 48 (every 4th) a stage on the embedded data is checked on, 10.4 points.
- A topic the user's data sets out to change (its prompts ask what the topic's held-out prompts ask: token
  F1 of 0.6 or more, `Questions` in minillm_core/eval/own_data.py) is reported apart, as changed, not as a loss:
  a new identity replaces the old one.
- A leak: the new model's answers to the held-out prompts of the other topics carry one of the user's replies
  (the same rule) where the start model's did not. MIN_LOST such answers are reported whatever the accuracy:
  a model that answers "What is 3 + 4?" with its new name has learned the name too well.
- Tool calls where a tool is due (`tool_calls`): both models get eval's held-out sums and products
  (dataset/embedded/big_arithmetic_eval.jsonl) with the built-in tools offered, and each first reply either
  calls the calculator with an expression worth the right answer or does not. The same paired rule reports a
  drop: 5 of the 64 prompts (7.8 points) on the user's data, 5 of the quick 16. Only a chat model is asked
  (a base model has no tool use to lose); when the user's questions ask what these prompts ask (the rule of
  changed topics), the calls are reported as changed, not as a drop.

A reported drop, leak or tool-call drop is the stage's warning with a hint, and the run report's `final_model`
(minillm_core/runner/final_model.py) keeps the start model.

The check runs by default (`answer_check=auto`) when the stage trains on embedded data, or when its start
model was trained on embedded data (its folder's provenance says so): a user's own fine-tune of bot-start's
model is checked for what the model knew. `true` forces it.
"""

from __future__ import annotations

from math import comb
from pathlib import Path
from typing import Any

from minillm_core.eval.answers import QUICK_EVERY, AnswerItem, answer_scores, load_items
from minillm_core.eval.own_data import Questions, carries
from minillm_core.train.model_pair import ModelPair
from minillm_core.train.start_model import is_chat_model, trained_on

SIGNIFICANCE = 0.05
MIN_LOST = 5  # with nothing gained, the fewest lost items a sign test puts below 5% (4: 6.3%, 5: 3.1%)


def wanted(setting: str | bool | None, dataset_name: str, start: Path | None = None) -> bool:
    """`auto`: when the items ask what the model learned: it trains on embedded data now, or it started from a
    model that did (its provenance says so), as a fine-tune of bot-start's model on a user's own data does."""
    choice = str(setting).lower()
    if choice != "auto":
        return choice == "true"
    return any(name.startswith("embedded-") for name in [dataset_name, *(d["dataset"] for d in trained_on(start))])


def sign_test(lost: int, gained: int) -> float:
    """One-sided: the chance of `lost` or more of the changed items going one way if each went either way."""
    changed = lost + gained
    return sum(comb(changed, k) for k in range(lost, changed + 1)) / 2 ** changed if changed else 1.0


def paired_drop(before: list[bool], after: list[bool]) -> dict[str, Any]:
    """Lost and gained items, the sign test, and whether the drop is reported."""
    lost = sum(b and not a for b, a in zip(before, after, strict=True))
    gained = sum(a and not b for b, a in zip(before, after, strict=True))
    chance = sign_test(lost, gained)
    return {"lost": lost, "gained": gained, "p": round(chance, 4), "dropped": lost > gained and chance < SIGNIFICANCE}


def changed_topics(items: list[AnswerItem], user_prompts: list[str]) -> list[str]:
    """Topics whose held-out prompts the user's data asks too: what the fine-tune sets out to change."""
    asked = Questions(user_prompts)
    return sorted({item.topic for item in items if asked.asks(item.prompt)})


def leaks(rows_before: list[dict], rows_after: list[dict], user_replies: list[str], changed: list[str]) -> list[dict]:
    """Answers to prompts of topics the data does not change that carry a user's reply the start model's did not."""
    found = []
    for before, after in zip(rows_before, rows_after, strict=True):
        if after["topic"] in changed:
            continue
        reply = next((r for r in user_replies if carries(after["answer"], r) and not carries(before["answer"], r)),
                     None)
        if reply is not None:
            found.append({"prompt": after["prompt"], "answer": after["answer"], "user_reply": reply})
    return found


def verdict(rows_before: list[dict], rows_after: list[dict], items: list[AnswerItem],
            user_prompts: list[str], user_replies: list[str]) -> dict[str, Any]:
    """The paired comparison, topic by topic apart from those the data changes, and the leaks."""
    changed = changed_topics(items, user_prompts)
    kept = [i for i, row in enumerate(rows_after) if row["topic"] not in changed]
    drop = paired_drop([rows_before[i]["right"] for i in kept], [rows_after[i]["right"] for i in kept])
    leaked = leaks(rows_before, rows_after, user_replies, changed)
    by_topic = {topic: paired_drop([b["right"] for b in rows_before if b["topic"] == topic],
                                   [a["right"] for a in rows_after if a["topic"] == topic])
                for topic in dict.fromkeys(row["topic"] for row in rows_after)}
    return {**drop, "changed_topics": changed, "by_topic": by_topic, "leaks": len(leaked),
            "leak_examples": leaked[:3], "leaked": len(leaked) >= MIN_LOST,
            "smallest_reported_drop": round(MIN_LOST / len(kept), 4) if kept else None}


def compare(models: ModelPair, style: str, user_prompts: list[str] | None = None,
            user_replies: list[str] | None = None) -> dict[str, Any]:
    """Answer accuracy of the start and trained models (both answered in `style`) on the held-out items, their
    tool calls, and the verdict. With the user's data (`user_prompts`, `user_replies`): every item; without,
    every QUICK_EVERY-th."""
    every = 1 if user_prompts else QUICK_EVERY
    items = load_items(every=every)
    figures = {name: answer_scores(*models[name], items, style, samples=0) for name in ("before", "after")}
    found = verdict(figures["before"]["answers"], figures["after"]["answers"], items, user_prompts or [],
                    user_replies or [])
    tools = tool_calls(models, every, user_prompts or [])
    return {"start_model": str(models.start), "trained_model": str(models.trained), "items": len(items),
            "before": figures["before"]["accuracy"],
            "after": figures["after"]["accuracy"], "degenerate_before": figures["before"]["degenerate_rate"],
            "degenerate_after": figures["after"]["degenerate_rate"], **found, "tool_calls": tools,
            "regressed": found["dropped"] or found["leaked"] or bool(tools and tools["dropped"])}


def tool_calls(models: ModelPair, every: int, user_prompts: list[str]) -> dict[str, Any] | None:
    """Where a tool is due, does the trained model still call the calculator right on its first turn? None when
    the start model is not a chat model (see the module docstring)."""
    if not is_chat_model(models.start):
        return None
    from minillm_core.eval.arithmetic import first_calls, load_arithmetic_items, share  # loads torch: when asked

    items = load_arithmetic_items()[::every]
    right = {name: [call["right_arguments"] for call in first_calls(*models[name], items)]
             for name in ("before", "after")}
    asked = Questions(user_prompts)
    changed = any(asked.asks(item.prompt) for item in items)
    drop = paired_drop(right["before"], right["after"])
    return {"items": len(items), "before": share(right["before"]), "after": share(right["after"]), **drop,
            "dropped": drop["dropped"] and not changed, "changed": changed,
            "smallest_reported_drop": round(MIN_LOST / len(items), 4)}


def regression_warning(stage: str, check: dict[str, Any]) -> tuple[list[str], str]:
    """(warnings, hint) for a check that reported a drop or a leak."""
    warnings = []
    if check["dropped"]:
        warnings.append(f"{stage} answers worse than the model it started from: {check['lost']} held-out prompts "
                        f"lost, {check['gained']} gained (answer accuracy {check['before']:.2f} -> "
                        f"{check['after']:.2f} on {check['items']}; chance {check['p']:.3f})")
    if check["leaked"]:
        example = check["leak_examples"][0]
        warnings.append(f"{stage} answers unrelated questions with your data's replies: {check['leaks']} held-out "
                        f"prompts, e.g. {example['prompt']!r} -> {example['answer']!r}")
    tools = check.get("tool_calls") or {}
    if tools.get("dropped"):
        warnings.append(f"{stage} calls the calculator less where one is due: {tools['before']:.2f} -> "
                        f"{tools['after']:.2f} of {tools['items']} held-out sums called with the right expression "
                        f"({tools['lost']} lost, {tools['gained']} gained; chance {tools['p']:.3f})")
    keep = f"the report's final_model keeps {check['start_model']}; "
    hint = (f"{keep}to make {stage} keep what the model knew, lower `lr` (e.g. `--set {stage}.lr=...` at a "
            "tenth), train fewer steps (`max_steps`), mix in more of the start model's own training data "
            "(sft: `--set replay=2`), and for dpo keep the sft loss term (`--set loss_type=sigmoid,sft`)")
    return warnings, hint
