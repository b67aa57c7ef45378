#!/usr/bin/env python
"""Benchmark: the preflight's memory estimate against the measured peak of a few real training steps.

    python bench/preflight.py            # tiny at batch 16 and 64, minimind2-small at 4 and 16 (about 10 min)
    python bench/preflight.py --json     # stdout is one JSON document
    python bench/preflight.py --runs tiny:16 --steps 2

Each run is the pretrain skill's own path (the plan, then the skill's run function, as `minillm-skill run
pretrain` does) on the embedded dataset, in a fresh child process. The estimate is the one the plan's
preflight check makes; the peak is the rise over the process's memory once its libraries are imported (CPU:
peak RSS; GPU: torch.cuda.max_memory_allocated), as the preflight defines it. The ratio should be within
0.75-1.25.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from run import run_in_child  # noqa: E402  (bench/run.py: a fresh spawned process per run)

MB = 2**20
DEFAULT_RUNS = "tiny:16,tiny:64,minimind2-small:4,minimind2-small:16"


def measured_run(preset: str, batch: int, steps: int) -> dict[str, Any]:
    """In a child process: plan pretrain, take the preflight's estimate, run it, measure the peak."""
    import torch

    from minillm_core.plugins.host import PluginHost
    from minillm_core.runner.plan import make_plan
    from minillm_core.util.peak_memory import PeakMemory

    workdir = Path(tempfile.mkdtemp(prefix="preflight-bench-"))
    sets = [f"preset={preset}", f"batch_size={batch}", f"max_steps={steps}", "dataset=embedded-pretrain",
            "save_steps=1000000", "log_steps=1", "compile=false"]
    plan = make_plan(PluginHost(load_entry_points=False), "pretrain", workdir, sets=sets, cwd=workdir)
    stage = plan.stages[0]
    [check] = [c for c in stage.checks if c.figures is not None]
    import minillm_core.train.training  # noqa: F401 - its libraries count in the start, not in the peak

    meter = PeakMemory(torch.cuda.is_available())
    result = stage.skill.run(stage.context)
    figures = check.figures
    return {"preset": preset, "batch_size": batch, "seq_len": figures["seq_len"], "steps": steps,
            "parameters": figures["parameters"], "bf16": figures["bf16"], "device": figures["device"],
            "estimate": figures["memory"], "measured": meter.rise(),
            "stage_measured": result.metrics["preflight"]["measured_peak"]}


def parse_runs(text: str) -> list[tuple[str, int]]:
    runs = []
    for item in text.split(","):
        preset, _, batch = item.strip().rpartition(":")
        runs.append((preset, int(batch)))
    return runs


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| preset | batch x seq | estimate | measured peak | estimate / measured |", "|---|---|---|---|---|"]
    for row in rows:
        estimate, measured = row["estimate"]["total"], row["measured"]
        lines.append(f"| {row['preset']} | {row['batch_size']} x {row['seq_len']} | {estimate / MB:,.0f} MB "
                     f"| {measured / MB:,.0f} MB | {estimate / measured:.2f} |")
    device = rows[0]["device"] if rows else "?"
    lines.append(f"\n{device}; pretrain skill, {rows[0]['steps'] if rows else '?'} steps; measured: the rise over "
                 "the process's memory after its imports (CPU: peak RSS; GPU: max_memory_allocated).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help=f"preset:batch pairs (default {DEFAULT_RUNS})")
    parser.add_argument("--steps", type=int, default=3, help="training steps per run (at least 2: the optimizer's "
                        "states appear in the first step's update)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = parser.parse_args(argv)
    rows = []
    for preset, batch in parse_runs(args.runs):
        print(f"{preset} at batch {batch} ...", file=sys.stderr, flush=True)
        row = run_in_child(measured_run, preset, batch, args.steps)
        row["ratio"] = round(row["estimate"]["total"] / row["measured"], 3)
        print(f"  estimate {row['estimate']['total'] / MB:,.0f} MB, measured {row['measured'] / MB:,.0f} MB, "
              f"ratio {row['ratio']}", file=sys.stderr, flush=True)
        rows.append(row)
    print(json.dumps({"runs": rows}, indent=2) if args.json else format_table(rows))
    return 0 if all(0.75 <= row["ratio"] <= 1.25 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
