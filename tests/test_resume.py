"""Crash safety: checkpoints are used only when whole and made with the same settings; compiled runs resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from minillm_core.train.checkpoints import MARKER, last_good_checkpoint, prepare_checkpoint_dir

PRETRAIN = [sys.executable, "-m", "minillm_core", "run", "pretrain", "--json", "--set", "max_steps=40",
            "--set", "save_steps=10", "--set", "log_steps=5", "--set", "lr=2e-3"]


# A run killed with SIGKILL after a checkpoint resumes from it: tests/test_long_runs.py.


@pytest.mark.slow
def test_a_compiled_run_resumes_uncompiled_from_its_checkpoint(tmp_path):
    env = {**os.environ, "MINILLM_LOAD_PLUGINS": ""}
    command = [sys.executable, "-m", "minillm_core", "run", "pretrain", "--json", "--workdir", str(tmp_path),
               "--set", "max_steps=12", "--set", "save_steps=4", "--set", "log_steps=2"]
    process = subprocess.Popen([*command, "--set", "compile=true"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    checkpoints = tmp_path / "out" / ".checkpoints" / "pretrain"
    deadline = time.monotonic() + 180  # torch.compile's start-up comes first
    while not list(checkpoints.glob(f"checkpoint-*/{MARKER}")):
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Saved from the model under torch.compile's wrapper, the weights keep the plain model's names.
    with safe_open(last_good_checkpoint(checkpoints) / "model.safetensors", "pt") as weights:
        names = set(weights.keys())
    assert "model.embed_tokens.weight" in names and not any("_orig_mod" in name for name in names)

    # compile is a speed setting: switching it off keeps the checkpoint, and the compiled model's weights load.
    result = subprocess.run([*command, "--set", "compile=false"], capture_output=True, text=True, env=env,
                            timeout=180)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    assert metrics["resumed_from_step"] >= 4 and (metrics["steps"], metrics["compiled"]) == (12, False)


def test_a_half_written_checkpoint_is_passed_over(tmp_path):
    for step, whole in ((10, True), (20, True), (30, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if whole:
            (folder / MARKER).write_text("ok\n")
    assert last_good_checkpoint(tmp_path) == tmp_path / "checkpoint-20"


def test_checkpoints_made_with_other_settings_are_discarded(tmp_path):
    import logging

    log = logging.getLogger("test")
    folder = tmp_path / "ckpt"
    assert prepare_checkpoint_dir(folder, {"lr": 1.0}, log) is False
    (folder / "checkpoint-5").mkdir()
    (folder / "checkpoint-5" / MARKER).write_text("ok\n")
    assert prepare_checkpoint_dir(folder, {"lr": 1.0}, log) is True
    assert prepare_checkpoint_dir(folder, {"lr": 1.0, "compile": "true"}, log) is True  # speed only
    assert prepare_checkpoint_dir(folder, {"lr": 2.0}, log) is False
    assert not (folder / "checkpoint-5").exists()


@pytest.mark.slow
def test_two_processes_train_with_ddp_on_cpu(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--nproc_per_node", "2", "-m", "minillm_core", "run", "pretrain", "--json",
               "--workdir", str(tmp_path), "--set", "max_steps=4", "--set", "batch_size=4", "--set", "log_steps=2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "MINILLM_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)  # one document: only the main process prints
    metrics = report["stages"][0]["metrics"]
    assert metrics["steps"] == 4
    assert metrics["tokens"] == 4 * 4 * 2 * 128  # steps x batch x processes x sequence length
    assert (tmp_path / "out" / "pretrain" / "model.safetensors").exists()
