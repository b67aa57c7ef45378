"""A graceful stop: Ctrl-C, SIGTERM or `minillm-skill stop` ends a run at the next step boundary.

While a run is on, the first SIGINT or SIGTERM asks training to stop: the trainer saves a checkpoint at the
end of the step it is in and returns, the stage is reported `stopped`, and the same command resumes from
that checkpoint. A stage that is not training (a download, eval) has no step to wait for: it stops at once,
as does any stage at a second signal. Checkpoints are written whole or not at all (checkpoints.py), so
stopping at once still leaves the last one good. A process forked by the run (the tokenizing workers)
inherits the handler but not the role: the run ends it, so it ignores Ctrl-C and ends quietly at SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_log = logging.getLogger("minillm")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StageStopped(Exception):
    """Training stopped on request at `step`, after saving the checkpoint it resumes from."""

    def __init__(self, step: int, checkpoint: str | None):
        super().__init__(f"stopped on request at step {step}")
        self.step, self.checkpoint = step, checkpoint


class _StopRequest:
    def __init__(self) -> None:
        self.requested = False  # a stop was asked for (the first signal)
        self.training = 0  # trainers between on_train_begin and on_train_end: they stop at a step boundary
        self.pid = os.getpid()  # the run's process: the one graceful_stop installed the handler in

    def handle(self, signum: int, frame) -> None:
        if os.getpid() != self.pid:  # a forked worker: a KeyboardInterrupt there is a traceback on stderr
            if signum == signal.SIGTERM:  # how a multiprocessing pool ends its workers, even after a success
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        if self.requested or not self.training:
            raise KeyboardInterrupt  # a second signal, or nothing to stop gracefully: stop now
        self.requested = True
        _log.warning("%s: stopping after this step and saving a checkpoint (again to stop at once)",
                     signal.Signals(signum).name)


STOP = _StopRequest()


def stop_requested() -> bool:
    return STOP.requested


def training_started() -> None:
    STOP.training += 1


def training_ended() -> None:
    STOP.training = max(STOP.training - 1, 0)


def agree_to_stop() -> bool:
    """Whether to stop now. Across the processes of a multi-process launch, stop when any one was asked to:
    a rank that stopped alone would leave the others waiting for it in the next collective operation."""
    import torch  # here: the CLI imports this module, and `minillm-skill list` should not pay for torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return STOP.requested
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    flag = torch.tensor([int(STOP.requested)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    STOP.requested = bool(flag.item())
    return STOP.requested


@contextmanager
def graceful_stop() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as a graceful stop for the block (in the main thread; elsewhere, no change)."""
    STOP.requested, STOP.training, STOP.pid = False, 0, os.getpid()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, STOP.handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
