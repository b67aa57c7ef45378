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


def tiny_trainer(output_dir: Path, steps: list[int]):
    """A transformers Trainer of one linear layer (no language model: milliseconds a step) that saves a
    checkpoint every step up to max_steps=3, as ours do at the end; `steps` collects each step it trains."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class Line(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def forward(self, x, labels):
            return {"loss": torch.nn.functional.mse_loss(self.layer(x), labels)}

    class CountSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.append(state.global_step)

    torch.manual_seed(0)
    data = [{"x": torch.tensor([float(i)]), "labels": torch.tensor([2.0 * i])} for i in range(16)]
    args = TrainingArguments(str(output_dir), max_steps=3, save_steps=1, logging_steps=1, per_device_train_batch_size=2,
                             learning_rate=0.01, use_cpu=True, report_to="none", disable_tqdm=True, seed=0)
    return Trainer(model=Line(), args=args, train_dataset=data, callbacks=[CountSteps()])


def test_a_resumed_run_trains_exactly_to_max_steps_even_from_its_last_steps_checkpoint(tmp_path):
    """Killed during the final save, a run leaves the checkpoint of its last step; resumed from it, the
    Trainer alone would take a step more (max_steps=50 gave 51). Ours loads it and trains no further."""
    import logging

    from minillm_core.train.training import train_or_load

    log = logging.getLogger("test")
    steps: list[int] = []
    first = tiny_trainer(tmp_path, steps)
    first.train()
    assert steps == [1, 2, 3]
    trained = first.model.layer.weight.item()

    steps.clear()
    last = tiny_trainer(tmp_path, steps)
    result = train_or_load(last, tmp_path / "checkpoint-3", log)
    assert steps == [] and result.global_step == last.state.global_step == 3
    assert last.model.layer.weight.item() == trained  # the checkpoint's weights, ready for the final save
    losses = [entry["loss"] for entry in first.state.log_history if "loss" in entry]
    assert [entry["loss"] for entry in last.state.log_history if "loss" in entry] == losses  # for the report

    # From an earlier checkpoint it trains the steps left, and stops at max_steps.
    resumed = tiny_trainer(tmp_path, steps)
    assert train_or_load(resumed, tmp_path / "checkpoint-2", log).global_step == 3 and steps == [3]


@pytest.mark.slow
def test_a_run_killed_between_the_final_saves_renames_is_recovered_and_trains_no_step_more(tmp_path, monkeypatch):
    """The kill leaves out/pretrain missing, the model before it in out/.pretrain.old and the checkpoint of
    the last step: the next run puts the old model back, says so, and saves the new one without training."""
    from click.testing import CliRunner

    from minillm_core.cli import cli
    from minillm_core.contract import outputs

    def run(*sets: str):
        args = ["run", "pretrain", "--workdir", str(tmp_path), "--json", "--set", "preset=tiny", "--set",
                "compile=false", "--set", "log_steps=1", *[part for pair in sets for part in ("--set", pair)]]
        return CliRunner().invoke(cli, args, catch_exceptions=False)

    assert run("max_steps=2").exit_code == 0
    publish = outputs._publish

    def killed_between_the_renames(staging, output):
        os.replace(output, outputs.set_aside(output))
        raise RuntimeError("killed")

    monkeypatch.setattr(outputs, "_publish", killed_between_the_renames)
    assert run("max_steps=4", "save_steps=2").exit_code == 1
    assert not (tmp_path / "out" / "pretrain").exists() and (tmp_path / "out" / ".pretrain.old").is_dir()

    monkeypatch.setattr(outputs, "_publish", publish)
    again = run("max_steps=4", "save_steps=2")
    assert again.exit_code == 0, again.output[-3000:]
    assert "restored out/pretrain from out/.pretrain.old" in again.stderr
    metrics = json.loads(again.stdout)["stages"][0]["metrics"]
    assert (metrics["resumed_from_step"], metrics["steps"]) == (4, 4)
    steps = [json.loads(line)["step"] for line in (tmp_path / "logs" / "pretrain.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert (tmp_path / "out" / "pretrain" / "model.safetensors").is_file()
    assert not (tmp_path / "out" / ".pretrain.old").exists()


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
