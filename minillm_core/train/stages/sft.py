"""Supervised fine-tuning: conversations, with the loss on the assistant's tokens only; LoRA optional."""

from __future__ import annotations

import math
import re

import datasets
import torch
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from minillm_core.train.training import TrainingRun
from minillm_core.util.distributed import world_size

_GENERATION_MARK = re.compile(r"{%-?\s*generation\s*-?%}")
MAX_AUTO_EPOCHS = 10
# Padding-free batches (a batch's chats end to end in one row, kept apart by position_ids) skip the padding, but
# without a varlen attention kernel (CPU, plain sdpa) attention spans the whole row, at a cost that grows with its
# length squared. Measured on the tiny preset, 2 cores: embedded sft (16 chats of 43 tokens on average) 28.3 s ->
# 20.0 s, same losses; the reasoning mix (88 on average, up to 300) 107 s -> 39 s; 16 tool chats of 255 tokens
# were about 3x slower than padded. So: padding-free while a batch holds at most this many tokens on average.
PADDING_FREE_TOKENS = 2048


def auto_epochs(records: int, args: dict, min_steps: int) -> int:
    """Passes over `records` for at least `min_steps` optimizer steps (at least 1, at most MAX_AUTO_EPOCHS).

    One pass over 400 identity chats is 25 steps at batch 16: the model half-learns them ("I am L L L"),
    while 6 passes (150 steps) teach them. The embedded 2,502 chats take 157 steps: one pass."""
    per_step = args["per_device_train_batch_size"] * args["gradient_accumulation_steps"] * world_size()
    steps_per_epoch = max(1, math.ceil(records / per_step))
    return max(1, min(MAX_AUTO_EPOCHS, math.ceil(min_steps / steps_per_epoch)))


def build_trainer(run: TrainingRun) -> SFTTrainer:
    return sft_trainer(run, run.records_dataset())


def sft_trainer(run: TrainingRun, records: datasets.Dataset) -> SFTTrainer:
    """The SFT trainer on `records` ({"messages"} rows): a plugin that mixes or filters data calls this."""
    run.data_stats.update(conversations=len(records), seq_len=run.seq_len)
    if str(run.ctx.settings.get("epochs")).lower() == "auto":
        run.args["num_train_epochs"] = auto_epochs(len(records), run.args, run.ctx.settings.get("min_steps", 150))
        run.data_stats["epochs"] = run.args["num_train_epochs"]
    # Assistant-only loss needs {% generation %} marks in the chat template; ours has them, a
    # downloaded model's may not, and then the loss covers the whole conversation.
    assistant_only = bool(_GENERATION_MARK.search(run.tokenizer.chat_template or ""))
    if not assistant_only:
        run.ctx.log.warning("the chat template has no {%% generation %%} marks: loss on every token")
    # Built padding-free (which leaves truncation to us), then switched back when the chats are long.
    args = run.config(SFTConfig, max_length=None, padding_free=True, assistant_only_loss=assistant_only,
                      packing=False)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM") if run.ctx.settings["lora"] else None
    weight = float(run.ctx.settings.get("reasoning_weight", 1.0))
    loss = reasoning_weighted_loss(run.tokenizer, weight) if weight != 1.0 else None
    trainer = SFTTrainer(model=run.model, args=args, train_dataset=records, processing_class=run.tokenizer,
                         callbacks=run.callbacks, peft_config=lora, compute_loss_func=loss)
    before = len(trainer.train_dataset)
    trainer.train_dataset, lengths = truncated(trainer.train_dataset, run.seq_len)
    _note_dropped(run, before - len(trainer.train_dataset))
    mean_tokens = sum(lengths) / max(1, len(lengths))
    padding_free = run.args["per_device_train_batch_size"] * mean_tokens <= PADDING_FREE_TOKENS
    trainer.padding_free = trainer.data_collator.padding_free = padding_free
    run.data_stats.update(padding_free=padding_free, mean_chat_tokens=round(mean_tokens, 1))
    return trainer


def _note_dropped(run: TrainingRun, dropped: int) -> None:
    """Chats cut before any reply teach nothing and are dropped: say how many, as they may be what mattered
    (replayed tool chats, about 260 tokens, all went at the tiny preset's 128)."""
    run.data_stats["dropped_chats"] = dropped
    if dropped:
        run.ctx.log.warning("%d of the chats are longer than max_seq_len=%d before their first reply and are left "
                            "out; `--set max_seq_len=` more to keep them", dropped, run.seq_len)


def reasoning_weighted_loss(tokenizer, weight: float):
    """The SFT loss with each token of a <think>...</think> block (tags included) counted `weight` times, as
    MiniMind's reasoning distillation weights its thinking tags: a mean over the learned tokens, weighted."""
    think, end = tokenizer.convert_tokens_to_ids("<think>"), tokenizer.convert_tokens_to_ids("</think>")

    def loss(outputs, labels, num_items_in_batch=None):
        targets = labels[:, 1:]
        learned = targets != -100
        per_token = torch.nn.functional.cross_entropy(outputs.logits[:, :-1].float().transpose(1, 2),
                                                      targets.clamp(min=0), reduction="none")
        opened = torch.cumsum(targets == think, dim=1)
        closed_before = torch.cumsum(targets == end, dim=1) - (targets == end).long()
        weights = torch.where(opened > closed_before, weight, 1.0) * learned
        return (per_token * weights).sum() / weights.sum().clamp(min=1.0)

    return loss


def truncated(tokenized: datasets.Dataset, seq_len: int) -> tuple[datasets.Dataset, list[int]]:
    """(the chats cut to their first `seq_len` tokens (every per-token column alike), as TRL's max_length would,
    a chat left with no assistant token to learn from dropped; each chat's token count after that)."""
    columns = [name for name in ("input_ids", "assistant_masks", "completion_mask", "labels")
               if name in tokenized.column_names]

    def cut(batch: dict) -> dict:
        return {name: [values[:seq_len] for values in batch[name]] for name in columns}

    lengths = token_lengths(tokenized)
    if max(lengths, default=0) <= seq_len:
        return tokenized, lengths
    tokenized = tokenized.map(cut, batched=True, desc="truncating to max_seq_len")
    if "labels" in tokenized.column_names:  # TRL folds the assistant mask into labels: -100 is not learned
        tokenized = tokenized.filter(lambda labels: any(label != -100 for label in labels), input_columns="labels",
                                     desc="dropping chats cut before any reply")
    return tokenized, token_lengths(tokenized)


def token_lengths(tokenized: datasets.Dataset) -> list[int]:
    """Each chat's token count, read a slice at a time (the ids of a large dataset do not fit in memory)."""
    return [len(ids) for batch in tokenized.select_columns(["input_ids"]).iter(batch_size=4096)
            for ids in batch["input_ids"]]
