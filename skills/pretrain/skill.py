"""pretrain: train a new model on raw text, documents packed into full sequences."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, TrainingMethod, hookimpl, training_options

METHOD = TrainingMethod(kind="pretrain", trainer="minillm_core.train.stages.pretrain:build_trainer",
                        default_init=None, sample_style="completion")
# Defaults suit the default preset (tiny) and dataset (embedded); bigger presets set their own, e.g.
# configs/minimind2-small-gpu.yaml.
OPTIONS = training_options(dataset="embedded-pretrain", lr=3e-3)
OPTIONS["tokenizer"] = Option("tokenizer", str, None, "tokenizer folder for a new model (default: out/tokenizer "
                              "when the tokenizer skill wrote it, else the shipped one)", is_path=True)


@hookimpl
def register_skills(register):
    register(METHOD.skill(Path(__file__).parent, OPTIONS))
