"""The `minillm-skill` command line. Click commands only: the work happens in runner and the skills.

Exit codes: 0 ok, 1 a skill failed, 2 usage error, 3 a precondition does not hold or another run holds a
stage (nothing run), 4 stopped on request (the same command resumes).
With --json, stdout carries exactly one JSON document; logs and progress go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from minillm_core import __version__
from minillm_core.contract.options import OptionError
from minillm_core.mcp_server import mcp_command
from minillm_core.plugins.contained import TIMEOUT_ENV
from minillm_core.plugins.host import UnknownSkill, get_host
from minillm_core.run_commands import run_detached, runs_command, status_command, stop_command
from minillm_core.runner.plan import Plan, locked_report, make_plan, run_plan
from minillm_core.serve.chat import chat_command
from minillm_core.serve.server import serve_command
from minillm_core.util.distributed import is_main_process
from minillm_core.util.quiet import quiet_libraries
from minillm_core.util.stdout_guard import print_json, reserve_stdout
from minillm_core.util.stdout_guard import stdout_to_stderr as _stdout_to_stderr

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PRECONDITION, EXIT_STOPPED = 0, 1, 2, 3, 4
# Commands that only read run records: they load no plugin (and so no torch), for an agent to poll them cheaply.
LIGHT_COMMANDS = ("status", "runs", "stop")
MAX_HOOK_TIMEOUT_S = 86_400.0  # a day: a finite bound (an infinite wait overflows the thread join), 0 is "no limit"


class _Commands(click.Group):
    """The top-level group.

    A plugin's `register_commands` may add commands, never replace one: a name already taken (a built-in's, or an
    earlier plugin's) raises, so the refusal is reported as that plugin's problem.

    Under --json, an error click itself finds (an unknown flag, a path that is not a folder, an unknown run id)
    still prints one JSON document on stdout, shaped as the commands' own errors: status, error, hint."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        if name in self.commands:
            raise ValueError(f"command '{name}' already exists and cannot be replaced; give the plugin's command "
                             "another name")
        super().add_command(cmd, name)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            if "--json" in argv:
                print_json(_error_document(exc))
            if not standalone_mode:
                raise
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            if not standalone_mode:
                raise
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_FAILED)
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else EXIT_OK)
        return result


def _error_document(exc: click.ClickException) -> dict[str, Any]:
    context = getattr(exc, "ctx", None)
    command = context.command_path if context else "minillm-skill"
    return {"status": "usage_error" if exc.exit_code == EXIT_USAGE else "failed", "error": exc.format_message(),
            "hint": f"see `{command} --help`", "command": command}


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="minillm-skill")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--hook-timeout", type=click.FloatRange(min=0, max=MAX_HOOK_TIMEOUT_S), metavar="SECONDS",
              help="Longest a plugin hook may take before it is reported and skipped "
                   "(default 30, or MINILLM_HOOK_TIMEOUT; 0: no limit).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, hook_timeout: float | None) -> None:
    """Train a small language model from scratch, end to end, through agent skills.

    Start with `minillm-skill run bot-start`; `minillm-skill list` shows every skill.
    """
    _setup_logging(logging.WARNING if quiet or not is_main_process() else logging.INFO)
    if ctx.invoked_subcommand not in LIGHT_COMMANDS:  # they import no library to quieten
        quiet_libraries()
    if hook_timeout is not None:
        get_host().hook_timeout = hook_timeout


def _setup_logging(level: int) -> None:
    logger = logging.getLogger("minillm")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)  # never stdout: it belongs to --json
    handler.setFormatter(logging.Formatter("[minillm] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for agents.")
def list_skills(as_json: bool) -> None:
    """List every skill: name, description, source and preconditions."""
    host = get_host()
    rows = [{"name": s.name, "description": s.description, "source": s.source, "requires": list(s.requires),
             "produces": list(s.produces), "steps": list(s.steps), "options": sorted(s.options),
             "skill_md": str(s.skill_md)} for s in host.skills.values()]
    if as_json:
        print_json(rows)
        return
    width = max((len(row["name"]) for row in rows), default=0)
    for row in rows:
        needs = f"  [needs: {', '.join(row['requires'])}]" if row["requires"] else ""
        source = "" if row["source"] == "builtin" else f"  (from {row['source']})"
        click.echo(f"{row['name']:<{width}}  {_first_sentence(row['description'])}{needs}{source}")
    _warn_plugin_problems(host)


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".") + "."


def _warn_plugin_problems(host) -> None:
    for problem in host.problems:
        click.echo(f"warning: plugin {problem.plugin} ({problem.when}): {problem.error}", err=True)


