#!/usr/bin/env python
"""GPU check: MFU, the preflight's memory estimate and the out-of-memory recovery on a real card, in about 5 min.

    python bench/gpu_check.py                     # on a CUDA GPU; exit 3 without one
    python bench/gpu_check.py --cpu-smoke         # the same code paths on the CPU: tiny preset, a few steps
    python bench/gpu_check.py --peak-tflops 312   # a card the peak table does not know (A100: 312)

1. The environment: python, torch, transformers, trl, accelerate, CUDA, the device and its memory.
2. MFU of minimind2-small at seq 512 in bf16, eager and `torch.compile`d, through the pretrain skill's own path
   (bench/run.py's skill_training): 6 x parameters x tokens/s over the card's bf16 dense peak (BF16_DENSE_TFLOPS).
3. The preflight's estimate against torch.cuda.max_memory_allocated at two batch sizes (bench/preflight.py).
4. The out-of-memory recovery: a ballast tensor leaves `--oom-free-gb` free, then a pretrain run whose batch
   the estimate puts at 1.5x that. The plan's preflight refuses it (through the CLI: exit 3, and no setting
   overrides it), so the skill's run function is called directly, past the plan's checks; the stage's
   metrics.out_of_memory show each halving. With --cpu-smoke the error is simulated (raised in the first step).

Each part runs in a fresh child process; a part that would end past `--budget` seconds is skipped. stdout: one
JSON document; stderr: progress and a short table.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

GIB = 2**30
NO_DEVICE = 3  # as the preflight's refusal: the machine cannot run this
# bf16 dense tensor-core peak (no sparsity) from NVIDIA's datasheets, by words in torch's device name; the
# first match wins, so the PCIe and NVL cards come before the SXM ones ("NVIDIA H100 80GB HBM3", "NVIDIA H200").
BF16_DENSE_TFLOPS = ((("H100", "NVL"), 835.0), (("H100", "PCIE"), 756.0), (("H100",), 989.4),
                     (("H200", "NVL"), 835.0), (("H200",), 989.4))
# Rough seconds per part on an H100, start-up of the child process included: what the time guard plans with.
PART_SECONDS = {"mfu_eager": 45, "mfu_compiled": 100, "preflight": 70, "out_of_memory": 60}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    """Versions, and the CUDA device torch sees (None without one)."""
    env: dict[str, Any] = {"python": platform.python_version(),
                           **{name: version(name) for name in ("torch", "transformers", "trl", "accelerate")}}
    try:
        import torch
    except ImportError:
        return {**env, "cuda": False, "device": None, "memory_gib": None}
    cuda = torch.cuda.is_available()
    env.update(cuda=cuda, cuda_version=torch.version.cuda, device=torch.cuda.get_device_name(0) if cuda else None,
               memory_gib=round(torch.cuda.get_device_properties(0).total_memory / GIB, 1) if cuda else None)
    return env


def bf16_peak_tflops(device_name: str | None) -> float | None:
    """The card's bf16 dense peak from BF16_DENSE_TFLOPS; None for a card it does not know."""
    name = (device_name or "").upper()
    return next((tflops for words, tflops in BF16_DENSE_TFLOPS if all(word in name for word in words)), None)


def with_peak(run: dict[str, Any], peak_tflops: float | None) -> dict[str, Any]:
    """The run with its MFU against the bf16 peak (bench/run.py's with_mfu), or "unknown peak"."""
    from run import with_mfu

    if peak_tflops is None:
        return {**run, "mfu": None, "peak": "unknown peak"}
    return {**with_mfu(run, {"bfloat16": peak_tflops * 1e3}), "peak_tflops": peak_tflops}


# --- parts: each runs in a child process (bench/run.py's run_in_child) --------------------------------------


