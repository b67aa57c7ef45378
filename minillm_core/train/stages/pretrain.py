"""Pretraining: next-token prediction on raw text packed into full sequences (no padding)."""

from __future__ import annotations

import torch
from transformers import Trainer, TrainingArguments

from minillm_core.data.packing import build_pretrain_dataset
from minillm_core.train.speedups import compile_pays_back
from minillm_core.train.training import TrainingRun
from minillm_core.util.distributed import world_size


def collate_blocks(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Packed blocks need no padding; labels are the inputs (the model shifts them)."""
    ids = torch.tensor([row["input_ids"] for row in rows], dtype=torch.long)
    return {"input_ids": ids, "labels": ids}


def build_trainer(run: TrainingRun) -> Trainer:
    reader = run.records()
    packed = build_pretrain_dataset(reader, run.tokenizer, run.seq_len, run.cache_dir())
    run.note_reader_counts(reader, packed.dataset)
    run.data_stats.update(documents=packed.stats.documents, dataset_tokens=packed.stats.tokens,
                          sequences=packed.stats.blocks, seq_len=run.seq_len)
    # Every token of a packed block is real, so count them all (pad and EOS share an id here).
    args = run.config(TrainingArguments, include_num_input_tokens_seen="all",
                      torch_compile=_compile(run, packed.stats.blocks))
    return Trainer(model=run.model, args=args, train_dataset=packed.dataset, data_collator=collate_blocks,
                   processing_class=run.tokenizer, callbacks=run.callbacks)


def _compile(run: TrainingRun, blocks: int) -> bool:
    """Every batch has one shape, so torch.compile compiles once: `auto` weighs its start-up against the
    run's length, from the sequences each device will train on."""
    args = run.args
    if args["max_steps"] > 0:
        sequences = args["max_steps"] * args["per_device_train_batch_size"] * args["gradient_accumulation_steps"]
    else:
        sequences = blocks * args["num_train_epochs"] / world_size()
    flops = 6 * run.model.num_parameters() * run.seq_len * sequences
    return compile_pays_back(run.ctx.settings["compile"], flops, bf16=args["bf16"])
