"""The one training path shared by pretrain, sft and dpo (transformers Trainer / TRL)."""

from __future__ import annotations

from minillm_core.skill import SkillError, StageContext, StageResult


def train(stage: str, ctx: StageContext) -> StageResult:
    raise SkillError(f"{stage} is not implemented yet: the training core is in progress",
                     hint="follow the project's training-core issue; env-check and the runner work today")
