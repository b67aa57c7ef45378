"""Out of memory in a training step: the run goes on from its last checkpoint with half the micro-batch and
twice the accumulation (minillm_core/train/oom.py), trains the same examples a step, and says so."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from minillm_core.contract.skill import SkillError
from tests.helpers import line_model

LOG = logging.getLogger("test")
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)"


def once_at(step: int, error: Exception) -> Callable[[int], Exception | None]:
    """`error` for the step that begins at global step `step`, the first time only."""
    pending = [error]

    def error_at(global_step: int) -> Exception | None:
        return pending.pop() if global_step == step and pending else None

    return error_at


def line_trainer(output_dir: Path, batch_size: int, seen: dict[int, list[float]] | None = None,
                 error_at: Callable[[int], Exception | None] = lambda step: None):
    """A Trainer of one linear layer (milliseconds a step) on 16 examples, a checkpoint every 2 steps up to
    max_steps=4; `seen` collects the examples of each step, and a step raises what `error_at` gives for
    the global step it begins at."""
    from transformers import Trainer, TrainingArguments

    from minillm_core.train.callbacks import CheckpointMarker

    class Failing(Trainer):
        def training_step(self, model, inputs, *args, **kwargs):
            error = error_at(self.state.global_step)
            if error is not None:
                raise error
            if seen is not None:
                seen.setdefault(self.state.global_step + 1, []).extend(inputs["x"].flatten().tolist())
            return super().training_step(model, inputs, *args, **kwargs)

    torch.manual_seed(0)
    data = [{"x": torch.tensor([float(i)]), "labels": torch.tensor([2.0 * i])} for i in range(16)]
    args = TrainingArguments(str(output_dir), max_steps=4, save_steps=2, logging_steps=1, learning_rate=0.01,
                             per_device_train_batch_size=batch_size, use_cpu=True, report_to="none",
                             disable_tqdm=True, seed=0)
    return Failing(model=line_model(), args=args, train_dataset=data, callbacks=[CheckpointMarker()])


def train(trainer, output_dir: Path):
    from minillm_core.train.oom import train_recovering
    from minillm_core.train.training import train_or_load

    return train_recovering(trainer, None, output_dir, LOG, train_or_load)


def test_out_of_memory_goes_on_from_the_last_checkpoint_with_the_same_examples_a_step(tmp_path, caplog):
    clean_seen: dict[int, list[float]] = {}
    clean = line_trainer(tmp_path / "clean", 4, clean_seen)
    clean.train()

    seen: dict[int, list[float]] = {}
    trainer = line_trainer(tmp_path / "oom", 4, seen, once_at(2, torch.OutOfMemoryError(OOM)))
    with caplog.at_level(logging.WARNING, logger="test"):
        result, recoveries = train(trainer, tmp_path / "oom")
    assert result.global_step == 4
    assert recoveries == [{"step": 2, "resumed_from_step": 2, "batch_size": 2, "grad_accum": 2,
                           "batch_size_before": 4, "grad_accum_before": 1, "effective_batch": 4}]
    assert "out of memory at step 2" in caplog.text and "resuming from checkpoint-2" in caplog.text
    # Each step trained the examples the run without the error trained, and came to the same weights.
    assert {step: sorted(xs) for step, xs in seen.items()} == {step: sorted(xs) for step, xs in clean_seen.items()}
    assert trainer.model.layer.weight.item() == pytest.approx(clean.model.layer.weight.item(), rel=1e-5)


def test_a_step_that_runs_out_of_memory_every_time_ends_after_three_halvings(tmp_path):
    trainer = line_trainer(tmp_path, 16, error_at=lambda step: torch.OutOfMemoryError(OOM))
    with pytest.raises(SkillError, match="after halving the batch 3 times, down to batch_size 2"):
        train(trainer, tmp_path)


def test_out_of_memory_after_steps_without_a_checkpoint_is_not_started_over(tmp_path):
    trainer = line_trainer(tmp_path, 4, error_at=once_at(2, torch.OutOfMemoryError(OOM)))
    trainer.args.save_steps = 100  # the weights have moved by step 2, and nothing saved them
    with pytest.raises(SkillError, match="before any checkpoint was saved") as raised:
        train(trainer, tmp_path)
    assert "save_steps" in raised.value.hint


def test_other_errors_in_a_step_go_through(tmp_path):
    trainer = line_trainer(tmp_path, 4, error_at=lambda step: RuntimeError("shapes do not match"))
    with pytest.raises(RuntimeError, match="shapes do not match"):
        train(trainer, tmp_path)


@pytest.mark.slow
def test_a_pretrain_run_that_runs_out_of_memory_finishes_and_its_report_says_so(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from transformers import Trainer

    from minillm_core.cli import cli

    step = Trainer.training_step
    error_at = once_at(2, torch.OutOfMemoryError(OOM))

    def training_step(self, *args, **kwargs):
        error = error_at(self.state.global_step)
        if error is not None:
            raise error
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", training_step)
    result = CliRunner().invoke(cli, ["run", "pretrain", "--workdir", str(tmp_path), "--json", "--set", "preset=tiny",
                                      "--set", "compile=false", "--set", "max_steps=4", "--set", "save_steps=2",
                                      "--set", "batch_size=4", "--set", "log_steps=1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output[-3000:]
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["metrics"]["steps"] == 4
    assert stage["metrics"]["out_of_memory"] == [{"step": 2, "resumed_from_step": 2, "batch_size": 2, "grad_accum": 2,
                                                  "batch_size_before": 4, "grad_accum_before": 1,
                                                  "effective_batch": 4}]
    assert "out of memory 1x: batch_size 4 -> 2, grad_accum 1 -> 2 (same effective batch 4)" in stage["summary"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "logs" / "pretrain.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # the log goes on after the error: nothing of it is lost
    assert (tmp_path / "out" / "pretrain" / "model.safetensors").is_file()
