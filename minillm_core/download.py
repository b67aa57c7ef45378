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

Each run records what it did in `<workdir>/dataset/downloads.json`: the verified files (a re-run then
needs neither the network nor a re-hash) and the datasets that fell back to embedded data, which the
training stages read through `dataset_for_training`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from minillm_core.atomic import write_text_atomic
from minillm_core.data.registry import DatasetSpec, RegistryError, load_registry, registry_paths
from minillm_core.hub import hub_endpoint, probe_hub, public_endpoint
from minillm_core.redact import redact, redact_all
from minillm_core.skill import SkillError, StageResult

SOURCES = ("auto", "hub", "modelscope")
EMBEDDED = "embedded"  # the option value meaning "the shipped data, nothing to fetch"
NOTE = "dataset/downloads.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_METADATA_TIMEOUT_S = 10.0
log = logging.getLogger("minillm.download")  # a child of the CLI's "minillm" logger: stderr


@dataclass
class Outcome:
    """What became of one requested dataset."""

    state: str  # shipped | present | downloaded | resumed | unverified | fallback
    file: str | None = None  # relative to the work directory when inside it
    size: int | None = None
    sha256: str | None = None
    verified: str | None = None  # what the file was checked against: "sha256", "size" or None
    bytes: int = 0  # fetched by this run
    replaced_by: str | None = None  # for a fallback: the registry name trained on instead
    pinned: bool | None = None  # hub files: whether the registry pins its sha256 (else the hub's word is taken)


@dataclass(frozen=True)
class Expected:
    sha256: str | None
    size: int | None


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
            outcomes[spec.name] = _fetch_modelscope(spec, workdir)
        else:
            outcomes[spec.name] = _fetch_hub(spec, workdir)
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


def partial_path(workdir: Path, spec: DatasetSpec, etag: str | None) -> Path:
    """Where the unfinished download of `spec` lives; the etag in the name keeps two versions apart."""
    return Path(workdir) / "dataset" / ".cache" / "huggingface" / "download" / f"{spec.path.name}.{etag}.incomplete"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _pinned(spec: DatasetSpec) -> bool:
    return bool(spec.hub and spec.hub.get("sha256"))


def _refuse_unpinned(specs: list[DatasetSpec]) -> None:
    unpinned = [spec for spec in specs if spec.hub is not None and not _pinned(spec)]
    if unpinned:
        names = ", ".join(repr(spec.name) for spec in unpinned)
        registries = ", ".join(sorted({str(spec.registry) for spec in unpinned}))
        raise SkillError(f"require_pins is set, but the registry pins no sha256 for {names}: the only check would "
                         f"be the hub's (or mirror's) own word about its files; nothing was downloaded",
                         hint=f"add `sha256:` and `size:` to the `hub:` of each entry in {registries} (e.g. from a "
                              f"copy you trust: `sha256sum FILE`), or run without `--set require_pins=true`")


def _warn_unpinned(spec: DatasetSpec, source: str) -> None:
    if not _pinned(spec):
        log.warning("dataset '%s' pins no sha256 in %s: %s is trusted for its own checksums, and the download is "
                    "recorded as unpinned (`--set require_pins=true` refuses such entries)", spec.name, spec.registry,
                    public_endpoint() if source == "hub" else "ModelScope")


def _shipped(spec: DatasetSpec, workdir: Path) -> Outcome:
    if not spec.path.exists():
        raise SkillError(f"dataset '{spec.name}' has no hub source and its file {spec.path} is missing",
                         hint=f"download-data fetches only registry entries with `hub`; put the file at "
                              f"{spec.path} or fix the entry in {spec.registry}")
    return Outcome("shipped", _relative(spec.path, workdir), spec.path.stat().st_size)


def _recorded(spec: DatasetSpec, note: dict[str, Any], workdir: Path) -> Outcome | None:
    """The file as recorded by an earlier run, if it is still that file (same size and mtime): no re-hash."""
    record = note.get("files", {}).get(spec.name)
    if not record or not spec.path.is_file() or record.get("file") != _relative(spec.path, workdir):
        return None
    stat = spec.path.stat()
    if [stat.st_size, stat.st_mtime_ns] != [record.get("size"), record.get("mtime_ns")]:
        return None
    if spec.hub.get("sha256") not in (None, record.get("sha256")) or spec.hub.get("size") not in (None, stat.st_size):
        return None  # the registry entry changed since: check again
    return Outcome("present", record["file"], record["size"], record.get("sha256"), record.get("verified"),
                   pinned=_pinned(spec))


