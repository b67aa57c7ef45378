"""One time-left figure: computed once (minillm_core/util/eta.py) from the steps per second over a recent window
that leaves the start-up out, and shown by the log line, the progress bar and `status` alike."""

from __future__ import annotations

import json
from types import SimpleNamespace

from tqdm.auto import tqdm

from minillm_core.runs.record import RunRecord
from minillm_core.runs.status import describe
from minillm_core.train.callbacks import JsonlLogger, ProgressBar, StepTimer
from minillm_core.util.eta import StepClock, time_left_now


def test_the_first_step_only_starts_the_clock():
    clock = StepClock()
    clock.tick(1, now=100.0)  # the first step ends 100 s after the start: start-up, compiling, samples
    assert clock.remaining_s(1, 10) is None
    clock.tick(2, now=101.0)
    clock.tick(3, now=102.0)
    assert clock.remaining_s(3, 10) == 7.0  # 1 step a second since the first step, not 102 s for 3 steps


def test_the_window_follows_a_change_of_speed():
    clock = StepClock(window=2)
    for step, now in [(1, 0.0), (2, 1.0), (3, 2.0), (4, 6.0), (5, 10.0)]:  # 1 s a step, then 4 s a step
        clock.tick(step, now=now)
    assert clock.steps_per_s() == 0.25 and clock.remaining_s(5, 9) == 16.0


def test_a_figure_read_later_counts_the_time_since():
    assert time_left_now(60.0, written_at=1000.0, now=1015.0) == 45.0
    assert time_left_now(10.0, written_at=1000.0, now=1100.0) == 0.0
    assert time_left_now(None, written_at=1000.0) is None


def _state(step: int) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, max_steps=10, num_input_tokens_seen=step * 100,
                           is_world_process_zero=True)


def test_the_log_line_the_progress_bar_and_status_show_the_one_figure(tmp_path):
    timer = StepTimer()
    log = tmp_path / "logs" / "pretrain.partial.jsonl"
    logger, bar = JsonlLogger(log, timer), ProgressBar("pretrain", timer)
    for callback in (timer, logger, bar):
        callback.on_train_begin(None, _state(0), None)
    for step, now in [(1, 50.0), (2, 52.0), (3, 54.0)]:  # 2 s a step after a 50 s first step
        timer.clock.tick(step, now=now)
        bar.on_step_end(None, _state(step), None)
    logger.on_log(None, _state(3), None, logs={"loss": 2.0})
    line = json.loads(log.read_text().splitlines()[-1])
    assert line["remaining_s"] == timer.remaining_s(_state(3)) == 14.0
    assert bar.figures["left"] == tqdm.format_interval(14.0)  # the bar's own ETA is not in its format
    assert "remaining" not in ProgressBar.FORMAT and "rate" not in ProgressBar.FORMAT
    bar.on_train_end(None, _state(3), None)

    record = RunRecord.start(tmp_path, "20261130-000000-pretrain-ab12", "pretrain", ["pretrain"], ["x"])
    record.update_stage("pretrain", status="running", log="logs/pretrain.partial.jsonl")
    eta = describe(tmp_path)["stages"][0]["eta_s"]
    assert time_left_now(14.0, line["time"]) <= eta <= 14.0  # the log line's figure, less the time since
