"""Direct preference optimisation: prefer chosen over rejected answers, against a frozen reference."""

from __future__ import annotations

import copy

from trl import DPOConfig, DPOTrainer

from minillm_core.contract.skill import SkillError
from minillm_core.train.training import TrainingRun


def build_trainer(run: TrainingRun) -> DPOTrainer:
    pairs = run.records_dataset()
    run.data_stats.update(pairs=len(pairs), seq_len=run.seq_len)
    # The reference is a frozen copy: TRL would otherwise reload it from the model's path.
    reference = copy.deepcopy(run.model).eval().requires_grad_(False)
    settings = run.ctx.settings
    losses, weights = loss_terms(settings["loss_type"], settings["loss_weights"])
    args = run.config(DPOConfig, max_length=run.seq_len, beta=settings["beta"], loss_type=losses,
                      loss_weights=weights)
    return DPOTrainer(model=run.model, ref_model=reference, args=args, train_dataset=pairs,
                      processing_class=run.tokenizer, callbacks=run.callbacks)


def loss_terms(loss_type: str, loss_weights: str | None) -> tuple[list[str], list[float] | None]:
    """`"sigmoid,sft"` and `"1,0.5"` -> (["sigmoid", "sft"], [1.0, 0.5]): TRL sums the terms with these weights.
    "sft" is the negative log-likelihood of the chosen answers (RPO): it keeps the model saying them."""
    losses = [name.strip() for name in loss_type.split(",") if name.strip()]
    if not loss_weights:
        return losses, None
    try:
        weights = [float(value) for value in loss_weights.split(",")]
    except ValueError as exc:
        raise SkillError(f"loss_weights {loss_weights!r} is not a list of numbers",
                         hint="`--set loss_weights=1,1` (one number per loss_type term)") from exc
    if len(weights) != len(losses):
        raise SkillError(f"loss_weights has {len(weights)} numbers for {len(losses)} loss_type terms",
                         hint="give one weight per term of loss_type, e.g. `--set loss_weights=1,1`")
    return losses, weights
