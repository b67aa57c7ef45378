"""download-data's work: fetch registry datasets from the Hugging Face Hub (or ModelScope), resume, verify.

    result = download_data(["minimind-sft-mini"], "auto", workdir)     # a StageResult

Why not `hf_hub_download`: in huggingface_hub 2.4 it streams into a per-process temporary file that it
deletes when the download breaks, so an interrupted 1.6 GB file starts again from zero. We use its
building blocks instead (`hf_hub_url`, `get_hf_file_metadata`, `http_get` with `resume_size`) and keep
the partial file under a stable name, `<workdir>/dataset/.cache/huggingface/download/<file>.<etag>.incomplete`.
A file moves to `<workdir>/dataset/<file>` only once its size and sha256 match (the registry's when it
gives them, else the hub's size and LFS sha256), so training never reads a bad one.

An entry whose registry pins no sha256 is trusted to the hub (or mirror) for its own checksums: such a
download is recorded as unpinned, with a warning, and `require_pins` refuses it before anything is fetched.

Fetching and verifying one file is minillm_core/hub/fetch.py; this module decides what to fetch, falls back, and
records. Each run records what it did in `<workdir>/dataset/downloads.json`: the verified files (a re-run then
needs neither the network nor a re-hash) and the datasets that fell back to embedded data, which the
training stages read through `dataset_for_training`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from minillm_core.contract.outputs import workdir_relative
from minillm_core.contract.skill import SkillError, StageResult
from minillm_core.data.registry import DatasetSpec, RegistryError, load_registry, registry_paths
from minillm_core.hub.fetch import (
    Outcome,
    fetch_hub,
    fetch_modelscope,
    human_size,
    is_pinned,
    repo_of,
    require_modelscope,
)
from minillm_core.hub.reach import probe_hub, public_endpoint
from minillm_core.util.atomic import write_text_atomic
from minillm_core.util.redact import redact_all

SOURCES = ("auto", "hub", "modelscope")
EMBEDDED = "embedded"  # the option value meaning "the shipped data, nothing to fetch"
NOTE = "dataset/downloads.json"
log = logging.getLogger("minillm.download")  # a child of the CLI's "minillm" logger: stderr


def parse_names(value: str | None) -> list[str]:
    """`"a, b"` -> `["a", "b"]`; nothing at all means the embedded default."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    return names or [EMBEDDED]


def download_data(names: list[str], source: str, workdir: Path, force: bool = False,
                  require_pins: bool = False) -> StageResult:
    """Make the named registry datasets present in `workdir/dataset/`, verified; see skills/download-data/SKILL.md."""
    started = time.monotonic()
    if source not in SOURCES:
        raise SkillError(f"source must be one of {', '.join(SOURCES)}, got {source!r}",
                         hint="`--set source=auto` (the default), `hub` or `modelscope`")
    workdir = Path(workdir)
    specs = _requested(names, workdir)
    if require_pins:
        _refuse_unpinned(specs)
    note = read_note(workdir)
    outcomes: dict[str, Outcome] = {}
    todo: list[DatasetSpec] = []
    for spec in specs:
        if spec.hub is None:
            outcomes[spec.name] = _shipped(spec, workdir)
        elif not force and (recorded := _recorded(spec, note, workdir)):
            outcomes[spec.name] = recorded
        else:
            todo.append(spec)
    used = "local" if any(spec.hub for spec in specs) else "embedded"
    reason = None
    if todo:
        used, reason = _choose_source(source)
    for spec in todo:
        if used == "embedded":
            outcomes[spec.name] = _fall_back(spec, workdir)
        elif used == "modelscope":
            outcomes[spec.name] = fetch_modelscope(spec, workdir)
        else:
            outcomes[spec.name] = fetch_hub(spec, workdir)
        _record(workdir, spec, outcomes[spec.name], used, reason)  # after each file: a later failure keeps it
    return _result(outcomes, used, reason, time.monotonic() - started)


def dataset_for_training(spec: DatasetSpec, workdir: Path) -> DatasetSpec:
    """The dataset a training stage should read for `spec`.

    That is `spec` itself, unless it is a hub dataset that is not downloaded and download-data recorded
    that it fell back to embedded data (the hub was unreachable): then the fallback's spec.
    """
    if spec.hub is None or spec.is_downloaded:
        return spec
    fallback = read_note(workdir).get("fallbacks", {}).get(spec.name)
    if not fallback:
        return spec
    replacement = load_registry(workdir).get(fallback["dataset"])
    return replacement if replacement is not None and replacement.kind == spec.kind else spec


