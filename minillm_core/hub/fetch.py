"""Fetching one registry file from the Hugging Face Hub (or ModelScope) and verifying it.

    outcome = fetch_hub(spec, workdir)          # resumable (a Range request), checked against size and sha256

A download is written to a `.incomplete` file beside the cache, checked, and only then moved in place: a
file that fails its check is deleted, so training can never read it. download.py decides what to fetch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from minillm_core.contract.outputs import workdir_relative
from minillm_core.contract.skill import SkillError
from minillm_core.data.registry import DatasetSpec
from minillm_core.hub.reach import hub_endpoint, public_endpoint
from minillm_core.util.redact import redact

log = logging.getLogger("minillm.download")  # a child of the CLI's "minillm" logger: stderr

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


_METADATA_TIMEOUT_S = 10.0


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


def partial_path(workdir: Path, spec: DatasetSpec, etag: str | None) -> Path:
    """Where the unfinished download of `spec` lives; the etag in the name keeps two versions apart."""
    return Path(workdir) / "dataset" / ".cache" / "huggingface" / "download" / f"{spec.path.name}.{etag}.incomplete"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_pinned(spec: DatasetSpec) -> bool:
    return bool(spec.hub and spec.hub.get("sha256"))


def _warn_unpinned(spec: DatasetSpec, source: str) -> None:
    if not is_pinned(spec):
        log.warning("dataset '%s' pins no sha256 in %s: %s is trusted for its own checksums, and the download is "
                    "recorded as unpinned (`--set require_pins=true` refuses such entries)", spec.name, spec.registry,
                    public_endpoint() if source == "hub" else "ModelScope")


def fetch_hub(spec: DatasetSpec, workdir: Path) -> Outcome:
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
        log.info("resuming %s at %s of %s", spec.path.name, human_size(have), human_size(size))
    else:
        log.info("downloading %s (%s) from %s", spec.path.name, human_size(size), public_endpoint())
    try:
        with open(partial, "ab") as out:  # huggingface_hub's progress bar goes to stderr
            http_get(url, out, resume_size=have, expected_size=size, displayed_filename=spec.path.name)
    except (httpx2.HTTPError, OSError) as exc:
        got = partial.stat().st_size if partial.exists() else 0
        if size is None or got < size:
            raise SkillError(f"dataset '{spec.name}': the download of {spec.path.name} stopped at {human_size(got)} "
                             f"of {human_size(size)}: {redact(str(exc))}",
                             hint=f"run `minillm-skill run download-data --set dataset={spec.name}` again: "
                                  f"it resumes where it stopped") from exc
        # More bytes than expected: the verification below names the problem and deletes the file.
    return have


def require_modelscope() -> None:
    try:
        import modelscope  # noqa: F401
    except ImportError as exc:
        raise SkillError("source=modelscope needs the modelscope package, which is not installed",
                         hint="`pip install modelscope`, or `--set source=hub` (a hub mirror works through "
                              "HF_ENDPOINT, e.g. https://hf-mirror.com)") from exc


def fetch_modelscope(spec: DatasetSpec, workdir: Path) -> Outcome:
    from modelscope.hub.file_download import dataset_file_download

    _warn_unpinned(spec, "modelscope")
    repo = repo_of(spec, "modelscope")
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


def repo_of(spec: DatasetSpec, source: str) -> str:
    return (spec.hub.get("modelscope") or spec.hub["repo"]) if source == "modelscope" else spec.hub["repo"]


def _check(path: Path, expected: Expected) -> tuple[str | None, str | None]:
    """(what is wrong or None, the file's sha256); the sha256 is skipped when the size is already wrong."""
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        return f"it has {size} bytes, expected {expected.size}", None
    if size > 100_000_000:
        log.info("checking the sha256 of %s (%s)", path.name, human_size(size))
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
    return Outcome(state, workdir_relative(spec.path, workdir), size, digest, verified, bytes=fetched,
                   pinned=is_pinned(spec))


def human_size(size: float | None) -> str:
    if size is None:
        return "unknown size"
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            break
    return f"{size:.1f} {unit}"