@cli.command()
@click.argument("name")
def show(name: str) -> None:
    """Print a skill's SKILL.md."""
    try:
        skill = get_host().get_skill(name)
    except UnknownSkill as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(skill.skill_md.read_text(encoding="utf-8"), nl=False)


@cli.command()
@click.argument("name")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=".",
              help="Where data, models, logs and reports go (default: the current directory).")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of options; a mapping under a step's name applies to that step only.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Set an option (repeatable); STEP.KEY sets it for one step of bot-start.")
@click.option("--json", "as_json", is_flag=True, help="Print the status report as JSON on stdout.")
@click.option("--dry-run", is_flag=True, help="Print the plan and each precondition; run nothing.")
@click.option("--force", is_flag=True, help="Re-run stages even when their outputs are up to date.")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.option("--detach", is_flag=True, help="Run in the background and print its run id at once; follow it with "
              "`minillm-skill status`, stop it with `minillm-skill stop`.")
def run(name: str, workdir: Path, config: Path | None, sets: tuple[str, ...], as_json: bool,
        dry_run: bool, force: bool, debug: bool, detach: bool) -> None:
    """Run a skill (bot-start runs the whole pipeline).

    Ctrl-C or SIGTERM stops it at the next training step with a checkpoint (exit 4); the same command resumes."""
    if debug:
        logging.getLogger("minillm").setLevel(logging.DEBUG)
    host = get_host()
    try:
        plan = make_plan(host, name, workdir, config=config, sets=sets, force=force)
    except (UnknownSkill, OptionError) as exc:  # under --json, the group prints it as JSON too
        raise click.UsageError(str(exc)) from None
    except Exception as exc:
        _unexpected(name, exc, as_json, debug)
    if dry_run:
        print_json(plan.to_dict()) if as_json else click.echo(_describe_plan(plan))
        sys.exit(EXIT_OK if plan.ready else EXIT_PRECONDITION)
    if detach and plan.ready:  # not ready: the foreground path below reports why, and runs nothing
        refusal = locked_report(host, plan)
        if refusal is None:
            run_detached(plan, config, sets, force, debug, as_json)
            sys.exit(EXIT_OK)
        print_json(refusal) if as_json else click.echo(_describe_report(refusal))
        sys.exit(EXIT_PRECONDITION)
    try:
        with _stdout_to_stderr(as_json):
            report = run_plan(host, plan)
    except Exception as exc:
        _unexpected(name, exc, as_json, debug)
    if is_main_process():  # under torchrun, one process speaks for all
        print_json(report) if as_json else click.echo(_describe_report(report))
    code = {"ok": EXIT_OK, "precondition_failed": EXIT_PRECONDITION, "stopped": EXIT_STOPPED}.get(
        report["status"], EXIT_FAILED)
    # torchrun ends every process once one ends non-zero: the main one too, before it has written the report.
    # A stop is agreed by every process at the same step (stopping.agree_to_stop), so the others end as if ok.
    sys.exit(EXIT_OK if code == EXIT_STOPPED and not is_main_process() else code)


def _unexpected(name: str, exc: Exception, as_json: bool, debug: bool) -> NoReturn:
    """An error no skill caught still ends in one JSON document (with --json) and a line naming it; exit 1."""
    if debug:
        click.echo("".join(traceback.format_exception(exc)), err=True, nl=False)
    error = f"{type(exc).__name__}: {exc}"
    hint = "fix the cause named in the error" + ("" if debug else "; `--debug` shows the traceback")
    if as_json:
        print_json({"skill": name, "status": "failed", "error": error, "hint": hint, "stages": []})
    click.echo(f"Error: {error}\nTo fix: {hint}", err=True)
    sys.exit(EXIT_FAILED)


def _describe_plan(plan: Plan) -> str:
    lines = [f"Plan for {plan.name} in {plan.workdir} (dry run: nothing is run)"]
    for number, stage in enumerate(plan.to_dict()["stages"], 1):
        note = "  (up to date: would be skipped)" if stage["up_to_date"] else ""
        lines.append(f"  {number}. {stage['skill']}{note}")
        for check in stage["checks"]:
            mark = "ok  " if check["holds"] else "MISSING"
            lines.append(f"       [{mark}] {check['what']}: {check['detail']}")
            if check["hint"] and not check["holds"]:
                lines.append(f"               To fix: {check['hint']}")
    lines.append("Ready: every precondition holds." if plan.ready else
                 "Not ready: a precondition does not hold (exit code 3).")
    return "\n".join(lines)