def _choose_source(source: str) -> tuple[str, str | None]:
    """The source this run fetches from, and why it falls back (when it does). Asks the hub once, bounded."""
    if source == "modelscope":
        _require_modelscope()
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
        return Outcome("unverified", _relative(spec.path, workdir), spec.path.stat().st_size)
    replacement = load_registry(workdir).get(spec.fallback or "")
    if replacement is None or replacement.kind != spec.kind or replacement.hub is not None:
        raise SkillError(f"dataset '{spec.name}' cannot fall back: its fallback {spec.fallback!r} is not a "
                         f"registered {spec.kind} dataset shipped with the package",
                         hint=f"set `fallback:` of '{spec.name}' in {spec.registry} to an embedded {spec.kind} "
                              f"dataset, or run again with the hub reachable")
    return Outcome("fallback", replaced_by=replacement.name)


# -- the Hugging Face Hub ------------------------------------------------------------------------


def _fetch_hub(spec: DatasetSpec, workdir: Path) -> Outcome:
    _warn_unpinned(spec, "hub")
    meta = _hub_metadata(spec)
    hub_sha = meta.etag if meta.etag and _SHA256.match(meta.etag) else None  # LFS files: the etag is the sha256
    expected = Expected(spec.hub.get("sha256") or hub_sha, spec.hub.get("size") or meta.size)
    _check_registry_against_hub(spec, Expected(hub_sha, meta.size))
    if spec.path.is_file():  # put there by hand, or before downloads.json existed
        problem, digest = _check(spec.path, expected)
        if problem is None:
            return _outcome(spec, workdir, "present", digest, expected, 0)
        log.warning("%s does not match the hub's file (%s): downloading it again", spec.path, problem)
        spec.path.unlink()
    partial = partial_path(workdir, spec, meta.etag)
    resumed_at = _http_download(meta.location, partial, expected.size, spec)
    outcome = _verified(spec, partial, expected, workdir, "resumed" if resumed_at else "downloaded",
                        partial.stat().st_size - resumed_at)
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, spec.path)
    for stale in partial.parent.glob(f"{spec.path.name}.*.incomplete"):  # older versions' leftovers
        stale.unlink(missing_ok=True)
    return outcome


def _hub_metadata(spec: DatasetSpec):
    """Size, etag and download address of the file, from one HEAD request without retries."""
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError

    # huggingface_hub read HF_ENDPOINT when it was imported; pass ours so the probe and the download agree.
    endpoint = hub_endpoint()
    repo, file = spec.hub["repo"], spec.hub["file"]
    url = hf_hub_url(repo, file, repo_type="dataset", endpoint=endpoint)
    try:
        return get_hf_file_metadata(url, timeout=_METADATA_TIMEOUT_S, endpoint=endpoint)
    except (RemoteEntryNotFoundError, RepositoryNotFoundError) as exc:
        raise SkillError(f"dataset '{spec.name}': {file} is not in the hub dataset {repo} ({public_endpoint()})",
                         hint=f"check the hub entry of '{spec.name}' in {spec.registry}") from exc
    except (httpx2.HTTPError, OSError) as exc:
        raise SkillError(f"dataset '{spec.name}': could not ask {public_endpoint()} about {file}: {redact(str(exc))}",
                         hint="run the same command again; if HF_ENDPOINT is set, check that it is a hub "
                              "mirror") from exc


def _check_registry_against_hub(spec: DatasetSpec, hub: Expected) -> None:
    """Fail before downloading when the hub's file is not the one the registry pins."""
    for key, theirs in (("sha256", hub.sha256), ("size", hub.size)):
        ours = spec.hub.get(key)
        if ours is not None and theirs is not None and ours != theirs:
            raise SkillError(f"dataset '{spec.name}': the hub's {spec.hub['file']} has {key} {theirs}, but the "
                             f"registry expects {ours}; nothing was downloaded",
                             hint=f"the file changed on the hub, or HF_ENDPOINT serves another version: update "
                                  f"or remove `{key}` of '{spec.name}' in {spec.registry}")


def _http_download(url: str, partial: Path, size: int | None, spec: DatasetSpec) -> int:
    """Append the rest of the file to `partial` (a Range request when part is there); returns where it resumed."""
    import httpx2
    from huggingface_hub.file_download import http_get

    partial.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    if size is not None and have > size:  # not a prefix of this file: start over
        partial.unlink()
        have = 0
    if have:
        log.info("resuming %s at %s of %s", spec.path.name, _human(have), _human(size))
    else:
        log.info("downloading %s (%s) from %s", spec.path.name, _human(size), public_endpoint())
    try:
        with open(partial, "ab") as out:  # huggingface_hub's progress bar goes to stderr
            http_get(url, out, resume_size=have, expected_size=size, displayed_filename=spec.path.name)
    except (httpx2.HTTPError, OSError) as exc:
        got = partial.stat().st_size if partial.exists() else 0
        if size is None or got < size:
            raise SkillError(f"dataset '{spec.name}': the download of {spec.path.name} stopped at {_human(got)} "
                             f"of {_human(size)}: {redact(str(exc))}",
                             hint=f"run `minillm-skill run download-data --set dataset={spec.name}` again: "
                                  f"it resumes where it stopped") from exc
        # More bytes than expected: the verification below names the problem and deletes the file.
    return have


