"""The report card of a work directory: what each training stage did, its loss curve, and eval.

Small, like nanochat's report card: a table a person reads in a minute and one plot per stage.
It reads only what the stages left behind: their stamps (out/.stamps/), logs/ and out/eval/.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from minillm_core.runner.stamps import stamped_records

STAGE_ORDER = ("env-check", "download-data", "tokenizer", "pretrain", "sft", "dpo", "eval")  # then by time


def last_results(workdir: Path) -> dict[str, dict[str, Any]]:
    """The last successful result of each stage in the work directory, in pipeline order."""
    results = {name: record for name, record in stamped_records(workdir).items()
               if name != "report"}  # the card does not report on itself
    order = {name: index for index, name in enumerate(STAGE_ORDER)}
    return dict(sorted(results.items(), key=lambda item: (order.get(item[0], len(order)), item[1]["finished_at"])))


def training_stages(results: dict[str, dict[str, Any]]) -> list[str]:
    """The stages that trained a model, built-in or a plugin's: each says so in its metrics (`model`)."""
    return [name for name, result in results.items() if isinstance(result["metrics"].get("model"), dict)]


def _training_log(result: dict[str, Any]) -> str | None:
    """The stage's logs/<name>.jsonl, as its artifacts name it (named after its output folder)."""
    return next((path for path in result.get("artifacts", []) if path.startswith("logs/") and
                 path.endswith(".jsonl") and not path.endswith("_samples.jsonl")), None)


def training_table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["| stage | finished | steps | tokens | loss first -> final | tokens/s | time | preset, lr, batch x seq "
            "| tokenizer |", "|---|---|---|---|---|---|---|---|---|"]
    for name in training_stages(results):
        r, m, s = results[name], results[name]["metrics"], results[name]["settings"]
        finished = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["finished_at"]))
        rows.append(f"| {name} | {finished} | {m.get('steps')} | {m.get('tokens', 0):,} | "
                    f"{m.get('first_loss')} -> {m.get('final_loss')} | {m.get('tokens_per_s')} | "
                    f"{r['duration_s']:.0f} s | {s.get('preset')}, {s.get('lr')}, "
                    f"{_batch(m, s)} x {m.get('seq_len', s.get('max_seq_len'))} | {_tokenizer(m)} |")
    return "\n".join(rows) if len(rows) > 2 else ""


def _batch(metrics: dict[str, Any], settings: dict[str, Any]) -> str:
    """The micro-batch the stage trained with: `batch_size=auto` shows what its preflight chose."""
    chosen = (metrics.get("preflight") or {}).get("batch_size")
    return f"auto: {chosen}" if settings.get("batch_size") == "auto" and chosen else str(settings.get("batch_size"))


def _tokenizer(metrics: dict[str, Any]) -> str:
    """Which tokenizer a stage used: its folder and the start of its sha256 (the same hash: the same tokenizer)."""
    used = metrics.get("tokenizer")
    return f"`{used['path']}` ({used['sha256'][:12]})" if isinstance(used, dict) else "-"


def plot_losses(workdir: Path, results: dict[str, dict[str, Any]]) -> list[str]:
    """reports/plots/<stage>_loss.png from each training stage's log; returns the paths, relative to reports/."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    written = []
    for name in training_stages(results):
        relative = _training_log(results[name])
        log = workdir / relative if relative else None
        if log is None or not log.exists():
            continue
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        if not lines:
            continue
        figure, axis = plt.subplots(figsize=(5, 3), dpi=100)
        axis.plot([line["step"] for line in lines], [line["loss"] for line in lines], marker=".")
        axis.set(title=f"{name} loss", xlabel="step", ylabel="loss")
        axis.grid(alpha=0.3)
        figure.tight_layout()
        path = workdir / "reports" / "plots" / f"{name}_loss.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
        plt.close(figure)
        written.append(f"plots/{name}_loss.png")
    return written


def card(workdir: Path, include_eval: bool) -> tuple[str, dict[str, Any]]:
    """The card's Markdown and its metrics. `include_eval`: add eval's table (when eval is not in this run)."""
    results = last_results(workdir)
    plots = plot_losses(workdir, results)
    parts = []
    table = training_table(results)
    if table:
        parts += ["### Training", "", table, ""]
    if plots:
        parts += [" ".join(f"![{Path(p).stem}]({p})" for p in plots), ""]
    if include_eval and results.get("eval", {}).get("details"):
        parts += ["### Eval", "", results["eval"]["details"], ""]
    metrics = {"stages": {name: {"summary": r["summary"], "metrics": r["metrics"]} for name, r in results.items()},
               "plots": [f"reports/{p}" for p in plots]}
    return "\n".join(parts).rstrip(), metrics
