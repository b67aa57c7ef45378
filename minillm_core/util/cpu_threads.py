"""How many CPU threads training computes with: all cores on a quiet machine, fewer while other processes
keep cores busy.

Why: a small model's step is thousands of small operations, each ending in a barrier where OpenMP's
threads wait for each other. On a quiet machine that is cheap. Beside another busy process one of our two
threads is often descheduled, and the other spins waiting for it: tiny-preset sft on 2 cores ran at 30% of
its quiet speed beside one CPU-bound process with 2 threads and at 76% with 1 (14% and 31% beside three;
figures in docs/performance.md). One thread fewer than the cores others leave idle is what
a quiet machine costs nothing for and a busy one gains most from, so `threads=auto` follows the load:
every couple of seconds it reads how much CPU time other processes used, and sets torch's thread count
between steps.

OMP_NUM_THREADS, when set (torchrun sets it to 1 for several processes), or `--set threads=N` fixes the
count instead.

Training follows it between steps (callbacks.FollowCpuLoad, one policy per stage); batched inference
(eval's answers and arithmetic, the answer check, perplexity) calls `follow_load()` between batches, one
policy for the process: eval beside one busy process took 102 s with 2 threads and 52 s with 1 (37 s alone).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field

import psutil
import torch

CHECK_EVERY_S = 2.0  # how often the load is read: a switch costs nothing, but each reading needs some time to mean much
# Others must keep this share of a core busy before it counts as taken: a browser tab's blips are not.
BUSY_CORE_SHARE = 0.5


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_for_load(cores: int, others_busy_cores: float) -> int:
    """One thread per core that other processes leave free, and never fewer than one."""
    taken = math.floor(others_busy_cores + 1 - BUSY_CORE_SHARE)  # 0.5 of a core busy counts as one taken
    return max(1, min(cores, cores - taken))


class LoadReader:
    """CPU time the rest of the machine used since the last reading, in cores (1.0: one core kept busy)."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.last = self._now()

    def _now(self) -> tuple[float, float, float]:
        machine = psutil.cpu_times()
        busy = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
        mine = self.me.cpu_times()
        own = mine.user + mine.system + mine.children_user + mine.children_system
        return time.monotonic(), busy, own

    def others_busy_cores(self) -> float:
        now = self._now()
        wall, busy, own = (b - a for a, b in zip(self.last, now, strict=True))
        self.last = now
        return max(0.0, busy - own) / max(wall, 1e-9)


@dataclass
class ThreadPolicy:
    """`threads=auto` follows the load (see the module's docstring); a number fixes the count."""

    setting: str = "auto"
    cores: int = field(default_factory=lambda: usable_cores())  # looked up at each call: tests replace it
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("minillm"))
    reader: LoadReader | None = None
    threads: int = 0
    lowest: int = 0
    switches: int = 0
    _pending: int | None = None
    _last_check: float = 0.0
    _initial: int = 1

    @property
    def adaptive(self) -> bool:
        return self.setting == "auto" and not os.environ.get("OMP_NUM_THREADS") and not torch.cuda.is_available()

    def start(self) -> None:
        self._initial = torch.get_num_threads()
        if self.setting != "auto":
            self._set(int(self.setting))
            self.log.info("threads: %d (set)", self.threads)
        elif not self.adaptive:
            self.threads = self._initial
            why = "OMP_NUM_THREADS" if os.environ.get("OMP_NUM_THREADS") else "a GPU computes"
            self.log.info("threads: %d, fixed (%s)", self.threads, why)
        else:
            self._set(self.cores)
            self.reader, self._last_check = LoadReader(), time.monotonic()
            self.log.info("threads: auto, %d on %d cores now; fewer while other processes keep cores busy",
                          self.threads, self.cores)
        self.lowest = self.threads

    def check(self) -> None:
        """Between steps: follow the load read since the last check. Fewer threads at once (a busy machine
        costs most); more only once two readings in a row agree, so a short lull does not flip it back."""
        if self.reader is None or time.monotonic() - self._last_check < CHECK_EVERY_S:
            return
        self._last_check = time.monotonic()
        self.threads = torch.get_num_threads()  # a training stage in between may have set it
        others = self.reader.others_busy_cores()
        wanted = threads_for_load(self.cores, others)
        if wanted > self.threads and self._pending != wanted:
            self._pending = wanted
        elif wanted != self.threads:
            self.log.info("threads: %d -> %d (other processes keep %.1f of %d cores busy)", self.threads, wanted,
                          others, self.cores)
            self._set(wanted)
            self.switches, self.lowest, self._pending = self.switches + 1, min(self.lowest, wanted), None
        else:
            self._pending = None

    def _set(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()

    def finish(self) -> None:
        """Back to the count the process had: what runs next (eval, the next stage) starts from it."""
        self.reader = None
        torch.set_num_threads(self._initial)

    def summary(self) -> dict:
        """For the stage's metrics: what it ran with."""
        return {"setting": self.setting, "threads": self.threads, "lowest": self.lowest, "switches": self.switches}


_inference_policy: ThreadPolicy | None = None


def follow_load() -> None:
    """Between batches of inference: the process's `threads=auto` policy, started on the first call."""
    global _inference_policy
    if _inference_policy is None:
        _inference_policy = ThreadPolicy("auto")
        if not _inference_policy.adaptive:
            return
        _inference_policy.start()
    _inference_policy.check()