def out_of_memory_run(preset: str, seq_len: int, data: str, workdir: str, leave_free: int, simulate: bool,
                      batch: int) -> dict[str, Any]:
    """A pretrain run too large for the memory left free, through the skill's run function past the plan's
    preflight refusal; its out-of-memory recovery record. `simulate`: raise the error in the first step."""
    import torch

    from minillm_core.plugins.host import PluginHost
    from minillm_core.runner.plan import make_plan
    from minillm_core.train.stage_preflight import WHAT

    ballast = None
    if torch.cuda.is_available():  # leave only `leave_free` bytes to the run: the card runs out for real
        free = torch.cuda.mem_get_info()[0]
        ballast = torch.empty(max(free - leave_free, 0), dtype=torch.uint8, device="cuda")  # noqa: F841 - held
    if simulate:
        raise_once_in_first_step()

    def plan(batch: int):
        sets = [f"preset={preset}", f"max_seq_len={seq_len}", f"batch_size={batch}", f"dataset={data}",
                "max_steps=2", "save_steps=1", "log_steps=1", "compile=false", "bf16=true"]
        stage = make_plan(PluginHost(load_entry_points=False), "pretrain", Path(workdir), sets=sets,
                          cwd=Path(workdir)).stages[0]
        return stage, next(check for check in stage.checks if check.what == WHAT)

    if not simulate:  # the smallest power of two whose estimate is 1.5x the free memory
        memory = plan(1)[1].figures["memory"]
        fixed, per_sequence = memory["total"] - memory["activations"], memory["activations"]
        batch = 1
        while fixed + batch * per_sequence <= 1.5 * leave_free:
            batch *= 2
    stage, check = plan(batch)
    result = stage.skill.run(stage.context)
    return {"batch_size": batch, "free_gib": round(check.figures["free"] / GIB, 2), "simulated": simulate,
            "estimate_gib": round(check.figures["memory"]["total"] / GIB, 2), "preflight_holds": check.holds,
            "preflight": check.detail, "steps": result.metrics["steps"],
            "out_of_memory": result.metrics.get("out_of_memory", []), "summary": result.summary}


def raise_once_in_first_step() -> None:
    """--cpu-smoke: the first training step raises torch.OutOfMemoryError once (a CPU process is killed instead)."""
    import torch
    from transformers import Trainer

    step, raised = Trainer.training_step, []

    def training_step(self, *args, **kwargs):
        if not raised:
            raised.append(True)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB (simulated by --cpu-smoke)")
        return step(self, *args, **kwargs)

    Trainer.training_step = training_step


