"""Run stamps: what each stage's last successful run was, so a re-run can skip it and the report card can read it.

One JSON file per skill, `out/.stamps/<skill>.json`:

    {"fingerprint": sha256 of what the result depends on, "finished_at": unix time, "record": the stage record}

The fingerprint covers the stage's settings, its input files and folders (size and mtime of each file), and the
fingerprints of the stages it requires: change any and the stage is out of date. This module owns the format;
the runner writes stamps and the report card reads them, through these functions only.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from minillm_core.util.atomic import write_text_atomic

STAMPS = "out/.stamps"


def stamp_path(workdir: Path, skill: str) -> Path:
    return Path(workdir) / STAMPS / f"{skill}.json"


def read_stamp(workdir: Path, skill: str) -> dict[str, Any]:
    """The skill's stamp, or {} when it has none (or an unreadable one: then it simply runs again)."""
    try:
        return json.loads(stamp_path(workdir, skill).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_stamp(skill: Any, ctx: Any, record: dict[str, Any]) -> None:
    """Stamp a successful run of `skill` in `ctx` (a StageContext) with its fingerprint and record."""
    data = {"fingerprint": fingerprint(skill, ctx), "finished_at": time.time(), "record": record}
    write_text_atomic(stamp_path(ctx.workdir, skill.name), json.dumps(data, indent=1, default=str))


def fingerprint(skill: Any, ctx: Any) -> str:
    """A hash of what a stage's result depends on: its settings, its input files (absolute path settings and the
    skill's declared `inputs`), and the fingerprints of the stages it `requires`."""
    files = {key: _file_identity(Path(value)) for key, value in ctx.settings.items()
             if isinstance(value, str) and Path(value).is_absolute()}
    for path in skill.inputs(ctx) if skill.inputs else []:
        files[str(path)] = _file_identity(Path(path))
    upstream = {name: read_stamp(ctx.workdir, name).get("fingerprint") for name in skill.requires}
    blob = json.dumps({"skill": ctx.skill, "settings": ctx.settings, "inputs": files, "upstream": upstream},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def is_up_to_date(skill: Any, ctx: Any) -> bool:
    """The skill's outputs all exist and nothing its result depends on changed since its last success."""
    if not skill.produces or not all(ctx.path(p).exists() for p in skill.produces):
        return False
    return read_stamp(ctx.workdir, skill.name).get("fingerprint") == fingerprint(skill, ctx)


def _file_identity(path: Path) -> list[Any] | None:
    if path.is_file():
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]
    if path.is_dir():
        return sorted([str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns]
                      for p in path.rglob("*") if p.is_file())
    return None


def stamped_records(workdir: Path) -> dict[str, dict[str, Any]]:
    """Every stamped skill's last successful record, with its `finished_at`, by skill name (unordered)."""
    results = {}
    for stamp in (Path(workdir) / STAMPS).glob("*.json"):
        data = read_stamp(workdir, stamp.stem)
        if data:
            results[stamp.stem] = {**data["record"], "finished_at": data["finished_at"]}
    return results
