"""A stage deletes only what it made; every run ends in a report; hints name the whole way."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.contract.outputs import MARKER, OutputRefused, check_output, run_name
from minillm_core.contract.skill import StageResult
from minillm_core.runner import plan as runner
from minillm_core.runs.locks import holding
from minillm_core.runs.recovery import restore_set_aside
from minillm_core.train.checkpoints import MARKER as CHECKPOINT_MARKER
from tests.helpers import add_test_skill


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(cli, list(args), **kwargs)


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# -- outputs ---------------------------------------------------------------------------------------


def test_output_dot_in_a_git_work_directory_is_refused_and_nothing_is_deleted(git_workdir, monkeypatch):
    monkeypatch.chdir(git_workdir)
    for name in ("sft", "dpo"):
        (git_workdir / "out" / name).mkdir(parents=True)
        (git_workdir / "out" / name / "config.json").write_text("{}")
    (git_workdir / "out" / ".stamps").mkdir()
    (git_workdir / "out" / ".stamps" / "sft.json").write_text("{}")
    before = tree(git_workdir)
    for output in (".", "out", "..", str(git_workdir.parent)):
        result = invoke("run", "pretrain", "--set", f"output={output}", "--set", "max_steps=1", "--json")
        assert result.exit_code == 2, (output, result.output)
        assert json.loads(result.stdout)["status"] == "usage_error"
        assert tree(git_workdir) == before
    assert (git_workdir / ".git" / "HEAD").exists() and (git_workdir / "notes.txt").read_text() == "tracked\n"


def test_a_shared_config_cannot_point_output_outside_the_work_directory(tmp_path):
    config = tmp_path / "shared" / "configs" / "run.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("output: ../..\n")
    work = tmp_path / "shared" / "configs" / "work"
    result = invoke("run", "pretrain", "--workdir", str(work), "--config", str(config), "--json")
    assert result.exit_code == 2
    assert "is outside the work directory" in json.loads(result.stdout)["error"]
    assert not work.exists() and config.exists()


def test_check_output_accepts_only_new_empty_or_own_folders(tmp_path):
    work = tmp_path.resolve()
    assert check_output("sft", None, work) == work / "out" / "sft"  # new default
    assert check_output("sft", str(work / "out" / "sft-x"), work) == work / "out" / "sft-x"  # new path
    (work / "empty").mkdir()
    assert check_output("sft", str(work / "empty"), work) == work / "empty"
    old = work / "out" / "pretrain"  # written by a version without markers: the stage's own default only
    old.mkdir(parents=True)
    (old / "config.json").write_text("{}")
    assert check_output("pretrain", None, work) == old
    with pytest.raises(OutputRefused, match="not written by a sft run"):
        check_output("sft", str(old), work)
    (old / MARKER).write_text('{"stage": "pretrain"}')
    assert check_output("pretrain", str(old), work) == old
    with pytest.raises(OutputRefused, match="holds the model of stage 'pretrain', not dpo"):
        check_output("dpo", str(old), work)
    users = work / "out" / "sft"  # the default path, holding someone's files
    users.mkdir()
    (users / "notes.md").write_text("mine")
    with pytest.raises(OutputRefused, match="not written by a sft run"):
        check_output("sft", None, work)
    assert run_name("sft", work / "out" / "sft", work) == "sft"
    assert run_name("sft", work / "out" / "sft-x", work) == "sft-x"
    assert run_name("sft", work / "models" / "a", work) == "models__a"


def test_a_run_with_another_output_keeps_the_default_runs_logs_and_marks_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # --set paths are taken against the current directory
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pretrain.jsonl").write_text("earlier run\n")
    (logs / "pretrain_samples.jsonl").write_text("earlier samples\n")
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--json", "--set", "output=out/pt-x",
                    "--set", "max_steps=1", "--set", "compile=false", "--set", "batch_size=2")
    assert result.exit_code == 0, result.output[-3000:]
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["artifacts"] == ["out/pt-x", "logs/pt-x.jsonl", "logs/pt-x_samples.jsonl"]
    assert (logs / "pretrain.jsonl").read_text() == "earlier run\n"
    assert (logs / "pretrain_samples.jsonl").read_text() == "earlier samples\n"
    assert (logs / "pt-x_samples.jsonl").exists()
    assert json.loads((tmp_path / "out" / "pt-x" / MARKER).read_text())["stage"] == "pretrain"
    refused = invoke("run", "sft", "--workdir", str(tmp_path), "--json", "--set", "output=out/pt-x",
                     "--set", "init=out/pt-x")
    assert refused.exit_code == 2 and "holds the model of stage 'pretrain'" in json.loads(refused.stdout)["error"]
    assert (tmp_path / "out" / "pt-x" / "model.safetensors").exists()


def test_a_run_that_fails_on_its_data_keeps_an_interrupted_runs_checkpoints(tmp_path):
    checkpoints = tmp_path / "out" / ".checkpoints" / "pretrain"
    (checkpoints / "checkpoint-5").mkdir(parents=True)
    (checkpoints / "checkpoint-5" / CHECKPOINT_MARKER).write_text("ok\n")
    (checkpoints / "settings.json").write_text('{"lr": 1.0}')
    data = tmp_path / "pt.jsonl"  # the first records are fine (the precondition reads those), the 8th is not
    data.write_text("".join(json.dumps({"text": f"record {i}"}) + "\n" for i in range(7)) + '{"text": 8}\n')
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--json", "--set", f"dataset={data}",
                    "--set", "compile=false")
    assert result.exit_code == 1, result.output[-3000:]
    assert "pt.jsonl:8: text must be a string" in json.loads(result.stdout)["stages"][0]["error"]
    assert (checkpoints / "checkpoint-5" / CHECKPOINT_MARKER).exists()
    assert (checkpoints / "settings.json").read_text() == '{"lr": 1.0}'
    assert "Traceback" not in result.output


def test_no_conversation_left_after_filtering_names_max_seq_len(tmp_path):
    from minillm_core.model.presets import build_model, model_config, vocab_size_for
    from minillm_core.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer()
    model = tmp_path / "base"
    build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer))).save_pretrained(model)
    tokenizer.save_pretrained(model)
    result = invoke("run", "sft", "--workdir", str(tmp_path), "--json", "--set", f"init={model}",
                    "--set", "max_seq_len=4", "--set", "max_steps=1")
    assert result.exit_code == 1, result.output[-3000:]
    stage = json.loads(result.stdout)["stages"][0]
    assert "every one is longer than max_seq_len=4 tokens" in stage["error"]
    assert "--set max_seq_len=" in stage["hint"]
    assert not (tmp_path / "out" / "sft").exists()


def test_a_model_a_kill_left_set_aside_is_put_back_by_the_next_run_which_says_so(tmp_path):
    """Killed between the final save's two renames: out/pretrain gone, the model before it in .pretrain.old."""
    work = tmp_path.resolve()
    aside = work / "out" / ".pretrain.old"
    aside.mkdir(parents=True)
    (aside / "config.json").write_text("{}")
    (aside / MARKER).write_text('{"stage": "pretrain"}')
    (work / "out" / ".stamps").mkdir()
    (work / "out" / ".stamps" / "pretrain.json").write_text("{}")  # that pretrain had finished
    result = invoke("run", "sft", "--workdir", str(work), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    requirement = json.loads(result.stdout)["stages"][0]["checks"][0]
    assert requirement["what"].startswith("the output of pretrain") and requirement["holds"], requirement
    assert "restored out/pretrain from out/.pretrain.old" in result.stderr
    assert (work / "out" / "pretrain" / "config.json").is_file() and not aside.exists()

    # Not while a run holds the folder's lock: it may be between its two renames this instant.
    (work / "out" / "pretrain").rename(aside)
    with holding(work, ["pretrain"], run_id="20261130-120000-pretrain-abcd"):
        assert restore_set_aside(work, [work / "out"]) == []
    assert aside.is_dir() and not (work / "out" / "pretrain").exists()
    assert restore_set_aside(work, [work / "out"]) == [work / "out" / "pretrain"]


# -- hints and exit 3 ------------------------------------------------------------------------------


def test_a_precondition_hint_names_the_whole_way_and_exit_3_writes_nothing(tmp_path):
    work = tmp_path / "new"
    result = invoke("run", "dpo", "--workdir", str(work), "--json")
    assert result.exit_code == 3
    hint = json.loads(result.stdout)["stages"][0]["hint"]
    assert hint == ("run `minillm-skill run bot-start` (or `minillm-skill run pretrain`, then "
                    "`minillm-skill run sft`), or `--set init=PATH` to start from another model")
    assert not work.exists()  # not even the work directory, let alone reports/
    (tmp_path / "out" / "pretrain").mkdir(parents=True)  # pretrain done: only sft is left
    (tmp_path / "out" / ".stamps").mkdir()
    (tmp_path / "out" / ".stamps" / "pretrain.json").write_text("{}")
    before = tree(tmp_path)
    result = invoke("run", "dpo", "--workdir", str(tmp_path), "--json")
    assert json.loads(result.stdout)["stages"][0]["hint"].startswith("run `minillm-skill run sft` first, or")
    assert tree(tmp_path) == before and not (tmp_path / "reports").exists()
    human = invoke("run", "dpo", "--workdir", str(tmp_path))
    assert "Error: the output of sft (out/sft): missing" in human.output and "nothing was run" in human.output


# -- always a report -------------------------------------------------------------------------------


def test_a_read_only_work_directory_is_a_precondition_failure_naming_it(tmp_path, monkeypatch):
    add_test_skill(tmp_path, "greet", lambda ctx: StageResult("said hello"))
    work = tmp_path / "work"
    work.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(runner.tempfile, "TemporaryFile", refuse)
    result = invoke("run", "greet", "--workdir", str(work), "--json")
    assert result.exit_code == 3 and "Traceback" not in result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["error"] == f"a writable work directory: cannot write to the work directory {work}: Permission denied"
    assert "--workdir" in stage["hint"] and list(work.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_really_read_only_work_directory(tmp_path):
    add_test_skill(tmp_path, "greet", lambda ctx: StageResult("said hello"))
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o555)
    try:
        result = invoke("run", "greet", "--workdir", str(work), "--json")
    finally:
        work.chmod(0o755)
    assert result.exit_code == 3 and str(work) in json.loads(result.stdout)["stages"][0]["error"]


def test_a_full_disk_still_gives_one_json_document_and_says_the_report_was_not_written(tmp_path, monkeypatch):
    def fill_disk(ctx):
        raise OSError(errno.ENOSPC, "No space left on device", str(ctx.path("out/big")))

    add_test_skill(tmp_path, "fills", fill_disk)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "write_reports", no_space)
    result = invoke("run", "fills", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert "No space left on device" in report["stages"][0]["error"] and "out/big" in report["stages"][0]["error"]
    assert report["reports"] is None
    assert report["report_error"].startswith(f"could not write the report under {tmp_path / 'reports'}")
    assert "could not write the report" in result.stderr
    human = invoke("run", "fills", "--workdir", str(tmp_path))
    assert "Report: not written (could not write the report" in human.output


def test_an_unexpected_error_is_one_json_document_and_debug_shows_the_traceback(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("minillm_core.cli.make_plan", broken)
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert json.loads(result.stdout)["error"] == "RuntimeError: boom"
    assert "--debug" in json.loads(result.stdout)["hint"]
    debug = invoke("run", "pretrain", "--workdir", str(tmp_path), "--json", "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr and "RuntimeError: boom" in debug.stderr
    assert json.loads(debug.stdout)["status"] == "failed"


def test_a_crashing_skill_shows_no_traceback_unless_debug(tmp_path):
    add_test_skill(tmp_path, "crashes", lambda ctx: 1 / 0)
    result = invoke("run", "crashes", "--workdir", str(tmp_path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: ZeroDivisionError: division by zero" in result.stdout
    debug = invoke("run", "crashes", "--workdir", str(tmp_path), "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr
