"""Training: one shared path that every stage (pretrain, sft, dpo, a plugin's method) runs through.

training (the path: data, start model, Trainer, save), methods (TrainingMethod: what a stage says about
itself), options (the options every training skill takes), stages/ (one short file per stage: its trainer),
callbacks, checkpoints, start_model, speedups (bf16 and compile), plugin_callbacks, checks (preconditions of
the training skills), answer_check (does the new model answer as well as its start model), held_out_check (the start
model and the new one on the held-out part of the user's data), own_data (the held-out split and replay),
tokenizer_training
(the tokenizer skill's work)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "TrainingMethod": "minillm_core.train.methods",
    "training_options": "minillm_core.train.options",
    "train": "minillm_core.train.training",
    "TrainingRun": "minillm_core.train.training",
    "dataset_check": "minillm_core.train.checks",
    "dataset_inputs": "minillm_core.train.checks",
    "teacher_check": "minillm_core.train.checks",
    "run_tokenizer_stage": "minillm_core.train.tokenizer_training",
    "eval_split_option": "minillm_core.train.options",
    "replay_option": "minillm_core.train.options",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
