"""The training preflight: the memory estimate from a model's shapes, the refusal of a run that cannot fit
(exit 3, with a setting that fits), batch_size=auto, and where the figures show (plan, dry run, status)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from minillm_core.model.presets import PRESETS, build_model, count_parameters, model_config
from minillm_core.plugins.host import get_host
from minillm_core.runner.plan import make_plan
from minillm_core.runs.record import RunRecord
from minillm_core.runs.status import describe
from minillm_core.train import preflight
from minillm_core.train.preflight import ModelShape, Workload
from minillm_core.train.stage_preflight import WHAT, stage_figures
from tests.helpers import invoke

GB = 10**9


def shape(name: str, vocab: int = 6400) -> ModelShape:
    return ModelShape.from_config(PRESETS[name].config, vocab)


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameters_are_counted_from_the_config_as_the_model_has_them(name):
    with torch.device("meta"):  # nothing allocated: the 100M presets cost nothing
        model = build_model(model_config(name, vocab_size=6400))
    assert shape(name).parameters == pytest.approx(count_parameters(model), rel=1e-3)


def test_the_estimate_follows_the_batch_and_the_loss_dominates_the_tiny_model():
    tiny = shape("tiny")
    small, big = (preflight.estimate_memory(tiny, Workload(batch=b, seq_len=128)) for b in (16, 64))
    assert big["activations"] == 4 * small["activations"]  # activations grow with the tokens, the rest does not
    assert big["weights"] == small["weights"] and big["optimizer"] == 2 * big["weights"]  # AdamW: two fp32 states
    per_token = preflight.activation_bytes_per_token(tiny, Workload(batch=1, seq_len=128))
    assert tiny.vocab * preflight.LOGIT_FLOATS * 4 > per_token / 2  # the logits' share, for a 6400-token vocabulary
    checkpointed = preflight.estimate_memory(tiny, Workload(batch=64, seq_len=128, checkpointing=True))
    assert checkpointed["activations"] < big["activations"]
    sgd = preflight.estimate_memory(tiny, Workload(batch=64, seq_len=128, optimizer="sgd"))
    assert sgd["optimizer"] == 0


def test_the_largest_batch_that_fits_is_a_power_of_two_within_the_limit():
    tiny, work = shape("tiny"), Workload(batch=1, seq_len=128)
    at_64 = preflight.estimate_memory(tiny, replace(work, batch=64))["total"]
    free = int(at_64 / preflight.FIT_SHARE) + 1  # 64 just fits, with the margin
    assert preflight.largest_batch(tiny, work, free, most=1024) == 64
    assert preflight.largest_batch(tiny, work, free, most=40) == 32  # no more than the data allows
    assert preflight.largest_batch(tiny, work, 1000, most=1024) is None  # not even one sequence


def test_the_hint_keeps_the_sequences_per_step_or_names_checkpointing_or_a_smaller_preset():
    model = shape("minimind2")
    work = Workload(batch=4096, seq_len=512)
    hint = preflight.fitting_setting(model, work, 20 * GB, grad_accum=1)
    batch, accum = (int(hint.split(f"--set {key}=")[1].split()[0].rstrip("`")) for key in ("batch_size", "grad_accum"))
    assert batch * accum == 4096 and preflight.fits(model, replace(work, batch=batch), 20 * GB)
    long = Workload(batch=64, seq_len=8192)  # one sequence fits only with gradient checkpointing
    one = preflight.estimate_memory(model, replace(long, batch=1))["total"]
    checkpointed = preflight.estimate_memory(model, replace(long, batch=1, checkpointing=True))["total"]
    free = int(checkpointed / preflight.FIT_SHARE) + 1
    assert free < one and "gradient_checkpointing=true" in preflight.fitting_setting(model, long, free, grad_accum=1)
    presets = {name: shape(name) for name in PRESETS}
    assert "--set preset=" in preflight.fitting_setting(model, long, int(checkpointed * 0.5), 1, presets)


def test_a_run_that_cannot_fit_is_refused_at_once_with_a_setting_that_fits(tmp_path):
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--json", "--set", "preset=minimind2",
                    "--set", "batch_size=4096")
    assert result.exit_code == 3, result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["status"] == "precondition_failed" and WHAT in stage["error"] and "would not fit" in stage["error"]
    batch = int(stage["hint"].split("--set batch_size=")[1].split()[0])
    accum = int(stage["hint"].split("--set grad_accum=")[1].split("`")[0])
    assert batch < 4096 and batch * accum == 4096  # the same sequences per optimizer step
    assert not (tmp_path / "out").exists() and not (tmp_path / "logs").exists()  # nothing trained, nothing written


def test_the_dry_run_shows_the_preflight(tmp_path):
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    [check] = [c for c in json.loads(result.stdout)["stages"][0]["checks"] if c["what"] == WHAT]
    figures = check["figures"]
    assert check["holds"] and 0 < figures["memory"]["total"] < figures["free"]
    assert figures["batch_size"] == 16 and figures["seq_len"] == 128 and figures["device"] in ("CPU", "GPU")
    assert figures["time"]["tokens"] > 0 and figures["time"]["source"]
    human = invoke("run", "pretrain", "--workdir", str(tmp_path), "--dry-run")
    assert f"[ok  ] {WHAT}: about" in human.output and "GB free" in human.output


def test_batch_size_auto_resolves_to_what_fits(tmp_path):
    plan = make_plan(get_host(), "pretrain", tmp_path, sets=["batch_size=auto"], cwd=tmp_path)
    ctx = plan.stages[0].context
    tiny = shape("tiny")
    work = Workload(batch=1, seq_len=128)
    free = int(preflight.estimate_memory(tiny, replace(work, batch=8))["total"] / preflight.FIT_SHARE) + 1
    figures = stage_figures(ctx, "pretrain", None, cuda=False, free=free)
    assert figures["batch_size"] == preflight.largest_batch(tiny, work, free, most=1024) == 8


def test_the_stage_trains_with_the_batch_its_preflight_chose():
    from minillm_core.train.stage_preflight import batch_size

    assert batch_size({"batch_size": "auto"}, {"batch_size": 32}) == 32
    assert batch_size({"batch_size": "auto"}, None) == 1  # no estimate (a hub model not downloaded): the safest
    assert batch_size({"batch_size": 8}, {"batch_size": 32}) == 8  # a number given is a number kept


@pytest.mark.parametrize("value", ["0", "x", "1.5"])
def test_batch_size_takes_a_whole_number_or_auto(tmp_path, value):
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--dry-run", "--set", f"batch_size={value}")
    assert result.exit_code == 2 and "or auto" in result.output


def test_status_shows_a_running_stage_preflight(tmp_path):
    record = RunRecord.start(tmp_path, "20261130-000000-pretrain-ab12", "pretrain", ["pretrain"], ["x"])
    record.update_stage("pretrain", status="running", preflight="about 0.35 GB at batch 16 x 128 tokens")
    state = describe(tmp_path, "20261130-000000-pretrain-ab12")
    assert state["stages"][0]["preflight"] == "about 0.35 GB at batch 16 x 128 tokens"
    human = invoke("status", "--workdir", str(tmp_path))
    assert "preflight: about 0.35 GB at batch 16 x 128 tokens" in human.output
