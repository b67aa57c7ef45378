"""`--set args.NAME=VALUE`: values for the trainer's config class, checked against its fields before any work.

A value of the wrong type (`args.weight_decay=abc`, `args.max_steps=abc`) or outside an enum the config turns
strings into (`args.lr_scheduler_type=bogus`) would otherwise fail only once training starts, after the run had
begun to change the work directory; here it is an option error (exit 2) naming the field and what it takes.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from typing import Any

# Fields the stage sets from its own options or folders: given as args.NAME they would bypass those checks.
OWN_OPTIONS = {
    "output_dir": "output_dir is where the stage keeps its checkpoints; use `--set output=DIR` for the model",
    "report_to": "report_to is an option of its own, checked for installed trackers: use `--set report_to=...`",
}


def config_problem(config_class: type, label: str, args: dict[str, Any]) -> str | None:
    """Why `args` cannot configure `config_class` (named `label` in the message), or None."""
    fields = {f.name: f for f in dataclasses.fields(config_class) if f.init}
    unknown = sorted(set(args) - set(fields))
    if unknown:
        close = {name: difflib.get_close_matches(name, fields, n=1) for name in unknown}
        hints = "; ".join(f"'{name}'" + (f" (did you mean '{m[0]}'?)" if m else "") for name, m in close.items())
        return f"not a field of {label}: {hints}"
    for name in args:
        if name in OWN_OPTIONS:
            return OWN_OPTIONS[name]
    hints = typing.get_type_hints(config_class)
    for name, value in args.items():
        wanted = describe(hints.get(name, Any))
        if not fits(value, hints.get(name, Any)):
            return f"args.{name}: {value!r} is not {wanted}"
    return None


def fits(value: Any, annotation: Any) -> bool:
    """Whether `value`, as YAML or `--set` gives it, is a valid value for a field annotated `annotation`."""
    if annotation is Any or annotation is object:
        return True
    if annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _fits_union(value, typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin in (list, tuple, set):
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        items = value if isinstance(value, list) else [value]  # the configs wrap a single value themselves
        return all(fits(one, item) for one in items)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    return _fits_plain(value, annotation)


def _fits_union(value: Any, members: tuple[Any, ...]) -> bool:
    # `SchedulerType | str`: the config turns the string into the enum, so only the enum's values are valid.
    enums = [m for m in members if isinstance(m, type) and issubclass(m, enum.Enum)]
    if enums and isinstance(value, str):
        return any(_fits_plain(value, kind) for kind in enums)
    return any(fits(value, member) for member in members)


def _fits_plain(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return isinstance(value, kind) or value in {member.value for member in kind}
    return not isinstance(kind, type) or isinstance(value, kind)


def describe(annotation: Any) -> str:
    """What a field takes, in words: "a number", "one of linear, cosine, ...", "true or false"."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        enums = [m for m in members if isinstance(m, type) and issubclass(m, enum.Enum)]
        return " or ".join(describe(m) for m in (enums or members))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(annotation)))
    if origin in (list, tuple, set):
        return "a list"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text",
            dict: "a mapping"}.get(annotation, getattr(annotation, "__name__", str(annotation)))
