"""eval's Markdown: the models side by side, one column each, then their sample answers; and one-line summaries."""

from __future__ import annotations

from typing import Any

from minillm_core.eval.arithmetic import arithmetic_markdown
from minillm_core.eval.lm_eval_tasks import LOCAL_TASKS, headline_metric

ROW_LABELS = {"identity": "identity acc (chance 0.25)", "arithmetic": "arithmetic acc (chance 0.25)",
              "facts": "facts acc (chance 0.25)", "preference": "preference acc (chosen over rejected)"}


ANSWER_CHARS = 80  # sample answers are cut to this in the Markdown table (results.json keeps them whole)


def one_line(result: dict[str, Any]) -> str:
    topics = ", ".join(f"{topic} {_fmt(value)}" for topic, value in result["answer_eval"]["by_topic"].items())
    return (f"answer accuracy {_fmt(result['answer_accuracy'])} ({topics}), degenerate "
            f"{_fmt(result['degenerate_rate'])}, chat perplexity {_fmt(result['chat_perplexity'])}, preference acc "
            f"per token {_fmt(result['preference_acc_per_token'])}, perplexity {_fmt(result['perplexity'])}")


def one_line_all(models: dict[str, dict]) -> str:
    def row(key: str) -> str:
        return " / ".join(_fmt(result[key]) for result in models.values())

    return (f"{' / '.join(models)}: answer accuracy {row('answer_accuracy')}; degenerate {row('degenerate_rate')}; "
            f"chat perplexity {row('chat_perplexity')}; preference acc per token {row('preference_acc_per_token')}; "
            f"perplexity {row('perplexity')}")


def comparison_markdown(models: dict[str, dict]) -> str:
    """The models side by side (one column each), then their sample answers."""
    names = list(models)
    vocab = {result["vocab_size"] for result in models.values()}
    topics = list(dict.fromkeys(topic for name in names for topic in models[name]["answer_eval"]["by_topic"]))
    rows = [("**answer accuracy** (held-out prompts, greedy)", [models[name]["answer_accuracy"] for name in names])]
    rows += [(f"- {topic}", [models[name]["answer_eval"]["by_topic"].get(topic) for name in names]) for topic in topics]
    rows += [(label, [models[name][key] for name in names]) for key, label in (
        ("sample_accuracy", "consistency: sampled answers right (T=0.7)"),
        ("degenerate_rate", "degenerate answers (lower is better)"),
        ("preference_acc_per_token", "preference acc per token (chosen over rejected)"),
        ("preference_margin_per_token", "preference margin per token, nats"),
        ("perplexity", "text perplexity (lower is better)"),
        ("chat_perplexity", "chat perplexity, held-out replies (lower is better)"),
        ("preference_margin", "preference margin, summed nats (diagnostic)"))]
    rows += [(label, [models[name][f"{short}_acc"] for name in names]) for short, label in ROW_LABELS.items()]
    local = {task for task, _ in LOCAL_TASKS.values()}
    for task in sorted({task for name in names for task in models[name]["tasks"]} - local):
        metric = headline_metric(next(models[name]["tasks"][task] for name in names if task in models[name]["tasks"]))
        rows.append((f"{task} {metric}", [models[name]["tasks"].get(task, {}).get(metric) for name in names]))
    lines = ["### Stages side by side", "", "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(map(_fmt, values)) + " |" for label, values in rows]
    lines += ["", "Answer accuracy: each model answers held-out prompts (never trained on) by greedy generation, "
                  "and rules check what it said (identity: name and maker; sums: the number; facts: the value); "
                  "the headline is the mean over topics. Degenerate: empty, cut short, broken characters, loops or "
                  "the wrong language. Preference figures are per token, so length gives nothing away. The rows "
                  "below them are diagnostics: a uniform guesser scores perplexity "
                  f"{', '.join(map(str, sorted(vocab)))} (the vocabulary size); multiple-choice accuracy compares "
                  "summed log-likelihoods. `untrained` is the same architecture before training.",
              "", arithmetic_markdown(models), "### Sample answers (greedy)"]
    for name, result in models.items():
        lines += ["", f"**{name}** ({result['style']} prompts)", ""]
        lines += [f"- `{_short(pair['prompt'])}` -> {_short(pair['answer']) or '(nothing)'}"
                  for pair in result["answers"]]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


def _short(text: str) -> str:
    text = " ".join(text.split()).replace("`", "'")
    return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS - 3] + "..."
