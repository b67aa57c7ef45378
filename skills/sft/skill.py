"""sft: teach a pretrained model to answer in conversations (assistant-only loss, optional LoRA)."""

from __future__ import annotations

from pathlib import Path

from minillm_core.checks import dataset_check, dataset_inputs
from minillm_core.hookspecs import hookimpl
from minillm_core.options import Option, training_options
from minillm_core.skill import Skill, StageContext, StageResult

OPTIONS = training_options(dataset="embedded-sft", lr=3e-3)  # suits tiny + embedded, like pretrain's
OPTIONS["lora"] = Option("lora", bool, False, "train LoRA adapters (peft) instead of all weights")


def run(ctx: StageContext) -> StageResult:
    from minillm_core.training import train  # the heavy imports happen only when a stage runs

    return train("sft", ctx)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS,
                               checks=dataset_check("sft"), inputs=dataset_inputs("sft")))
