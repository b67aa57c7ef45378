"""bench/gpu_check.py: without a GPU it says so (exit 3); --cpu-smoke runs every part on the CPU (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # as when run as a script: bench/run.py is `run`
    spec = importlib.util.spec_from_file_location("gpu_check", BENCH / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_prints_the_environment_and_exits_3(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 3
    out, err = capsys.readouterr()
    assert out == ""  # stdout is for the JSON document only
    assert f"torch={torch.__version__}" in err and "transformers=" in err and "trl=" in err
    assert "no CUDA device here" in err and "--cpu-smoke" in err


@pytest.mark.parametrize("name, tflops", [("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0),
                                          ("NVIDIA H100 NVL", 835.0), ("NVIDIA H200", 989.4),
                                          ("NVIDIA H200 NVL", 835.0), ("NVIDIA A100-SXM4-80GB", None), (None, None)])
def test_the_bf16_peak_comes_from_the_device_name(gpu_check, name, tflops):
    assert gpu_check.bf16_peak_tflops(name) == tflops


def test_mfu_is_six_parameters_per_token_over_the_peak_or_unknown(gpu_check):
    run = {"tokens_per_s": 1e6, "parameters": 25_000_000, "bf16": True}
    assert gpu_check.with_peak(run, 1000.0)["mfu"] == pytest.approx(6 * 25e6 * 1e6 / 1e15)
    unknown = gpu_check.with_peak(run, None)
    assert unknown["mfu"] is None and unknown["peak"] == "unknown peak"


@pytest.mark.slow
def test_cpu_smoke_runs_every_part_and_the_recovery_halves_the_batch(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    result = subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--cpu-smoke", "--peak-tflops", "1"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)  # exactly one JSON document
    assert report["environment"]["cuda"] is False and report["settings"]["preset"] == "tiny"
    for name in ("mfu_eager", "mfu_compiled"):
        assert report[name]["bf16"] is True and report[name]["tokens_per_s"] > 0 and report[name]["mfu"] > 0
    assert [row["batch_size"] for row in report["preflight"]] == [4, 8]
    assert all(row["measured"] > 0 and row["ratio"] > 0 for row in report["preflight"])
    oom = report["out_of_memory"]
    assert oom["simulated"] is True and oom["steps"] == 2
    assert oom["out_of_memory"] == [{"step": 0, "resumed_from_step": 0, "batch_size": 2, "grad_accum": 2,
                                     "batch_size_before": 4, "grad_accum_before": 1, "effective_batch": 4}]
    assert "out of memory (simulated): batch 4" in result.stderr  # the human table
