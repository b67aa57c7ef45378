"""Skill options: declared once per skill, set from a YAML config and repeated `--set KEY=VALUE`.

The same key means the same thing in every skill (`lr` is always the peak learning rate). For a skill
made of steps (bot-start), a plain key applies to every step that accepts it and `STEP.KEY` to one.
Paths are made absolute where they are read: `--set` values against the current directory, config
values against the config file's folder, as a user expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class OptionError(ValueError):
    """A bad --set, --config or option value; the CLI turns it into a usage error (exit 2)."""


@dataclass(frozen=True)
class Option:
    name: str
    type: type  # str, int, float or bool
    default: Any
    help: str
    is_path: bool = False  # the value names a file or folder: made absolute
    may_be_name: bool = False  # ...unless it reads as a registry name or hub id and no such path exists
    # What a valid value is, beyond its type: returns the problem ("must be at least 1") or None. See
    # at_least, greater_than, one_of. Checked when the value is given, before anything runs (exit 2).
    valid: Callable[[Any], str | None] | None = None

    def parse(self, raw: Any, base: Path) -> Any:
        """Convert a raw value (string from --set, or YAML scalar) into this option's type, and check it."""
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "null", "")):
            if self.default is not None:  # only an option that is unset by default may be unset
                raise OptionError(f"option '{self.name}' needs a value (default: {self.default})")
            return None
        try:
            value = _convert(raw, self.type)
        except (ValueError, TypeError) as exc:
            raise OptionError(f"option '{self.name}': {raw!r} is not a valid {self.type.__name__}") from exc
        if self.is_path and isinstance(value, str) and not (self.may_be_name and _looks_like_name(value, base)):
            value = str((base / Path(value).expanduser()).resolve())
        problem = self.valid(value) if self.valid else None
        if problem:
            raise OptionError(f"option '{self.name}': {raw!r} is not allowed: {problem}")
        return value


def at_least(minimum: float) -> Callable[[Any], str | None]:
    return lambda value: None if value >= minimum else f"must be at least {minimum}"


def greater_than(bound: float) -> Callable[[Any], str | None]:
    return lambda value: None if bound < value < math.inf else f"must be a finite number greater than {bound}"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda value: None if str(value).lower() in choices else f"must be one of {', '.join(choices)}"


def positive_epochs(value: Any) -> str | None:
    """A positive number of passes; also the word `auto` where the option takes it."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    try:
        positive = 0 < float(value) < math.inf
    except (TypeError, ValueError):
        positive = False
    return None if positive else "must be a positive number of passes over the dataset" + (
        " or auto" if isinstance(value, str) else "")


def _convert(raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ValueError(raw)
    if kind is int and isinstance(raw, str):
        return int(float(raw)) if "e" in raw.lower() else int(raw)
    return kind(raw)


def _looks_like_name(value: str, base: Path) -> bool:
    """A registry name (`embedded-sft`) or hub id (`org/model`) that is not also a path here."""
    if value.startswith(("/", "./", "../", "~")) or (base / value).expanduser().exists():
        return False
    return Path(value).suffix not in (".json", ".jsonl", ".txt", ".yaml", ".yml", ".parquet")


def parse_set_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """`["lr=1e-4", "sft.max_steps=5"]` -> `{"lr": "1e-4", "sft.max_steps": "5"}`."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--set expects KEY=VALUE, got {pair!r}")
        parsed[key.strip()] = value
    return parsed


