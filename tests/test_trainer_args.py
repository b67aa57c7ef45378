"""The rest of the trainer's config (`--set args.NAME=VALUE`) and experiment trackers (`--set report_to=...`)."""

from __future__ import annotations

import json

import pytest
from transformers import TrainerCallback

from minillm_core.contract.options import OptionError
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.plugins.host import get_host
from minillm_core.runner.plan import make_plan
from tests.helpers import invoke

TINY = ["--set", "preset=tiny", "--set", "max_steps=3", "--set", "log_steps=1", "--set", "answer_check=false"]


class SeesTheArgs:
    """A plugin whose callback keeps the TrainingArguments the Trainer was given."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def training_callbacks(self, run):
        seen = self.seen

        class Keep(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                seen.append(args)

        return [Keep()]


def _tensorboard_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run for the tests below (each costs seconds): args set, and tensorboard where installed."""
    workdir = tmp_path_factory.mktemp("args")
    plugin = SeesTheArgs()
    get_host().register(plugin, name="sees-the-args")  # the next test's fresh host forgets it (conftest)
    tracker = ["--set", "report_to=tensorboard"] if _tensorboard_installed() else []
    result = invoke("run", "pretrain", "--workdir", str(workdir), "--json", *TINY, "--set", "args.weight_decay=0.1",
                    "--set", "args.lr_scheduler_type=constant", "--set", "args.adam_beta2=0.95", *tracker)
    assert result.exit_code == 0, result.output
    return workdir, plugin.seen, json.loads(result.stdout)


def test_args_reach_the_trainer_and_win_over_the_defaults(trained):
    _workdir, seen, report = trained
    args = seen[0]
    assert (args.weight_decay, args.lr_scheduler_type.value, args.adam_beta2) == (0.1, "constant", 0.95)
    settings = report["stages"][0]["settings"]
    assert settings["args"] == {"weight_decay": 0.1, "lr_scheduler_type": "constant", "adam_beta2": 0.95}


@pytest.mark.parametrize("pair, message", [
    ("args.nonsense=1", "not a field of transformers.TrainingArguments: 'nonsense'"),
    ("args.weight_decy=0.1", "'weight_decy' (did you mean 'weight_decay'?)"),
    ("args.output_dir=x", "output_dir is where the stage keeps its checkpoints"),
    ("report_to=tensorbored", "unknown tracker 'tensorbored'"),
])
def test_a_field_the_trainer_does_not_have_is_a_usage_error(tmp_path, pair, message):
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--set", pair)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "logs").exists()  # nothing ran


def test_each_stage_checks_against_its_own_config(tmp_path):
    host = get_host()
    sft = make_plan(host, "sft", tmp_path, sets=["args.completion_only_loss=false", "sft.args.max_length=64"])
    assert sft.stages[0].context.settings["args"] == {"completion_only_loss": False, "max_length": 64}
    with pytest.raises(OptionError, match="not a field of transformers.TrainingArguments: 'max_length'"):
        make_plan(host, "bot-start", tmp_path, sets=["args.max_length=64"])  # pretrain has no max_length
    config = tmp_path / "run.yaml"
    config.write_text("args:\n  weight_decay: 0.05\ndpo:\n  args:\n    label_smoothing: 0.1\n")
    plan = make_plan(host, "bot-start", tmp_path, config=config)
    settings = {stage.skill.name: stage.context.settings.get("args") for stage in plan.stages}
    assert settings["pretrain"] == settings["sft"] == {"weight_decay": 0.05}
    assert settings["dpo"] == {"weight_decay": 0.05, "label_smoothing": 0.1}


def test_tensorboard_gets_event_files_its_reader_parses(trained):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    workdir = trained[0]
    folder = workdir / "logs" / "tensorboard" / "pretrain"
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder))
    events.Reload()
    losses = [event.value for event in events.Scalars("train/loss")]
    logged = [json.loads(line)["loss"] for line in (workdir / "logs" / "pretrain.jsonl").read_text().splitlines()]
    assert losses == pytest.approx(logged, rel=1e-5) and len(losses) == 3
