"""bench/run.py --quick --json runs end to end and reports every figure; no timing is asserted (a shared CPU
makes any speed threshold flaky)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


def numbers(value, path: str = ""):
    """Every number in a JSON document, with where it sits (booleans are flags, not figures)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{path}[{index}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


@pytest.mark.slow
def test_quick_json_run_reports_every_figure(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    result = subprocess.run([sys.executable, str(BENCH), "--quick", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)  # 150 s alone; CI runs it beside bot-start
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)  # exactly one JSON document: anything else on stdout fails here

    assert {"device", "settings", "peak_gflops", "training", "busy_machine", "data_preparation",
            "tokenizer_mb_per_s", "warnings"} <= set(report)
    assert set(report["tokenizer_mb_per_s"]) == {"text_mb", "library", "piece_cache", "split_only"}
    device = report["device"]
    assert device["kind"] in ("cpu", "cuda") and device["name"].strip()
    if device["kind"] == "cpu":
        assert device["bf16_support"] in ("AMX-BF16, AVX-512-BF16", "AMX-BF16", "AVX-512-BF16", "none", "unknown")
    assert set(report["peak_gflops"]) == {"float32", "bfloat16"}

    [row] = report["training"]  # --quick: the tiny preset only
    assert row["preset"] == "tiny" and "skill_vs_baseline" in row
    for path in ("baseline", "skill"):
        assert {"tokens_per_s", "mfu", "peak_dtype", "peak_memory_mb", "parameters"} <= set(row[path])
        assert row[path]["peak_dtype"] in ("float32", "bfloat16")
    assert "stage_tokens_per_s" in row["skill"]

    [busy] = report["busy_machine"]  # --quick: tiny sft with threads=auto, alone and beside one busy process
    assert (busy["preset"], busy["stage"], busy["threads"]) == ("tiny", "sft", "auto")
    assert set(busy["tokens_per_s"]) == set(busy["vs_alone"]) == set(busy["lowest_threads"]) == {"0", "1"}
    assert busy["vs_alone"]["0"] == 1.0

    small, large = report["data_preparation"]  # two file sizes, to see whether memory grows with the file
    assert small["file_mb"] < large["file_mb"]
    for run in (small, large):
        assert {"mb_per_s", "seconds", "tokens", "blocks", "peak_pss_mb", "peak_anon_mb"} <= set(run)

    figures = dict(numbers(report))
    assert len(figures) > 30
    bad = {path: value for path, value in figures.items() if not (math.isfinite(value) and value > 0)}
    assert not bad, f"figures that are not positive finite numbers: {bad}"


@pytest.mark.slow
def test_step_profile_prints_each_group_and_the_matmul_rate(tmp_path):
    script = BENCH.with_name("profile_step.py")
    result = subprocess.run([sys.executable, str(script), "--preset", "tiny", "--batch-size", "2", "--seq-len", "16",
                             "--fp32"], cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    shares = {}
    for line in result.stdout.splitlines():
        if line.startswith("  "):  # "  linear matmuls    51.5%    0.18 s"
            name, share = line[:26].strip(), line[26:].split()[0]
            shares[name] = float(share.rstrip("%"))
    assert set(shares) == {"linear matmuls", "attention", "optimizer", "elementwise and casts", "other"}
    assert shares["linear matmuls"] > 0 and abs(sum(shares.values()) - 100) < 0.5
    assert "linear matmuls run at" in result.stdout

