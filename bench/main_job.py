"""The main job, measured as a newcomer runs it: bot-start in a fresh clone, its time and its eval figures.

    python bench/main_job.py                        # clone HEAD, run bot-start offline, print the figures
    python bench/main_job.py --write                # ... and write docs/results/main-job.json, then the docs
    python bench/main_job.py --from-report R --write  # the figures of a report already made (reports/latest.json)

docs/results/main-job.json is the one place the docs' main-job figures come from (docs/figures.py renders
them into the README and docs/performance.md). Run it on a quiet machine: on 2 cores, anything else
running slows training many times over.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from machine import cpu_model_name  # bench/machine.py

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results" / "main-job.json"
COMMAND = "minillm-skill run bot-start --json"
SUMMARY_KEYS = ("answer_accuracy", "sample_accuracy", "degenerate_rate", "preference_acc_per_token",
                "chat_perplexity", "perplexity", "identity_acc")
ARITHMETIC_KEYS = ("direct", "think", "calculator", "self_consistency", "valid_json", "right_tool",
                   "right_arguments")


def run_bot_start(rev: str | None = None,
                  settings: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any], float]:
    """bot-start in a fresh clone of `rev` (HEAD by default), offline, with `--set` `settings`: its report,
    eval's results.json and the wall-clock seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        if rev:
            subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_LOAD_PLUGINS": ""}
        command = [sys.executable, "-m", "minillm_core", "run", "bot-start", "--json"]
        for setting in settings:
            command += ["--set", setting]
        started = time.monotonic()
        done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"bot-start failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout), eval_results(clone), wall


def eval_results(workdir: Path) -> dict[str, Any]:
    """eval's results.json in a work directory: every answer, and how many prompts of each kind."""
    return json.loads((workdir / "out" / "eval" / "results.json").read_text(encoding="utf-8"))


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def figures(report: dict[str, Any], results: dict[str, Any], machine: str, measured: str) -> dict[str, Any]:
    """What the docs quote from a bot-start report and its eval results, and nothing else."""
    stages = {stage["skill"]: stage for stage in report["stages"]}
    models: dict[str, Any] = {}
    for name, result in results["models"].items():
        model = {key: _round(result.get(key)) for key in SUMMARY_KEYS}
        model["by_topic"] = {topic: _round(value) for topic, value in result["answer_eval"]["by_topic"].items()}
        if "arithmetic" in result:
            arithmetic = {**result["arithmetic"], **result["arithmetic"]["tool_call_validity"]}
            model["arithmetic"] = {key: _round(arithmetic[key]) for key in ARITHMETIC_KEYS}
        if "tool_wordings" in result:  # the calculator on wordings no training file holds
            model["arithmetic"]["held_out_wordings"] = _round(result["tool_wordings"]["calculator"])
        models[name] = model
    rows = next(iter(results["models"].values()))["answer_eval"]["answers"]
    settings = results["settings"]
    return {
        "command": COMMAND,
        "measured": measured,
        "machine": machine,
        "commit": report["environment"].get("commit"),
        "duration_s": round(report["duration_s"], 1),
        "final_model": report["final_model"]["path"],
        "stages": {name: {"duration_s": round(stage["duration_s"], 1), "summary": stage["summary"]}
                   for name, stage in stages.items() if name in ("tokenizer", "pretrain", "sft", "dpo", "eval")},
        "eval_counts": {
            "answers": settings["answer_items"],
            "topics": dict(Counter(row["topic"] for row in rows)),
            "arithmetic": next((r["arithmetic"]["items"] for r in results["models"].values() if "arithmetic" in r),
                               None),
            "tool_wordings": next((r["tool_wordings"]["items"] for r in results["models"].values()
                                   if "tool_wordings" in r), None),
            "pairs": settings["preference_pairs"], "chats": settings["chat_conversations"],
            "documents": settings["perplexity_documents"]},
        "eval": models,
    }


def report_workdir(path: Path, report: dict[str, Any]) -> Path:
    """The work directory of a report file: a report names its own "." (older ones the absolute folder),
    and lies in its reports/ or reports/history/."""
    if Path(report["workdir"]).is_absolute():
        return Path(report["workdir"])
    return next(folder.parent for folder in path.resolve().parents if folder.name == "reports")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-report", type=Path, help="a bot-start report (reports/latest.json) instead of a run")
    parser.add_argument("--write", action="store_true", help="write docs/results/main-job.json and the docs' blocks")
    parser.add_argument("--machine", default=None, help="how the docs name the machine (default: its CPU model)")
    args = parser.parse_args(argv)
    if args.from_report:
        report = json.loads(args.from_report.read_text(encoding="utf-8"))
        results = eval_results(report_workdir(args.from_report, report))
        measured = datetime.date.fromtimestamp(args.from_report.stat().st_mtime).isoformat()
    else:
        report, results, wall = run_bot_start()
        print(f"bot-start: {wall:.1f} s wall clock, {report['duration_s']:.1f} s in the report", file=sys.stderr)
        measured = datetime.date.today().isoformat()
    cores = report["environment"].get("cpu_cores")
    machine = args.machine or f"a {cores}-core {cpu_model_name()} with no GPU"
    result = figures(report, results, machine, measured)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        sys.path.insert(0, str(REPO / "docs"))
        import figures as docs_figures  # docs/figures.py

        for item in docs_figures.write():
            print(f"rewrote {item}", file=sys.stderr)


if __name__ == "__main__":
    main()
