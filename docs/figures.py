"""The generated blocks of the docs: measured figures, rendered from the one file that holds them, and what
the code defines (the built-in tools' schemas), rendered from the code.

A run writes its figures once, to docs/results/ (bench/main_job.py writes main-job.json from a bot-start
report). The Markdown quotes them only inside generated blocks:

    <!-- figures: main-job-eval -->
    | held-out ... |
    <!-- /figures -->

    python docs/figures.py           # rewrite every block from docs/results/
    python docs/figures.py --check   # exit 1 and name each block that differs (tests/test_docs.py runs this)

A block's text is what its renderer below makes of the results; edit the renderer or the results, never
the block.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
BLOCK = re.compile(r"(<!-- figures: ([\w-]+) -->\n)(.*?)(<!-- /figures -->)", re.DOTALL)
STAGES = ("untrained", "pretrain", "sft", "dpo")


def main_job() -> dict[str, Any]:
    return json.loads((RESULTS / "main-job.json").read_text(encoding="utf-8"))


def _f(value: float | None, bold: bool = False) -> str:
    """A figure as the docs print it: 3 decimals below 10, one above 10, whole from 100; '-' when absent."""
    if value is None:
        return "-"
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return f"**{text}**" if bold else text


def _row(label: str, values: list[float | None], best: Callable[[list[float]], float] | None = max,
         fmt: Callable[..., str] = _f) -> str:
    """A table row; the best value of the trained stages (not the untrained floor) in bold."""
    trained = [value for name, value in zip(STAGES, values, strict=True) if name != "untrained" and value is not None]
    top = best(trained) if best and trained else None
    cells = [fmt(value, bold=value is not None and value == top and name != "untrained")
             for name, value in zip(STAGES, values, strict=True)]
    return f"| {label} | " + " | ".join(cells) + " |"


def main_job_summary(results: dict[str, Any]) -> str:
    return (f"On {results['machine']} ({results['measured']}), `{results['command']}` in a fresh git clone took "
            f"**{results['duration_s']:.0f} s** (the report's `duration_s`), with `HF_HUB_OFFLINE=1` and nothing "
            f"else running. The final model is `{results['final_model']}`.\n")


def main_job_eval(results: dict[str, Any]) -> str:
    models = results["eval"]
    counts = results["eval_counts"]

    def values(key: str, *path: str) -> list[float | None]:
        out = []
        for name in STAGES:
            value: Any = models.get(name, {})
            for part in (key, *path):
                value = value.get(part) if isinstance(value, dict) else None
            out.append(value)
        return out

    def pair(value: Any, bold: bool = False) -> str:
        return "-" if value is None else f"{value[0]:.3f} / {value[1]:.3f}"

    directly = [None if d is None else (d, t) for d, t in zip(values("arithmetic", "direct"),
                                                              values("arithmetic", "think"), strict=True)]
    rows = [
        "| held-out, `reports/latest.json` -> eval | " + " | ".join(STAGES) + " |",
        "|---" * (len(STAGES) + 1) + "|",
        _row(f"**answer accuracy** ({counts['answers']} prompts, greedy; mean of the topics)",
             values("answer_accuracy")),
        *[_row(f"- {topic} ({count})", values("by_topic", topic)) for topic, count in counts["topics"].items()],
        _row(f"**multi-digit sums and products ({counts['arithmetic']}), with the calculator tool**",
             values("arithmetic", "calculator")),
        _row("- the same, answering directly / thinking first", directly, best=None, fmt=pair),
        _row(f"- with the calculator, in wordings never trained on ({counts['tool_wordings']}: + - × ÷, 1-6 digits)",
             values("arithmetic", "held_out_wordings"), best=None),
        _row("consistency: sampled answers right (3 per prompt, T=0.7)", values("sample_accuracy")),
        _row("degenerate answers (empty, cut short, loops, wrong language)", values("degenerate_rate"), best=min),
        _row(f"preference accuracy per token ({counts['pairs']} pairs)", values("preference_acc_per_token")),
        _row(f"chat perplexity ({counts['chats']} conversations, replies only)", values("chat_perplexity"),
             best=min),
        _row(f"text perplexity ({counts['documents']} documents)", values("perplexity"), best=min),
        _row("diagnostic: identity multiple choice", values("identity_acc"), best=None),
    ]
    return "\n".join(rows) + "\n"


def main_job_stages(results: dict[str, Any]) -> str:
    rows = ["| stage | time | what it did |", "|---|---|---|"]
    rows += [f"| {name} | {stage['duration_s']:.0f} s | {stage['summary']} |"
             for name, stage in results["stages"].items()]
    return "\n".join(rows) + "\n"


def main_job_tools(results: dict[str, Any]) -> str:
    final = results["final_model"].rpartition("/")[2]
    arithmetic = results["eval"][final]["arithmetic"]
    calls = "calculator call: valid JSON / right tool / right value"
    return "\n".join([
        f"| `{final}` on {results['eval_counts']['arithmetic']} held-out problems | exact answers |", "|---|---|",
        f"| answering directly (thinking off) | {_f(arithmetic['direct'])} |",
        f"| thinking first | {_f(arithmetic['think'])} |",
        f"| with the calculator tool | **{_f(arithmetic['calculator'])}** |",
        f"| with the calculator tool, {results['eval_counts']['tool_wordings']} problems in wordings never trained "
        f"on (+ - × ÷, 1-6 digits) | {_f(arithmetic['held_out_wordings'])} |",
        f"| self-consistency (majority of 5, T=0.7) | {_f(arithmetic['self_consistency'])} |",
        f"| {calls} | {_f(arithmetic['valid_json'])} / {_f(arithmetic['right_tool'])} / "
        f"{_f(arithmetic['right_arguments'])} |",
    ]) + "\n"


def builtin_tool_schemas(_results: dict[str, Any]) -> str:
    """The built-in tools' schemas as a client passes them to `serve` (`tools` of a chat completion): the
    definitions the chat template rendered into the training chats, so the model calls them as trained."""
    from minillm_core.inference.tools import BUILTIN_TOOLS

    return "```json\n" + json.dumps([tool.schema() for tool in BUILTIN_TOOLS], indent=2, ensure_ascii=False) + "\n```\n"


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "main-job-summary": main_job_summary,
    "main-job-eval": main_job_eval,
    "main-job-stages": main_job_stages,
    "main-job-tools": main_job_tools,
    "builtin-tool-schemas": builtin_tool_schemas,
}


def documents() -> list[Path]:
    """Every Markdown file of the project that people or agents read."""
    skip = {".venv", ".git", "node_modules", "_bundled"}
    return sorted(path for path in REPO.rglob("*.md") if not skip & set(path.relative_to(REPO).parts))


def render(text: str, results: dict[str, Any]) -> tuple[str, list[str]]:
    """`text` with each block rewritten, and the names of the blocks that changed (or have no renderer)."""
    changed: list[str] = []

    def replace(match: re.Match) -> str:
        name = match.group(2)
        if name not in RENDERERS:
            changed.append(f"{name} (no such block: {', '.join(RENDERERS)})")
            return match.group(0)
        body = RENDERERS[name](results)
        if body != match.group(3):
            changed.append(name)
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, text), changed


def drift() -> list[str]:
    """'path: block' for each block whose text is not what the results give."""
    results = main_job()
    found = []
    for path in documents():
        _, changed = render(path.read_text(encoding="utf-8"), results)
        found += [f"{path.relative_to(REPO)}: {name}" for name in changed]
    return found


def write() -> list[str]:
    results = main_job()
    written = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        new, changed = render(text, results)
        if changed:
            path.write_text(new, encoding="utf-8")
            written += [f"{path.relative_to(REPO)}: {name}" for name in changed]
    return written


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        stale = drift()
        print("\n".join(f"stale: {item}" for item in stale) or "every figures block matches docs/results/")
        sys.exit(1 if stale else 0)
    print("\n".join(f"rewrote {item}" for item in write()) or "nothing to rewrite")
