"""Long runs: `run --detach`, `status`, `stop` (a checkpoint at the next step, then resume), one run per stage
and work directory, and a stale lock taken over. Real processes, real signals, the tiny preset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minillm_core.runs.stopping import STOP, graceful_stop, training_started
from minillm_core.train.checkpoints import MARKER
from tests.helpers import add_test_skill, invoke, wait_for

ENV = {**os.environ, "MINILLM_LOAD_PLUGINS": "", "HF_HUB_OFFLINE": "1"}
CLI = [sys.executable, "-m", "minillm_core"]
# save_steps beyond max_steps: the only checkpoint is the one a stop makes.
TINY = ["--set", "preset=tiny", "--set", "max_steps=40", "--set", "log_steps=1", "--set", "save_steps=1000"]
# The detached run must outlast the status, second-run and stop commands that follow it (each a new Python
# process, slow to start on a busy machine: beside one busy process they outlasted a 40-step run).
DETACHED_STEPS = 100
DETACHED = [*TINY, "--set", f"max_steps={DETACHED_STEPS}"]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def status(workdir: Path, run_id: str = "") -> dict:
    result = cli("status", *([run_id] if run_id else []), "--workdir", str(workdir), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def logged_step(workdir: Path, name: str = "pretrain") -> int:
    """The last step a running stage logged (its log is `<name>.partial.jsonl` until its model is saved)."""
    try:
        lines = (workdir / "logs" / f"{name}.partial.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    return json.loads(lines[-1])["step"] if lines else 0


@pytest.mark.slow
def test_a_detached_run_is_followed_stopped_and_resumed(tmp_path):
    started = cli("run", "pretrain", "--detach", "--json", "--workdir", str(tmp_path), *DETACHED)
    assert started.returncode == 0, started.stderr
    run = json.loads(started.stdout)
    assert run["status"] == "running" and run["pid"] > 0 and run["run_id"] in run["status_command"]
    assert (tmp_path / run["log"]).is_file()

    # status follows it without disturbing it: the steps advance, with loss, speed and ETA.
    first = wait_for(lambda: (s := status(tmp_path, run["run_id"]))["stages"] and s["stages"][0].get("step") and s,
                     "a logged step")
    assert first["status"] == "running" and first["skill"] == "pretrain"
    stage = first["stages"][0]
    assert stage["status"] == "running" and stage["total_steps"] == DETACHED_STEPS and stage["loss"] > 0
    assert stage["last_sample"]["step"] == 0
    later = wait_for(lambda: (s := status(tmp_path))["stages"][0]["step"] > stage["step"] and s, "a later step")
    assert later["run_id"] == run["run_id"]  # without an id: the run that is running
    assert later["stages"][0]["eta_s"] is not None  # from the second step on (the first only starts the clock)

    # A second run of the stage is refused at once (exit 3), naming the running one.
    second = cli("run", "pretrain", "--detach", "--json", "--workdir", str(tmp_path), *DETACHED)
    assert second.returncode == 3, second.stderr
    assert f"pid {run['pid']}" in json.loads(second.stdout)["stages"][0]["error"]

    stopped = cli("stop", run["run_id"], "--workdir", str(tmp_path), "--json")
    assert stopped.returncode == 0, stopped.stderr
    state = json.loads(stopped.stdout)
    assert state["status"] == "stopped" and state["stop"] == "stopped"
    report = state["report"]["stages"][0]
    step = report["metrics"]["stopped_at_step"]
    assert report["status"] == "stopped" and 0 < step < DETACHED_STEPS and "resumes from step" in report["hint"]
    assert (tmp_path / report["metrics"]["checkpoint"] / MARKER).is_file()
    assert report["metrics"]["checkpoint"].endswith(f"checkpoint-{step}")
    assert not (tmp_path / "out" / "pretrain").exists()  # no final model from a stopped run
    assert "run the same command again" in state["hint"]

    resumed = cli("run", "pretrain", "--json", "--workdir", str(tmp_path), *DETACHED)
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads(resumed.stdout)["stages"][0]["metrics"]
    assert metrics["resumed_from_step"] == step and metrics["steps"] == DETACHED_STEPS
    assert (tmp_path / "out" / "pretrain" / "model.safetensors").is_file()

    runs = json.loads(cli("runs", "--workdir", str(tmp_path), "--json").stdout)
    assert [r["status"] for r in runs] == ["ok", "stopped"] and runs[1]["run_id"] == run["run_id"]


@pytest.mark.slow
def test_ctrl_c_stops_a_foreground_run_at_the_next_step(tmp_path):
    process = subprocess.Popen([*CLI, "run", "pretrain", "--json", "--workdir", str(tmp_path), *TINY],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(lambda: logged_step(tmp_path) >= 2 or process.poll() is not None, "step 2")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 4, err  # stopped on request
    report = json.loads(out)
    assert report["status"] == "stopped" and report["stages"][0]["status"] == "stopped"
    assert "stopping after this step" in err
    checkpoint = tmp_path / report["stages"][0]["metrics"]["checkpoint"]
    assert (checkpoint / MARKER).is_file()
    assert "stopped (resumable)" in (tmp_path / "reports" / "latest.md").read_text()


@pytest.mark.slow
def test_two_runs_of_one_stage_at_once_exactly_one_runs(tmp_path):
    command = [*CLI, "run", "pretrain", "--json", "--workdir", str(tmp_path), *TINY]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
                 for _ in range(2)]
    results = [(p, *p.communicate(timeout=300)) for p in processes]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 3], [err[-2000:] for _, _, err in results]
    (winner, won, _), (loser, lost, _) = sorted(results, key=lambda r: r[0].returncode)
    refusal = json.loads(lost)
    assert refusal["status"] == "precondition_failed" and refusal["reports"] is None
    stage = refusal["stages"][0]
    assert f"pid {winner.pid}" in stage["error"] and stage["metrics"]["locked_by"]["pid"] == winner.pid
    assert "minillm-skill status" in stage["hint"] and "minillm-skill stop" in stage["hint"]

    # Nothing corrupted: the winner's model, log and report are whole, and the refused run wrote nothing.
    report = json.loads(won)
    assert report["status"] == "ok"
    steps = [json.loads(line)["step"] for line in (tmp_path / "logs" / "pretrain.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 41))
    assert json.loads((tmp_path / "reports" / "latest.json").read_text())["run_id"] == report["run_id"]
    assert [p.name for p in (tmp_path / "logs" / "runs").glob("*.json")] == [f"{report['run_id']}.json"]
    assert (tmp_path / "out" / "pretrain" / "model.safetensors").is_file()


@pytest.mark.slow
def test_a_killed_run_reads_as_died_its_lock_is_taken_over_and_it_resumes(tmp_path):
    """SIGKILL after a checkpoint: no report, no model; `status` says died, and the same command takes the
    lock over and resumes from the last whole checkpoint."""
    command = ["run", "pretrain", "--json", "--workdir", str(tmp_path), *TINY, "--set", "save_steps=5"]
    started = json.loads(cli(*command, "--detach").stdout)
    checkpoints = tmp_path / "out" / ".checkpoints" / "pretrain"
    wait_for(lambda: list(checkpoints.glob(f"checkpoint-*/{MARKER}")), "a whole checkpoint")
    os.kill(started["pid"], signal.SIGKILL)
    wait_for(lambda: status(tmp_path, started["run_id"])["status"] == "died", "the run to read as died")
    assert "run the same command again" in status(tmp_path)["hint"]
    assert not (tmp_path / "out" / "pretrain").exists()

    again = cli(*command)
    assert again.returncode == 0, again.stderr
    assert f"taking over the lock on pretrain left by pid {started['pid']}" in again.stderr
    metrics = json.loads(again.stdout)["stages"][0]["metrics"]
    assert metrics["resumed_from_step"] >= 5 and metrics["steps"] == 40
    assert (tmp_path / "out" / "pretrain" / "model.safetensors").exists()
    log_steps = [json.loads(line)["step"] for line in (tmp_path / "logs" / "pretrain.jsonl").read_text().splitlines()]
    assert log_steps[-1] == 40


def test_a_stage_with_no_step_to_wait_for_stops_at_once(tmp_path):
    def stopped_by_a_signal(ctx):
        os.kill(os.getpid(), signal.SIGTERM)  # a download or eval, say: nothing to finish first
        time.sleep(5)
        raise AssertionError("the signal did not stop the stage")

    add_test_skill(tmp_path, "slow-one", stopped_by_a_signal)
    result = invoke("run", "slow-one", "--workdir", str(tmp_path), "--json")
    assert result.exit_code == 4, result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["status"] == "stopped" and stage["summary"] == "stopped at once"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the run's handler is gone with the run


def test_a_second_signal_stops_training_at_once():
    with graceful_stop():
        training_started()
        STOP.handle(signal.SIGINT, None)
        assert STOP.requested  # the first: at the next step boundary
        with pytest.raises(KeyboardInterrupt):
            STOP.handle(signal.SIGINT, None)


@pytest.mark.parametrize("args", [["status"], ["stop"], ["status", "../../etc/passwd"],
                                  ["status", "20261130-000000-x-ab12"]])
def test_status_and_stop_name_what_is_missing(tmp_path, args):
    result = invoke(*args, "--workdir", str(tmp_path))
    assert result.exit_code == 2
    assert "minillm-skill runs" in result.output or "minillm-skill run NAME" in result.output


@pytest.mark.parametrize("command", [["runs", "--workdir"], ["status", "--workdir"], ["list", "--json"]])
def test_polling_and_listing_are_cheap_they_load_no_torch(tmp_path, command):
    """`status`, `runs` and `stop` load no plugin; `list` loads the skills but no library: 0.2 s a call, not 4."""
    argv = ["minillm-skill", *command, *([str(tmp_path)] if command[-1] == "--workdir" else [])]
    script = ("import atexit, sys; atexit.register(lambda: print(sorted(m for m in ('torch', 'transformers', "
              f"'datasets') if m in sys.modules), file=sys.stderr)); sys.argv = {argv!r}; "
              "from minillm_core.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode in (0, 2), result.stderr  # status in an empty work directory: exit 2, no run
    assert result.stderr.strip().splitlines()[-1] == "[]"
