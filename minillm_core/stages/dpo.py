"""Direct preference optimisation: prefer chosen over rejected answers, against a frozen reference."""

from __future__ import annotations

import copy

from trl import DPOConfig, DPOTrainer

from minillm_core.training import TrainingRun


def build_trainer(run: TrainingRun) -> DPOTrainer:
    pairs = run.records_dataset()
    run.data_stats.update(pairs=len(pairs), seq_len=run.seq_len)
    # The reference is a frozen copy: TRL would otherwise reload it from the model's path.
    reference = copy.deepcopy(run.model).eval().requires_grad_(False)
    args = DPOConfig(**run.args, max_length=run.seq_len, beta=run.ctx.settings["beta"])
    return DPOTrainer(model=run.model, ref_model=reference, args=args, train_dataset=pairs,
                      processing_class=run.tokenizer, callbacks=run.callbacks)
