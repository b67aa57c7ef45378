"""The peak memory of this process from a point on, above its memory at that point: on a CPU the resident set
(Linux's VmHWM, reset through /proc/self/clear_refs), on a GPU torch.cuda.max_memory_allocated.

    meter = PeakMemory(cuda=False)    # after the imports: what follows is what the meter counts
    ...                               # build a model, train a few steps
    meter.rise()                      # bytes above the start at the highest point; None where unknown
"""

from __future__ import annotations

from pathlib import Path

import psutil


class PeakMemory:
    def __init__(self, cuda: bool = False):
        self.cuda = cuda
        if cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            self.resettable = True
            return
        try:  # writing 5 resets VmHWM (the peak RSS) to the RSS now
            Path("/proc/self/clear_refs").write_text("5")
            self.resettable = True
        except OSError:  # not Linux: the process's lifetime peak would count what came before
            self.resettable = False
        self.start = psutil.Process().memory_info().rss

    def rise(self) -> int | None:
        if self.cuda:
            import torch

            return int(torch.cuda.max_memory_allocated() - self.start)
        peak_kb = _status_kb("VmHWM") if self.resettable else None
        return None if peak_kb is None else peak_kb * 1024 - self.start


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
