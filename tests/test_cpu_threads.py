"""threads=auto: all cores on a quiet machine, fewer while other processes keep cores busy, set between steps;
a number or OMP_NUM_THREADS fixes the count. The load readings are scripted here, except in the one test that
reads a real busy process."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
import torch

from minillm_core.util import cpu_threads
from minillm_core.util.cpu_threads import LoadReader, ThreadPolicy, threads_for_load


@pytest.fixture(autouse=True)
def keep_torch_threads(monkeypatch):
    """Each test leaves torch's thread count as it found it, and reads the load at every check."""
    monkeypatch.setattr(cpu_threads, "CHECK_EVERY_S", 0.0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class ScriptedLoad:
    """Other processes' busy cores, one reading per check."""

    def __init__(self, readings: list[float]):
        self.readings = list(readings)

    def others_busy_cores(self) -> float:
        return self.readings.pop(0)


def policy_with(readings: list[float], cores: int = 2) -> ThreadPolicy:
    policy = ThreadPolicy("auto", cores=cores, log=logging.getLogger("test-threads"))
    policy.start()
    policy.reader = ScriptedLoad(readings)
    return policy


@pytest.mark.parametrize(("cores", "others", "threads"), [
    (2, 0.0, 2), (2, 0.4, 2),  # quiet, or a browser's blips: every core
    (2, 0.6, 1), (2, 1.0, 1), (2, 3.0, 1),  # one core or more kept busy: one thread, never none
    (16, 3.0, 13), (16, 2.6, 13), (1, 5.0, 1),
])
def test_one_thread_per_core_the_others_leave_free(cores, others, threads):
    assert threads_for_load(cores, others) == threads


def test_auto_drops_threads_at_once_and_comes_back_after_two_quiet_readings(caplog):
    caplog.set_level(logging.INFO, logger="test-threads")
    policy = policy_with([1.0, 0.0, 1.0, 0.1, 0.0])
    assert policy.threads == 2 == torch.get_num_threads()
    policy.check()  # a busy core: one thread at once
    assert policy.threads == 1 == torch.get_num_threads()
    policy.check()  # one quiet reading is not enough to go back...
    policy.check()  # ...and busy again
    assert policy.threads == 1
    policy.check()
    policy.check()  # two quiet readings in a row: both cores again
    assert policy.threads == 2 == torch.get_num_threads()
    assert policy.summary() == {"setting": "auto", "threads": 2, "lowest": 1, "switches": 2}
    assert "threads: 2 -> 1 (other processes keep 1.0 of 2 cores busy)" in caplog.text
    assert "threads: 1 -> 2" in caplog.text


def test_the_count_goes_back_to_what_the_process_had_when_training_ends():
    torch.set_num_threads(1)
    policy = policy_with([0.0])
    assert torch.get_num_threads() == 2  # auto starts with every core
    policy.finish()
    assert torch.get_num_threads() == 1
    policy.check()  # after the end nothing is read or changed
    assert torch.get_num_threads() == 1


def test_a_number_or_omp_num_threads_fixes_the_count(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="test-threads")
    fixed = ThreadPolicy("1", cores=2, log=logging.getLogger("test-threads"))
    fixed.start()
    fixed.check()
    assert fixed.threads == 1 == torch.get_num_threads() and fixed.reader is None
    assert "threads: 1 (set)" in caplog.text

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # torchrun sets it for several processes per machine
    from_env = ThreadPolicy("auto", cores=2, log=logging.getLogger("test-threads"))
    assert not from_env.adaptive
    from_env.start()
    assert from_env.reader is None and "fixed (OMP_NUM_THREADS)" in caplog.text


def test_the_reader_sees_a_busy_process_and_not_its_own_work():
    reader = LoadReader()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.5)
        others = reader.others_busy_cores()
    finally:
        spinner.kill()
        spinner.wait()
    assert others >= 0.5, f"a CPU-bound process read as {others:.2f} busy cores"

    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # this process busy, nobody else: its own work is not counted
        sum(range(10_000))
    assert reader.others_busy_cores() < others - 0.4


def test_inference_follows_the_load_between_batches(monkeypatch):
    monkeypatch.setattr(cpu_threads, "_inference_policy", None)
    monkeypatch.setattr(cpu_threads, "usable_cores", lambda: 2)
    cpu_threads.follow_load()  # the first call starts the process's policy with every core
    policy = cpu_threads._inference_policy
    assert policy.threads == 2 == torch.get_num_threads()
    policy.reader = ScriptedLoad([1.0])
    cpu_threads.follow_load()
    assert torch.get_num_threads() == 1

    monkeypatch.setattr(cpu_threads, "_inference_policy", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    cpu_threads.follow_load()  # fixed by the environment: nothing is read or set
    assert cpu_threads._inference_policy.reader is None and torch.get_num_threads() == 1
