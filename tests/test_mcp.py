"""The MCP server (`minillm-skill mcp`) through the SDK's own stdio client: its tools and their schemas, and
results that are exactly what the CLI prints for the same request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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
