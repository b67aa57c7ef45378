"""The options every training skill takes (pretrain, sft, dpo and a plugin's method), with a stage's defaults.

    OPTIONS = training_options(dataset="embedded-sft", lr=3e-3)

They live with training, not with the Option contract: checking a preset or a hub id loads model and hub code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from minillm_core.contract.options import Option, at_least, greater_than, one_of, positive_epochs
from minillm_core.data.held_out import parse_setting

# More optimizer steps than any run could finish: at 50 steps a second, 10**8 steps take 23 days.
MAX_STEPS = 10**8


def _steps(value: int) -> str | None:
    if value > MAX_STEPS:
        return (f"is more steps than any run could finish (at most {MAX_STEPS:,}: at 50 steps a second that is "
                f"{MAX_STEPS / 50 / 86400:.0f} days); give the steps you mean, or -1 to run `epochs` epochs")
    return None if value == -1 or value >= 1 else "must be a positive number of steps, or -1 (run `epochs` epochs)"


def _ratio(value: float) -> str | None:
    return None if 0 <= value < 1 else "must be a share of the steps, from 0 up to (not including) 1"


# The trackers `report_to` takes: the module each needs, through the Trainer's own integration.
TRACKERS = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb"}


def trackers(value: str) -> list[str]:
    """`report_to` as the Trainer takes it: "none" or "tensorboard, wandb" -> [] or ["tensorboard", "wandb"]."""
    names = [name.strip().lower() for name in str(value).split(",") if name.strip()]
    return [] if names in ([], ["none"]) else names


def _trackers(value: str) -> str | None:
    import importlib.util

    for name in trackers(value):
        if name not in TRACKERS:
            return f"unknown tracker '{name}'; use none or a comma-separated list of {', '.join(TRACKERS)}"
        if importlib.util.find_spec(TRACKERS[name]) is None:
            return f"{name} is not installed: pip install {TRACKERS[name]}"
    return None


def _pushable(repo_id: str) -> str | None:
    from minillm_core.hub.push import push_problem

    return push_problem(repo_id)


def _preset(value: str) -> str | None:
    from minillm_core.model.presets import resolve_preset

    try:
        resolve_preset(value)
    except FileNotFoundError:
        return f"no preset file {value}; valid presets: `minillm-skill presets list`, or a preset .yaml file"
    except (ValueError, OSError, TypeError, KeyError, yaml.YAMLError) as exc:
        return str(exc)
    return None


def whole_or_auto(raw: Any) -> int | str:
    """An option value that is a whole number or the word auto; anything else is left for `valid` to name."""
    text = str(raw).strip().lower()
    if text == "auto":
        return text
    try:
        return int(raw) if not isinstance(raw, float) or raw.is_integer() else str(raw)
    except ValueError:
        return str(raw)


def _batch_size(value: int | str) -> str | None:
    if value == "auto" or (isinstance(value, int) and value >= 1):
        return None
    return "must be a whole number from 1, or auto (the largest that fits in memory)"


def _threads(value: str) -> str | None:
    if value == "auto" or (value.isdigit() and int(value) >= 1):
        return None
    return "must be auto or a whole number from 1"


def training_options(**defaults: Any) -> dict[str, Option]:
    """The options every training skill takes, with that stage's defaults."""
    specs = [
        Option("dataset", str, None, "registry name (see dataset/registry.yaml) or path to a data file",
               is_path=True, may_be_name=True),
        Option("preset", str, "tiny", "model preset (`minillm-skill presets list`) or a preset YAML file",
               is_path=True, may_be_name=True, valid=_preset),
        Option("init", str, None, "model to start from: a folder or a Hugging Face hub id",
               is_path=True, may_be_name=True),
        Option("output", str, None, "where the trained model goes (default out/<stage>)", is_path=True),
        Option("max_steps", int, -1, "stop after this many optimizer steps (-1: run `epochs` epochs)", valid=_steps),
        Option("epochs", float, 1.0, "passes over the dataset", valid=positive_epochs),
        Option("batch_size", whole_or_auto, 16, "sequences per device per step, or auto: the largest power of two "
               "whose estimated peak memory fits in the device's free memory (the preflight)", valid=_batch_size),
        Option("grad_accum", int, 1, "gradient accumulation steps", valid=at_least(1)),
        Option("lr", float, 5e-4, "peak learning rate (cosine schedule with warmup)", valid=greater_than(0)),
        Option("optimizer", str, "adamw", "adamw, or muon (Muon for the hidden weight matrices, AdamW for the rest, "
               "at the same learning rate: minillm_core/train/muon.py)", valid=one_of("adamw", "muon")),
        Option("warmup_ratio", float, 0.05, "share of steps spent warming up the learning rate", valid=_ratio),
        Option("max_seq_len", int, None, "tokens per sequence (default: the longest the start model was "
               "trained at, by its provenance, else the preset's)", valid=at_least(2)),
        Option("save_steps", int, 100, "write a resumable checkpoint every N steps", valid=at_least(1)),
        Option("log_steps", int, 10, "log loss, lr and tokens/s every N steps", valid=at_least(1)),
        Option("seed", int, 42, "random seed", valid=lambda value: None if 0 <= value < 2**32 else
               "must be from 0 to 2**32 - 1"),
        Option("answer_check", str, "auto", "after training, compare held-out answers with the start model's: "
               "auto (when the stage trains on embedded data, or starts from a model that did), true or false",
               valid=one_of("auto", "true", "false")),
        Option("bf16", str, "auto", "bfloat16 autocast: auto, true or false", valid=one_of("auto", "true", "false")),
        Option("compile", str, "auto", "torch.compile the model: auto (pretraining runs long enough for its "
               "start-up, about 45 s on a CPU, to pay back), true or false", valid=one_of("auto", "true", "false")),
        Option("threads", str, "auto", "CPU threads: auto (all cores, fewer while other processes keep cores busy; "
               "OMP_NUM_THREADS wins when set) or a number", valid=_threads),
        Option("lenient", bool, False, "skip malformed records (counted in the report) instead of failing"),
        Option("push_to_hub", str, None, "after training, upload the model folder to this Hugging Face Hub model "
               "repository, ORG/NAME (made when missing; needs HF_TOKEN)", valid=_pushable),
        Option("report_to", str, "none", "experiment trackers the Trainer reports to: none, or a comma-separated "
               "list of tensorboard (event files in logs/tensorboard/<stage>), trackio, wandb", valid=_trackers),
    ]
    options = {spec.name: spec for spec in specs}
    for name, value in defaults.items():
        spec = options[name]
        options[name] = dataclasses.replace(spec, default=value)
    return options


def eval_split_option() -> Option:
    """The `eval_split` option of the stages that measure a fine-tune on held-out records (sft, dpo)."""

    def valid(value: str) -> str | None:
        try:
            parse_setting(value)
        except ValueError as exc:
            return str(exc)
        return None

    return Option("eval_split", str, "auto", "records held out of training to measure the model on: auto (5%, "
                  "16 to 256; none when the dataset is too small to spare them; a dataset with its own held-out "
                  "file uses that), a share (0.1), a number of records (32), or 0 for none", valid=valid)


def replay_option() -> Option:
    """The `replay` option of sft (minillm_core/train/own_data.py)."""

    def valid(value: str) -> str | None:
        if str(value).lower() == "auto":
            return None
        try:
            return None if float(value) >= 0 else "must be auto or a ratio of 0 or more"
        except ValueError:
            return "must be auto or a ratio of 0 or more (replayed chats per record of yours; 0: none)"

    return Option("replay", str, "auto", "chats the start model was trained on, mixed in so a fine-tune keeps what "
                  "the model knew: auto (as many as your records, when you fine-tune a model of this project on "
                  "your own data), a ratio (replayed chats per record of yours), or 0 for none", valid=valid)