def _describe_report(report: dict[str, Any]) -> str:
    lines = [f"{report['skill']}: {report['status']} in {report['duration_s']:.1f} s"]
    for stage in report["stages"]:
        lines.append(f"  {stage['skill']:<14} {stage['status']:<20} {stage['summary']}")
        if stage.get("error") and stage["status"] in ("failed", "precondition_failed"):
            lines.append(f"  {'':<14} Error: {stage['error']}")
        if stage.get("hint") and stage["status"] != "ok":
            lines.append(f"  {'':<14} {'To resume' if stage['status'] == 'stopped' else 'To fix'}: {stage['hint']}")
    git = report["git"]
    if not git.get("checked"):
        lines.append(f"git check: not checked ({git.get('reason')})")
    else:
        lines.append("git check: clean" if git["clean"] else
                     f"git check: NOT clean (changed: {git['changed']}, untracked: {git['untracked']})")
    if report.get("reports"):
        lines.append(f"Report: {Path(report['workdir']) / report['reports']['markdown']}")
    else:
        lines.append(f"Report: not written ({report.get('report_error') or 'nothing was run'})")
    return "\n".join(lines)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for agents.")
@click.option("--all", "include_builtins", is_flag=True, help="Include the built-in skills' plugins.")
def plugins(as_json: bool, include_builtins: bool) -> None:
    """List installed plugins: version, hooks, skills and formats added, and any that failed to load."""
    host = get_host()
    infos = [vars(info) for info in host.plugin_infos(include_builtins)]
    if as_json:
        print_json({"plugins": infos, "problems": [p.to_dict() for p in host.problems]})
        return
    if not infos:
        click.echo("No third-party plugins installed (entry-point group `minillm_skill`).")
    for info in infos:
        click.echo(f"{info['name']} ({info['distribution']} {info['version'] or ''}): "
                   f"hooks {', '.join(info['hooks']) or 'none'}; skills {', '.join(info['skills']) or 'none'}"
                   + (f"; formats {', '.join(info['formats'])}" if info["formats"] else ""))
        for error in info["errors"]:
            click.echo(f"  ERROR {error}")
    for problem in host.problems:
        if problem.plugin not in {info["name"] for info in infos}:
            click.echo(f"{problem.plugin}: ERROR {problem.when}: {problem.error}")


for command in (chat_command, status_command, runs_command, stop_command, mcp_command, serve_command):
    cli.add_command(command)


@cli.group()
def presets() -> None:
    """Model presets: list them, or copy one to an editable YAML config (`--set preset=FILE.yaml`)."""


@presets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for agents.")
def presets_list(as_json: bool) -> None:
    """Every preset: architecture, size and default sequence length."""
    from minillm_core.model.presets import list_presets

    rows = [{"name": p.name, "architecture": p.architecture, "description": p.description,
             "hidden_size": p.config.get("hidden_size"), "layers": p.config.get("num_hidden_layers"),
             "max_seq_len": p.max_seq_len} for p in list_presets()]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<16} {row['architecture']:<10} {row['hidden_size']} x {row['layers']:<3} "
                   f"seq {row['max_seq_len']:<5} {row['description']}")


@presets.command("copy")
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path), default=".")
def presets_copy(name: str, dest: Path) -> None:
    """Write preset NAME as an editable YAML file (in DEST, a folder or a .yaml path)."""
    from minillm_core.model.presets import copy_preset

    try:
        path = copy_preset(name, dest)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{path}\nEdit it, then train with `--set preset={path}`.")


def main() -> None:
    """Console entry point: plugins may add commands before click parses the arguments."""
    args = sys.argv[1:]
    command, hook_timeout = _read_ahead(args)
    words = args[:args.index("--")] if "--" in args else args
    # Before any plugin loads: nothing but a built-in command's JSON document (or MCP) may reach stdout. A
    # plugin's own command is not known yet, and prints its output the usual way.
    if command in cli.commands and (command == "mcp" or "--json" in words):
        reserve_stdout()
    if hook_timeout is not None:  # plugins load and register commands before click reads --hook-timeout
        os.environ[TIMEOUT_ENV] = hook_timeout
    if command not in LIGHT_COMMANDS:
        get_host().call_each("register_commands", cli=cli)
    cli()


def _read_ahead(args: list[str]) -> tuple[str | None, str | None]:
    """The command's name, and a valid --hook-timeout given before it (click checks it again later)."""
    command = timeout = None
    words = iter(args)
    for arg in words:
        if arg == "--hook-timeout":
            timeout = next(words, None)
        elif arg.startswith("--hook-timeout="):
            timeout = arg.partition("=")[2]
        elif not arg.startswith("-"):
            command = arg
            break
    return command, (timeout if _is_seconds(timeout) else None)


def _is_seconds(text: str | None) -> bool:
    try:
        return text is not None and 0 <= float(text) <= MAX_HOOK_TIMEOUT_S
    except ValueError:
        return False
