"""A training method: what a training skill (built-in or a plugin's) says about itself.

Every training skill runs through the one shared path in minillm_core.train.training; a method says only what
differs: the records it reads, the trainer it builds and the model it starts from. A plugin adds a new
method (GRPO, ORPO, ...) the same way the built-in pretrain, sft and dpo skills do:

    METHOD = TrainingMethod(kind="sft", trainer="my_plugin.recipe:build_trainer", default_init="out/sft")

    @hookimpl
    def register_skills(register):
        register(METHOD.skill(Path(__file__).parent / "my-method", training_options(lr=1e-5)))

The skill then takes every common option (dataset, preset, init, max_steps, ...), checks its dataset
before anything runs, resumes after a crash, logs to logs/<skill>.jsonl, saves to out/<skill>, and
reports steps, losses and tokens/s like the built-in stages.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minillm_core.contract.options import EXTRA_ARGS, Option
from minillm_core.contract.skill import RunFn, Skill, StageContext, StageResult
from minillm_core.data.formats import KINDS
from minillm_core.train.checks import training_checks, training_inputs
from minillm_core.train.config_fields import config_problem

STYLES = ("completion", "chat")


@dataclass(frozen=True)
class TrainingMethod:
    kind: str  # the records it reads: "pretrain" ({"text"}), "sft" ({"messages"}) or "dpo" (prompt/chosen/rejected)
    trainer: str  # "module:function" taking a train.training.TrainingRun and returning a transformers Trainer
    default_init: str | None = None  # model to start from when `init` is unset, in the work dir; None: a new model
    sample_style: str = "chat"  # how the sample prompts are put to the model: "chat" or "completion"
    # Trainer log keys whose first and final values the stage reports, as first_<name> and final_<name>:
    # {"rewards/accuracies": "reward_accuracy"} puts DPO's reward accuracy in the status metrics.
    tracked: dict[str, str] = field(default_factory=dict)
    # The trainer's config class, "module:Class": `--set args.NAME=VALUE` may set any of its fields.
    config: str = "transformers:TrainingArguments"
    # The learning rate when the start model is a chat model already (a fine-tune of one) and `lr` was not set:
    # a fine-tune at the rate that made the model wipes more of what it knew (sft: docs/experiments.md).
    fine_tune_lr: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"TrainingMethod kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.sample_style not in STYLES:
            raise ValueError(f"TrainingMethod sample_style must be one of {', '.join(STYLES)}, got "
                             f"{self.sample_style!r}")
        for name, form in (("trainer", "module:function"), ("config", "module:Class")):
            if ":" not in getattr(self, name):
                raise ValueError(f"TrainingMethod {name} must read '{form}', got {getattr(self, name)!r}")

    def build_trainer_function(self) -> Callable[[Any], Any]:
        """The trainer builder, imported only now: trainers pull in torch, transformers and TRL."""
        return _imported(self.trainer)

    def config_class(self) -> type:
        return _imported(self.config)

    def _known_fields(self, args: dict[str, Any]) -> str | None:
        """Fields the trainer config lacks, or values of the wrong type: an option error, before any work."""
        return config_problem(self.config_class(), self.config.replace(":", "."), args)

    def skill(self, folder: Path, options: dict[str, Option], run: RunFn | None = None) -> Skill:
        """The skill in `folder` (its SKILL.md) that trains with this method. `run` replaces the plain
        `train(ctx.skill, ctx, method)`, for a skill that does more around training (measure before and
        after, say); it still gets the method's dataset check and inputs."""

        def train_only(ctx: StageContext) -> StageResult:
            from minillm_core.train.training import train  # the heavy imports happen only when a stage runs

            return train(ctx.skill, ctx, self)

        options = {**options, EXTRA_ARGS: Option(
            EXTRA_ARGS, dict, None, f"`args.NAME=VALUE`: any field of {self.config.replace(':', '.')} (weight_decay, "
            "lr_scheduler_type, optim, gradient_checkpointing, ...), passed to the trainer as given",
            valid=self._known_fields)}
        return Skill.from_folder(folder, run=run or train_only, options=options,
                                 checks=training_checks(self.kind, self.default_init),
                                 inputs=training_inputs(self.kind, builds_new_model=self.default_init is None))


def _imported(reference: str) -> Any:
    """The object a "module:name" reference names, its module imported now."""
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)
