"""Which process am I? Under torchrun / accelerate launch every rank runs the same command."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelerate import PartialState


def is_main_process() -> bool:
    """False in the other processes of a multi-process launch (RANK > 0): they write no files."""
    return os.environ.get("RANK", "0") == "0"


def world_size() -> int:
    """How many processes the launch started (1 without torchrun / accelerate launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_state() -> PartialState:
    """accelerate's view of the launch, for `main_process_first()`. On a CPU, a bare PartialState() sees
    one process even under torchrun, so every rank would think itself the main one: `cpu=True` joins
    the launch's process group, as the Trainer does later."""
    import torch  # here, not at the top: `minillm-skill list` and friends should not pay for importing it
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
