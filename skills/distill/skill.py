"""distill: a smaller student learns to answer as a bigger teacher does (TRL's DistillationTrainer, on-policy)."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, TrainingMethod, hookimpl, training_options
from minillm_core.contract import at_least, greater_than
from minillm_core.train import eval_split_option, teacher_check

METHOD = TrainingMethod(kind="sft", trainer="minillm_core.train.stages.distill:build_trainer",
                        default_init="out/pretrain", config="trl:DistillationConfig",
                        tracked={"completions/mean_length": "reply_tokens"})
# Chosen by eval's answer accuracy (README.md): TRL's reverse KL (beta 1) at sft's lr learned nothing in the
# seconds sft takes, and little at lr 1e-3; forward KL at lr 3e-3 answered as well as sft.
OPTIONS = training_options(dataset="embedded-sft", lr=3e-3)
OPTIONS["eval_split"] = eval_split_option()  # measured on what the user brought (train/held_out_check.py)
OPTIONS["teacher"] = Option("teacher", str, None, "the model to learn from: a causal LM folder with the student's "
                            "tokenizer and vocabulary size", is_path=True)
OPTIONS["beta"] = Option("beta", float, 0.0, "the divergence: 0 forward KL, 1 reverse KL (TRL's default), between "
                         "them a generalized Jensen-Shannon divergence",
                         valid=lambda value: None if 0 <= value <= 1 else "must be from 0 to 1")
OPTIONS["temperature"] = Option("temperature", float, 1.0, "softens both distributions in the loss, and samples the "
                                "student's replies (TRL's default 1)", valid=greater_than(0))
OPTIONS["max_new_tokens"] = Option("max_new_tokens", int, 64, "longest reply the student samples per prompt",
                                   valid=at_least(1))


@hookimpl
def register_skills(register):
    skill = METHOD.skill(Path(__file__).parent, OPTIONS)
    shared, teacher = skill.checks, teacher_check(METHOD.default_init)
    skill.checks = lambda ctx: shared(ctx) + teacher(ctx)
    register(skill)
