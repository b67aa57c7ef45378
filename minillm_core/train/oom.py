"""Recovery from running out of memory in a training step: resume from the last checkpoint with half the
micro-batch and twice the gradient accumulation, so every optimizer step still sees the same examples.

The Trainer's own `auto_find_batch_size` halves the batch but not the accumulation (a smaller effective
batch trains differently), and restarts without the checkpoint: so we do it ourselves, at most
MAX_RECOVERIES times. One process only: under a multi-process launch the other processes wait for the
one that failed in a collective operation, so the error stands and says what to lower. On a CPU the
kernel usually kills a process that runs out of memory before Python sees an error; an allocation that
fails outright is caught the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelerate.utils.memory import should_reduce_batch_size
from transformers import Trainer
from transformers.trainer_utils import TrainOutput

from minillm_core.contract.skill import SkillError
from minillm_core.train.checkpoints import last_good_checkpoint
from minillm_core.util.distributed import world_size

MAX_RECOVERIES = 3


def train_recovering(trainer: Trainer, checkpoint: Path | None, checkpoints: Path, log: logging.Logger,
                     train: Callable[[Trainer, Path | None, logging.Logger], TrainOutput],
                     ) -> tuple[TrainOutput, list[dict[str, Any]]]:
    """`train(trainer, checkpoint, log)`; after an out-of-memory error, again from the newest good checkpoint
    in `checkpoints` with the micro-batch halved. Returns its result and one record per recovery."""
    recoveries: list[dict[str, Any]] = []
    while True:
        try:
            return train(trainer, checkpoint, log), recoveries
        except RuntimeError as exc:  # torch.OutOfMemoryError is one
            if not should_reduce_batch_size(exc):
                raise
            step = trainer.state.global_step
            error = str(exc).splitlines()[0]
        checkpoint = _resume_point(trainer, checkpoints, step, error, len(recoveries))
        recoveries.append(halve_batch(trainer, step, checkpoint))
        log.warning("out of memory at step %d (%s): resuming from %s with batch_size %d and grad_accum %d "
                    "(the same %d examples a step)", step, error, checkpoint.name if checkpoint else "the start",
                    recoveries[-1]["batch_size"], recoveries[-1]["grad_accum"], recoveries[-1]["effective_batch"])
        _free_accelerator_memory()


def halve_batch(trainer: Trainer, step: int, checkpoint: Path | None) -> dict[str, Any]:
    """Half the micro-batch, twice the accumulation: the record of it, for the stage's metrics."""
    args = trainer.args
    before = (args.per_device_train_batch_size, args.gradient_accumulation_steps)
    args.per_device_train_batch_size //= 2
    args.gradient_accumulation_steps *= 2
    trainer._train_batch_size = args.train_batch_size  # what the Trainer builds its data loader with
    return {"step": step, "resumed_from_step": _step_of(checkpoint), "batch_size": args.per_device_train_batch_size,
            "grad_accum": args.gradient_accumulation_steps, "batch_size_before": before[0],
            "grad_accum_before": before[1], "effective_batch": before[0] * before[1]}


def summary(recoveries: list[dict[str, Any]]) -> str:
    """One phrase for the stage's summary: how often and to what the batch went."""
    first, last = recoveries[0], recoveries[-1]
    return (f"out of memory {len(recoveries)}x: batch_size {first['batch_size_before']} -> {last['batch_size']}, "
            f"grad_accum {first['grad_accum_before']} -> {last['grad_accum']} (same effective batch "
            f"{last['effective_batch']})")


def _resume_point(trainer: Trainer, checkpoints: Path, step: int, error: str, recovered: int) -> Path | None:
    """The checkpoint to go on from, or a SkillError saying why the run cannot."""
    batch = trainer.args.per_device_train_batch_size
    hint = f"`--set batch_size={max(batch // 2, 1)} --set grad_accum={trainer.args.gradient_accumulation_steps * 2}`"
    if world_size() > 1:
        raise SkillError(f"out of memory at step {step} in a {world_size()}-process launch ({error}): the other "
                         "processes cannot go on without this one", hint=f"{hint} (the same effective batch)")
    if recovered == MAX_RECOVERIES or batch == 1:
        raise SkillError(f"out of memory at step {step} ({error}) after halving the batch {recovered} times, "
                         f"down to batch_size {batch}", hint="a smaller `max_seq_len`, a smaller model, or "
                         "another machine (`minillm-skill run env-check` shows the memory)")
    checkpoint = last_good_checkpoint(checkpoints)
    if checkpoint is None and step > 0:  # the weights have moved since the start, and nothing saved them
        raise SkillError(f"out of memory at step {step} ({error}) before any checkpoint was saved",
                         hint=f"{hint}, or a lower `save_steps` so a checkpoint is there to go on from")
    return checkpoint


def _step_of(checkpoint: Path | None) -> int:
    return int(checkpoint.name.split("-")[-1]) if checkpoint else 0


def _free_accelerator_memory() -> None:
    """Give the failed step's tensors back to the device (they were freed with the exception)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
