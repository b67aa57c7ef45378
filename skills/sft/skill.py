"""sft: teach a pretrained model to answer in conversations (assistant-only loss, optional LoRA)."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, TrainingMethod, hookimpl, training_options
from minillm_core.contract import at_least, greater_than, positive_epochs
from minillm_core.train import eval_split_option, replay_option

METHOD = TrainingMethod(kind="sft", trainer="minillm_core.train.stages.sft:build_trainer", default_init="out/pretrain",
                        config="trl:SFTConfig")
OPTIONS = training_options(dataset="embedded-sft", lr=3e-3)  # suits tiny + embedded, like pretrain's
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
