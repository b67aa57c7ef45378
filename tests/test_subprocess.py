"""The installed `minillm-skill` command in a real process: exit codes and stdout purity under --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ECHO_PLUGIN, make_distribution, make_skill_folder

COMMAND = [sys.executable, "-c", "from minillm_core.cli import main; main()"]


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "MINILLM_LOAD_PLUGINS": "", **(env or {})}
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


def test_list_and_show():
    listing = cli("list", "--json")
    assert listing.returncode == 0
    assert len({row["name"] for row in json.loads(listing.stdout)}) >= 8
    shown = cli("show", "bot-start")
    assert shown.returncode == 0 and "name: bot-start" in shown.stdout


SUBPROCESS = pytest.mark.slow  # a few seconds each to start; the usage errors stay in the fast suite


@pytest.mark.parametrize("args, code", [
    (["run", "nope"], 2), (["run", "sft", "--set", "bogus=1"], 2),
    pytest.param(["run", "dpo"], 3, marks=SUBPROCESS), pytest.param(["run", "dpo", "--dry-run"], 3, marks=SUBPROCESS),
    pytest.param(["run", "bot-start", "--dry-run"], 0, marks=SUBPROCESS),
])
def test_exit_codes_and_one_json_document_on_stdout(tmp_path, args, code):
    result = cli(*args, "--workdir", str(tmp_path), "--json")
    assert result.returncode == code, result.stderr
    json.loads(result.stdout)  # exactly one JSON document, nothing else


def test_noise_from_a_skill_goes_to_stderr_under_json(tmp_path):
    site = tmp_path / "site"
    make_distribution(site, "minillm-skill-echo", "echo_plugin", ECHO_PLUGIN)
    make_skill_folder(site, "echo")
    env = {"PYTHONPATH": str(site), "MINILLM_LOAD_PLUGINS": "minillm-skill-echo"}
    result = cli("run", "echo", "--workdir", str(tmp_path / "work"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stages"][0]["summary"] == "echoed hello"
    assert "noise from print" in result.stderr and "noise from the fd" in result.stderr
    plugins = json.loads(cli("plugins", "--json", env=env).stdout)["plugins"]
    assert [p["skills"] for p in plugins] == [["echo"]]
