"""The distill stage on tiny random models: a student trained against a teacher loads and answers, and a teacher
that cannot teach it (none, missing, another tokenizer, another vocabulary size) is refused before any work."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from minillm_core.model.presets import build_model, model_config, vocab_size_for
from minillm_core.model.tokenizer import load_tokenizer
from tests.helpers import invoke, save_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CHATS = [
    {"conversations": [{"role": "user", "content": f"What is {a} + {b}?"},
                       {"role": "assistant", "content": f"{a} + {b} = {a + b}."}]}
    for a, b in [(1, 2), (3, 4), (5, 6), (7, 1), (2, 2), (6, 3)]
] + [{"conversations": [{"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "I am MiniLLM."},
                        {"role": "user", "content": "And in one word?"}, {"role": "assistant", "content": "MiniLLM."}]}]
FAST = ["--set", "max_steps=3", "--set", "batch_size=4", "--set", "max_new_tokens=8", "--set", "log_steps=1",
        "--set", "answer_check=false", "--set", "eval_split=0", "--set", "threads=1"]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A work directory with a random base model (the student) and a random chat model (the teacher), both with
    the shipped tokenizer, and a file of seven chats (eight replies)."""
    root = tmp_path_factory.mktemp("distill")
    save_tiny_model(root / "student", seed=1, chat=False)
    save_tiny_model(root / "teacher", seed=2)
    (root / "chats.jsonl").write_text("".join(json.dumps(chat) + "\n" for chat in CHATS), encoding="utf-8")
    return root


def distill(work: Path, *sets: str):
    return invoke("run", "distill", "--workdir", str(work), "--json", "--set", f"init={work / 'student'}",
                  "--set", f"dataset={work / 'chats.jsonl'}",
                  *FAST, *sets)


def test_the_student_is_trained_against_the_teacher_saved_and_answers(work):
    result = distill(work, "--set", f"teacher={work / 'teacher'}")
    assert result.exit_code == 0, result.output
    stage = json.loads(result.stdout)["stages"][0]
    metrics = stage["metrics"]
    assert stage["status"] == "ok" and metrics["steps"] == 3
    assert metrics["prompts"] == 8 and metrics["dropped_prompts"] == 0  # one per reply: the two-turn chat gives two
    assert metrics["teacher_parameters"] == metrics["parameters"]
    assert math.isfinite(metrics["final_loss"]) and metrics["final_loss"] >= 0  # a divergence
    assert metrics["model"] == {"path": "out/distill", "style": "chat"}
    student = json.loads((work / "out" / "distill" / "generation_config.json").read_text())
    assert student["eos_token_id"][0] == load_tokenizer().convert_tokens_to_ids("<|im_end|>")  # replies end

    answered = invoke("chat", "--model", str(work / "out" / "distill"), "--prompt", "What is 2 + 3?",
                      "--temperature", "0", "--max-new-tokens", "8", "--json")
    assert answered.exit_code == 0, answered.output
    reply = json.loads(answered.stdout)
    assert reply["status"] == "ok" and reply["model"].endswith("distill") and reply["answer"].strip()


def test_without_a_teacher_nothing_runs_and_the_hint_says_how(work):
    result = distill(work)
    assert result.exit_code == 3, result.output
    check = failed_check(result)
    assert "no teacher given" in check["detail"] and "--set teacher=" in check["hint"]


def test_a_missing_teacher_folder_is_named(work):
    result = distill(work, "--set", f"teacher={work / 'nowhere'}")
    assert result.exit_code == 3
    assert failed_check(result)["detail"] == f"missing: {work / 'nowhere'}"


def test_a_teacher_with_another_tokenizer_is_refused_before_any_work(work):
    other = work / "other-tokenizer"
    shutil.copytree(work / "teacher", other, dirs_exist_ok=True)
    tokenizer = json.loads((other / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    first, second = list(vocab)[100:102]
    vocab[first], vocab[second] = vocab[second], vocab[first]  # two tokens swap ids: it reads text otherwise
    (other / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    result = distill(work, "--set", f"teacher={other}")
    assert result.exit_code == 3
    check = failed_check(result)
    assert "another tokenizer than the student" in check["detail"] and "tokenizer" in check["hint"]
    assert not (work / "out" / "distill-other").exists()


def test_a_teacher_with_other_embedding_rows_is_refused_naming_both(work):
    tokenizer = load_tokenizer()
    wider = work / "more-rows"
    build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer) + 64)).save_pretrained(wider)
    tokenizer.save_pretrained(wider)
    result = distill(work, "--set", f"teacher={wider}")
    assert result.exit_code == 3
    check = failed_check(result)
    rows = vocab_size_for(tokenizer)
    assert f"has {rows + 64} embedding rows" in check["detail"] and f"{rows}: the same tokenizer" in check["detail"]
    assert "presets copy" in check["hint"]


def failed_check(result) -> dict:
    """The one precondition that failed: what it needs, and the hint."""
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["status"] == "precondition_failed" and stage["summary"] == "needs the teacher model given by teacher"
    what, _, detail = stage["error"].partition(": ")
    assert ";" not in detail, stage["error"]  # no other precondition failed
    return {"detail": detail, "hint": stage["hint"]}


def test_a_tool_chat_gives_a_prompt_for_the_call_and_one_for_the_answer_with_its_tools_offered():
    import datasets

    from minillm_core.model.tokenizer import with_chat_template
    from minillm_core.train.stages.distill import reply_prompts
    from minillm_core.train.training import SFT_FEATURES

    def message(role, content, calls=None):
        return {"role": role, "content": content, "reasoning_content": None, "tool_calls": calls}

    tools = [{"type": "function", "function": {"name": "calculator", "parameters": {"type": "object"}}}]
    chat = {"messages": [message("user", "What is 347 + 589?"),
                         message("assistant", "", [{"name": "calculator", "arguments": '{"expression": "347 + 589"}'}]),
                         message("tool", "936"), message("assistant", "347 + 589 = 936.")],
            "tools": json.dumps(tools)}
    prompts = reply_prompts(datasets.Dataset.from_list([chat], features=SFT_FEATURES),
                            with_chat_template(load_tokenizer()))["prompt"]
    assert len(prompts) == 2 and all("# Tools" in prompt and '"calculator"' in prompt for prompt in prompts)
    assert prompts[0].endswith("What is 347 + 589?<|im_end|>\n<|im_start|>assistant\n")
    assert "<tool_call>" in prompts[1]
    assert prompts[1].endswith("936\n</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert "347 + 589 = 936." not in "".join(prompts)  # a reply is what the student samples, never the prompt
