"""`minillm-skill mcp`: an MCP server over stdio, so coding agents can drive minillm-skill through tools.

Every tool runs the CLI in a subprocess (`python -m minillm_core ... --json`) and returns exactly the JSON document
it prints: one contract for people, scripts and agents, and a crashing run never takes the server down. Training
runs start detached (`run --detach`) and return a run id that `status` polls. The `mcp` SDK is an optional extra
(`pip install 'minillm-skill[mcp]'`), imported only when the server starts: the rest of the CLI works without it.

The server's --workdir is a boundary: a call's `workdir` (and a skill's `output`) must lie inside it. Arguments
are checked against the tool's input schema (a boolean may come as "false", never as any other text) and their
length, so a bad call is a tool error the agent can act on, never a protocol error.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from minillm_core import __version__
from minillm_core.contract.options import Option
from minillm_core.contract.skill import Skill
from minillm_core.plugins.contained import TIMEOUT_ENV
from minillm_core.plugins.host import SKIP_ENV, get_host
from minillm_core.util.stdout_guard import reserved_stdout

if TYPE_CHECKING:
    import mcp_types

log = logging.getLogger("minillm.mcp")

INSTRUCTIONS = (
    "minillm-skill trains small language models through skills (list_skills, show_skill). Start long runs with a "
    "run_* tool (run_bot_start: the whole pipeline); it returns at once with a run id. Poll `status` with it every "
    "30-60 s until its status is no longer 'running': the report comes with it. `stop` stops a run at its next "
    "checkpoint; running the same skill again resumes from there. `ask` puts one question to a trained model.")
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
STDERR_TAIL = 2000  # enough of the logs to show why a command failed, not a whole training log
WORKDIR_HELP = ("Where data, models, logs and reports go: a folder inside the server's --workdir, or relative to it "
                "(default: the server's --workdir).")
MAX_ARGUMENT_CHARS = 32_000  # Linux refuses a command-line argument over 128 KiB, and a character is up to 4 bytes
MAX_ARGUMENTS_CHARS = 100_000  # a call's arguments together: the command line and environment share about 2 MiB
OUTPUT_OPTIONS = ("output",)  # skill options that say where a stage writes: held inside the --workdir too


def skill_options(skill: Skill, skills: Mapping[str, Skill]) -> dict[str, Option]:
    """A skill's options; a skill made of steps (bot-start) has none of its own: its steps' (first one wins)."""
    if not skill.steps:
        return dict(skill.options)
    merged: dict[str, Option] = {}
    for step in skill.steps:
        for name, option in (skills[step].options if step in skills else {}).items():
            merged.setdefault(name, option)
    return merged


def _option_schema(option: Option) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": JSON_TYPES.get(option.type, "string"), "description": option.help}
    if option.default is not None:  # an unset default is no value of the type: leave `default` out
        default = option.default
        schema["default"] = default if isinstance(default, (str, int, float, bool)) else str(default)
    return schema


def _prop(json_type: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": json_type, "description": description, **extra}


def _tool(description: str, properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict:
    return {"description": description, **extra,
            "input_schema": {"type": "object", "properties": properties, "required": list(required)}}


def tool_definitions(workdir: Path) -> dict[str, dict[str, Any]]:
    """Every tool: name -> {description, input_schema, and for run_* tools the skill}. Plain dicts: no SDK needed."""
    skills = get_host().skills
    where = {"workdir": _prop("string", WORKDIR_HELP, default=str(workdir))}
    run_id = {"run_id": _prop("string", "The run id a run_* tool returned (default: the latest run).")}
    tools = {
        "list_skills": _tool("Every skill as JSON: name, description, requires, produces, options.", {}),
        "show_skill": _tool("A skill's SKILL.md (Markdown): what it does, its options and its outputs.",
                            {"name": _prop("string", "A skill name, e.g. pretrain.")}, ("name",)),
    }
    force = {"force": _prop("boolean", "Re-run stages even when their outputs are up to date.", default=False)}
    for skill in skills.values():
        options = {name: _option_schema(option) for name, option in skill_options(skill, skills).items()}
        steps = " An option applies to every step that has it." if skill.steps else ""
        tools["run_" + skill.name.replace("-", "_")] = _tool(
            f"{skill.description}{steps} Starts the run detached and returns at once with a run id: poll it with "
            "`status` every 30-60 s.", {**options, **force, **where}, skill=skill.name)
    tools["status"] = _tool("A run's progress as JSON: status (running, ok, failed, stopped, died), each stage's "
                            "step, total_steps and loss, and the report once it ended.", {**run_id, **where})
    tools["stop"] = _tool("Stop a run at its next checkpoint; running the same skill again resumes from it.",
                          {**run_id, "now": _prop("boolean", "Stop at once, not at a checkpoint.", default=False),
                           **where})
    tools["runs"] = _tool("The runs started in the work directory, with their status, as JSON.", where)
    tools["ask"] = _tool("Ask a trained model one question; its greedy answer (temperature 0) as JSON.", {
        "prompt": _prop("string", "The question or instruction."),
        "model": _prop("string", "A model folder (default: the last run's final model, else the newest in out/)."),
        "max_new_tokens": _prop("integer", "Longest answer, in tokens."), **where}, ("prompt",))
    return tools


def _flag(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def checked_arguments(tool: str, arguments: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A call's arguments (None: left out) typed as the tool's input schema says. ValueError: an unknown argument,
    a value of the wrong type, or one too long; the message names it and says what would do."""
    properties = schema["properties"]
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        raise ValueError(f"tool '{tool}' has no argument {', '.join(map(repr, unknown))}; its arguments: "
                         f"{', '.join(properties) or 'none'}")
    checked = {name: _typed(name, value, properties[name]["type"])
               for name, value in arguments.items() if value is not None}
    sizes = {name: len(str(value)) for name, value in checked.items()}
    for name, size in sizes.items():
        if size > MAX_ARGUMENT_CHARS:
            raise ValueError(f"'{name}' is {size} characters long; the limit is {MAX_ARGUMENT_CHARS} characters")
    if sum(sizes.values()) > MAX_ARGUMENTS_CHARS:
        raise ValueError(f"the arguments are {sum(sizes.values())} characters long together; the limit is "
                         f"{MAX_ARGUMENTS_CHARS} characters")
    return checked


