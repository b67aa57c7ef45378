"""A plugin cannot take the CLI down: sys.exit, print at import, a hook that hangs, a misspelled hook.

Each time the CLI keeps working (the built-in skills and the echo plugin stay usable) and the problem
names the plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.plugins.host import get_host, reset_host
from tests.helpers import ECHO_PLUGIN, make_distribution, make_skill_folder

REPO = Path(__file__).resolve().parents[1]

EXITS_ON_IMPORT = "import sys\nsys.exit(3)\n"
PRINTS_ON_IMPORT = '''
import os
print("hello from a chatty plugin")
os.write(1, b"and from its file descriptor\\n")
'''
HOOK_EXITS = '''
import sys
from minillm_core.plugins.hookspecs import hookimpl

@hookimpl
def register_skills(register):
    sys.exit(4)
'''
HOOK_HANGS = '''
import time
from minillm_core.plugins.hookspecs import hookimpl

@hookimpl
def register_skills(register):
    time.sleep(600)
'''
MISSPELLED = '''
from minillm_core.plugins.hookspecs import hookimpl

@hookimpl
def register_skillz(register):
    pass
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path with the echo plugin installed, plus whatever broken plugin the test adds."""
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("MINILLM_LOAD_PLUGINS")
    make_distribution(site, "minillm-skill-echo", "echo_plugin", ECHO_PLUGIN)
    make_skill_folder(site, "echo")
    return site


