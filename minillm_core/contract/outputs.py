"""A stage deletes only what it made: which output folders a stage may replace, and the marker that says so.

A training stage saves its model by swapping a new folder into place, which removes the old one. So its
`output` must lie inside the work directory, away from the project's own folders, and be either a new path,
an empty folder, or a folder this project wrote for the same stage: save_model leaves a marker file
(MARKER: stage, time, version) in every model folder. A default out/<stage> folder written by an older
version (a model's config.json and no marker) counts as the stage's own. Anything else is refused before
any work, with a message that names the folder and another to use.

A stage's logs and checkpoints are named after its output folder (run_name), so a run with
`--set output=out/sft-x` leaves logs/sft.jsonl and out/.checkpoints/sft of the default run alone.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from minillm_core import __version__
from minillm_core.contract.skill import SkillError

MARKER = ".minillm-output.json"
PROJECT_FOLDERS = ("dataset", "logs", "reports", ".git")  # never an output, nor inside one


class OutputRefused(ValueError):
    """An `output` folder the stage may not replace; the runner reports it as a usage error (exit 2)."""


def default_output(stage: str, workdir: Path) -> Path:
    return Path(workdir) / "out" / stage


def output_path(stage: str, output: str | None, workdir: Path) -> Path:
    """The folder a stage saves to: `output` (absolute, or relative to the work directory), else out/<stage>."""
    if not output:
        return default_output(stage, workdir)
    path = Path(output).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else Path(workdir) / path))


def run_name(stage: str, output: Path, workdir: Path) -> str:
    """The name of a stage's logs and checkpoints: its output's path below out/ (out/sft-x -> sft-x)."""
    try:
        parts = Path(output).resolve().relative_to(Path(workdir).resolve()).parts
    except ValueError:
        return stage
    if parts[:1] == ("out",):
        parts = parts[1:]
    return "__".join(parts) or stage


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def write_marker(folder: Path, stage: str, style: str | None = None,
                 provenance: dict[str, Any] | None = None) -> None:
    """Mark `folder` as what `stage` wrote, so a later run of that stage may replace it. A model's `style`
    ("chat" or "completion": a base model) lets readers tell a chat model from a base one without its name;
    its `provenance` says which model it started from and which datasets trained it, stage by stage."""
    marker = {"stage": stage, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "minillm_skill": __version__,
              **({"style": style} if style else {}), **({"provenance": provenance} if provenance else {})}
    (Path(folder) / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


@contextmanager
def staged_output(output: Path, stage: str, style: str | None = None,
                  provenance: dict[str, Any] | None = None) -> Iterator[Path]:
    """A fresh folder beside `output` to write into; when the block ends, it is marked as `stage`'s (a model's
    `style` and `provenance` too) and swapped into place as `output`. If the block raises, `output` stays."""
    staging = output.with_name(f".{output.name}.saving")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    yield staging
    write_marker(staging, stage, style, provenance)
    _publish(staging, output)


def _publish(staging: Path, output: Path) -> None:
    """Swap the finished folder `staging` into place as `output`. A crash leaves either the old folder or
    the new one (or the old one moved aside as .<name>.old, which the next run puts back: runs/recovery.py),
    never a half-written `output`."""
    old = set_aside(output)
    shutil.rmtree(old, ignore_errors=True)
    if output.exists():
        os.replace(output, old)
    os.replace(staging, output)
    shutil.rmtree(old, ignore_errors=True)


def set_aside(output: Path) -> Path:
    """Where a save moves the folder it replaces until the new one is in place: .<name>.old beside it."""
    return output.with_name(f".{output.name}.old")


def trained_models(workdir: Path) -> list[Path]:
    """The model folders under out/ that training stages wrote (built-in or a plugin's), newest first."""
    found = []
    for marker_file in (Path(workdir) / "out").glob(f"*/{MARKER}"):
        marker = read_marker(marker_file.parent)
        if marker and marker.get("style") and (marker_file.parent / "config.json").is_file():
            found.append((marker_file.stat().st_mtime, marker_file.parent))
    return [folder for _, folder in sorted(found, reverse=True)]


def workdir_relative(path: str | Path, workdir: Path) -> str:
    """`path` relative to the work directory when inside it (what a report names), else absolute."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path(workdir).resolve()))
    except ValueError:
        return os.fspath(resolved)


def relative_paths(value: Any, workdir: Path) -> Any:
    """`value` (nested dicts and lists) with every string that is an absolute path inside the work directory
    made relative to it ("." for the work directory itself), as reports and run records name paths: they
    belong to the folder, not to the machine. Other strings, and paths outside it, stay as they are."""
    root = os.path.normpath(Path(workdir).resolve())
    inside = root.rstrip(os.sep) + os.sep

    def relative(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: relative(entry) for key, entry in item.items()}
        if isinstance(item, (list, tuple)):
            return type(item)(relative(entry) for entry in item)
        if not isinstance(item, str) or not os.path.isabs(item):
            return item
        path = os.path.normpath(item)
        return os.path.relpath(path, root) if path == root or path.startswith(inside) else item

    return relative(value)


def stage_output(stage: str, output: str | None, workdir: Path) -> Path:
    """check_output for a stage that is running: a refusal fails the stage (SkillError) and says what to do."""
    try:
        return check_output(stage, output, workdir)
    except OutputRefused as exc:
        raise SkillError(str(exc), hint=f"`--set output=out/{stage}-2`, or move the folder away") from None


def check_output(stage: str, output: str | None, workdir: Path) -> Path:
    """The stage's output folder, when the stage may write it; OutputRefused saying why and what to do."""
    workdir = Path(workdir).resolve()
    path = output_path(stage, output, workdir)
    default = default_output(stage, workdir)
    if path == default and _is_old_default(path):
        return path
    resolved = path.resolve()
    instead = f"give a new folder, e.g. `--set output=out/{stage}-2`"
    if resolved == workdir or workdir not in resolved.parents:
        where = "is the work directory itself" if resolved == workdir else f"is outside the work directory {workdir}"
        raise OutputRefused(f"option 'output': {path} {where}; a stage's output must be a folder inside it, "
                            f"which training replaces: {instead}")
    relative = resolved.relative_to(workdir).parts
    if relative[0] in PROJECT_FOLDERS or relative == ("out",) or (relative[0] == "out" and relative[1].startswith(".")):
        raise OutputRefused(f"option 'output': {path} is one of the project's own folders, or inside one; {instead}")
    for parent in resolved.parents:
        if parent == workdir:
            break
        if (parent / MARKER).exists() or (parent / "config.json").exists():
            raise OutputRefused(f"option 'output': {path} is inside the model folder {parent}, which its stage "
                                f"replaces as a whole; {instead}")
    if not resolved.exists() and not resolved.is_symlink():
        return path
    if not resolved.is_dir():
        raise OutputRefused(f"option 'output': {path} is a file, not a folder; {instead}")
    marker = read_marker(resolved)
    if marker is not None:
        if marker.get("stage") != stage:
            raise OutputRefused(f"option 'output': {path} holds the model of stage '{marker.get('stage')}', "
                                f"not {stage}; {instead}")
        return path
    if not any(resolved.iterdir()):
        return path
    raise OutputRefused(f"option 'output': {path} exists and was not written by a {stage} run (it has no {MARKER}); "
                        f"training would replace everything in it. Move it away, or {instead}")


def _is_old_default(path: Path) -> bool:
    """out/<stage> as this project writes it: new, marked, or a model saved by a version without markers."""
    return not path.exists() or read_marker(path) is not None or (path / "config.json").exists()
