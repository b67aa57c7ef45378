"""pretrain: train a new model on raw text, documents packed into full sequences."""

from __future__ import annotations

from pathlib import Path

from minillm_core.hookspecs import hookimpl
from minillm_core.options import training_options
from minillm_core.skill import Skill, StageContext, StageResult

OPTIONS = training_options(dataset="embedded-pretrain", lr=5e-4)


def run(ctx: StageContext) -> StageResult:
    from minillm_core.training import train  # the heavy imports happen only when a stage runs

    return train("pretrain", ctx)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS))
