"""dpo: prefer chosen over rejected answers, against a frozen reference model."""

from __future__ import annotations

from pathlib import Path

from minillm_core.checks import dataset_check, dataset_inputs
from minillm_core.hookspecs import hookimpl
from minillm_core.options import Option, training_options
from minillm_core.skill import Skill, StageContext, StageResult

OPTIONS = training_options(dataset="embedded-dpo", lr=2e-4)  # suits tiny + embedded, like pretrain's
OPTIONS["beta"] = Option("beta", float, 0.1, "DPO temperature: how far the model may move from the reference")


def run(ctx: StageContext) -> StageResult:
    from minillm_core.training import train  # the heavy imports happen only when a stage runs

    return train("dpo", ctx)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS,
                               checks=dataset_check("dpo"), inputs=dataset_inputs("dpo")))