def _typed(name: str, value: Any, json_type: str) -> Any:
    """`value` as `json_type`. A boolean or a number may come as its JSON text ("false", "3"); nothing else is
    guessed: "no" is no boolean, and 2.5 no integer."""
    if isinstance(value, str) and json_type != "string":
        try:
            value = json.loads(value.strip().lower())
        except ValueError:
            pass  # refused below, as it came
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (json_type == "boolean" and isinstance(value, bool)) or (json_type == "string" and isinstance(value, str)):
        return value
    if json_type == "integer" and is_number and (isinstance(value, int) or value.is_integer()):
        return int(value)
    if json_type == "number" and is_number and (isinstance(value, int) or math.isfinite(value)):
        return value
    if json_type == "string" and is_number:
        return str(value)
    raise ValueError(f"'{name}' must be {'an' if json_type == 'integer' else 'a'} {json_type}, got "
                     f"{json.dumps(value, default=str)[:80]}")


def inside(name: str, value: str, base: Path, root: Path) -> Path:
    """`value` as a path (relative ones from `base`), which must lie inside `root`, the server's --workdir."""
    path = (base / Path(value).expanduser()).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"'{name}' {value!r} is outside the server's --workdir {root}: give a folder inside it (or "
                         "a path relative to it), or start the server with a --workdir that holds it")
    return path


def cli_args(tool: str, arguments: Mapping[str, Any], workdir: Path, tools: Mapping[str, Any]) -> list[str]:
    """The `minillm-skill` arguments a tool call stands for. KeyError: no such tool; ValueError: a missing,
    unknown or bad argument. `workdir` is the server's --workdir (resolved): every call stays inside it.

    Free text goes in `--opt=VALUE` form and positionals after `--`, so a value starting with '-' stays a value.
    """
    args = checked_arguments(tool, arguments, tools[tool]["input_schema"])
    for name in tools[tool]["input_schema"]["required"]:
        if name not in args:
            raise ValueError(f"tool '{tool}' needs '{name}'")
    call_workdir = inside("workdir", args.pop("workdir", str(workdir)), workdir, workdir)
    where = [f"--workdir={call_workdir}"]
    run_id = ["--", str(args["run_id"])] if "run_id" in args else []
    if tool == "list_skills":
        return ["list", "--json"]
    if tool == "show_skill":
        return ["show", "--", str(args["name"])]
    if tool == "status":
        return ["status", *where, "--json", *run_id]
    if tool == "stop":
        return ["stop", *(["--now"] if args.get("now") else []), *where, "--json", *run_id]
    if tool == "runs":
        return ["runs", *where, "--json"]
    if tool == "ask":
        model = [f"--model={args['model']}"] if "model" in args else []
        tokens = [f"--max-new-tokens={args['max_new_tokens']}"] if "max_new_tokens" in args else []
        return ["chat", f"--prompt={args['prompt']}", "--json", *where, *model, *tokens, "--temperature", "0"]
    # A run_* tool: every input but force and workdir is a skill option; the CLI checks their values.
    for name in OUTPUT_OPTIONS:
        if name in args:  # made absolute here: the CLI would read a relative one from the server's directory
            args[name] = str(inside(name, args[name], call_workdir, workdir))
    force = ["--force"] if args.pop("force", False) else []
    sets = [f"--set={key}={_flag(value)}" for key, value in args.items()]
    return ["run", tools[tool]["skill"], "--detach", "--json", *where, *force, *sets]


