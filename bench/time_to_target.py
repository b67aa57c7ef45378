"""Time to a model that works: bot-start's recipe against another commit's, side by side, for a few seeds.

    python bench/time_to_target.py --against be2840e                   # HEAD and be2840e, seed 42
    python bench/time_to_target.py --against be2840e --seeds 42,7,1    # three seeds each, interleaved
    python bench/time_to_target.py --seeds 42,7,1 --write              # HEAD alone; docs/results/time-to-target.json

Each run is bot-start in a fresh clone, offline (bench/main_job.py's run_bot_start), with `--set seed=N`.
The recipes take turns (HEAD, the other, HEAD, ...), so that a machine that slows down part way slows both.
For each run it prints the seconds of every stage and the figures the main-job issue sets targets on: the
final model's identity and answer accuracy, and the calculator on held-out problems and on held-out
wordings. Run it on a quiet machine: on 2 cores anything else running slows training many times over.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

from machine import cpu_model_name  # bench/machine.py
from main_job import REPO, run_bot_start  # bench/main_job.py

RESULTS = REPO / "docs" / "results" / "time-to-target.json"
STAGES = ("tokenizer", "pretrain", "sft", "dpo", "eval")
# The bar: bot-start's final model at least this good, in at most TARGET_SECONDS.
TARGETS = {"identity": 0.833, "answer_accuracy": 0.326, "held_out_wordings": 0.9}
TARGET_SECONDS = 120


def run_figures(report: dict[str, Any], results: dict[str, Any], wall: float) -> dict[str, Any]:
    """One run's seconds and its final model's figures."""
    final = Path(report["final_model"]["path"]).name  # bot-start's stage folders are out/<stage>
    model = results["models"][final]
    stages = {stage["skill"]: round(stage["duration_s"], 1) for stage in report["stages"] if stage["skill"] in STAGES}
    return {"wall_s": round(wall, 1), "stages_s": stages, "final_model": final,
            "identity": model["answer_eval"]["by_topic"].get("identity"),
            "answer_accuracy": model["answer_accuracy"],
            "calculator": model.get("arithmetic", {}).get("calculator"),
            "held_out_wordings": model.get("tool_wordings", {}).get("calculator")}


def meets_target(run: dict[str, Any]) -> bool:
    return run["wall_s"] <= TARGET_SECONDS and all((run[key] or 0) >= floor for key, floor in TARGETS.items())


def table(runs: list[dict[str, Any]]) -> str:
    header = ("| recipe | seed | wall s | " + " | ".join(f"{name} s" for name in STAGES)
              + " | identity | answer acc | calculator | held-out wordings | target |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for run in runs:
        cells = [run["recipe"], str(run["seed"]), f"{run['wall_s']:.0f}",
                 *(f"{run['stages_s'].get(name, 0):.0f}" for name in STAGES),
                 *(f"{run[key]:.3f}" if run[key] is not None else "-"
                   for key in ("identity", "answer_accuracy", "calculator", "held_out_wordings")),
                 "yes" if meets_target(run) else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="a commit whose recipe runs beside HEAD's (e.g. the previous recipe)")
    parser.add_argument("--seeds", default="42", help="comma-separated seeds, each run by every recipe")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(REPO)}")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    recipes = {"HEAD": None, **({args.against: args.against} if args.against else {})}
    runs = []
    for seed in seeds:
        for name, rev in recipes.items():
            report, results, wall = run_bot_start(rev, (f"seed={seed}",))
            runs.append({"recipe": name, "seed": seed, "commit": report["environment"].get("commit"),
                         **run_figures(report, results, wall)})
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    print(table(runs))
    if args.write:
        document = {"command": f"python bench/time_to_target.py {' '.join(argv or sys.argv[1:])}",
                    "measured": datetime.date.today().isoformat(),
                    "machine": f"a {report['environment'].get('cpu_cores')}-core {cpu_model_name()} with no GPU",
                    "targets": {**TARGETS, "wall_s": TARGET_SECONDS}, "runs": runs}
        RESULTS.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
