"""The MCP server (`minillm-skill mcp`) through the SDK's own stdio client: its tools and their schemas, and
results that are exactly what the CLI prints for the same request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

from minillm_core.plugins.host import get_host  # noqa: E402
from minillm_core.util.resources import skills_dir  # noqa: E402

SERVER_COMMAND = [sys.executable, "-m", "minillm_core", "mcp"]  # given `--workdir W` after it
CLI = [sys.executable, "-m", "minillm_core"]
ENV = {**os.environ, "MINILLM_LOAD_PLUGINS": "", "HF_HUB_OFFLINE": "1"}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV, timeout=120)


def with_server(workdir: Path, scenario: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    """Start the server on `workdir`, run `scenario` with an initialized session; the server's stderr on failure."""
    params = StdioServerParameters(command=SERVER_COMMAND[0], args=[*SERVER_COMMAND[1:], "--workdir", str(workdir)],
                                   env=ENV)

    async def main() -> Any:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await scenario(session)

    # A real file, not pytest's captured stderr: the server process needs a file descriptor.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
        try:
            return anyio.run(main)
        except BaseException:
            errlog.seek(0)
            print("server stderr:\n" + errlog.read()[-4000:], file=sys.stderr)
            raise


def text(result) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text", result
    return result.content[0].text


def test_tools_and_their_schemas(tmp_path):
    async def scenario(session: ClientSession):
        return {tool.name: tool for tool in (await session.list_tools()).tools}, session.instructions

    tools, instructions = with_server(tmp_path, scenario)
    assert {"list_skills", "show_skill", "run_env_check", "run_pretrain", "run_bot_start", "status", "stop", "runs",
            "ask"} <= set(tools)
    assert all(tool.description for tool in tools.values())
    assert "status" in instructions and "run_" in instructions

    schema = tools["run_pretrain"].input_schema
    assert schema["type"] == "object" and not schema.get("required")
    assert schema["properties"]["max_steps"]["type"] == "integer"
    assert schema["properties"]["max_steps"]["default"] == -1
    assert "optimizer steps" in schema["properties"]["max_steps"]["description"]
    assert schema["properties"]["lr"]["type"] == "number" and schema["properties"]["lenient"]["type"] == "boolean"
    assert schema["properties"]["force"]["type"] == "boolean"
    assert schema["properties"]["workdir"]["default"] == str(tmp_path.resolve())
    # bot-start has no options of its own: its steps' options, the first step's on a clash.
    bot = tools["run_bot_start"].input_schema["properties"]
    assert {"hub_timeout", "vocab_size", "max_steps", "beta", "samples"} <= set(bot)
    skills = get_host().skills
    first = next(skills[step] for step in skills["bot-start"].steps if "dataset" in skills[step].options)
    assert bot["dataset"]["default"] == first.options["dataset"].default
    assert tools["ask"].input_schema["required"] == ["prompt"]


def test_results_are_what_the_cli_prints(tmp_path):
    async def scenario(session: ClientSession):
        return [await session.call_tool(*call) for call in [
            ("list_skills", {}), ("show_skill", {"name": "pretrain"}), ("show_skill", {"name": "nope"}),
            ("no_such_tool", {}), ("ask", {})]]

    listing, shown, unknown_skill, unknown_tool, no_prompt = with_server(tmp_path, scenario)
    expected = cli("list", "--json")
    assert expected.returncode == 0, expected.stderr
    assert not listing.is_error and json.loads(text(listing)) == json.loads(expected.stdout)

    assert not shown.is_error
    assert text(shown) == (skills_dir() / "pretrain" / "SKILL.md").read_text(encoding="utf-8")

    # A command that fails before printing a JSON document: an error result carrying the end of its stderr.
    assert unknown_skill.is_error and "unknown skill 'nope'" in text(unknown_skill)

    assert unknown_tool.is_error
    assert "no_such_tool" in text(unknown_tool)
    assert all(name in text(unknown_tool) for name in ("list_skills", "run_pretrain", "status", "ask"))

    assert no_prompt.is_error and "prompt" in text(no_prompt)


