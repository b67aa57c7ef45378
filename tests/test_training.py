"""The training core end to end on the tiny preset: tokenizer -> pretrain -> sft -> dpo, each model reloaded
and generating in a fresh process; SFT loss falls; DPO's reward accuracy rises."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli

TOKENIZER = ["vocab_size=1000", "max_token_length=6"]
STAGES = {
    "pretrain": ["max_steps=40", "lr=2e-3", "log_steps=5", "save_steps=20"],
    "sft": ["max_steps=30", "lr=1e-3", "log_steps=5", "save_steps=15"],
    "dpo": ["max_steps=16", "lr=1e-4", "batch_size=8", "log_steps=2", "save_steps=8"],
}
LOG_KEYS = {"step", "total_steps", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "remaining_s", "time"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """One workdir trained through all three stages; the stage reports by name. Its tests are `slow` (the
    fixture takes 30-50 s on 2 cores); the fast suite trains sft and pretrain in test_own_data, test_outputs,
    test_tool_call_data and test_trainer_args."""
    workdir = tmp_path_factory.mktemp("trained")
    reports = {}
    for stage, sets in {"tokenizer": TOKENIZER, **STAGES}.items():
        args = ["run", stage, "--workdir", str(workdir), "--json"] + [a for s in sets for a in ("--set", s)]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.stdout + result.stderr
        reports[stage] = json.loads(result.stdout)["stages"][0]
    return workdir, reports


@pytest.mark.slow
def test_each_stage_model_reloads_in_a_fresh_process_and_generates(trained):
    workdir, _ = trained
    script = textwrap.dedent("""
        import json, sys
        from transformers import AutoModelForCausalLM, AutoTokenizer
        out = {}
        for stage in ("pretrain", "sft", "dpo"):
            path = sys.argv[1] + "/out/" + stage
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path)
            if tokenizer.chat_template:
                ids = tokenizer.apply_chat_template([{"role": "user", "content": "Who are you?"}],
                                                    add_generation_prompt=True, return_tensors="pt", return_dict=True)
            else:  # a base model: no chat template, it continues text
                ids = tokenizer("The capital of France", return_tensors="pt")
            new = model.generate(**ids, max_new_tokens=8, do_sample=False)[0, ids["input_ids"].shape[1]:]
            pre = json.loads(tokenizer.backend_tokenizer.to_str())["pre_tokenizer"]
            out[stage] = {"new_tokens": len(new), "type": model.config.model_type, "pre_tokenizer": pre["type"],
                          "template": bool(tokenizer.chat_template), "rows": model.config.vocab_size,
                          "tokens": len(tokenizer)}
        print(json.dumps(out))
    """)
    result = subprocess.run([sys.executable, "-c", script, str(workdir)], capture_output=True, text=True,
                            timeout=120, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    generated = json.loads(result.stdout)
    assert all(1 <= generated[stage]["new_tokens"] <= 8 for stage in STAGES)
    assert {info["type"] for info in generated.values()} == {"llama"}
    # One standard ByteLevel step; the base model has no chat template, the chat models have ours.
    assert {info["pre_tokenizer"] for info in generated.values()} == {"ByteLevel"}
    assert [generated[stage]["template"] for stage in STAGES] == [False, True, True]
    # out/tokenizer's tokens, one embedding row each, rounded up to a multiple of 64: no row sits untrained.
    tokens = generated["pretrain"]["tokens"]
    assert tokens <= 1000 and generated["pretrain"]["rows"] == -(-tokens // 64) * 64


@pytest.mark.slow
def test_outputs_are_hugging_face_folders_and_checkpoints_are_cleared(trained):
    workdir, reports = trained
    for stage in STAGES:
        files = {p.name for p in (workdir / "out" / stage).iterdir()}
        assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= files
        assert ("chat_template.jinja" in files) == (stage != "pretrain")
        assert reports[stage]["artifacts"][0] == f"out/{stage}"
        assert reports[stage]["metrics"]["resumed_from_step"] == 0
        assert reports[stage]["metrics"]["compiled"] is False  # compile=auto: far too short to pay back
    assert not any((workdir / "out" / ".checkpoints").glob("*/checkpoint-*"))


@pytest.mark.slow
def test_each_stage_reports_the_tokenizer_it_used(trained):
    reports = trained[1]
    trained_sha = reports["tokenizer"]["metrics"]["sha256"]
    used = {stage: reports[stage]["metrics"]["tokenizer"] for stage in STAGES}
    assert used["pretrain"]["path"] == "out/tokenizer"  # pretrain picks up the tokenizer skill's output
    assert used["sft"]["path"] == "out/pretrain" and used["dpo"]["path"] == "out/sft"
    # The same tokenizer all the way: the chat template that sft adds changes no token.
    assert {info["sha256"] for info in used.values()} == {trained_sha}


@pytest.mark.slow
def test_each_stage_reports_the_threads_it_computed_with(trained):
    for stage in STAGES:
        threads = trained[1][stage]["metrics"]["threads"]
        assert threads["setting"] == "auto" and 1 <= threads["lowest"] <= threads["threads"], (stage, threads)


@pytest.mark.slow
def test_sft_loss_falls(trained):
    metrics = trained[1]["sft"]["metrics"]
    assert metrics["steps"] == 30
    assert metrics["conversations"] == metrics["records"] == 2502  # each record once, not once per shard
    assert metrics["final_loss"] < metrics["first_loss"] - 0.5


@pytest.mark.slow
def test_dpo_reward_accuracy_rises(trained):
    metrics = trained[1]["dpo"]["metrics"]
    assert metrics["final_reward_accuracy"] > metrics["first_reward_accuracy"] + 0.2


@pytest.mark.slow
def test_jsonl_log_has_one_line_per_log_step(trained):
    workdir, _ = trained
    lines = [json.loads(line) for line in (workdir / "logs" / "pretrain.jsonl").read_text().splitlines()]
    # The first step is logged too: a stage's first loss is its starting point.
    assert [line["step"] for line in lines] == [1, 5, 10, 15, 20, 25, 30, 35, 40]
    assert all(LOG_KEYS <= set(line) and line["total_steps"] == 40 for line in lines)
    assert all(line["tokens_per_s"] > 0 for line in lines) and lines[-1]["remaining_s"] == 0
    dpo = json.loads((workdir / "logs" / "dpo.jsonl").read_text().splitlines()[-1])
    assert "rewards/accuracies" in dpo


@pytest.mark.slow
def test_sample_answers_are_logged_before_during_and_after(trained):
    workdir, _ = trained
    rows = [json.loads(line) for line in (workdir / "logs" / "sft_samples.jsonl").read_text().splitlines()]
    assert [r["when"] for r in rows if r["prompt"] == "Who are you?"] == ["before", "during", "after"]
    assert {r["step"] for r in rows if r["when"] == "after"} == {30}


@pytest.mark.slow
def test_a_rerun_with_the_same_settings_is_skipped(trained):
    workdir, _ = trained
    args = ["run", "dpo", "--workdir", str(workdir), "--json"] + [a for s in STAGES["dpo"] for a in ("--set", s)]
    stage = json.loads(CliRunner().invoke(cli, args).stdout)["stages"][0]
    assert stage["status"] == "skipped" and stage["metrics"]["steps"] == 16


def _run(workdir: Path, stage: str, *sets: str):
    args = ["run", stage, "--workdir", str(workdir), "--json"] + [a for s in sets for a in ("--set", s)]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.mark.slow
def test_lora_sft_saves_the_adapter_and_a_merged_model(trained, tmp_path):
    workdir, _ = trained
    result = _run(tmp_path, "sft", f"init={workdir / 'out' / 'pretrain'}", "lora=true", "max_steps=4",
                  "lr=1e-3", "log_steps=2")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = tmp_path / "out" / "sft"
    assert (out / "adapter" / "adapter_config.json").exists() and (out / "model.safetensors").exists()
    from safetensors.torch import load_file

    merged, base = load_file(out / "model.safetensors"), load_file(workdir / "out" / "pretrain" / "model.safetensors")
    assert set(merged) == set(base)  # merged back into plain weights: no lora_ keys left
    assert any(not merged[k].equal(base[k]) for k in base)


@pytest.mark.slow
def test_a_malformed_record_fails_naming_file_and_line_and_lenient_skips_it(trained, tmp_path):
    workdir, _ = trained
    good = json.dumps({"conversations": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join([good] * 8 + ['{"conversations": [{"role": "user"'] + [good] * 8) + "\n")
    common = [f"init={workdir / 'out' / 'pretrain'}", f"dataset={data}", "max_steps=2", "batch_size=4"]
    failed = _run(tmp_path / "strict", "sft", *common)
    assert failed.exit_code == 1
    stage = json.loads(failed.stdout)["stages"][0]
    assert f"{data}:9:" in stage["error"] and "lenient=true" in stage["hint"]
    lenient = _run(tmp_path / "lenient", "sft", *common, "lenient=true")
    assert lenient.exit_code == 0, lenient.stdout
    metrics = json.loads(lenient.stdout)["stages"][0]["metrics"]
    assert (metrics["records"], metrics["skipped_records"]) == (16, 1)
    assert "1 malformed records skipped" in json.loads(lenient.stdout)["stages"][0]["summary"]
    assert "dataset_fallback" not in metrics  # a file given by path is what was asked for, not a fallback


def test_compile_is_auto_by_default_and_reaches_the_trainer(tmp_path):
    from minillm_core.train.options import training_options
    from minillm_core.train.training import training_arguments

    settings = {name: option.default for name, option in training_options().items()}
    assert settings["compile"] == "auto"
    # auto is off for stages of varying shapes; pretraining decides it itself (tests/test_speedups.py)
    assert training_arguments(settings, tmp_path, parameters=1)["torch_compile"] is False
    arguments = training_arguments({**settings, "compile": "true"}, tmp_path, parameters=1)
    assert arguments["torch_compile"] is True
    from transformers import TrainingArguments

    assert TrainingArguments(**arguments).torch_compile is True  # a key transformers knows, not a typo
