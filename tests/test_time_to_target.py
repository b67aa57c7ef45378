"""bench/time_to_target.py reads a bot-start run's seconds and final figures, and says whether it meets the bar."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import time_to_target  # noqa: E402


def a_run(identity: float, accuracy: float, wordings: float, eval_s: float = 20.0):
    """A bot-start report and eval results, reduced to the keys the bench reads."""
    report = {"final_model": {"path": "out/dpo"}, "environment": {"commit": "abc"},
              "stages": [{"skill": "env-check", "duration_s": 0.5}, {"skill": "pretrain", "duration_s": 50.04},
                         {"skill": "eval", "duration_s": eval_s}]}
    results = {"models": {
        "sft": {"answer_accuracy": 0.1, "answer_eval": {"by_topic": {"identity": 0.0}}},
        "dpo": {"answer_accuracy": accuracy, "answer_eval": {"by_topic": {"identity": identity}},
                "arithmetic": {"calculator": 1.0}, "tool_wordings": {"calculator": wordings}}}}
    return report, results


def test_the_final_model_s_figures_and_the_stage_seconds_are_read():
    run = time_to_target.run_figures(*a_run(0.9, 0.4, 0.95), wall=101.23)
    assert run == {"wall_s": 101.2, "stages_s": {"pretrain": 50.0, "eval": 20.0}, "final_model": "dpo",
                   "identity": 0.9, "answer_accuracy": 0.4, "calculator": 1.0, "held_out_wordings": 0.95}


@pytest.mark.parametrize(("figures", "wall", "meets"), [
    ((0.9, 0.4, 0.95), 110, True),
    ((0.9, 0.4, 0.95), 130, False),  # too slow
    ((0.8, 0.4, 0.95), 110, False),  # identity below 0.833
    ((0.9, 0.4, 0.5), 110, False),  # held-out wordings below 0.9
])
def test_a_run_meets_the_target_only_when_every_figure_and_the_time_do(figures, wall, meets):
    run = time_to_target.run_figures(*a_run(*figures), wall=wall)
    assert time_to_target.meets_target(run) is meets


def test_the_table_has_a_row_per_run_with_its_verdict():
    runs = [{"recipe": name, "seed": 42, **time_to_target.run_figures(*a_run(0.9, 0.4, wordings), wall=100)}
            for name, wordings in (("HEAD", 0.95), ("be2840e", 0.01))]
    lines = time_to_target.table(runs).splitlines()
    assert len(lines) == 4 and lines[1].count("---") == lines[0].count("|") - 1
    assert lines[2].startswith("| HEAD | 42 | 100 |") and lines[2].endswith("| 0.950 | yes |")
    assert lines[3].endswith("| 0.010 | no |")
