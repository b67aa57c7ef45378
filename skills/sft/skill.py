"""sft: teach a pretrained model to answer in conversations (assistant-only loss, optional LoRA)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from minillm_core.api import Option, TrainingMethod, hookimpl, training_options
from minillm_core.contract import at_least, greater_than, positive_epochs
from minillm_core.train import eval_split_option, replay_option

# lr 3e-3 suits tiny + embedded from a base model, like pretrain's; a fine-tune of a chat model (a user's own
# file on bot-start's model) trains at 1e-3: at 3e-3 it leaked the new replies into unrelated answers or lost
# calculator calls on 2 of 2 seeds, at 1e-3 on none of 3 (docs/experiments.md, "a third of the rate").
METHOD = TrainingMethod(kind="sft", trainer="minillm_core.train.stages.sft:build_trainer", default_init="out/pretrain",
                        config="trl:SFTConfig", fine_tune_lr=1e-3)
OPTIONS = training_options(dataset="embedded-sft", lr=3e-3)
OPTIONS["lr"] = replace(OPTIONS["lr"], help="peak learning rate (cosine schedule with warmup); default 3e-3, and "
                        "1e-3 when the start model is a chat model already (a fine-tune)")
OPTIONS["epochs"] = Option("epochs", str, "auto", "passes over the dataset; auto: enough for at least `min_steps` "
                          "optimizer steps (small datasets get several), at most 10", valid=positive_epochs)
OPTIONS["min_steps"] = Option("min_steps", int, 150, "with epochs=auto: the fewest optimizer steps to train",
                              valid=at_least(1))
OPTIONS["eval_split"] = eval_split_option()  # measured on what the user brought (train/held_out_check.py)
OPTIONS["replay"] = replay_option()  # keeps what the start model knew (train/own_data.py)
OPTIONS["lora"] = Option("lora", bool, False, "train LoRA adapters (peft) instead of all weights")
OPTIONS["reasoning_weight"] = Option("reasoning_weight", float, 1.0, "each token of a <think> block counts this many "
                                     "times in the loss (1: as any other)", valid=greater_than(0))


@hookimpl
def register_skills(register):
    register(METHOD.skill(Path(__file__).parent, OPTIONS))