def read_note(workdir: Path) -> dict[str, Any]:
    """download-data's record in the work directory (empty when it has not run or the file is unreadable)."""
    try:
        note = json.loads((Path(workdir) / NOTE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


# -- what was asked ------------------------------------------------------------------------------


def _requested(names: list[str], workdir: Path) -> list[DatasetSpec]:
    try:
        registry = load_registry(workdir)
    except RegistryError as exc:
        raise SkillError(str(exc), hint="fix that registry file (its format is documented at its top)") from exc
    unknown = [name for name in names if name != EMBEDDED and name not in registry]
    if unknown:
        hub = sorted(name for name, spec in registry.items() if spec.hub)
        places = ", ".join(str(path) for path in registry_paths(workdir))
        raise SkillError(
            f"no dataset named {', '.join(map(repr, unknown))} in the registry ({places}). "
            f"Downloadable: {', '.join(hub) or 'none'}; `{EMBEDDED}` is the shipped default",
            hint="`--set dataset=NAME[,NAME...]` with names from `dataset/registry.yaml`; "
                 "add your own entries to <workdir>/dataset/registry.yaml")
    return [registry[name] for name in dict.fromkeys(names) if name != EMBEDDED]


def _refuse_unpinned(specs: list[DatasetSpec]) -> None:
    unpinned = [spec for spec in specs if spec.hub is not None and not is_pinned(spec)]
    if unpinned:
        names = ", ".join(repr(spec.name) for spec in unpinned)
        registries = ", ".join(sorted({str(spec.registry) for spec in unpinned}))
        raise SkillError(f"require_pins is set, but the registry pins no sha256 for {names}: the only check would "
                         f"be the hub's (or mirror's) own word about its files; nothing was downloaded",
                         hint=f"add `sha256:` and `size:` to the `hub:` of each entry in {registries} (e.g. from a "
                              f"copy you trust: `sha256sum FILE`), or run without `--set require_pins=true`")


def _shipped(spec: DatasetSpec, workdir: Path) -> Outcome:
    if not spec.path.exists():
        raise SkillError(f"dataset '{spec.name}' has no hub source and its file {spec.path} is missing",
                         hint=f"download-data fetches only registry entries with `hub`; put the file at "
                              f"{spec.path} or fix the entry in {spec.registry}")
    return Outcome("shipped", workdir_relative(spec.path, workdir), spec.path.stat().st_size)


def _recorded(spec: DatasetSpec, note: dict[str, Any], workdir: Path) -> Outcome | None:
    """The file as recorded by an earlier run, if it is still that file (same size and mtime): no re-hash."""
    record = note.get("files", {}).get(spec.name)
    if not record or not spec.path.is_file() or record.get("file") != workdir_relative(spec.path, workdir):
        return None
    stat = spec.path.stat()
    if [stat.st_size, stat.st_mtime_ns] != [record.get("size"), record.get("mtime_ns")]:
        return None
    if spec.hub.get("sha256") not in (None, record.get("sha256")) or spec.hub.get("size") not in (None, stat.st_size):
        return None  # the registry entry changed since: check again
    return Outcome("present", record["file"], record["size"], record.get("sha256"), record.get("verified"),
                   pinned=is_pinned(spec))


def _choose_source(source: str) -> tuple[str, str | None]:
    """The source this run fetches from, and why it falls back (when it does). Asks the hub once, bounded."""
    if source == "modelscope":
        require_modelscope()
        return "modelscope", None
    reachable, detail = probe_hub()
    if reachable:
        return "hub", None
    if source == "hub":
        raise SkillError(f"the Hugging Face Hub is unreachable: {detail}",
                         hint="check the network; set HF_ENDPOINT to a mirror (e.g. https://hf-mirror.com) or "
                              "unset HF_HUB_OFFLINE; or `--set source=auto` to fall back to the embedded data")
    return "embedded", f"hub unreachable: {detail}"


def _fall_back(spec: DatasetSpec, workdir: Path) -> Outcome:
    if spec.path.is_file():  # put there earlier (by hand, or before downloads.json existed): train on it
        return Outcome("unverified", workdir_relative(spec.path, workdir), spec.path.stat().st_size)
    replacement = load_registry(workdir).get(spec.fallback or "")
    if replacement is None or replacement.kind != spec.kind or replacement.hub is not None:
        raise SkillError(f"dataset '{spec.name}' cannot fall back: its fallback {spec.fallback!r} is not a "
                         f"registered {spec.kind} dataset shipped with the package",
                         hint=f"set `fallback:` of '{spec.name}' in {spec.registry} to an embedded {spec.kind} "
                              f"dataset, or run again with the hub reachable")
    return Outcome("fallback", replaced_by=replacement.name)


# -- the Hugging Face Hub ------------------------------------------------------------------------


# -- ModelScope ----------------------------------------------------------------------------------


# -- verifying and recording ---------------------------------------------------------------------


def _record(workdir: Path, spec: DatasetSpec, outcome: Outcome, source: str, reason: str | None) -> None:
    """Update downloads.json: a verified file replaces any fallback of its dataset, and the reverse."""
    note = read_note(workdir)
    files, fallbacks = note.setdefault("files", {}), note.setdefault("fallbacks", {})
    if outcome.state == "fallback":
        files.pop(spec.name, None)
        fallbacks[spec.name] = {"dataset": outcome.replaced_by, "reason": reason, "at": time.time()}
    elif outcome.sha256:
        fallbacks.pop(spec.name, None)
        files[spec.name] = {"file": outcome.file, "size": outcome.size, "sha256": outcome.sha256,
                            "verified": outcome.verified, "pinned": outcome.pinned,
                            "mtime_ns": spec.path.stat().st_mtime_ns,
                            "source": source, "repo": repo_of(spec, source), "at": time.time()}
    else:
        return
    write_text_atomic(Path(workdir) / NOTE, json.dumps(redact_all(note), indent=1, sort_keys=True))


def _result(outcomes: dict[str, Outcome], source: str, reason: str | None, seconds: float) -> StageResult:
    replacements = {name: o.replaced_by for name, o in outcomes.items() if o.state == "fallback"}
    on_disk = [o for o in outcomes.values() if o.file and o.state != "shipped"]  # shipped data is not fetched
    fetched = [o for o in outcomes.values() if o.state in ("downloaded", "resumed")]
    total = sum(o.bytes for o in fetched)
    metrics: dict[str, Any] = {"source": source, "fallback": bool(replacements), "files": len(on_disk),
                               "bytes": total, "seconds": round(seconds, 2),
                               "datasets": {name: _public(o) for name, o in outcomes.items()}}
    if source == "embedded" and not replacements and any(o.state == "unverified" for o in on_disk):
        metrics["source"] = "local"  # the hub was unreachable, but nothing needed replacing
    if source == "hub":
        metrics["endpoint"] = public_endpoint()
    if reason:
        metrics["reason"] = reason
    if replacements:
        metrics["replacements"] = replacements
    unpinned = sorted(name for name, o in outcomes.items() if o.pinned is False)
    if unpinned:
        metrics["unpinned"] = unpinned
    summary = _summary(outcomes, replacements, reason, fetched, total, seconds)
    if unpinned:
        summary += f"; unpinned (the registry has no sha256; the hub's own was trusted): {', '.join(unpinned)}"
    return StageResult(summary, metrics, [o.file for o in on_disk], _details(outcomes))


def _summary(outcomes: dict[str, Outcome], replacements: dict[str, str], reason: str | None,
             fetched: list[Outcome], total: int, seconds: float) -> str:
    if replacements:
        pairs = ", ".join(f"{name} -> {embedded}" for name, embedded in replacements.items())
        return f"{reason}; training falls back to the embedded data: {pairs}"
    if reason:
        return f"{reason}; training uses the files already in dataset/, unverified"
    if fetched:
        checks = sorted({o.verified or "nothing (no size or sha256 known)" for o in fetched})
        return (f"fetched {len(fetched)} file(s), {human_size(total)} in {seconds:.1f} s, verified by "
                f"{' and '.join(checks)}; {len(outcomes)} dataset(s) ready")
    if any(o.state == "present" for o in outcomes.values()):
        return f"nothing to fetch: {len(outcomes)} dataset(s) already downloaded and verified"
    return "nothing to download: training uses the embedded dataset shipped with the package"


def _details(outcomes: dict[str, Outcome]) -> str:
    if not outcomes:
        return ""
    rows = [f"| {name} | {o.state} | {o.file or o.replaced_by} | {human_size(o.size)} | {o.verified or '-'}"
            f"{' (unpinned)' if o.pinned is False else ''} |" for name, o in outcomes.items()]
    return "\n".join(["| dataset | state | file (or replacement) | size | verified |", "|---|---|---|---|---|",
                      *rows])


def _public(outcome: Outcome) -> dict[str, Any]:
    return {key: value for key, value in asdict(outcome).items() if value is not None}


