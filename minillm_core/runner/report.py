"""The status report of a run: JSON for agents, Markdown for people, both under reports/.

reports/latest.json and reports/latest.md always hold the last run; reports/history/ keeps a copy of
each, named after its run id (with a copy of its loss plots, which reports/plots/ keeps only for the latest).
The files are the work directory's, not the machine's: paths inside it are relative to it, and `workdir`
reads "." (runner/plan.py makes the paths relative; here the field).
"""

from __future__ import annotations

import json
import platform
import re
import secrets
import shutil
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from minillm_core.util.atomic import write_text_atomic
from minillm_core.util.redact import redact_all

_MARK = {"ok": "ok", "failed": "FAILED", "precondition_failed": "PRECONDITION FAILED", "skipped": "skipped",
         "stopped": "stopped (resumable)"}


def write_reports(workdir: Path, report: dict[str, Any], paths: dict[str, str] | None = None) -> dict[str, str]:
    """Write latest.{json,md} and the run's own copy in history/; pass `paths` to rewrite the same files."""
    reports = workdir / "reports"
    if paths is None:
        name = _history_name(report)
        paths = {"json": "reports/latest.json", "markdown": "reports/latest.md",
                 "history_json": f"reports/history/{name}.json", "history_markdown": f"reports/history/{name}.md"}
    (reports / "history").mkdir(parents=True, exist_ok=True)
    # The skills keep credentials out; redact_all makes sure no report holds one.
    report = redact_all({**report, "workdir": "."})
    as_json = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    as_markdown = render_markdown(report)
    history_markdown = _with_own_plots(workdir, as_markdown, workdir / paths["history_markdown"])
    for key, text in (("json", as_json), ("markdown", as_markdown),
                      ("history_json", as_json), ("history_markdown", history_markdown)):
        write_text_atomic(workdir / paths[key], text)
    return paths


def _history_name(report: dict[str, Any]) -> str:
    """The run id (unique per run: runs started in the same second get their own copies), else a new one."""
    return report.get("run_id") or f"{time.strftime('%Y%m%d-%H%M%S')}-{report['skill']}-{secrets.token_hex(2)}"


_PLOT_LINK = re.compile(r"\]\(plots/([\w.-]+\.png)\)")  # ](plots/sft_loss.png), as report_card links them


def _with_own_plots(workdir: Path, markdown: str, history_path: Path) -> str:
    """The history copy links copies of its plots beside it: reports/plots/ holds only the latest run's."""
    names = sorted(set(_PLOT_LINK.findall(markdown)))
    if not names:
        return markdown
    folder = history_path.with_name(f"{history_path.stem}-plots")
    folder.mkdir(exist_ok=True)
    for name in names:
        if (workdir / "reports" / "plots" / name).exists():
            shutil.copy2(workdir / "reports" / "plots" / name, folder / name)
    return _PLOT_LINK.sub(lambda match: f"]({folder.name}/{match[1]})", markdown)




VERSIONED = ("torch", "transformers", "trl", "peft", "datasets", "minillm-skill")


def environment(git_before: dict[str, Any], records: list) -> dict[str, Any]:
    """The report header: commit, machine and versions (GPU from env-check when it ran: no torch import)."""
    env_check = next((r.metrics for r in records if r.skill == "env-check" and r.metrics), {})
    return {"commit": git_before.get("commit"),
            "dirty": not git_before["clean"] if git_before.get("checked") else None,
            "python": platform.python_version(), "cpu_cores": psutil.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "gpu": (env_check.get("gpu", {}).get("devices") or [{}])[0].get("name"),
            "versions": {name: _version(name) for name in VERSIONED}}


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def render_markdown(report: dict[str, Any]) -> str:
    """A page a person reads in a minute: verdict, header, stage table, problems and details, git last.

    Every number is in the JSON; the Markdown shows only what a stage chose to show (`details`).
    """
    lines = [f"# minillm-skill run {report['skill']}: {_MARK.get(report['status'], report['status'])}",
             "", _header(report), "", "| stage | status | time | summary |", "|---|---|---|---|"]
    for stage in report["stages"]:
        lines.append(f"| {stage['skill']} | {_MARK.get(stage['status'], stage['status'])} | "
                     f"{stage['duration_s']:.1f} s | {_cell(stage['summary'])} |")
    for stage in report["stages"]:
        lines += _stage_section(stage)
    if report.get("plugin_errors"):
        lines += ["", "## Plugin errors", ""]
        lines += [f"- `{p['plugin']}` ({p['when']}): {p['error']}" for p in report["plugin_errors"]]
    lines += ["", "## Git check", "", _git_line(report.get("git", {"checked": False, "reason": "not run"}))]
    return "\n".join(lines) + "\n"


def _header(report: dict[str, Any]) -> str:
    env = report.get("environment") or {}
    commit = env.get("commit")
    code = (f"commit `{commit}` ({'dirty' if env.get('dirty') else 'clean'} before the run)" if commit
            else "not a git checkout")
    versions = ", ".join(f"{name} {v}" for name, v in (env.get("versions") or {}).items() if v)
    machine = f"{env.get('cpu_cores')} CPU cores, {env.get('ram_gb')} GB RAM, {env.get('gpu') or 'no GPU'}"
    return (f"{report['duration_s']:.1f} s in all; {code}.  \n"
            f"{machine}; Python {env.get('python')}, {versions}.")


def _stage_section(stage: dict[str, Any]) -> list[str]:
    if not (stage.get("error") or stage.get("details") or stage["status"] == "stopped"):
        return []
    lines = ["", f"## {stage['skill']}", ""]
    if stage.get("error"):
        lines += [f"**Error:** {stage['error']}", ""]
    if stage.get("hint"):
        lines += [f"**{'To resume' if stage['status'] == 'stopped' else 'To fix'}:** {stage['hint']}", ""]
    if stage.get("details"):
        lines += [stage["details"].rstrip()]
    return lines


def _git_line(git: dict[str, Any]) -> str:
    if not git.get("checked"):
        return f"Not checked: {git.get('reason', 'unknown reason')}."
    if git["clean"]:
        return "Clean: no tracked file changed and nothing untracked outside what git ignores."
    parts = []
    if git["changed"]:
        parts.append("changed tracked files: " + ", ".join(f"`{p}`" for p in git["changed"]))
    if git["untracked"]:
        parts.append("untracked files git does not ignore: " + ", ".join(f"`{p}`" for p in git["untracked"]))
    before = git.get("dirty_before_run")
    suffix = f" (already dirty before this run: {', '.join(before)})" if before else ""
    return "**Not clean**: " + "; ".join(parts) + suffix + "."


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