# --- the check ----------------------------------------------------------------------------------------------


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What each part runs: minimind2-small at seq 512 on a GPU, tiny and a few steps with --cpu-smoke."""
    if args.cpu_smoke:
        return {"preset": "tiny", "seq_len": 64, "batch": 4, "warmup": 1, "steps": 2, "memory_batches": (4, 8),
                "memory_steps": 2, "oom_batch": 4}
    return {"preset": "minimind2-small", "seq_len": 512, "batch": 64, "warmup": 2, "steps": 10,
            "memory_batches": (16, 64), "memory_steps": 3, "oom_batch": 0}


def run_parts(args: argparse.Namespace, peak_tflops: float | None, scratch: Path) -> dict[str, Any]:
    from preflight import measured_run  # bench/preflight.py
    from run import run_in_child, skill_training, write_pretrain_jsonl

    s, started, results = settings(args), time.monotonic(), {}
    tokens = (s["warmup"] + s["steps"]) * s["batch"] * s["seq_len"]
    data = str(write_pretrain_jsonl(scratch / "train.jsonl", max(1, 8 * tokens // 2**20 + 1)))  # no batch repeats

    def part(name: str, function, *part_args) -> Any:
        left = args.budget - (time.monotonic() - started)
        if left < PART_SECONDS[name] * (0.2 if args.cpu_smoke else 1):
            log(f"{name}: skipped, {left:.0f} s left of the {args.budget} s budget")
            return {"skipped": f"time guard: {left:.0f} s left of {args.budget} s"}
        log(f"{name} ...")
        try:
            return function(*part_args)
        except RuntimeError as exc:  # the child's traceback: the other parts still run
            log(f"{name} failed: {exc}")
            return {"error": str(exc).splitlines()[-1]}

    for name, compiled in (("mfu_eager", False), ("mfu_compiled", True)):
        run = part(name, run_in_child, skill_training, s["preset"], s["seq_len"], s["batch"], s["steps"],
                   s["warmup"], data, str(scratch / name), compiled, "pretrain", ("bf16=true",))
        results[name] = with_peak(run, peak_tflops) if "tokens_per_s" in run else run
    results["preflight"] = [part("preflight", run_in_child, measured_run, s["preset"], batch, s["memory_steps"])
                            for batch in s["memory_batches"]]
    for row in results["preflight"]:
        if "measured" in row:
            row["ratio"] = round(row["estimate"]["total"] / row["measured"], 3)
    results["out_of_memory"] = part("out_of_memory", run_in_child, out_of_memory_run, s["preset"], s["seq_len"],
                                    data, str(scratch / "oom"), int(args.oom_free_gb * GIB), args.cpu_smoke,
                                    s["oom_batch"])
    return {"settings": s, "seconds": round(time.monotonic() - started), **results}


def table(report: dict[str, Any]) -> str:
    """The figures for a reader: MFU, estimate against peak, the recovery."""
    s = report["settings"]
    lines = [f"{report['environment']['device'] or 'CPU (--cpu-smoke)'}: {s['preset']}, seq {s['seq_len']}, bf16"]
    for name in ("mfu_eager", "mfu_compiled"):
        run = report[name]
        if "tokens_per_s" in run:
            mfu = f"MFU {run['mfu']:.1%}" if run["mfu"] is not None else "MFU: unknown peak"
            lines.append(f"  {name}: batch {s['batch']}, {run['tokens_per_s']:,.0f} tokens/s, {mfu}")
        else:
            lines.append(f"  {name}: {run.get('skipped') or run.get('error')}")
    for row in report["preflight"]:
        if "ratio" in row:
            lines.append(f"  preflight at batch {row['batch_size']}: estimate {row['estimate']['total'] / GIB:.2f} "
                         f"GiB, measured {row['measured'] / GIB:.2f} GiB, ratio {row['ratio']}")
        else:
            lines.append(f"  preflight: {row.get('skipped') or row.get('error')}")
    oom = report["out_of_memory"]
    if "out_of_memory" in oom:
        lines.append(f"  out of memory{' (simulated)' if oom['simulated'] else ''}: batch {oom['batch_size']} "
                     f"with {oom['free_gib']} GiB free (preflight {'passed' if oom['preflight_holds'] else 'refused'}"
                     f"), {len(oom['out_of_memory'])} recoveries, {oom['steps']} steps: {oom['summary']}")
    else:
        lines.append(f"  out of memory: {oom.get('skipped') or oom.get('error')}")
    return "\n".join(lines)


def failed(report: dict[str, Any]) -> bool:
    """A part that errored, or a recovery that did not happen (a skipped part is not a failure)."""
    parts = [report["mfu_eager"], report["mfu_compiled"], *report["preflight"], report["out_of_memory"]]
    oom = report["out_of_memory"]
    return any("error" in part for part in parts) or ("out_of_memory" in oom and not oom["out_of_memory"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="run on the CPU: tiny preset, a few steps, a "
                        "simulated out-of-memory error (to test this script without a GPU)")
    parser.add_argument("--peak-tflops", type=float, help="the card's bf16 dense peak, for a card not in the table")
    parser.add_argument("--budget", type=float, default=300, help="seconds: a part that would end later is skipped")
    parser.add_argument("--oom-free-gb", type=float, default=4.0, help="GiB the out-of-memory part leaves free")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything needed is shipped; a lent machine has no network
    env = environment()
    log(" ".join(f"{key}={value}" for key, value in env.items()))
    if not env["cuda"] and not args.cpu_smoke:
        log("bench/gpu_check.py: no CUDA device here (torch.cuda.is_available() is False). Run it on a machine "
            "with a GPU, or with --cpu-smoke to try the same code paths on the CPU.")
        return NO_DEVICE
    peak = args.peak_tflops or bf16_peak_tflops(env["device"])
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        report = {"environment": env, "peak_tflops": peak, **run_parts(args, peak, Path(scratch))}
    log(table(report))
    print(json.dumps(report, indent=2, default=str))
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
