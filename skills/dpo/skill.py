"""dpo: prefer chosen over rejected answers, against a frozen reference model."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, TrainingMethod, hookimpl, training_options
from minillm_core.contract import greater_than
from minillm_core.train import eval_split_option

METHOD = TrainingMethod(kind="dpo", trainer="minillm_core.train.stages.dpo:build_trainer", default_init="out/sft",
                        tracked={"rewards/accuracies": "reward_accuracy"}, config="trl:DPOConfig")
# For tiny + embedded, like pretrain's defaults: chosen by sft's answers, not the margin (docs/experiments.md,
# "how dpo was chosen"): the plain DPO loss wrecked them; 1e-4 with the sft term kept them. The GPU profile uses
# 1e-6 (TRL's).
OPTIONS = training_options(dataset="embedded-dpo", lr=1e-4)
OPTIONS["eval_split"] = eval_split_option()  # measured on what the user brought (train/held_out_check.py)
OPTIONS["beta"] = Option("beta", float, 0.1, "DPO temperature: how far the model may move from the reference",
                         valid=greater_than(0))
OPTIONS["loss_type"] = Option("loss_type", str, "sigmoid,sft", "TRL DPO loss terms, comma-separated: sigmoid "
                              "(DPO), sft (likelihood of the chosen answers), ipo, sigmoid_norm, ...")
OPTIONS["loss_weights"] = Option("loss_weights", str, None, "one weight per loss_type term, e.g. 1,1 (default: 1 each)")


@hookimpl
def register_skills(register):
    register(METHOD.skill(Path(__file__).parent, OPTIONS))