def child_env() -> dict[str, str]:
    """The environment of the commands the tools run: the server's, with its hook timeout, and with every plugin
    that timed out in the server skipped, so that it does not make each call wait the timeout again."""
    host = get_host()
    env = {**os.environ, TIMEOUT_ENV: str(host.hook_timeout)}
    skipped = set(filter(None, env.get(SKIP_ENV, "").split(","))) | host.switched_off
    if skipped:
        env[SKIP_ENV] = ",".join(sorted(skipped))
    return env


async def run_cli(args: list[str], env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run `python -m minillm_core ARGS` (in `env`, default: this process's); its exit code, stdout and stderr.

    Output goes to temporary files, not pipes: a detached run that inherited a pipe would keep it open, and
    reading to its end would wait for the whole training. Waiting for the exit does not.
    """
    import anyio

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = await anyio.open_process([sys.executable, "-m", "minillm_core", *args],
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        try:
            code = await process.wait()
        finally:
            if process.returncode is None:  # the call was cancelled (the client gave up or left): stop it too
                process.kill()
        out.seek(0), err.seek(0)
        return code, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")


def _result(text: str, is_error: bool, parsed: Any = None) -> mcp_types.CallToolResult:
    import mcp_types

    # structuredContent must be a JSON object up to protocol 2025-11-25: a list stays text only.
    extra = {"structured_content": parsed} if isinstance(parsed, dict) else {}
    return mcp_types.CallToolResult(content=[mcp_types.TextContent(text=text)], is_error=is_error, **extra)


def tool_result(code: int, out: str, err: str) -> mcp_types.CallToolResult:
    """The command's stdout as the result (parsed too, when a JSON object); an error when it did not exit 0."""
    try:
        parsed = json.loads(out)
    except ValueError:
        if code:  # it failed before printing its JSON document (a usage error, a crash): its logs say why
            stdout = f"Its stdout:\n{out}\n" if out.strip() else ""
            return _result(f"minillm-skill exited with code {code}.\n{stdout}The end of its stderr:\n"
                           f"{err[-STDERR_TAIL:]}", True)
        parsed = None  # `show` prints Markdown
    return _result(out, code != 0, parsed)


async def call_tool(name: str, arguments: Mapping[str, Any], workdir: Path,
                    tools: Mapping[str, Any]) -> mcp_types.CallToolResult:
    """One tool call: the command's result, or a tool error saying what is wrong with the call."""
    if name not in tools:
        return _result(f"unknown tool '{name}'; tools: {', '.join(tools)}", True)
    try:
        args = cli_args(name, arguments, workdir, tools)
    except ValueError as exc:
        return _result(str(exc), True)
    log.info("tool %s: minillm-skill %s", name, " ".join(arg[:200] for arg in args))
    try:
        return tool_result(*await run_cli(args, child_env()))
    except OSError as exc:  # the command could not start at all (the system refused its arguments, say)
        return _result(f"could not start minillm-skill for '{name}': {exc}", True)


async def serve(workdir: Path) -> None:
    """Serve MCP on stdin/stdout until the client closes the connection."""
    import anyio
    import mcp_types
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server

    # `minillm-skill mcp` took stdout before any plugin loaded (cli.main): fd 1 is stderr for good, and the
    # protocol goes to the private copy. Called otherwise, stdio_server sends fd 1 to stderr while it serves.
    reserved = reserved_stdout()
    async with stdio_server(stdout=anyio.wrap_file(reserved) if reserved else None) as (read, write):
        tools = tool_definitions(workdir)
        if get_host().switched_off:
            log.warning("plugins switched off (they timed out): %s; the tools' commands skip them (%s)",
                        ", ".join(sorted(get_host().switched_off)), SKIP_ENV)

        async def list_tools(ctx: Any, params: Any) -> mcp_types.ListToolsResult:
            return mcp_types.ListToolsResult(tools=[
                mcp_types.Tool(name=name, description=tool["description"], input_schema=tool["input_schema"])
                for name, tool in tools.items()])

        async def on_call_tool(ctx: Any, params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
            return await call_tool(params.name, params.arguments or {}, workdir, tools)

        server = Server("minillm-skill", version=__version__, instructions=INSTRUCTIONS,
                        on_list_tools=list_tools, on_call_tool=on_call_tool)
        await server.run(read, write, server.create_initialization_options())


@click.command("mcp")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=".",
              help="The default work directory of the run tools (default: the current directory).")
def mcp_command(workdir: Path) -> None:
    """Serve minillm-skill to coding agents over MCP (stdio): skills as tools, runs detached."""
    try:
        import anyio
        import mcp.server.lowlevel  # noqa: F401 - only to learn whether the SDK is installed
    except ImportError:
        raise click.ClickException("the MCP server needs the mcp SDK: pip install 'minillm-skill[mcp]'") from None
    anyio.run(serve, workdir.resolve())
