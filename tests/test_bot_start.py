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


@pytest.fixture
def run(bot_start_clone) -> tuple[Path, dict]:
    return bot_start_clone


def stage(report: dict, name: str) -> dict:
    return next(s for s in report["stages"] if s["skill"] == name)


def final_model_eval(report: dict) -> dict:
    """eval's figures for the model the run chose as final (out/<stage>)."""
    return stage(report, "eval")["metrics"]["models"][Path(report["final_model"]["path"]).name]


def test_every_stage_ok_and_the_clone_stays_clean(run):
    clone, report = run
    assert [(s["skill"], s["status"]) for s in report["stages"]] == [
        (name, "ok") for name in ("env-check", "download-data", "tokenizer", "pretrain", "sft", "dpo", "eval",
                                  "report")]
    assert report["git"]["checked"] and report["git"]["clean"], report["git"]


def test_pretrain_builds_its_model_with_the_tokenizer_the_run_trained(run):
    _, report = run
    trained = stage(report, "tokenizer")["metrics"]
    used = stage(report, "pretrain")["metrics"]["tokenizer"]
    assert used["path"] == "out/tokenizer" and used["sha256"] == trained["sha256"]
    assert stage(report, "pretrain")["metrics"]["parameters"] == 1_098_880  # 2432 rows: one per token


def test_the_report_card_has_its_plots_eval_table_and_git_check_last(run):
    clone, _ = run
    card = (clone / "reports" / "latest.md").read_text()
    for name in ("pretrain", "sft", "dpo"):
        assert f"(plots/{name}_loss.png)" in card and (clone / "reports" / "plots" / f"{name}_loss.png").exists()
    assert "identity" in card and "preference" in card  # the eval table
    assert "| tokenizer |" in card and "| pretrain |" in card and "`out/tokenizer` (" in card  # which one each used
    history = clone / json.loads((clone / "reports" / "latest.json").read_text())["reports"]["history_markdown"]
    links = re.findall(r"\]\(([^)]+\.png)\)", history.read_text())
    assert len(links) == 3 and all((history.parent / link).exists() for link in links), links
    assert card.rstrip().endswith("nothing untracked outside what git ignores.")


def test_after_sft_the_model_says_who_it_is(run):
    clone, report = run
    answers = [json.loads(line) for line in (clone / "logs" / "sft_samples.jsonl").read_text().splitlines()]
    after = {row["prompt"]: row["answer"] for row in answers if row["when"] == "after"}
    assert "MiniLLM" in after["Who are you?"] and "MiniLLM" in after["你是谁？"]
    models = stage(report, "eval")["metrics"]["models"]
    identity = {name: models[name]["answer_eval"]["by_topic"]["identity"] for name in ("pretrain", "sft")}
    # Held-out wordings, answered greedily: sft answers most of them asked as questions (the measured figures:
    # docs/results/main-job.json).
    assert identity["sft"] >= 0.75 and identity["sft"] > identity["pretrain"], identity
    # The multiple-choice diagnostic: the long pretraining already gets it right, and sft keeps it.
    assert models["sft"]["identity_acc"] >= max(models["pretrain"]["identity_acc"], 0.9)


def test_losses_fall_and_dpo_starts_at_ln2(run):
    _, report = run
    for name in ("pretrain", "sft"):
        metrics = stage(report, name)["metrics"]
        assert metrics["final_loss"] < metrics["first_loss"] - 1.0, name
    dpo = stage(report, "dpo")["metrics"]
    # The first loss is logged at the first step, where the policy is the reference: DPO's term is ln 2,
    # plus the sft term (the chosen answers' negative log-likelihood per token).
    assert dpo["first_loss"] > 0.69 and dpo["final_loss"] < dpo["first_loss"]


def test_held_out_numbers_beat_the_untrained_model(run):
    _, report = run
    metrics = stage(report, "eval")["metrics"]
    # Far below the floors: the measured figures are in docs/results/main-job.json.
    assert metrics["pretrain_perplexity"] < metrics["untrained_perplexity"] / 2
    assert metrics["sft_chat_perplexity"] < metrics["untrained_chat_perplexity"] / 20
    # Per token, the untrained model has no length to go by: near chance on the rebalanced pairs.
    assert 0.4 <= metrics["untrained_preference_acc_per_token"] <= 0.6
    assert metrics["untrained_answer_accuracy"] == 0.0
    assert metrics["sft_answer_accuracy"] > 0.2  # identity held-out questions mostly right


def test_dpo_keeps_the_answers_and_the_chat_perplexity(run):
    _, report = run
    metrics = stage(report, "eval")["metrics"]
    # Kept, not raised: one held-out sum of 116 more or fewer moves the topic mean by 0.003 either way, while the
    # dpo recipe this guards against took it from 0.26 to 0.01 (docs/experiments.md, "how dpo was chosen").
    assert metrics["dpo_answer_accuracy"] >= metrics["sft_answer_accuracy"] - 0.01
    assert metrics["dpo_chat_perplexity"] <= 1.1 * metrics["sft_chat_perplexity"]
    assert metrics["dpo_degenerate_rate"] <= 0.1
    check = stage(report, "dpo")["metrics"]["answer_check"]
    assert not check["regressed"] and not stage(report, "dpo")["warnings"], check


