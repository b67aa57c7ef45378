"""Supervised fine-tuning: conversations, with the loss on the assistant's tokens only; LoRA optional."""

from __future__ import annotations

import math
import re

import datasets
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from minillm_core.distributed import world_size
from minillm_core.training import TrainingRun

_GENERATION_MARK = re.compile(r"{%-?\s*generation\s*-?%}")
MAX_AUTO_EPOCHS = 10


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
    args = SFTConfig(**run.args, max_length=run.seq_len, assistant_only_loss=assistant_only, packing=False)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM") if run.ctx.settings["lora"] else None
    return SFTTrainer(model=run.model, args=args, train_dataset=records, processing_class=run.tokenizer,
                      callbacks=run.callbacks, peft_config=lora)
