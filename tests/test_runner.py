"""The runner: settings, up-to-date skipping, failure handling, reports and the git check."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from minillm_core.contract.options import Option, OptionError
from minillm_core.contract.skill import Skill, StageResult
from minillm_core.plugins.host import get_host
from minillm_core.run_commands import _describe_state
from minillm_core.runner.plan import make_plan, run_plan
from minillm_core.runs.status import describe
from minillm_core.util.atomic import write_text_atomic
from tests.helpers import SkillsPlugin, make_skill_folder


def register(tmp_path: Path, *skills: Skill) -> None:
    get_host().register(SkillsPlugin(*skills), name="test-" + "-".join(s.name for s in skills))


def counting_skill(tmp_path: Path, name: str, calls: list, produces: str = "", requires: str = "",
                   options: dict | None = None) -> Skill:
    def run(ctx):
        calls.append(name)
        for path in produces.split():
            ctx.path(path).mkdir(parents=True, exist_ok=True)
        return StageResult(f"{name} done", metrics={"n": len(calls)})

    metadata = {key: value for key, value in (("produces", produces), ("requires", requires)) if value}
    folder = make_skill_folder(tmp_path / "skills", name, metadata=metadata)
    return Skill.from_folder(folder, run=run, options=options or {})


def test_config_file_and_set_precedence_scoping_and_paths(tmp_path):
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    config = config_dir / "run.yaml"
    config.write_text("lr: 0.001\nbatch_size: 4\nsft:\n  lr: 0.0002\n  dataset: data/sft.jsonl\n")
    cwd = tmp_path / "elsewhere"
    plan = make_plan(get_host(), "bot-start", tmp_path / "work", config=config,
                     sets=["batch_size=8", "pretrain.init=./base-model", "dpo.init=org/hub-model"], cwd=cwd)
    settings = {stage.skill.name: stage.context.settings for stage in plan.stages}
    assert settings["pretrain"]["lr"] == 0.001 and settings["sft"]["lr"] == 0.0002  # scoped beats plain
    assert settings["pretrain"]["batch_size"] == settings["dpo"]["batch_size"] == 8  # --set beats config
    assert settings["sft"]["dataset"] == str(config_dir / "data" / "sft.jsonl")  # config: its own folder
    assert settings["pretrain"]["init"] == str(cwd / "base-model")  # --set: the current directory
    assert settings["dpo"]["init"] == "org/hub-model"  # a hub id stays a name
    assert settings["sft"]["dataset"] != settings["pretrain"]["dataset"] == "embedded-pretrain"


def test_unknown_key_in_config_lists_valid_keys(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("sft:\n  learning_rate: 0.1\n")
    with pytest.raises(OptionError, match="unknown option 'learning_rate' for skill 'sft'; valid options: .*lr"):
        make_plan(get_host(), "bot-start", tmp_path, config=config)
    with pytest.raises(OptionError, match="config file not found"):
        make_plan(get_host(), "sft", tmp_path, config=tmp_path / "missing.yaml")


def test_up_to_date_stage_is_skipped_until_settings_or_inputs_change(tmp_path):
    calls: list[str] = []
    options = {"size": Option("size", int, 1, "a number")}
    register(tmp_path, counting_skill(tmp_path, "make", calls, produces="out/make", options=options),
             counting_skill(tmp_path, "use", calls, produces="out/use", requires="make"))
    host = get_host()

    def run(name, *sets, force=False):
        return run_plan(host, make_plan(host, name, tmp_path, sets=sets, force=force))

    assert run("make")["stages"][0]["status"] == "ok"
    again = run("make")["stages"][0]
    assert again["status"] == "skipped" and again["summary"].startswith("up to date")
    assert again["metrics"] == {"n": 1}  # the earlier result is reported
    assert run("make", force=True)["stages"][0]["status"] == "ok"
    assert run("make", "size=2")["stages"][0]["status"] == "ok"  # settings changed
    assert run("use")["stages"][0]["status"] == "ok"
    assert run("use")["stages"][0]["status"] == "skipped"
    run("make", "size=3")  # the upstream stage changed: "use" must run again
    assert run("use")["stages"][0]["status"] == "ok"
    assert calls == ["make", "make", "make", "use", "make", "use"]


def test_an_edited_input_file_makes_the_stage_run_again(tmp_path):
    calls: list[str] = []
    data = tmp_path / "data.txt"
    data.write_text("one")
    skill = counting_skill(tmp_path, "reads", calls, produces="out/reads")
    skill.inputs = lambda ctx: [data]
    register(tmp_path, skill)
    host = get_host()

    def status() -> str:
        return run_plan(host, make_plan(host, "reads", tmp_path))["stages"][0]["status"]

    assert [status(), status()] == ["ok", "skipped"]
    data.write_text("two words")
    assert status() == "ok" and calls == ["reads", "reads"]


def register_pipeline(tmp_path: Path, calls: list, second, first_produces: str = "") -> None:
    """Skill "pipeline" with steps first, second (runs `second`), third; first and third count their calls."""
    register(tmp_path, counting_skill(tmp_path, "first", calls, produces=first_produces),
             Skill.from_folder(make_skill_folder(tmp_path / "skills", "second"), run=second),
             counting_skill(tmp_path, "third", calls),
             Skill.from_folder(make_skill_folder(tmp_path / "skills", "pipeline",
                                                 metadata={"steps": "first second third"})))


def test_a_failed_stage_stops_the_pipeline_and_later_stages_are_skipped(tmp_path):
    calls: list[str] = []

    def fail(ctx):
        raise RuntimeError("disk on fire")

    register_pipeline(tmp_path, calls, second=fail)
    host = get_host()
    report = run_plan(host, make_plan(host, "pipeline", tmp_path))
    assert [(s["skill"], s["status"]) for s in report["stages"]] == [
        ("first", "ok"), ("second", "failed"), ("third", "skipped")]
    assert report["status"] == "failed" and calls == ["first"]
    assert report["stages"][1]["error"] == "RuntimeError: disk on fire"
    assert report["stages"][2]["summary"] == "not run: second failed"


def test_a_stopped_stage_ends_the_pipeline_and_a_rerun_resumes_after_the_finished_ones(tmp_path):
    calls: list[str] = []
    stops = iter([True])

    def stopped_once(ctx):
        if next(stops, False):
            raise KeyboardInterrupt  # what a signal does to a stage with no training step to wait for
        calls.append("second")
        return StageResult("done")

    register_pipeline(tmp_path, calls, second=stopped_once, first_produces="out/first")
    host = get_host()
    report = run_plan(host, make_plan(host, "pipeline", tmp_path))
    assert [(s["skill"], s["status"]) for s in report["stages"]] == [
        ("first", "ok"), ("second", "stopped"), ("third", "skipped")]
    assert report["status"] == "stopped" and "run pipeline" in report["stages"][1]["hint"]
    assert report["stages"][2]["summary"] == "not run: second stopped"
    record = json.loads((tmp_path / "logs" / "runs" / f"{report['run_id']}.json").read_text())
    assert [s["status"] for s in record["stages"]] == ["ok", "stopped", "skipped"] and record["status"] == "stopped"

    again = run_plan(host, make_plan(host, "pipeline", tmp_path))
    assert [s["status"] for s in again["stages"]] == ["skipped", "ok", "ok"]  # first: up to date, not re-run
    assert calls == ["first", "second", "third"]


def test_a_skill_that_calls_sys_exit_fails_with_a_report(tmp_path):
    def leave(ctx):
        raise SystemExit(4)

    register(tmp_path, Skill.from_folder(make_skill_folder(tmp_path / "skills", "quitter"), run=leave))
    host = get_host()
    report = run_plan(host, make_plan(host, "quitter", tmp_path))
    assert report["status"] == "failed" and report["stages"][0]["error"] == "SystemExit: 4"
    assert (tmp_path / "reports" / "latest.json").exists()


def test_reports_are_written_with_a_history_copy(tmp_path):
    host = get_host()
    report = run_plan(host, make_plan(host, "report", tmp_path))
    latest = json.loads((tmp_path / "reports" / "latest.json").read_text())
    # The file is the work directory's: its workdir is "."; stdout's report names the folder.
    assert latest == {**json.loads(json.dumps(report, default=str)), "workdir": "."}
    assert report["workdir"] == str(tmp_path.resolve())
    assert report["reports"]["history_json"] == f"reports/history/{report['run_id']}.json"
    assert json.loads((tmp_path / report["reports"]["history_json"]).read_text()) == latest
    markdown = (tmp_path / "reports" / "latest.md").read_text()
    assert markdown.startswith("# minillm-skill run report: ok")
    assert "CPU cores" in markdown and "torch " in markdown  # the header: machine and versions
    assert markdown.rstrip().endswith("Not checked: the work directory is not inside a git repository.")


def test_runs_in_the_same_second_each_keep_their_own_report(tmp_path, monkeypatch):
    real = time.strftime
    monkeypatch.setattr(time, "strftime", lambda fmt, *_: real(fmt, (2026, 11, 30, 12, 0, 0, 0, 334, 0)))
    register(tmp_path, counting_skill(tmp_path, "quick", []))
    host = get_host()
    reports = [run_plan(host, make_plan(host, "quick", tmp_path)) for _ in range(4)]
    ids = [report["run_id"] for report in reports]
    assert len(set(ids)) == 4 and all(run_id.startswith("20261130-120000-quick-") for run_id in ids)
    assert len(list((tmp_path / "reports" / "history").glob("*.json"))) == 4
    for run_id in ids:  # `status RUN` shows that run's own report, not the last one of its second
        assert describe(tmp_path, run_id)["report"]["run_id"] == run_id


def test_two_runs_writing_latest_json_at_once_each_write_it_whole(tmp_path):
    target = tmp_path / "reports" / "latest.json"
    failures = []

    def write(text: str) -> None:
        try:
            for _ in range(300):
                write_text_atomic(target, text)
        except OSError as exc:  # one temporary file for both: renamed from under the other writer
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(letter * 20000,)) for letter in "ab"]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == [] and target.read_text() in ("a" * 20000, "b" * 20000)
    assert list(target.parent.iterdir()) == [target]  # no temporary file left


def test_reports_and_run_records_name_paths_inside_the_work_directory_relative_to_it(tmp_path):
    work, outside = (tmp_path / "work").resolve(), (tmp_path / "elsewhere" / "data.txt").resolve()

    def run(ctx):
        ctx.note(log=str(ctx.path("logs/paths.jsonl")))
        model = str(ctx.path("out/model"))
        return StageResult("done", metrics={"model": {"path": model}}, artifacts=[model, "logs/paths.jsonl"])

    options = {name: Option(name, str, None, "a path", is_path=True) for name in ("init", "data")}
    register(tmp_path, Skill.from_folder(make_skill_folder(tmp_path / "skills", "paths"), run=run, options=options))
    (work / "out" / "base").mkdir(parents=True)
    (work / "out" / "base" / "config.json").write_text("{}")  # init's precondition: a model folder
    host = get_host()
    report = run_plan(host, make_plan(host, "paths", work, sets=["init=out/base", f"data={outside}"], cwd=work))
    latest_text = (work / "reports" / "latest.json").read_text()
    latest = json.loads(latest_text)
    stage = latest["stages"][0]
    assert latest["workdir"] == "." and str(work) not in latest_text
    assert stage["settings"] == {"init": "out/base", "data": str(outside)}  # a path outside stays as given
    assert stage["artifacts"] == ["out/model", "logs/paths.jsonl"] and stage["metrics"]["model"]["path"] == "out/model"
    assert report["stages"] == latest["stages"] and report["workdir"] == str(work)  # stdout: the same, and where

    record = json.loads((work / "logs" / "runs" / f"{report['run_id']}.json").read_text())
    assert record["workdir"] == "." and record["stages"][0]["log"] == "logs/paths.jsonl"
    assert record["report"] == report["reports"]["history_json"]
    # What reads them still finds the files: status, with its Report line, and the report in it.
    state = describe(work, report["run_id"])
    assert state["report"] == latest and state["workdir"] == str(work)
    assert f"Report: {work / report['reports']['history_markdown']}" in _describe_state(state)


def test_git_check_clean_in_a_repository_that_ignores_outputs(git_workdir):
    host = get_host()
    report = run_plan(host, make_plan(host, "report", git_workdir))
    assert report["git"]["checked"] and report["git"]["clean"]
    assert "## Git check\n\nClean" in (git_workdir / "reports" / "latest.md").read_text()


def test_git_check_names_a_tracked_file_the_run_changed(git_workdir, tmp_path):
    def scribble(ctx):
        (ctx.workdir / "notes.txt").write_text("changed by the run\n")
        (ctx.workdir / "stray.txt").write_text("not ignored\n")
        return StageResult("scribbled")

    register(tmp_path, Skill.from_folder(make_skill_folder(tmp_path / "skills", "scribble"), run=scribble))
    host = get_host()
    git = run_plan(host, make_plan(host, "scribble", git_workdir))["git"]
    assert (git["clean"], git["changed"], git["untracked"]) == (False, ["notes.txt"], ["stray.txt"])
    assert git["dirty_before_run"] == []
    assert "**Not clean**: changed tracked files: `notes.txt`" in (git_workdir / "reports" / "latest.md").read_text()