def problems_of(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {p["plugin"]: p for p in json.loads(result.stdout)["problems"]}


def assert_cli_works(workdir: Path) -> None:
    """`list` shows the built-in and the echo skill, and the echo skill runs."""
    listed = CliRunner().invoke(cli, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {"bot-start", "echo"} <= {row["name"] for row in json.loads(listed.stdout)}
    ran = CliRunner().invoke(cli, ["run", "echo", "--workdir", str(workdir), "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["stages"][0]["summary"] == "echoed hello"


def test_sys_exit_at_import_is_a_problem_of_that_plugin(site, tmp_path):
    make_distribution(site, "minillm-skill-quitter", "quitter", EXITS_ON_IMPORT)
    problem = problems_of(CliRunner().invoke(cli, ["plugins", "--json"]))["minillm-skill-quitter"]
    assert problem["when"] == "import"
    assert problem["error"].startswith("SystemExit: the plugin called sys.exit(3)")
    assert_cli_works(tmp_path)


def test_sys_exit_in_a_hook_is_a_problem_of_that_plugin(site, tmp_path):
    make_distribution(site, "minillm-skill-hook-quitter", "hook_quitter", HOOK_EXITS)
    problem = problems_of(CliRunner().invoke(cli, ["plugins", "--json"]))["minillm-skill-hook-quitter"]
    assert problem["when"] == "register_skills"
    assert "sys.exit(4)" in problem["error"]
    assert_cli_works(tmp_path)
    text = CliRunner().invoke(cli, ["list"])
    assert text.exit_code == 0 and "plugin minillm-skill-hook-quitter (register_skills)" in text.stderr


def test_print_at_import_leaves_json_alone(site, tmp_path):
    """Through the real entry point (a process of its own, so file descriptor 1 is real): the host is built
    before click parses the arguments, and whatever the plugin prints then goes to stderr."""
    make_distribution(site, "minillm-skill-chatty", "chatty", PRINTS_ON_IMPORT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "OMP_NUM_THREADS": "1"}
    env.pop("MINILLM_LOAD_PLUGINS", None)
    for command in (["list", "--json"], ["plugins", "--json"],
                    ["run", "echo", "--workdir", str(tmp_path), "--json"]):
        done = subprocess.run([sys.executable, "-m", "minillm_core", *command], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout)  # exactly one JSON document
        assert "hello from a chatty plugin" in done.stderr and "and from its file descriptor" in done.stderr
    assert {row["name"] for row in json.loads(
        subprocess.run([sys.executable, "-m", "minillm_core", "list", "--json"], env=env, capture_output=True,
                       text=True, timeout=120).stdout)} >= {"echo", "bot-start"}


def test_a_hook_that_hangs_times_out_and_is_named(site, tmp_path, monkeypatch):
    make_distribution(site, "minillm-skill-sleeper", "sleeper", HOOK_HANGS)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--hook-timeout", "1", "plugins", "--json"])
    assert time.monotonic() - started < 30
    problem = problems_of(result)["minillm-skill-sleeper"]
    assert problem["when"] == "register_skills"
    assert problem["error"].startswith("HookTimeout: did not return within 1 s")
    monkeypatch.setenv("MINILLM_HOOK_TIMEOUT", "1")  # the environment variable does the same
    reset_host()
    assert get_host().hook_timeout == 1.0
    assert_cli_works(tmp_path)
    assert any(p.plugin == "minillm-skill-sleeper" and p.when == "register_skills" for p in get_host().problems)


def test_a_stage_observer_that_hangs_does_not_hang_the_run(tmp_path):
    from minillm_core.plugins.hookspecs import hookimpl

    class Observer:
        @hookimpl
        def stage_finished(self, stage):
            time.sleep(600)

    host = get_host()
    host.register(Observer(), name="slow-tracker")
    host.hook_timeout = 0.5
    result = CliRunner().invoke(cli, ["run", "report", "--workdir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    [error] = json.loads(result.stdout)["plugin_errors"]
    assert error["plugin"] == "slow-tracker" and error["when"] == "stage_finished"
    assert error["error"].startswith("HookTimeout")


def test_a_misspelled_hook_is_reported(site, tmp_path):
    make_distribution(site, "minillm-skill-typo", "typo_plugin", MISSPELLED)
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    problem = problems_of(result)["minillm-skill-typo"]
    assert problem["when"] == "register"
    assert "'register_skillz' is not a hook" in problem["error"] and "did you mean register_skills?" in problem["error"]
    text = CliRunner().invoke(cli, ["plugins"]).stdout
    assert "minillm-skill-typo" in text and "ERROR register: @hookimpl 'register_skillz' is not a hook" in text
    assert_cli_works(tmp_path)


CHATTY_THREAD = '''
import atexit, os, threading

stop = threading.Event()

def chatter():
    while not stop.wait(0.001):  # all through the command: at import, in hooks, while the JSON is written
        print("garbage from a plugin's thread", flush=True)
        os.write(1, b"garbage from its file descriptor\\n")

thread = threading.Thread(target=chatter, daemon=True)
thread.start()
atexit.register(lambda: (stop.set(), thread.join()))  # ends before the interpreter does: no shutdown crash
'''


def test_a_thread_a_plugin_starts_never_writes_into_json(site):
    """The real entry point in a process of its own: stdout is taken before plugins load, for the whole command,
    so a thread that prints at any moment reaches stderr only."""
    make_distribution(site, "minillm-skill-chatter", "chatter", CHATTY_THREAD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "OMP_NUM_THREADS": "1"}
    env.pop("MINILLM_LOAD_PLUGINS", None)
    done = subprocess.run([sys.executable, "-m", "minillm_core", "list", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"echo", "bot-start"} <= {row["name"] for row in json.loads(done.stdout)}  # exactly one document
    assert "garbage from a plugin's thread" in done.stderr and "garbage from its file descriptor" in done.stderr


HANGS_AT_IMPORT = '''
import time
time.sleep(600)
'''


def test_an_import_that_hangs_times_out_and_the_plugin_is_skipped(site, tmp_path, monkeypatch):
    make_distribution(site, "minillm-skill-slow-import", "slow_import", HANGS_AT_IMPORT)
    monkeypatch.setenv("MINILLM_HOOK_TIMEOUT", "0.5")
    host = get_host()
    problem = {p.plugin: p for p in host.problems}["minillm-skill-slow-import"]
    assert problem.when == "import"
    assert problem.error.startswith("HookTimeout: did not return within 0.5 s")
    assert "switched off for the rest of this process" in problem.error
    assert "minillm-skill-slow-import" in host.switched_off
    assert "echo" in host.skills  # the plugin after it loaded
    assert_cli_works(tmp_path)


def test_hook_timeout_before_the_command_reaches_plugin_imports():
    """main() reads --hook-timeout ahead of click: plugins import (and register commands) before click parses."""
    from minillm_core.cli import _read_ahead

    assert _read_ahead(["--hook-timeout", "5", "list", "--json"]) == ("list", "5")
    assert _read_ahead(["-q", "--hook-timeout=0.5", "run", "--json"]) == ("run", "0.5")
    assert _read_ahead(["--hook-timeout", "soon", "plugins"]) == ("plugins", None)  # click will say why
    assert _read_ahead(["--hook-timeout", "-1", "plugins"]) == ("plugins", None)
    assert _read_ahead(["--version"]) == (None, None)


def test_a_plugin_that_timed_out_is_never_called_again(tmp_path):
    """A hung hook is left running: calling its plugin again would most likely hang again, and make every later
    command (each MCP tool call) wait the whole timeout once more."""
    from minillm_core.plugins.hookspecs import hookimpl

    release, calls = threading.Event(), []

    class Stuck:
        @hookimpl
        def register_skills(self, register):
            calls.append("register_skills")
            release.wait(60)

        @hookimpl
        def stage_started(self, stage):
            calls.append("stage_started")

    host = get_host()
    host.register(Stuck(), name="stuck")
    host.hook_timeout = 0.3
    try:
        assert "bot-start" in host.skills
        result = CliRunner().invoke(cli, ["run", "report", "--workdir", str(tmp_path), "--json"])
    finally:
        release.set()
    assert result.exit_code == 0, result.output
    assert calls == ["register_skills"]  # stage_started never reached it
    assert host.switched_off == {"stuck"}
    [error] = json.loads(result.stdout)["plugin_errors"]
    assert error["plugin"] == "stuck" and error["when"] == "register_skills"
    assert "the plugin is switched off for the rest of this process" in error["error"]


RECORDS_IMPORT = '''
from pathlib import Path
Path(__file__).with_name("imported").write_text("yes")
'''


def test_a_plugin_named_in_the_skip_variable_is_not_imported_and_says_why(site, tmp_path, monkeypatch):
    make_distribution(site, "minillm-skill-skipped", "skipped_plugin", RECORDS_IMPORT)
    monkeypatch.setenv("MINILLM_SKIP_PLUGINS", "minillm-skill-skipped")
    host = get_host()
    assert not (site / "imported").exists()
    problem = {p.plugin: p for p in host.problems}["minillm-skill-skipped"]
    assert problem.when == "import" and problem.error.startswith("not loaded: MINILLM_SKIP_PLUGINS names it")
    assert "echo" in host.skills
    monkeypatch.delenv("MINILLM_SKIP_PLUGINS")  # the same plugin loads when the variable does not name it
    reset_host()
    assert get_host().problems == [] and (site / "imported").read_text() == "yes"


COMMANDS = '''
import click
from minillm_core.plugins.hookspecs import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command()
    def hello():
        """Say hello."""
        click.echo("hello from a plugin")

    @cli.command("list")
    def my_list():
        click.echo("not the real list")
'''


def test_register_commands_adds_commands_but_cannot_replace_a_builtin(site, monkeypatch):
    import minillm_core.cli as cli_module

    monkeypatch.setattr(cli, "commands", dict(cli.commands))  # the test's commands leave with it
    make_distribution(site, "minillm-skill-commands", "command_plugin", COMMANDS)
    builtin_list = cli.commands["list"]
    get_host().call_each("register_commands", cli=cli)
    assert cli.commands["list"] is builtin_list is cli_module.list_skills
    assert CliRunner().invoke(cli, ["hello"]).stdout == "hello from a plugin\n"
    listed = CliRunner().invoke(cli, ["list", "--json"])
    assert listed.exit_code == 0 and "bot-start" in {row["name"] for row in json.loads(listed.stdout)}
    problem = {p.plugin: p for p in get_host().problems}["minillm-skill-commands"]
    assert problem.when == "register_commands"
    assert problem.error == ("ValueError: command 'list' already exists and cannot be replaced; give the plugin's "
                             "command another name")
