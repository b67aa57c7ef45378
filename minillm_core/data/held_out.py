"""A held-out split of the data a fine-tune trains on: records it never sees, to measure it on what the user
brought.

    count = held_out_count(total=1200, setting="auto")        # 60: 5%, at least 16, at most 256
    indices = held_out_indices(1200, "auto", seed=42)          # which records, the same for the same seed

`setting` is the `eval_split` option: `auto`, a share (`0.1`), a number of records (`32`), or `0` for none.
`auto` holds out nothing when the dataset is too small to spare 16 records and keep four times as many to
train on: a tiny dataset is all lesson. A dataset that ships its own held-out file (the registry's `eval`
key, as the embedded datasets have) is measured on that file instead, and trains on every record.
"""

from __future__ import annotations

import random

AUTO_SHARE = 0.05
AUTO_MIN = 16
AUTO_MAX = 256
MIN_TRAIN_PER_HELD_OUT = 4  # auto holds out only when at least 4 records train for each one held out


class SplitError(ValueError):
    """An `eval_split` that cannot be met: the message says what the dataset has."""


def parse_setting(setting: str | float | int) -> str | float | int:
    """`auto`, a share in (0, 1), or a whole number of records (0: none); ValueError otherwise."""
    text = str(setting).strip().lower()
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if 0 < value < 1:
        return value
    if value >= 0 and value.is_integer():
        return int(value)
    raise ValueError("must be auto, a share between 0 and 1, or a whole number of records (0: none)")


def held_out_count(total: int, setting: str | float | int) -> int:
    """How many of `total` records to hold out."""
    parsed = parse_setting(setting)
    if parsed == "auto":
        count = min(AUTO_MAX, max(AUTO_MIN, round(total * AUTO_SHARE)))
        return count if total >= count * (1 + MIN_TRAIN_PER_HELD_OUT) else 0
    count = round(total * parsed) if isinstance(parsed, float) else parsed
    if count and count >= total:
        raise SplitError(f"eval_split={setting} holds out {count} of {total} records, leaving none to train on")
    return count


def held_out_indices(total: int, setting: str | float | int, seed: int) -> list[int]:
    """The record numbers (0-based, in file order) to hold out: a seeded sample, sorted."""
    count = held_out_count(total, setting)
    return sorted(random.Random(seed).sample(range(total), count)) if count else []
