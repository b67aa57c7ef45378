"""One time-left figure for a run of steps, wherever it is shown (the log line, the progress bar, `status`).

    clock = StepClock()
    clock.tick(step)                     # at the end of each step
    clock.remaining_s(step, total)       # steps left over the steps per second of a recent window

The window starts at the end of the first step the clock sees: the start-up before it (building the model,
the first sample answers, compiling, a resumed run's loading) is never in the rate. A figure read later, from
a log line, is aged by time_left_now.
"""

from __future__ import annotations

import time
from collections import deque

WINDOW_STEPS = 50  # recent enough to follow a change of speed (another process took a core), long enough to be steady


class StepClock:
    def __init__(self, window: int = WINDOW_STEPS):
        self.ends: deque[tuple[float, int]] = deque(maxlen=window + 1)  # (time, step) at the end of recent steps

    def tick(self, step: int, now: float | None = None) -> None:
        self.ends.append((time.monotonic() if now is None else now, step))

    def steps_per_s(self) -> float | None:
        """Over the window; None until two steps have ended (the first step's end only starts the clock)."""
        if len(self.ends) < 2:
            return None
        (first_time, first_step), (last_time, last_step) = self.ends[0], self.ends[-1]
        if last_step <= first_step or last_time <= first_time:
            return None
        return (last_step - first_step) / (last_time - first_time)

    def remaining_s(self, step: int, total: int) -> float | None:
        """Seconds until step `total`, at the window's pace; None while there is no pace yet."""
        rate = self.steps_per_s()
        return None if rate is None else round(max(total - step, 0) / rate, 1)


def time_left_now(remaining_s: float | None, written_at: float | None, now: float | None = None) -> float | None:
    """A time-left figure written at `written_at` (time.time()), as of `now`: the time since has passed."""
    if remaining_s is None or written_at is None:
        return remaining_s
    return round(max(remaining_s - ((time.time() if now is None else now) - written_at), 0.0), 1)