@pytest.mark.slow
def test_runs_start_detached_and_status_follows_them(tmp_path):
    async def run_to_the_end(session: ClientSession, tool: str, arguments: dict, timeout: float) -> dict:
        started = await session.call_tool(tool, arguments)
        assert not started.is_error, text(started)
        run = json.loads(text(started))
        assert run["status"] == "running" and run["run_id"], run
        deadline = time.monotonic() + timeout
        while True:
            reply = await session.call_tool("status", {"run_id": run["run_id"]})
            try:
                status = json.loads(text(reply))
            except ValueError:
                pytest.fail(f"status is not JSON: {text(reply)}")
            if status["status"] != "running":
                return status
            assert time.monotonic() < deadline, f"{tool} still running after {timeout} s: {status}"
            await anyio.sleep(1)

    async def scenario(session: ClientSession):
        checked = await run_to_the_end(session, "run_env_check", {}, 120)
        trained = await run_to_the_end(session, "run_pretrain", {"preset": "tiny", "max_steps": 10},
                                       300)
        answer = await session.call_tool("ask", {"prompt": "The sky is", "max_new_tokens": 8})
        return checked, trained, answer

    checked, trained, answer = with_server(tmp_path, scenario)
    assert checked["status"] == "ok", checked
    assert trained["status"] == "ok", trained
    assert trained["report"]["stages"][0]["metrics"]["steps"] == 10
    assert (tmp_path / "out" / "pretrain" / "model.safetensors").is_file()
    assert not answer.is_error, text(answer)
    reply = json.loads(text(answer))
    assert reply["status"] == "ok" and reply["model"].endswith("pretrain") and reply["prompt"] == "The sky is"


@pytest.fixture
def tools(tmp_path):
    """The server's tools for a --workdir of tmp_path/work, in-process (no server, no command run)."""
    from minillm_core.mcp_server import tool_definitions

    root = (tmp_path / "work").resolve()
    root.mkdir()
    return root, tool_definitions(root)


def test_a_calls_workdir_and_output_must_lie_inside_the_servers_workdir(tools, tmp_path):
    from minillm_core.mcp_server import cli_args

    root, defined = tools
    assert f"--workdir={root / 'a'}" in cli_args("status", {"workdir": "a"}, root, defined)  # relative: to the root
    assert f"--workdir={root / 'b'}" in cli_args("runs", {"workdir": str(root / "b")}, root, defined)
    (root / "link").symlink_to(tmp_path)  # inside by name, outside in fact
    for outside in (str(tmp_path), "..", "a/../../elsewhere", "link/x", "/"):
        with pytest.raises(ValueError, match="outside the server's --workdir"):
            cli_args("run_env_check", {"workdir": outside}, root, defined)
    # A skill's `output` is where it writes: inside too, and relative to the call's own workdir.
    args = cli_args("run_pretrain", {"workdir": "a", "output": "model"}, root, defined)
    assert f"--set=output={root / 'a' / 'model'}" in args
    with pytest.raises(ValueError, match="'output' '/elsewhere' is outside"):
        cli_args("run_pretrain", {"output": "/elsewhere"}, root, defined)


def test_arguments_are_typed_by_the_tools_schema(tools):
    from minillm_core.mcp_server import cli_args

    root, defined = tools

    def sets(**arguments):
        return [arg for arg in cli_args("run_pretrain", arguments, root, defined)[4:] if not arg.startswith("--work")]

    assert sets(force="false", max_steps="10", lenient="TRUE") == ["--set=max_steps=10", "--set=lenient=true"]
    assert sets(force=True, lr="1e-3", max_steps=20.0) == ["--force", "--set=lr=0.001", "--set=max_steps=20"]
    assert sets(force=None) == []  # null: left out, as if not given
    for arguments, message in [({"force": "no"}, "'force' must be a boolean, got \"no\""),
                               ({"force": 1}, "'force' must be a boolean, got 1"),
                               ({"max_steps": 2.5}, "'max_steps' must be an integer, got 2.5"),
                               ({"lr": "fast"}, "'lr' must be a number, got \"fast\""),
                               ({"lr": "NaN"}, "'lr' must be a number"),
                               ({"preset": ["tiny"]}, "'preset' must be a string"),
                               ({"max_stepz": 3}, "tool 'run_pretrain' has no argument 'max_stepz'; its arguments: ")]:
        with pytest.raises(ValueError) as raised:
            cli_args("run_pretrain", arguments, root, defined)
        assert str(raised.value).startswith(message), raised.value
    assert cli_args("stop", {"now": "false"}, root, defined)[:2] == ["stop", f"--workdir={root}"]