def test_the_final_model_answers_best_of_all_stages(run):
    clone, report = run
    final = report["final_model"]
    assert (clone / final["path"] / "config.json").is_file()
    models = stage(report, "eval")["metrics"]["models"]
    # Chat models only (eval's best_model): the base model is scored on sentences to complete, not questions,
    # and measured 0.357 to the chat models' 0.33 on the 8-epoch recipe while answering no question better.
    best = max(result["answer_accuracy"] for result in models.values() if result.get("style") == "chat")
    assert final["answer_accuracy"] == best and final["path"] != "out/pretrain"
    assert json.loads((clone / "reports" / "latest.json").read_text())["final_model"] == final


def test_every_model_folder_is_hub_ready_with_a_card_and_its_trainer_state(run):
    from huggingface_hub import ModelCard

    clone, report = run
    results = json.loads((clone / "out" / "eval" / "results.json").read_text())["models"]
    for name, start in (("pretrain", None), ("sft", "`out/pretrain`"), ("dpo", "`out/sft`")):
        folder = clone / "out" / name
        card = ModelCard.load(folder / "README.md")  # huggingface_hub parses the metadata
        assert (card.data.license, card.data.library_name, card.data.pipeline_tag) == (
            "apache-2.0", "transformers", "text-generation")
        assert {"minillm-skill", name} <= set(card.data.tags)
        assert (f"from {start}" if start else "from scratch") in card.text
        accuracy = next(r for r in card.data.eval_results if r.metric_type == "accuracy")
        assert accuracy.metric_value == round(results[name]["answer_accuracy"], 4)
        state = json.loads((folder / "trainer_state.json").read_text())
        assert state["global_step"] == stage(report, name)["metrics"]["steps"] and state["log_history"]


def chat(clone: Path, *args: str) -> dict:
    """`minillm-skill chat ARGS --temperature 0 --json` in the clone, offline: its JSON reply."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-m", "minillm_core", "chat", *args, "--temperature", "0", "--json"],
                            cwd=clone, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("prompt", ["Who are you?", "你是谁？"])
def test_chat_with_the_final_model_says_who_it_is(run, prompt):
    clone, report = run
    reply = chat(clone, "--prompt", prompt)
    assert Path(reply["model"]).resolve() == (clone / report["final_model"]["path"]).resolve()
    assert "MiniLLM" in reply["answer"] and "minillm-skill" in reply["answer"], reply["answer"]


def test_the_final_model_calls_the_calculator_on_held_out_sums(run):
    _, report = run
    arithmetic = final_model_eval(report)["arithmetic"]
    # The measured figures (calculator against answering directly): docs/results/main-job.json.
    assert arithmetic["items"] == 64
    # The tool chats spread over four operations and 1-6 digits: these + and × problems of 2-3 digits are a
    # corner of what they teach (0.84-0.86 measured, 1.0 when they taught only those).
    assert arithmetic["calculator"] >= 0.75, arithmetic
    assert arithmetic["calculator"] >= arithmetic["direct"] + 0.4, arithmetic
    assert arithmetic["tool_call_validity"]["right_arguments"] >= 0.75, arithmetic["tool_call_validity"]


def test_the_final_model_calls_the_calculator_on_wordings_it_never_saw(run):
    _, report = run
    wordings = final_model_eval(report)["tool_wordings"]
    # 0.39 measured (docs/results/main-job.json); 0.01 before the tool chats were asked in many wordings.
    assert wordings["items"] == 96
    assert wordings["calculator"] >= 0.25, wordings


def test_chat_with_tools_answers_through_the_calculator(run):
    clone, _ = run
    reply = chat(clone, "--tools", "--prompt", "What is 347 + 589?")
    call = reply["tool_calls"][0]
    assert (call["name"], call["result"], call["ok"]) == ("calculator", "936", True), reply
    assert "936" in reply["answer"], reply


def test_the_tool_schemas_the_docs_give_api_users_make_the_served_model_use_the_calculator(run):
    """docs/usage.md's `tools` list (generated from the code), passed to `serve` as an API client would: the
    model calls the calculator with the numbers of the question, and answers with the result sent back."""
    from fastapi.testclient import TestClient

    from minillm_core.serve import create_app, load_bot

    clone, report = run
    usage = (REPO / "docs" / "usage.md").read_text(encoding="utf-8")
    tools = json.loads(re.search(r"<!-- figures: builtin-tool-schemas -->\n```json\n(.*?)```", usage, re.DOTALL)[1])
    question = [{"role": "user", "content": "What is 347 + 589?"}]
    with TestClient(create_app(load_bot(clone / report["final_model"]["path"]))) as http:
        asked = http.post("/v1/chat/completions", json={"messages": question, "tools": tools, "temperature": 0})
        [call] = asked.json()["choices"][0]["message"]["tool_calls"]
        assert call["function"]["name"] == "calculator", call
        assert json.loads(call["function"]["arguments"]) == {"expression": "347 + 589"}, call
        answered = http.post("/v1/chat/completions", json={"tools": tools, "temperature": 0, "messages": [
            *question, {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "936"}]})
    assert "936" in answered.json()["choices"][0]["message"]["content"], answered.json()


def test_sft_and_dpo_are_measured_on_their_datasets_own_held_out_files(run):
    _, report = run
    for name, source in (("sft", "embedded-sft-eval"), ("dpo", "embedded-dpo-eval")):
        check = stage(report, name)["metrics"]["on_your_data"]
        assert check["source"].startswith(source) and check["items"] == 48, check
        assert "on your data: " in stage(report, name)["summary"]
    sft = stage(report, "sft")["metrics"]["on_your_data"]
    assert sft["after"] > sft["before"], sft  # sft teaches the chats that pretraining had only as text
