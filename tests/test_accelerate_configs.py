"""configs/accelerate/: each file is one accelerate itself reads, and launches what its name says."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).parent.parent / "configs" / "accelerate"


def launch_arguments(name: str):
    """What `accelerate launch --config_file configs/accelerate/<name>` makes of the file."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(["--config_file", str(CONFIGS / name), "-m", "minillm_core", "run",
                                               "pretrain"])
    return _validate_launch_command(args)[0]


def test_the_configs_are_the_four_the_docs_name():
    assert sorted(path.name for path in CONFIGS.glob("*.yaml")) == [
        "ddp.yaml", "deepspeed-zero2.yaml", "deepspeed-zero3.yaml", "fsdp.yaml"]


@pytest.mark.parametrize("name", ["ddp.yaml", "fsdp.yaml", "deepspeed-zero2.yaml", "deepspeed-zero3.yaml"])
def test_each_config_names_only_settings_accelerate_knows(name):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    config = load_config_from_file(str(CONFIGS / name))  # an unknown top-level key is a ValueError
    # The FSDP and DeepSpeed sections become `accelerate launch` options of the same names, unchecked by it.
    options = {action.dest for action in launch_command_parser()._actions}
    nested = {**config.fsdp_config, **config.deepspeed_config}
    assert nested.keys() <= options, f"{name}: not accelerate launch options: {sorted(nested.keys() - options)}"


def test_ddp_launches_two_processes_of_the_whole_model():
    args = launch_arguments("ddp.yaml")
    assert (args.multi_gpu, args.use_fsdp, args.use_deepspeed, args.num_processes) == (True, False, False, 2)


def test_fsdp_shards_with_fsdp2_and_saves_whole_weights():
    from accelerate.utils.launch import prepare_multi_gpu_env

    env = prepare_multi_gpu_env(launch_arguments("fsdp.yaml"))  # what every process is started with
    assert (env["ACCELERATE_USE_FSDP"], env["FSDP_VERSION"], env["FSDP_STATE_DICT_TYPE"]) == (
        "true", "2", "FULL_STATE_DICT")
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"  # the layers the model names, any preset


@pytest.mark.parametrize(("name", "stage"), [("deepspeed-zero2.yaml", 2), ("deepspeed-zero3.yaml", 3)])
def test_deepspeed_configs_set_their_zero_stage(name, stage):
    args = launch_arguments(name)
    assert (args.use_deepspeed, args.zero_stage) == (True, stage)
    if stage == 3:  # the final save gathers the shards into one model file (training.gathered_state_dict)
        assert args.zero3_save_16bit_model is True


def test_fsdp_asked_for_where_accelerate_does_not_shard_is_said(monkeypatch, caplog):
    """On a CPU, accelerate trains an FSDP launch with DDP (its MULTI_CPU state has no FSDP): the log says so."""
    import logging
    from types import SimpleNamespace

    from minillm_core.train.training import warn_fsdp_off

    log = logging.getLogger("test")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with caplog.at_level(logging.WARNING, logger="test"):
        warn_fsdp_off(SimpleNamespace(is_fsdp_enabled=True), log)
        assert not caplog.records
        warn_fsdp_off(SimpleNamespace(is_fsdp_enabled=False), log)
    assert "this run trains with DDP" in caplog.text