# -- ModelScope ----------------------------------------------------------------------------------


def _require_modelscope() -> None:
    try:
        import modelscope  # noqa: F401
    except ImportError as exc:
        raise SkillError("source=modelscope needs the modelscope package, which is not installed",
                         hint="`pip install modelscope`, or `--set source=hub` (a hub mirror works through "
                              "HF_ENDPOINT, e.g. https://hf-mirror.com)") from exc


def _fetch_modelscope(spec: DatasetSpec, workdir: Path) -> Outcome:
    from modelscope.hub.file_download import dataset_file_download

    _warn_unpinned(spec, "modelscope")
    repo = _repo(spec, "modelscope")
    staging = Path(workdir) / "dataset" / ".cache" / "modelscope"  # verified there, then moved in place
    log.info("downloading %s from ModelScope (%s)", spec.hub["file"], repo)
    try:
        fetched = Path(dataset_file_download(repo, spec.hub["file"], local_dir=str(staging)))
    except Exception as exc:  # modelscope raises many kinds; all mean the same thing here
        raise SkillError(f"dataset '{spec.name}': ModelScope could not download {spec.hub['file']} from {repo}: "
                         f"{redact(str(exc))}", hint="run the same command again, or `--set source=hub`") from exc
    expected = Expected(spec.hub.get("sha256"), spec.hub.get("size"))
    outcome = _verified(spec, fetched, expected, workdir, "downloaded", fetched.stat().st_size)
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(fetched, spec.path)
    return outcome


def _repo(spec: DatasetSpec, source: str) -> str:
    return (spec.hub.get("modelscope") or spec.hub["repo"]) if source == "modelscope" else spec.hub["repo"]


# -- verifying and recording ---------------------------------------------------------------------


def _check(path: Path, expected: Expected) -> tuple[str | None, str | None]:
    """(what is wrong or None, the file's sha256); the sha256 is skipped when the size is already wrong."""
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        return f"it has {size} bytes, expected {expected.size}", None
    if size > 100_000_000:
        log.info("checking the sha256 of %s (%s)", path.name, _human(size))
    digest = sha256_of(path)
    if expected.sha256 is not None and digest != expected.sha256:
        return f"its sha256 is {digest}, expected {expected.sha256}", digest
    return None, digest


def _verified(spec: DatasetSpec, path: Path, expected: Expected, workdir: Path, state: str,
              fetched: int) -> Outcome:
    """Check a fresh download against `expected`; a bad file is deleted, so training can never read it."""
    problem, digest = _check(path, expected)
    if problem:
        path.unlink(missing_ok=True)
        raise SkillError(f"dataset '{spec.name}': the downloaded {spec.path.name} is corrupt ({problem}); "
                         f"it was deleted",
                         hint=f"run `minillm-skill run download-data --set dataset={spec.name}` again to "
                              f"download it afresh; if it fails again, check HF_ENDPOINT and the entry in "
                              f"{spec.registry}")
    return _outcome(spec, workdir, state, digest, expected, fetched, size=path.stat().st_size)


def _outcome(spec: DatasetSpec, workdir: Path, state: str, digest: str | None, expected: Expected, fetched: int,
             size: int | None = None) -> Outcome:
    verified = "sha256" if expected.sha256 else "size" if expected.size is not None else None
    size = spec.path.stat().st_size if size is None else size
    return Outcome(state, _relative(spec.path, workdir), size, digest, verified, bytes=fetched, pinned=_pinned(spec))


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
                            "source": source, "repo": _repo(spec, source), "at": time.time()}
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
        return (f"fetched {len(fetched)} file(s), {_human(total)} in {seconds:.1f} s, verified by "
                f"{' and '.join(checks)}; {len(outcomes)} dataset(s) ready")
    if any(o.state == "present" for o in outcomes.values()):
        return f"nothing to fetch: {len(outcomes)} dataset(s) already downloaded and verified"
    return "nothing to download: training uses the embedded dataset shipped with the package"


def _details(outcomes: dict[str, Outcome]) -> str:
    if not outcomes:
        return ""
    rows = [f"| {name} | {o.state} | {o.file or o.replaced_by} | {_human(o.size)} | {o.verified or '-'}"
            f"{' (unpinned)' if o.pinned is False else ''} |" for name, o in outcomes.items()]
    return "\n".join(["| dataset | state | file (or replacement) | size | verified |", "|---|---|---|---|---|",
                      *rows])


def _public(outcome: Outcome) -> dict[str, Any]:
    return {key: value for key, value in asdict(outcome).items() if value is not None}


def _relative(path: Path, workdir: Path) -> str:
    try:
        return str(path.relative_to(workdir))
    except ValueError:
        return str(path)


def _human(size: float | None) -> str:
    if size is None:
        return "unknown size"
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            break
    return f"{size:.1f} {unit}"
