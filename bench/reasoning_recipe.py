#!/usr/bin/env python
"""Check the reasoning recipe: does bot-start's final model use the calculator on held-out sums and products?

    python bench/reasoning_recipe.py                  # clone HEAD, run the recipe (about 8 minutes on 2 cores), check
    python bench/reasoning_recipe.py --workdir DIR    # check a work directory the recipe already ran in

It runs `minillm-skill run bot-start --config configs/reasoning-cpu.yaml` in a fresh clone, offline, then reads
the run's final model and eval's figures for it (out/eval/results.json) and prints them. Exit code 1 when the
calculator accuracy is under --min-calculator (0.9) or less than --min-gain (0.4) above answering directly:
the targets of the thinking-and-tools work. A quality check that takes minutes, so a script and not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "configs/reasoning-cpu.yaml"
MODES = ("direct", "think", "calculator", "self_consistency")


def run_recipe(workdir: Path) -> float:
    """Clone HEAD into `workdir` and run the recipe there; the seconds it took."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(workdir)], check=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(workdir)}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "minillm_core", "run", "bot-start", "--config", RECIPE, "--json"],
                            cwd=workdir, env=env, stdout=subprocess.PIPE)
    if result.returncode != 0:
        sys.exit(f"bot-start with {RECIPE} failed (exit code {result.returncode}); see its stderr above")
    return time.monotonic() - started


def figures(workdir: Path) -> dict:
    """The final model's name and its arithmetic figures, from the run's report and eval's results."""
    report = json.loads((workdir / "reports" / "latest.json").read_text(encoding="utf-8"))
    final = Path((report.get("final_model") or {}).get("path") or "out/dpo").name
    results = json.loads((workdir / "out" / "eval" / "results.json").read_text(encoding="utf-8"))
    if "arithmetic" not in results["models"].get(final, {}):
        sys.exit(f"{workdir}: eval has no arithmetic figures for {final}; run the recipe ({RECIPE})")
    return {"model": final, **results["models"][final]["arithmetic"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="a work directory the recipe ran in (default: run it now)")
    parser.add_argument("--min-calculator", type=float, default=0.9)
    parser.add_argument("--min-gain", type=float, default=0.4)
    args = parser.parse_args(argv)
    seconds = None
    if args.workdir is None:
        args.workdir = Path(tempfile.mkdtemp(prefix="reasoning-recipe-")) / "clone"
        seconds = run_recipe(args.workdir)
    found = figures(args.workdir)
    print(f"final model: {found['model']}" + (f"; the recipe took {seconds:.0f} s" if seconds else ""))
    print(f"{found['items']} held-out multi-digit problems, exact answers:")
    for mode in MODES:
        print(f"  {mode:<17} {found[mode]:.3f}")
    validity = found["tool_call_validity"]
    print("  calculator calls: " + ", ".join(f"{key} {value:.3f}" for key, value in validity.items()))
    gain = found["calculator"] - found["direct"]
    ok = found["calculator"] >= args.min_calculator and gain >= args.min_gain
    print(f"{'PASS' if ok else 'FAIL'}: calculator {found['calculator']:.3f} (at least {args.min_calculator}), "
          f"{gain:+.3f} over direct (at least +{args.min_gain})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