def test_an_oversized_argument_is_a_tool_error_that_says_the_limit(tools, monkeypatch):
    import minillm_core.mcp_server as server

    root, defined = tools
    started = []

    async def run_cli(args, env=None):
        started.append(args)
        raise OSError(7, "Argument list too long")

    monkeypatch.setattr(server, "run_cli", run_cli)

    def call(name, arguments):
        return anyio.run(server.call_tool, name, arguments, root, defined)

    big = call("ask", {"prompt": "x" * 200_000})
    assert big.is_error and text(big) == "'prompt' is 200000 characters long; the limit is 32000 characters"
    many = call("run_pretrain", {name: "y" * 30_000 for name in ("preset", "dataset", "tokenizer", "output")})
    assert many.is_error and "the limit is 100000 characters" in text(many)
    assert started == []  # refused before any command started
    # Should the system still refuse a command line, that is a tool error too, never a protocol error.
    refused = call("ask", {"prompt": "hello"})
    assert refused.is_error and "could not start minillm-skill for 'ask'" in text(refused)
    assert "Argument list too long" in text(refused) and len(started) == 1


def test_a_plugin_that_timed_out_in_the_server_is_skipped_by_its_commands(monkeypatch):
    """Each tool runs a command, which loads the plugins anew: without this, a plugin whose hook hangs would make
    every call wait the whole timeout again."""
    from minillm_core.mcp_server import child_env
    from minillm_core.plugins.hookspecs import hookimpl

    release = threading.Event()

    class Stuck:
        @hookimpl
        def register_skills(self, register):
            release.wait(60)

    monkeypatch.setenv("MINILLM_SKIP_PLUGINS", "minillm-skill-earlier")
    host = get_host()
    host.register(Stuck(), name="minillm-skill-stuck")
    host.hook_timeout = 0.3
    try:
        assert "pretrain" in host.skills
    finally:
        release.set()
    env = child_env()
    assert env["MINILLM_SKIP_PLUGINS"] == "minillm-skill-earlier,minillm-skill-stuck"
    assert env["MINILLM_HOOK_TIMEOUT"] == "0.3"  # the server's --hook-timeout reaches its commands


CHATTY_THREAD = '''
import atexit, os, threading

stop = threading.Event()

def chatter():
    while not stop.wait(0.001):
        print("garbage from a plugin's thread", flush=True)
        os.write(1, b"garbage from its file descriptor\\n")

thread = threading.Thread(target=chatter, daemon=True)
thread.start()
atexit.register(lambda: (stop.set(), thread.join()))
'''


def test_a_plugins_printing_thread_stays_out_of_the_protocol(tmp_path):
    """The stdio channel read line by line, as a client does: each line is a JSON-RPC message, though a plugin's
    thread prints all the time (stdout is taken before plugins load)."""
    from tests.helpers import make_distribution

    site = tmp_path / "site"
    make_distribution(site, "minillm-skill-chatter", "chatter", CHATTY_THREAD)
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).resolve().parents[1])])}
    env.pop("MINILLM_LOAD_PLUGINS")
    errlog = (tmp_path / "stderr.txt").open("w")  # a file, not a pipe: the chatter would fill a pipe and block
    server = subprocess.Popen([*SERVER_COMMAND, "--workdir", str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=errlog, text=True, env=env)
    watchdog = threading.Timer(120, server.kill)
    watchdog.start()

    def request(message: dict) -> dict:
        server.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        server.stdin.flush()
        while "id" in message:
            line = server.stdout.readline()
            assert line, "the server closed stdout"
            reply = json.loads(line)  # garbage here fails the test
            if reply.get("id") == message["id"]:
                return reply
        return {}

    try:
        request({"id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}})
        request({"method": "notifications/initialized"})
        listed = request({"id": 2, "method": "tools/list"})
        server.stdin.close()
        server.wait(60)
    finally:
        watchdog.cancel()
        server.kill()
        errlog.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "run_bot_start" in {tool["name"] for tool in listed["result"]["tools"]}
    assert "garbage from a plugin's thread" in stderr and "garbage from its file descriptor" in stderr