def load_config(path: Path) -> dict[str, Any]:
    """Read a YAML config: plain keys, and optionally one mapping per step name."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise OptionError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise OptionError(f"config file {path} is not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise OptionError(f"config file {path} is not UTF-8 text (byte {exc.start}): give a YAML file") from exc
    except OSError as exc:  # a folder, or a file that cannot be read
        raise OptionError(f"config file {path} cannot be read: {exc.strerror or exc}") from exc
    if not isinstance(data, dict):
        raise OptionError(f"config file {path} must hold a mapping of option names to values")
    return data


EXTRA_ARGS = "args"  # `args.NAME=VALUE`: any field of the stage's trainer config, passed through


def option_of(key: str) -> str:
    """The option a key sets: `args.weight_decay` sets `args`; any other key, itself."""
    return EXTRA_ARGS if key.startswith(EXTRA_ARGS + ".") else key


def _split_step(key: str) -> tuple[str, str]:
    """`sft.lr` -> ("sft", "lr"); `args.x` -> ("", "args.x"); `sft.args.x` -> ("sft", "args.x")."""
    if key.startswith(EXTRA_ARGS + "."):
        return "", key
    step, found, name = key.partition(f".{EXTRA_ARGS}.")
    if found:
        return step, f"{EXTRA_ARGS}.{name}"
    step, _, name = key.rpartition(".")
    return step, name


@dataclass(frozen=True)
class RawSetting:
    """One user-given value, remembered with the folder its relative paths are taken against."""

    value: Any
    base: Path


def collect_settings(config: Mapping[str, Any], config_base: Path, sets: Mapping[str, str],
                     set_base: Path, step_names: Iterable[str]) -> dict[str | None, dict[str, RawSetting]]:
    """Group raw values by step (None = every step); --set wins over the config file."""
    steps = set(step_names)
    grouped: dict[str | None, dict[str, RawSetting]] = {}

    def put(key: str, value: Any, base: Path) -> None:
        step, name = _split_step(key)
        if name == EXTRA_ARGS and isinstance(value, dict):  # a config's `args:` mapping: one key per field,
            for field_name, field_value in value.items():  # so a step's own `args:` adds to the common ones
                put(f"{step}.{EXTRA_ARGS}.{field_name}" if step else f"{EXTRA_ARGS}.{field_name}", field_value, base)
            return
        if step and step not in steps:
            raise OptionError(f"'{key}': '{step}' is not a step of this run; steps: {', '.join(sorted(steps))}")
        grouped.setdefault(step or None, {})[name] = RawSetting(value, base)

    for key, value in config.items():
        if isinstance(value, dict) and key in steps:
            for sub_key, sub_value in value.items():
                put(f"{key}.{sub_key}", sub_value, config_base)
        else:
            put(str(key), value, config_base)
    for key, value in sets.items():
        put(key, value, set_base)
    return grouped


def resolve_settings(options: Mapping[str, Option], raw: Mapping[str, RawSetting]) -> tuple[dict, frozenset]:
    """Defaults overlaid with the given values, each parsed; returns (settings, keys given).

    `args.NAME` values (and an `args:` mapping in a config) gather into one `args` dict."""
    settings = {name: option.default for name, option in options.items()}
    extra: dict[str, Any] = {}
    for name, given in raw.items():
        if option_of(name) == EXTRA_ARGS:
            extra.update(_extra_args(name, given.value))
        else:
            settings[name] = options[name].parse(given.value, given.base)
    if extra:
        settings[EXTRA_ARGS] = options[EXTRA_ARGS].parse(extra, Path.cwd())
    return settings, frozenset(option_of(name) for name in raw)


def _extra_args(key: str, value: Any) -> dict[str, Any]:
    """`args.weight_decay` = "0.1" -> {"weight_decay": 0.1}: a --set value reads as YAML, as in a config."""
    if key == EXTRA_ARGS:
        if not isinstance(value, dict):
            raise OptionError(f"option 'args' must be a mapping of trainer config fields to values, got {value!r}")
        return dict(value)
    return {key.removeprefix(EXTRA_ARGS + "."): _scalar(value) if isinstance(value, str) else value}


def _scalar(text: str) -> Any:
    """A --set value as the trainer config wants it: 0.1 and 1e-4 numbers, true/false, none, else YAML or text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null", ""):
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def check_known_keys(grouped: Mapping[str | None, Mapping[str, RawSetting]],
                     options_by_step: Mapping[str, Mapping[str, Option]]) -> None:
    """Every key must be accepted by its step (or, unscoped, by at least one step)."""
    for step, values in grouped.items():
        valid = set(options_by_step[step]) if step else set().union(*options_by_step.values())
        for key in values:
            if option_of(key) not in valid:
                where = f"skill '{step}'" if step else "this run"
                listing = ", ".join(sorted(valid)) or "none"
                raise OptionError(f"unknown option '{key}' for {where}; valid options: {listing}")
