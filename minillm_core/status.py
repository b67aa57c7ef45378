"""The status report of a run: JSON for agents, Markdown for people, both under reports/.

reports/latest.json and reports/latest.md always hold the last run; reports/history/ keeps a
timestamped copy of each.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

_MARK = {"ok": "ok", "failed": "FAILED", "precondition_failed": "PRECONDITION FAILED", "skipped": "skipped"}


def write_reports(workdir: Path, report: dict[str, Any], paths: dict[str, str] | None = None) -> dict[str, str]:
    """Write latest.{json,md} and a timestamped copy; pass `paths` to rewrite the same files."""
    reports = workdir / "reports"
    if paths is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        paths = {"json": "reports/latest.json", "markdown": "reports/latest.md",
                 "history_json": f"reports/history/{stamp}-{report['skill']}.json",
                 "history_markdown": f"reports/history/{stamp}-{report['skill']}.md"}
    (reports / "history").mkdir(parents=True, exist_ok=True)
    as_json = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    as_markdown = render_markdown(report)
    for key, text in (("json", as_json), ("markdown", as_markdown),
                      ("history_json", as_json), ("history_markdown", as_markdown)):
        _write_atomic(workdir / paths[key], text)
    return paths


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def render_markdown(report: dict[str, Any]) -> str:
    """A page a person reads in a minute: the verdict, a table of stages, then each stage, git last."""
    lines = [f"# minillm-skill run {report['skill']}: {_MARK.get(report['status'], report['status'])}",
             "", f"Work directory `{report['workdir']}`, {report['duration_s']:.1f} s in all.", "",
             "| stage | status | time | summary |", "|---|---|---|---|"]
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


def _stage_section(stage: dict[str, Any]) -> list[str]:
    lines = ["", f"## {stage['skill']}", "", stage["summary"] or "(no summary)"]
    if stage.get("error"):
        lines += ["", f"**Error:** {stage['error']}"]
    if stage.get("hint"):
        lines += ["", f"**To fix:** {stage['hint']}"]
    if stage.get("metrics"):
        lines += [""] + [f"- {key}: {_number(value)}" for key, value in stage["metrics"].items()
                         if not isinstance(value, (dict, list))]
    if stage.get("artifacts"):
        lines += ["", "Artifacts: " + ", ".join(f"`{a}`" for a in stage["artifacts"])]
    if stage.get("details"):
        lines += ["", stage["details"].rstrip()]
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


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
