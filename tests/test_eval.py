"""The eval skill on tiny untrained models: lm_eval's local tasks offline, perplexity, answers, the table."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch

from minillm_core.eval import evaluate, likelihood
from minillm_core.eval.evaluate import eval_inputs, prompt_style
from minillm_core.eval.likelihood import perplexity
from minillm_core.eval.lm_eval_tasks import LOCAL_TASKS, run_tasks, write_local_tasks
from minillm_core.inference.samples import DEFAULT_PROMPTS, prompt_text
from minillm_core.model.tokenizer import load_tokenizer, with_chat_template
from minillm_core.util.resources import shipped_path
from tests.helpers import invoke, save_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    save_tiny_model(root / "out" / "pretrain", seed=1, chat=False)
    save_tiny_model(root / "out" / "sft", seed=2)
    return root


@pytest.fixture(scope="module")
def evaluated(workdir):
    """One full eval run (every task, no limit) over both models: the report's eval stage."""
    result = invoke("run", "eval", "--workdir", str(workdir), "--json", "--set", "arithmetic=false")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["stages"][0]


def lines(name: str) -> int:
    return len(shipped_path(f"dataset/embedded/{name}").read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
def test_every_model_gets_task_accuracies_perplexity_and_answers(evaluated, workdir):
    metrics = evaluated["metrics"]
    assert list(metrics["models"]) == ["untrained", "pretrain", "sft"]
    assert [numbers["untrained"] for numbers in metrics["models"].values()] == [True, False, False]
    for name, numbers in metrics["models"].items():
        for short in LOCAL_TASKS:
            assert 0.0 <= numbers[f"{short}_acc"] <= 1.0
            assert metrics[f"{name}_{short}_acc"] == pytest.approx(numbers[f"{short}_acc"], abs=1e-4)
        assert math.isfinite(numbers["perplexity"]) and numbers["perplexity"] > 1
        assert metrics[f"{name}_perplexity"] == pytest.approx(numbers["perplexity"], rel=1e-4)
        assert math.isfinite(numbers["chat_perplexity"]) and numbers["chat_perplexity"] > 1
        assert numbers["chat_perplexity_tokens"] > lines("sft_eval.jsonl")  # every held-out reply, several tokens
        assert metrics[f"{name}_preference_margin"] == pytest.approx(numbers["preference_margin"], abs=1e-4)
        style = "completion" if name == "pretrain" else "chat"
        assert numbers["style"] == style
        assert [pair["prompt"] for pair in numbers["answers"]] == DEFAULT_PROMPTS[style]
        # The untrained floor answers greedily only; trained models are also sampled (the consistency figure).
        assert (numbers["sample_accuracy"] is None) == (name == "untrained")
        assert numbers["answer_eval"]["samples"] == (0 if name == "untrained" else 3)
    results = json.loads((workdir / "out/eval/results.json").read_text())
    assert results["versions"]["lm_eval"] and set(results["models"]) == {"untrained", "pretrain", "sft"}


@pytest.mark.slow
def test_every_question_of_every_task_is_scored(evaluated):
    files = {task: file for task, file in LOCAL_TASKS.values()}
    for numbers in evaluated["metrics"]["models"].values():
        assert {task: numbers["tasks"][task]["docs"] for task in files} == {
            task: lines(file) for task, file in files.items()}


@pytest.mark.slow
def test_details_compare_the_models_in_a_table_and_show_answers(evaluated):
    details = evaluated["details"]
    assert "| | untrained | pretrain | sft |" in details
    for row in ("text perplexity", "chat perplexity", "preference margin", "identity acc", "arithmetic acc",
                "facts acc", "preference acc"):
        assert any(line.startswith(f"| {row}") and line.count("|") == 5 for line in details.splitlines()), row
    assert "`Who are you?` ->" in details and "`The capital of France is` ->" in details
    assert "untrained / pretrain / sft" in evaluated["summary"] and "\n" not in evaluated["summary"]


@pytest.mark.slow
def test_models_prompts_and_limit(workdir, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Hello\n\n2 + 2 =\n")
    result = invoke("run", "eval", "--workdir", str(tmp_path), "--json", "--set", f"models={workdir / 'out/sft'}",
                    "--set", f"prompts={prompts}", "--set", "limit=3", "--set", "baseline=false")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["stages"][0]["metrics"]["models"]
    assert list(models) == ["sft"]
    assert [pair["prompt"] for pair in models["sft"]["answers"]] == ["Hello", "2 + 2 ="]
    assert {numbers["docs"] for numbers in models["sft"]["tasks"].values()} == {3}
    assert (tmp_path / "out/eval/results.json").exists()
    # A chat model is asked the held-out multi-digit problems four ways (limit applies); the table shows them.
    stage = json.loads(result.stdout)["stages"][0]
    arithmetic = models["sft"]["arithmetic"]
    assert arithmetic["items"] == 3 and "answers" not in arithmetic  # the rows stay in results.json
    assert stage["metrics"]["sft_arithmetic_calculator"] == arithmetic["calculator"]
    assert "### Multi-digit arithmetic (3 held-out sums and products" in stage["details"]
    saved = json.loads((tmp_path / "out/eval/results.json").read_text())["models"]["sft"]["arithmetic"]
    assert len(saved["answers"]) == 3 and {"direct", "think", "calculator", "calls"} <= set(saved["answers"][0])
    wordings = models["sft"]["tool_wordings"]  # the held-out wordings: the calculator alone, limit applied
    assert wordings["items"] == 3 and "answers" not in wordings
    assert stage["metrics"]["sft_tool_wordings_calculator"] == wordings["calculator"]
    assert "| with the calculator, 3 held-out wordings" in stage["details"]


def test_a_standard_task_offline_fails_fast_with_a_hint(workdir):
    started = time.monotonic()
    result = invoke("run", "eval", "--workdir", str(workdir), "--json", "--set", "tasks=arc_easy")
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    stage = json.loads(result.stdout)["stages"][0]
    assert "arc_easy" in stage["error"] and "not reachable" in stage["error"]
    assert "--set tasks" in stage["hint"]


def test_no_model_is_a_precondition_failure(tmp_path):
    assert invoke("run", "eval", "--workdir", str(tmp_path), "--json").exit_code == 3
    missing = invoke("run", "eval", "--workdir", str(tmp_path), "--json", "--set", "models=absent")
    assert missing.exit_code == 3 and "absent" in json.loads(missing.stdout)["stages"][0]["error"]


def test_chat_models_are_scored_on_their_chat_template_and_pretrain_on_plain_text(workdir, tmp_path):
    inputs = eval_inputs(workdir, tmp_path / "tasks", limit=2)
    assert len(inputs.arithmetic_items) == len(inputs.tool_wording_items) == 2  # the limit applies to both
    model, tokenizer = evaluate.load_model(workdir / "out/sft")
    identity = inputs.tasks["tasks"]["minillm_identity"]
    question = json.loads(shipped_path("dataset/embedded/mc_identity.jsonl").read_text().splitlines()[0])
    run_tasks(model, tokenizer, "chat", inputs)
    assert [instance.args for instance in identity.instances[:4]] == [
        (prompt_text(tokenizer, question["question"], "chat"), choice) for choice in question["choices"]]
    run_tasks(model, tokenizer, "completion", inputs)
    assert identity.instances[0].args == (question["question"], " " + question["choices"][0])
    preference = inputs.tasks["tasks"]["minillm_preference"].instances
    pair = json.loads(shipped_path("dataset/embedded/dpo_eval.jsonl").read_text().splitlines()[0])
    assert [instance.args[1] for instance in preference[:2]] == [
        " " + pair["chosen"][-1]["content"], " " + pair["rejected"][-1]["content"]]


def test_task_files_name_their_data_by_absolute_path(tmp_path):
    tasks = write_local_tasks(tmp_path / "tasks")
    for task, file in LOCAL_TASKS.values():
        text = (tasks / f"{task}.yaml").read_text()
        assert f'test: "{shipped_path("dataset/embedded") / file}"' in text
        assert f'cache_dir: "{tmp_path / ".cache"}"' in text
    assert (tasks / "utils.py").exists()


def test_perplexity_is_the_token_weighted_loss_over_windows(workdir):
    model, tokenizer = evaluate.load_model(workdir / "out/pretrain")
    text = "The capital of France is Paris. 3 + 4 = 7."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    whole = perplexity(model, tokenizer, [text])
    assert whole["perplexity"] == pytest.approx(math.exp(loss), rel=1e-4)
    assert whole["perplexity_tokens"] == len(ids) - 1
    one_window_each = perplexity(model, tokenizer, [text, text], window=len(ids))  # the same document twice
    assert one_window_each["perplexity"] == pytest.approx(whole["perplexity"], rel=1e-4)
    assert one_window_each["perplexity_tokens"] == 2 * (len(ids) - 1)


def test_reply_logprobs_score_only_the_reply_and_ignore_padding(workdir):
    model, tokenizer = evaluate.load_model(workdir / "out/sft")
    short = likelihood.Reply([{"role": "user", "content": "Who are you?"}], "I am MiniLLM.")
    long = likelihood.Reply([{"role": "user", "content": "What is 3 + 4? Answer in a sentence."}], "3 + 4 = 7.")
    prompt = tokenizer.apply_chat_template(short.prompt, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer("I am MiniLLM.<|im_end|>\n", add_special_tokens=False)["input_ids"]
    labels = [-100] * len(prompt_ids) + reply_ids
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([prompt_ids + reply_ids]), labels=torch.tensor([labels])).loss.item()
    total, count = likelihood.reply_logprobs(model, tokenizer, [short])[0]
    assert count == len(reply_ids)
    assert total == pytest.approx(-loss * count, rel=1e-4)
    batched = likelihood.reply_logprobs(model, tokenizer, [long, short])  # short is right-padded in this batch
    assert batched[1][1] == count and batched[1][0] == pytest.approx(total, rel=1e-4)
    assert batched[0] == pytest.approx(likelihood.reply_logprobs(model, tokenizer, [long])[0], rel=1e-4)


def test_the_untrained_baseline_is_the_architecture_with_fixed_fresh_weights(workdir):
    trained, _ = evaluate.load_model(workdir / "out/sft")
    first, _ = evaluate.load_model(workdir / "out/sft", untrained=True)
    again, _ = evaluate.load_model(workdir / "out/sft", untrained=True)
    assert first.config.to_dict() == trained.config.to_dict()
    weights = [(name, tensor) for name, tensor in first.state_dict().items() if "norm" not in name]
    assert all(torch.equal(tensor, again.state_dict()[name]) for name, tensor in weights)
    assert not any(torch.equal(tensor, trained.state_dict()[name]) for name, tensor in weights)


def test_the_held_out_wordings_figure_has_its_own_metric_and_its_rows_stay_in_results_json():
    numbers = {key: 0.5 for key in (*evaluate.HEADLINE_KEYS, "perplexity", "chat_perplexity", "preference_margin")}
    numbers |= {f"{short}_acc": 0.25 for short in LOCAL_TASKS} | {"tasks": {}}
    wordings = {"calculator": 0.75, "items": 96, "answers": [{"prompt": "Divide 8 by 4."}]}
    metrics = evaluate._metrics({"pretrain": numbers, "sft": {**numbers, "tool_wordings": wordings}}, [])
    assert metrics["sft_tool_wordings_calculator"] == 0.75 and "pretrain_tool_wordings_calculator" not in metrics
    assert metrics["models"]["sft"]["tool_wordings"] == {"calculator": 0.75, "items": 96}


def test_prompt_style_follows_the_chat_template():
    tokenizer = load_tokenizer()  # a base model's: no chat template, whatever its folder is called
    assert prompt_style(tokenizer) == "completion"
    assert prompt_style(with_chat_template(tokenizer)) == "chat"


@pytest.mark.slow
def test_a_retrained_model_is_evaluated_again_not_reported_stale(tmp_path):
    save_tiny_model(tmp_path / "out" / "sft", seed=3)

    def status() -> str:
        result = invoke("run", "eval", "--workdir", str(tmp_path), "--set", "limit=2", "--json")
        return json.loads(result.stdout)["stages"][0]["status"]

    assert [status(), status()] == ["ok", "skipped"]
    save_tiny_model(tmp_path / "out" / "sft", seed=4)  # "retrained": new weights in the same folder
    assert status() == "ok"
