"""The dataset registry: names for datasets, read from the shipped and the user's registry.yaml.

The file format is documented at the top of dataset/registry.yaml. The user's registry,
<workdir>/dataset/registry.yaml, adds entries to the shipped one and overrides those it names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from minillm_core.data.formats import FORMATS, KINDS, sniff
from minillm_core.util.resources import shipped_path

_ENTRY_KEYS = {"kind", "format", "file", "hub", "columns", "description", "fallback", "held_out"}
_HUB_KEYS = {"repo", "file", "size", "sha256", "modelscope"}


class RegistryError(ValueError):
    """A registry file that cannot be read: bad YAML or a malformed entry."""


class DatasetNotFound(ValueError):
    """A dataset reference that is neither a registered name nor an existing file."""


class DatasetKindError(ValueError):
    """A dataset of one kind (say sft) given to a step that trains another (say pretrain)."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: what it trains, how to read it and where its file is (or will be, once downloaded)."""

    name: str
    kind: str
    format: str | None
    path: Path
    columns: dict[str, str] = field(default_factory=dict)
    hub: dict | None = None
    description: str = ""
    registry: Path | None = None  # the registry file that defined it; None for a file given directly
    fallback: str | None = None  # hub entries: the registry name trained on when the hub is unreachable
    held_out: str | None = None  # the registry name of its own held-out file: a fine-tune is measured on it

    @property
    def is_downloaded(self) -> bool:
        return self.path.exists()


def registry_paths(workdir: Path) -> list[Path]:
    """The registry files read, shipped first; the user's is left out when it is the shipped one."""
    shipped = shipped_path("dataset/registry.yaml")
    user = Path(workdir) / "dataset" / "registry.yaml"
    if user.exists() and shipped.exists() and user.resolve() == shipped.resolve():
        return [shipped]
    return [shipped, user]


def load_registry(workdir: Path) -> dict[str, DatasetSpec]:
    """All registered datasets by name; the user's registry entries override the shipped ones."""
    specs: dict[str, DatasetSpec] = {}
    for registry in registry_paths(workdir):
        if registry.exists():
            specs.update(read_registry_file(registry, Path(workdir)))
    return specs


def read_registry_file(registry: Path, workdir: Path) -> dict[str, DatasetSpec]:
    """The entries of one registry file."""
    try:
        entries = yaml.safe_load(registry.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RegistryError(f"{registry}: not valid YAML: {error}") from None
    if entries is None:  # only comments
        return {}
    if not isinstance(entries, dict):
        raise RegistryError(f"{registry}: expected a mapping of dataset names to entries")
    return {str(name): _spec(str(name), entry, registry, workdir) for name, entry in entries.items()}


def _spec(name: str, entry: object, registry: Path, workdir: Path) -> DatasetSpec:
    def bad(problem: str) -> RegistryError:
        return RegistryError(f"{registry}: entry {name!r}: {problem}")

    if not isinstance(entry, dict):
        raise bad("expected a mapping with kind, file and the other keys documented at the top of the file")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise bad(f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_ENTRY_KEYS))}")
    if entry.get("kind") not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}, got {entry.get('kind')!r}")
    if entry.get("format") is not None and entry["format"] not in FORMATS:
        raise bad(f"format must be one of {', '.join(FORMATS)}, got {entry['format']!r}")
    columns = entry.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise bad("columns must map standard names to column names, e.g. {instruction: question}")
    hub = _hub(entry.get("hub"), bad)
    fallback = entry.get("fallback")
    if fallback is not None and (hub is None or not isinstance(fallback, str)):
        raise bad("fallback must be a registry name, and only an entry with hub has one")
    if entry.get("held_out") is not None and not isinstance(entry["held_out"], str):
        raise bad("held_out must be the registry name of the dataset's held-out file")
    return DatasetSpec(
        name=name,
        kind=entry["kind"],
        format=entry.get("format"),
        path=_file_path(entry.get("file"), hub, registry, workdir, bad),
        columns={str(k): v for k, v in columns.items()},
        hub=hub,
        description=str(entry.get("description") or ""),
        registry=registry,
        fallback=(fallback or f"embedded-{entry['kind']}") if hub else None,
        held_out=entry.get("held_out"),
    )


def _hub(hub: object, bad) -> dict | None:
    if hub is None:
        return None
    if not isinstance(hub, dict) or not {"repo", "file"} <= set(hub) or set(hub) - _HUB_KEYS:
        raise bad("hub must be {repo: owner/name, file: name-in-repo} with optional size, sha256 and modelscope")
    return dict(hub)


def _file_path(file: object, hub: dict | None, registry: Path, workdir: Path, bad) -> Path:
    # Shipped data sits beside its registry; downloads land in the work directory's dataset/.
    if hub is not None:
        return _inside(workdir / "dataset", str(file or Path(hub["file"]).name), bad)
    if not file:
        raise bad("file is required (where the records are, relative to this registry's folder)")
    return _inside(registry.parent, str(file), bad)


def _inside(folder: Path, file: str, bad) -> Path:
    """`folder / file`, refused unless it stays inside `folder`: download-data writes, and replaces, the files
    of hub entries, so a registry (perhaps in a work directory someone else made) must not point elsewhere."""
    relative = os.path.normpath(file)
    if Path(file).is_absolute() or file.startswith("~") or relative == "." or relative.split(os.sep)[0] == "..":
        raise bad(f"file {file!r} must be a path inside {folder} (relative, without `..` leading out of it); "
                  f"to train on a file elsewhere, use `--set dataset=PATH`")
    return folder / relative


def resolve_dataset(ref: str, kind: str, workdir: Path) -> DatasetSpec:
    """The dataset `ref` names: a registry name, or else the path of a file (format detected).

    Raises DatasetNotFound when it is neither, DatasetKindError when it is not `kind` data.
    """
    specs = load_registry(workdir)
    if ref in specs:
        spec = specs[ref]
        if spec.kind != kind:
            raise DatasetKindError(
                f"dataset {ref!r} holds {spec.kind} data (registered in {spec.registry}), but this step "
                f"trains {kind}; {kind} datasets: {_names(specs, kind)}"
            )
        return spec
    path = Path(ref).expanduser()
    if path.is_file():
        return _file_spec(path.absolute(), kind)
    raise DatasetNotFound(_not_found_message(ref, kind, workdir, specs))


def _file_spec(path: Path, kind: str) -> DatasetSpec:
    format, file_kind = sniff(path)
    if file_kind != kind:
        raise DatasetKindError(
            f"{path} looks like {file_kind} data (format {format}), but this step trains {kind}"
        )
    return DatasetSpec(name=path.stem, kind=kind, format=format, path=path, description=f"the file {path}")


def _names(specs: dict[str, DatasetSpec], kind: str) -> str:
    return ", ".join(sorted(name for name, spec in specs.items() if spec.kind == kind)) or "none"


def _not_found_message(ref: str, kind: str, workdir: Path, specs: dict[str, DatasetSpec]) -> str:
    places = "; ".join(
        f"{path}" + ("" if path.exists() else " (not present)") for path in registry_paths(workdir)
    )
    return (
        f"no dataset named {ref!r} and no file {Path(ref).expanduser().absolute()}. "
        f"Registries read: {places}. Registered {kind} datasets: {_names(specs, kind)}. "
        f"To read a file directly, use --set dataset=PATH."
    )

