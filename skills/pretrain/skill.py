"""pretrain: train a new model on raw text, documents packed into full sequences."""

from __future__ import annotations

from pathlib import Path

from minillm_core.checks import dataset_check, dataset_inputs
from minillm_core.hookspecs import hookimpl
from minillm_core.options import Option, training_options
from minillm_core.skill import Skill, StageContext, StageResult

# Defaults suit the default preset (tiny) and dataset (embedded); bigger presets set their own, e.g.
# configs/minimind2-small-gpu.yaml.
OPTIONS = training_options(dataset="embedded-pretrain", lr=3e-3)
OPTIONS["tokenizer"] = Option("tokenizer", str, None, "tokenizer folder for a new model (default: the shipped one)",
                              is_path=True)


def run(ctx: StageContext) -> StageResult:
    from minillm_core.training import train  # the heavy imports happen only when a stage runs

    return train("pretrain", ctx)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS,
                               checks=dataset_check("pretrain"), inputs=dataset_inputs("pretrain")))
