"""The CLI through click's CliRunner: every command, every exit code, stdout purity under --json."""

from __future__ import annotations

import json

import pytest

from minillm_core.contract.skill import SkillError, StageResult
from tests.helpers import add_test_skill, invoke

BUILTIN_SKILLS = {"bot-start", "env-check", "download-data", "tokenizer", "pretrain", "sft", "dpo", "eval", "report"}


def test_list_shows_every_builtin_skill_with_source_and_preconditions():
    result = invoke("list", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert BUILTIN_SKILLS <= set(rows)
    assert rows["dpo"]["requires"] == ["sft"] and rows["dpo"]["source"] == "builtin"
    assert rows["bot-start"]["steps"] == ["env-check", "download-data", "tokenizer", "pretrain", "sft", "dpo",
                                            "eval", "report"]
    text = invoke("list").stdout
    assert "needs: sft" in text and all(name in text for name in BUILTIN_SKILLS)


def test_show_prints_skill_md_and_unknown_skill_is_usage_error():
    result = invoke("show", "dpo")
    assert result.exit_code == 0 and result.stdout.startswith("---\nname: dpo\n")
    missing = invoke("show", "nope")
    assert missing.exit_code == 2
    assert "unknown skill 'nope'" in missing.stderr and "bot-start" in missing.stderr


def test_run_unknown_skill_exits_2_naming_the_skills(tmp_path):
    result = invoke("run", "nope", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"status": "usage_error", "error": result.stderr.split("Error: ")[1].strip(),
                                         "hint": "see `cli run --help`", "command": "cli run"}
    assert "skills: bot-start, distill, download-data" in result.stderr


@pytest.mark.parametrize("pair, message", [
    ("nosuchkey=1", "unknown option 'nosuchkey' for this run; valid options: answer_check, args, batch_size"),
    ("lr", "--set expects KEY=VALUE"),
    ("max_steps=lots", "'max_steps': 'lots' is not a valid int"),
    ("nostep.lr=1", "'nostep' is not a step of this run"),
    *[(f"threads={value}", f"option 'threads': '{value}' is not allowed: must be auto or a whole number from 1")
      for value in ("0", "many", "-2")],
])
def test_bad_options_are_usage_errors(tmp_path, pair, message):
    result = invoke("run", "sft", "--workdir", str(tmp_path), "--set", pair)
    assert result.exit_code == 2
    assert message in result.stderr


def test_dpo_in_empty_workdir_exits_3_naming_what_is_missing_and_who_makes_it(tmp_path):
    result = invoke("run", "dpo", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    stage = report["stages"][0]
    assert report["status"] == stage["status"] == "precondition_failed"
    assert "out/sft" in stage["error"]
    assert "minillm-skill run sft" in stage["hint"]
    assert not (tmp_path / "out").exists()  # nothing ran


def test_dry_run_prints_plan_and_runs_nothing(tmp_path):
    ready = invoke("run", "bot-start", "--workdir", str(tmp_path), "--dry-run", "--json")
    assert ready.exit_code == 0
    plan = json.loads(ready.stdout)
    assert [s["skill"] for s in plan["stages"]][:4] == ["env-check", "download-data", "tokenizer", "pretrain"]
    sft_check = next(s for s in plan["stages"] if s["skill"] == "sft")["checks"][0]
    assert sft_check["holds"] and "earlier in this run" in sft_check["detail"]
    not_ready = invoke("run", "dpo", "--workdir", str(tmp_path), "--dry-run")
    assert not_ready.exit_code == 3
    assert "[MISSING] the output of sft (out/sft)" in not_ready.stdout
    assert not (tmp_path / "reports").exists()


def test_init_replaces_the_required_model(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    not_a_model = invoke("run", "dpo", "--workdir", str(tmp_path), "--dry-run", "--set", f"init={model}")
    assert not_a_model.exit_code == 3 and f"{model} is not a model folder (it has no config.json)" in not_a_model.stdout
    (model / "config.json").write_text("{}")
    result = invoke("run", "dpo", "--workdir", str(tmp_path), "--dry-run", "--set", f"init={model}")
    assert result.exit_code == 0 and f"found {model}" in result.stdout
    missing = invoke("run", "dpo", "--workdir", str(tmp_path), "--dry-run", "--set", "init=./absent")
    assert missing.exit_code == 3 and "check the path given to `--set init=...`" in missing.stdout


def test_a_plugin_skill_is_listed_and_run(tmp_path):
    add_test_skill(tmp_path, "greet", lambda ctx: StageResult("said hello", metrics={"greetings": 1}))
    listing = json.loads(invoke("list", "--json").stdout)
    assert {"name": "greet", "source": "test-greet"}.items() <= next(r for r in listing if r["name"] == "greet").items()
    result = invoke("run", "greet", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["stages"][0]["metrics"] == {"greetings": 1}
    assert (tmp_path / "reports" / "latest.json").exists() and (tmp_path / "reports" / "latest.md").exists()


def test_a_failing_skill_exits_1_with_error_and_hint(tmp_path):
    def fail(ctx):
        raise SkillError("the data is bad", hint="run `minillm-skill run download-data`")

    add_test_skill(tmp_path, "breaks", fail)
    result = invoke("run", "breaks", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 1
    stage = json.loads(result.stdout)["stages"][0]
    assert (stage["status"], stage["error"], stage["hint"]) == (
        "failed", "the data is bad", "run `minillm-skill run download-data`")


def test_a_skill_that_crashes_still_ends_in_a_report(tmp_path):
    add_test_skill(tmp_path, "crashes", lambda ctx: 1 / 0)
    result = invoke("run", "crashes", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 1
    assert "ZeroDivisionError" in json.loads(result.stdout)["stages"][0]["error"]
    assert json.loads((tmp_path / "reports" / "latest.json").read_text())["status"] == "failed"


def test_env_check_runs_and_reports_the_machine(git_workdir):
    result = invoke("run", "env-check", "--workdir", str(git_workdir), "--json")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    assert metrics["cpu_cores"] >= 1 and metrics["ram_gb"] > 0 and metrics["packages"]["torch"]
    assert metrics["hub_reachable"] is False  # HF_HUB_OFFLINE=1 in the suite
    assert metrics["git_ignores"] == {f"{d}/.probe": True for d in ("dataset", "out", "logs", "reports")}


def test_plugins_command_lists_none_by_default():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"plugins": [], "problems": []}
    assert "No third-party plugins installed" in invoke("plugins").stdout


def test_a_dataset_that_is_not_downloaded_or_unknown_is_a_precondition_failure(tmp_path):
    hub = invoke("run", "pretrain", "--workdir", str(tmp_path), "--set", "dataset=minimind-pretrain", "--json")
    assert hub.exit_code == 3
    stage = json.loads(hub.stdout)["stages"][0]
    assert "not downloaded yet" in stage["error"]
    assert stage["hint"] == "run `minillm-skill run download-data --set dataset=minimind-pretrain`"
    unknown = invoke("run", "sft", "--workdir", str(tmp_path), "--set", "dataset=no-such-data", "--dry-run")
    assert unknown.exit_code == 3 and "embedded-sft" in unknown.stdout  # lists the registered names


def test_presets_list_and_copy(tmp_path):
    listing = json.loads(invoke("presets", "list", "--json").stdout)
    assert [row["name"] for row in listing][:2] == ["tiny", "minimind2-small"]
    copied = invoke("presets", "copy", "minimind2-small", str(tmp_path))
    assert copied.exit_code == 0
    path = tmp_path / "minimind2-small.yaml"
    assert "hidden_size: 512" in path.read_text()
    plan = invoke("run", "pretrain", "--workdir", str(tmp_path), "--set", f"preset={path}", "--dry-run", "--json")
    assert json.loads(plan.stdout)["stages"][0]["settings"]["preset"] == str(path)
    assert invoke("presets", "copy", "nope", str(tmp_path)).exit_code == 2


@pytest.mark.parametrize("args, message", [
    (["status", "nosuchrun"], "nosuchrun"),
    (["status", "20261207-000000-pretrain-abcd"], "is not a readable run record"),
    (["runs", "--workdir", "notes.txt"], "notes.txt' is a file"),
    (["chat", "--temperature", "-1", "--prompt", "hi"], "'--temperature'"),
    (["list", "--bogus"], "No such option '--bogus'"),
    (["plugins", "extra"], "unexpected extra argument"),
    (["--hook-timeout", "inf", "list"], "'--hook-timeout': inf is not in the range"),
])
def test_a_usage_error_click_finds_is_one_json_document_under_json(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "logs" / "runs").mkdir(parents=True)
    (tmp_path / "logs" / "runs" / "20261207-000000-pretrain-abcd.json").write_text("{cut sho")
    result = invoke(*args, "--json")
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)  # one document, nothing else on stdout
    assert document["status"] == "usage_error" and message in document["error"], document
    assert document["hint"].startswith("see `") and "Traceback" not in result.output
    assert message in invoke(*args).stderr  # the same error for people
