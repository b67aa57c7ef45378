"""The main job end to end: bot-start in a fresh git clone, offline, on CPU, and the model learns."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    clone = tmp_path_factory.mktemp("bot-start") / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-m", "minillm_core", "run", "bot-start", "--json"], cwd=clone,
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return clone, json.loads(result.stdout)


def stage(report: dict, name: str) -> dict:
    return next(s for s in report["stages"] if s["skill"] == name)


def test_every_stage_ok_and_the_clone_stays_clean(run):
    clone, report = run
    assert [(s["skill"], s["status"]) for s in report["stages"]] == [
        (name, "ok") for name in ("env-check", "download-data", "pretrain", "sft", "dpo", "eval", "report")]
    assert report["git"]["checked"] and report["git"]["clean"], report["git"]


def test_the_report_card_has_its_plots_eval_table_and_git_check_last(run):
    clone, _ = run
    card = (clone / "reports" / "latest.md").read_text()
    for name in ("pretrain", "sft", "dpo"):
        assert f"(plots/{name}_loss.png)" in card and (clone / "reports" / "plots" / f"{name}_loss.png").exists()
    assert "identity" in card and "preference" in card  # the eval table
    history = clone / json.loads((clone / "reports" / "latest.json").read_text())["reports"]["history_markdown"]
    links = re.findall(r"\]\(([^)]+\.png)\)", history.read_text())
    assert len(links) == 3 and all((history.parent / link).exists() for link in links), links
    assert card.rstrip().endswith("nothing untracked outside what git ignores.")


def test_after_sft_the_model_says_who_it_is(run):
    clone, report = run
    answers = [json.loads(line) for line in (clone / "logs" / "sft_samples.jsonl").read_text().splitlines()]
    after = {row["prompt"]: row["answer"] for row in answers if row["when"] == "after"}
    assert "MiniLLM" in after["Who are you?"] and "MiniLLM" in after["你是谁？"]
    metrics = stage(report, "eval")["metrics"]
    assert metrics["sft_identity_acc"] >= metrics["pretrain_identity_acc"] + 0.3


def test_losses_fall_and_dpo_prefers_the_chosen_answers_more_as_it_trains(run):
    _, report = run
    for name in ("pretrain", "sft"):
        metrics = stage(report, name)["metrics"]
        assert metrics["final_loss"] < metrics["first_loss"] - 1.0, name
    dpo = stage(report, "dpo")["metrics"]
    assert dpo["final_reward_accuracy"] > dpo["first_reward_accuracy"]


def test_held_out_numbers_beat_the_untrained_model_and_each_stage_adds_its_part(run):
    _, report = run
    metrics = stage(report, "eval")["metrics"]
    # Measured (seed 42): text perplexity 2500 untrained -> 537 pretrain; chat perplexity 2430 -> 15 sft.
    assert metrics["pretrain_perplexity"] < metrics["untrained_perplexity"] / 2
    assert metrics["sft_chat_perplexity"] < metrics["untrained_chat_perplexity"] / 20
    # DPO widens the held-out preference margin (measured 76 -> 118 nats) and lifts accuracy by three pairs
    # (0.865 -> 0.880): it is at its ceiling on the rude-answer pairs after SFT already, and the rest need
    # sums never seen, so a 3-pair margin is asserted only as "does not fall".
    assert metrics["dpo_preference_margin"] > 1.2 * metrics["sft_preference_margin"]
    assert metrics["dpo_preference_acc"] >= metrics["sft_preference_acc"]
