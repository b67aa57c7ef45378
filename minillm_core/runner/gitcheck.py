"""The git-status cleanliness check that ends every run.

A run must leave no tracked file changed and nothing untracked that git does not ignore. The check
also records what was already dirty before the run, so a user can tell the run's doing from theirs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def _git(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=workdir, capture_output=True, text=True, check=False)


def git_state(workdir: Path) -> dict[str, Any]:
    """Changed tracked files and untracked, non-ignored files under `workdir`, or why not checked."""
    try:
        inside = _git(workdir, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return {"checked": False, "reason": "git is not installed"}
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return {"checked": False, "reason": "the work directory is not inside a git repository"}
    status = _git(workdir, "status", "--porcelain=v1", "--untracked-files=all", "--", ".")
    changed, untracked = [], []
    for line in status.stdout.splitlines():
        code, path = line[:2], line[3:]
        (untracked if code == "??" else changed).append(path)
    commit = _git(workdir, "rev-parse", "--short", "HEAD").stdout.strip() or None
    return {"checked": True, "clean": not changed and not untracked, "changed": changed,
            "untracked": untracked, "commit": commit}


def git_check(workdir: Path, before: dict[str, Any] | None) -> dict[str, Any]:
    """The state after a run, with the files that were already dirty before it listed apart."""
    after = git_state(workdir)
    if after["checked"] and before and before.get("checked"):
        after["dirty_before_run"] = sorted(set(before["changed"]) | set(before["untracked"]))
    return after


def ignores(workdir: Path, relative_paths: list[str]) -> dict[str, bool]:
    """Whether git ignores each path (used by env-check for dataset/, out/, logs/, reports/)."""
    return {path: _git(workdir, "check-ignore", "-q", path).returncode == 0 for path in relative_paths}
