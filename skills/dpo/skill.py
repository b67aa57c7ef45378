"""dpo: prefer chosen over rejected answers, against a frozen reference model."""

from __future__ import annotations

import math
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
# The loss terms trl.DPOConfig names (TRL 1.16; tests/test_bad_inputs.py checks them against its help text).
LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
              "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")


def _loss_types(value: str) -> str | None:
    terms = [term.strip() for term in value.split(",") if term.strip()]
    unknown = [term for term in terms if term not in LOSS_TYPES]
    if not terms or unknown:
        return f"{', '.join(unknown) or 'no term'}: each term must be one of {', '.join(LOSS_TYPES)}"
    return None


def _weights(value: str) -> str | None:
    try:
        weights = [float(part) for part in value.split(",")]
    except ValueError:
        return "must be numbers separated by commas, one per loss_type term, e.g. 1,1"
    return None if all(math.isfinite(weight) for weight in weights) else "must be finite numbers"


OPTIONS["loss_type"] = Option("loss_type", str, "sigmoid,sft", "TRL DPO loss terms, comma-separated: sigmoid "
                              "(DPO), sft (likelihood of the chosen answers), ipo, sigmoid_norm, ...",
                              valid=_loss_types)
OPTIONS["loss_weights"] = Option("loss_weights", str, None, "one weight per loss_type term, e.g. 1,1 (default: 1 each)",
                                 valid=_weights)


@hookimpl
def register_skills(register):
    register(METHOD.skill(Path(__file__).parent, OPTIONS))
