"""bf16 and torch.compile: `auto` follows the benchmark's measurements; true and false are obeyed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from minillm_core.contract.skill import SkillError
from minillm_core.train import speedups
from minillm_core.train.stages import pretrain


def test_bf16_auto_follows_the_measurements(monkeypatch):
    monkeypatch.setattr(speedups, "cpu_has_native_bf16", lambda: True)
    assert speedups.use_bf16("auto", cuda=False, parameters=26_000_000) is True
    assert speedups.use_bf16("auto", cuda=False, parameters=1_100_000) is False  # tiny: no gain measured
    monkeypatch.setattr(speedups, "cpu_has_native_bf16", lambda: False)
    assert speedups.use_bf16("auto", cuda=False, parameters=26_000_000) is False
    assert speedups.use_bf16("true", cuda=False, parameters=1) is True
    with pytest.raises(SkillError, match="bf16 must be auto, true or false"):
        speedups.use_bf16("maybe", cuda=False, parameters=1)


def test_compile_auto_waits_for_a_run_long_enough_to_pay_back(monkeypatch):
    monkeypatch.setattr(speedups, "matmul_flops_per_s", lambda dtype: 1e11)
    rate = speedups.EXPECTED_MFU * 1e11  # FLOP/s a training step is expected to reach
    short, long = 0.5 * speedups.COMPILE_WORTH_IT_S * rate, 2 * speedups.COMPILE_WORTH_IT_S * rate
    assert speedups.compile_pays_back("auto", short, bf16=True) is False
    assert speedups.compile_pays_back("auto", long, bf16=True) is True
    assert speedups.compile_pays_back("false", long, bf16=True) is False
    assert speedups.compile_pays_back(True, short, bf16=False) is True  # a YAML boolean works too
    with pytest.raises(SkillError, match="compile must be auto, true or false"):
        speedups.compile_pays_back("yes", short, bf16=True)


def test_stages_of_varying_shapes_compile_only_when_told():
    assert speedups.compile_requested("auto") is False
    assert speedups.compile_requested("true") is True
    assert speedups.compile_requested("false") is False


def test_the_matmul_probe_measures_a_positive_rate():
    assert speedups.matmul_flops_per_s(speedups.torch.float32, size=64, repeats=1) > 0


@pytest.mark.parametrize(("max_steps", "epochs", "expected_sequences"), [(100, 1.0, 100 * 8 * 2), (-1, 3.0, 500 * 3)])
def test_pretrain_weighs_the_sequences_each_device_trains_on(monkeypatch, max_steps, epochs, expected_sequences):
    seen = {}

    def record(setting, training_flops, bf16):
        seen.update(setting=setting, flops=training_flops, bf16=bf16)
        return True

    monkeypatch.setattr(pretrain, "compile_pays_back", record)
    run = SimpleNamespace(
        args={"max_steps": max_steps, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2,
              "num_train_epochs": epochs, "bf16": True},
        model=SimpleNamespace(num_parameters=lambda: 1_000_000), seq_len=256,
        ctx=SimpleNamespace(settings={"compile": "auto"}))
    assert pretrain._compile(run, blocks=500) is True
    assert seen == {"setting": "auto", "flops": 6 * 1_000_000 * 256 * expected_sequences, "bf16": True}
