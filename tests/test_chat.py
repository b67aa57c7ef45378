"""`minillm-skill chat` on tiny random models saved to disk (no training): one-shot JSON, greedy
determinism, stop strings, the interactive loop and its streaming, default model choice, errors,
and completion mode for a model without a chat template."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from minillm_core.contract.outputs import MARKER, write_marker
from minillm_core.inference.generation import GeneratedReply, GenerationOptions, TextStream
from minillm_core.inference.replies import split_reasoning
from minillm_core.model.presets import build_model, model_config
from minillm_core.model.tokenizer import load_tokenizer, with_chat_template
from minillm_core.serve import chat
from minillm_core.serve.chat import Bot, chat_command, choose_mode, default_model

GREEDY = ["--temperature", "0", "--max-new-tokens", "12"]
JSON_KEYS = {"model", "prompt", "answer", "reasoning", "new_tokens", "seconds", "stopped_by"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """out/sft: a random tiny model with the chat template; out/pretrain: a copy whose tokenizer has none."""
    root = tmp_path_factory.mktemp("chat")
    tokenizer = with_chat_template(load_tokenizer())
    torch.manual_seed(0)
    # Larger initial weights than training uses: greedy answers then vary instead of repeating one token.
    model = build_model(model_config("tiny", vocab_size=6400, initializer_range=1.0))
    model.save_pretrained(root / "out/sft")
    tokenizer.save_pretrained(root / "out/sft")
    model.save_pretrained(root / "out/pretrain")
    tokenizer.chat_template = None
    tokenizer.save_pretrained(root / "out/pretrain")
    write_marker(root / "out/pretrain", "pretrain", style="completion")  # as training stages leave them
    write_marker(root / "out/sft", "sft", style="chat")
    os.utime(root / "out/pretrain" / MARKER, (1, 1))  # written before sft's, as in a pipeline
    return root


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(chat_command, list(args), input=input, catch_exceptions=False)


def ask_json(model: Path, *args: str, prompt: str = "hello") -> dict:
    result = invoke("--model", str(model), "--prompt", prompt, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stdout holds the one document and nothing else


@pytest.fixture
def generated(monkeypatch) -> list[dict]:
    """Records each generate_reply call of the command: the prompt text, the streamed pieces, the reply."""
    calls, real = [], chat.generate_reply

    def spy(bot, text, options, on_text=lambda _text: None):
        pieces = []
        reply = real(bot, text, options, on_text=lambda piece: (pieces.append(piece), on_text(piece)))
        calls.append({"text": text, "pieces": pieces, "reply": reply})
        return reply

    monkeypatch.setattr(chat, "generate_reply", spy)
    return calls


def test_one_shot_json_is_one_document_with_every_key(workdir):
    doc = ask_json(workdir / "out/sft", *GREEDY)
    assert JSON_KEYS <= set(doc)
    assert doc["model"] == str((workdir / "out/sft").resolve())
    assert doc["prompt"] == "hello" and doc["mode"] == "chat"
    assert 1 <= doc["new_tokens"] <= 12
    assert doc["stopped_by"] in {"eos", "stop_string", "max_new_tokens"}
    assert isinstance(doc["answer"], str) and doc["answer"]


def test_greedy_is_deterministic_and_a_seed_repeats_sampling(workdir):
    model = workdir / "out/sft"
    assert ask_json(model, *GREEDY)["answer"] == ask_json(model, *GREEDY)["answer"]
    sampled = [ask_json(model, "--seed", "7", "--max-new-tokens", "12")["answer"] for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_a_stop_string_cuts_the_answer(workdir):
    model = workdir / "out/sft"
    full = ask_json(model, *GREEDY)["answer"]
    # A two-character piece of the greedy answer, after its start and without an undecodable byte.
    pieces = [full[i:i + 2] for i in range(1, len(full) - 1) if "\ufffd" not in full[i:i + 2]]
    assert pieces, f"the greedy answer is too short to pick a stop string from: {full!r}"
    stop = pieces[len(pieces) // 2]
    doc = ask_json(model, *GREEDY, "--stop", stop, "--stop", "never appears")
    assert doc["stopped_by"] == "stop_string"
    assert doc["answer"] == full[:full.find(stop)]
    assert stop not in doc["answer"]


def test_interactive_answers_each_line_and_reset_clears_the_history(workdir, generated):
    result = invoke("--model", str(workdir / "out/sft"), *GREEDY, input="hello\n/reset\nhi\n/exit\n")
    assert result.exit_code == 0, result.output
    assert len(generated) == 2 and result.stderr.count("bot> ") == 2
    assert "hello" in generated[0]["text"] and "hello" not in generated[1]["text"]
    assert "conversation cleared" in result.stderr


def test_interactive_keeps_the_conversation_and_streams_piece_by_piece(workdir, generated):
    result = invoke("--model", str(workdir / "out/sft"), *GREEDY, input="hello\nhi\n")  # EOF quits
    assert result.exit_code == 0, result.output
    first = generated[0]["reply"].answer
    assert "hello" in generated[1]["text"] and first in generated[1]["text"]
    # Streamed: the answer reached stdout in several pieces, as generated, not all at the end.
    assert len(generated[0]["pieces"]) > 1
    assert "".join(generated[0]["pieces"]) == first
    assert result.stdout.startswith(first)


def test_the_stream_never_shows_a_stop_string_or_half_a_character():
    tokenizer = load_tokenizer()
    shown: list[str] = []
    stream = TextStream(tokenizer, ("STOP",), shown.append)
    stream.put(torch.tensor([[1, 2, 3]]))  # the prompt comes first and is skipped
    for token in tokenizer("法国 🙂 ok ST then STOP here", add_special_tokens=False)["input_ids"]:
        stream.put(torch.tensor([token]))
    stream.end()
    assert stream.stopped and stream.text == "法国 🙂 ok ST then "
    assert "".join(shown) == stream.text and len(shown) > 1
    assert not any("\ufffd" in piece for piece in shown)


def test_stopped_by_eos(workdir):
    tokenizer = load_tokenizer(workdir / "out/sft")
    torch.manual_seed(0)
    model = build_model(model_config("tiny", vocab_size=6400)).eval()
    torch.nn.init.zeros_(model.model.norm.weight)  # every logit is 0, so greedy picks id 0: <|endoftext|>
    bot = Bot(workdir / "out/sft", model, tokenizer, "chat")
    reply = chat.generate_reply(bot, bot.prompt_text([{"role": "user", "content": "hi"}]), GenerationOptions(0))
    assert (reply.stopped_by, reply.new_tokens, reply.answer) == ("eos", 1, "")


def test_default_model_is_the_newest_a_training_stage_wrote_whatever_its_name(workdir, tmp_path):
    assert default_model(workdir) == workdir / "out/sft"
    shutil.copytree(workdir / "out/sft", tmp_path / "out/sft")  # copy2: the marker keeps its time
    (tmp_path / "out/pretrain").mkdir()  # an empty folder is no model
    assert default_model(tmp_path) == tmp_path / "out/sft"
    shutil.copytree(workdir / "out/sft", tmp_path / "out/my-lora")  # a plugin's stage, its own folder name
    write_marker(tmp_path / "out/my-lora", "lora", style="chat")
    shutil.copytree(workdir / "out/sft", tmp_path / "out/zzz-copy", ignore=shutil.ignore_patterns(MARKER))
    result = invoke("--workdir", str(tmp_path), "--prompt", "hello", "--json", *GREEDY)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == str((tmp_path / "out/my-lora").resolve())
    assert "out/my-lora (the last run's final model, else the newest trained one" in result.stderr


def test_no_model_is_a_usage_error_with_a_hint(tmp_path):
    result = invoke("--workdir", str(tmp_path), "--prompt", "hello")
    assert result.exit_code == 2
    assert str(tmp_path / "out") in result.stderr and "minillm-skill run bot-start" in result.stderr
    from minillm_core.cli import cli  # the command group prints a usage error as JSON under --json

    result = CliRunner().invoke(cli, ["chat", "--workdir", str(tmp_path), "--prompt", "hello", "--json"])
    assert result.exit_code == 2 and json.loads(result.stdout)["status"] == "usage_error"


@pytest.mark.parametrize("folder, message", [("missing", "does not exist"), ("empty", "no config.json")])
def test_a_bad_model_folder_is_a_usage_error_naming_it(tmp_path, folder, message):
    (tmp_path / "empty").mkdir()
    result = invoke("--model", str(tmp_path / folder), "--prompt", "hello")
    assert result.exit_code == 2
    assert str(tmp_path / folder) in result.stderr and message in result.stderr


def test_json_needs_a_prompt(workdir):
    result = invoke("--model", str(workdir / "out/sft"), "--json")
    assert result.exit_code == 2 and "--json needs --prompt" in result.stderr


def test_a_model_without_chat_template_continues_the_raw_text(workdir, generated):
    doc = ask_json(workdir / "out/pretrain", *GREEDY, prompt="The capital of France is")
    assert doc["mode"] == "completion" and doc["new_tokens"] >= 1
    assert generated[0]["text"] == "The capital of France is"  # no template around it
    result = invoke("--model", str(workdir / "out/pretrain"), *GREEDY, input="Once upon\n")
    assert result.exit_code == 0 and "completion mode" in result.stderr
    result = invoke("--model", str(workdir / "out/pretrain"), "--mode", "chat", "--prompt", "hi")
    assert result.exit_code == 2 and "no chat template" in result.stderr


def test_mode_auto_follows_the_chat_template_not_the_folder_name():
    base = load_tokenizer()  # no chat template, as out/pretrain's
    assert choose_mode(Path("w/out/pretrain"), base) == "completion"
    assert choose_mode(Path("w/out/my-copy"), base) == "completion"
    chat_tokenizer = with_chat_template(load_tokenizer())
    assert choose_mode(Path("w/out/sft"), chat_tokenizer) == "chat"
    assert choose_mode(Path("w/out/pretrain-copied-from-sft"), chat_tokenizer) == "chat"


def test_think_switch_reaches_the_template(workdir, generated):
    ask_json(workdir / "out/sft", *GREEDY, "--no-think")
    ask_json(workdir / "out/sft", *GREEDY, "--think")
    ask_json(workdir / "out/sft", *GREEDY)
    endings = [call["text"][-len("assistant\n<think>\n\n</think>\n\n"):] for call in generated]
    assert endings[0] == "assistant\n<think>\n\n</think>\n\n"  # --no-think: answer directly
    assert not endings[1].endswith("</think>\n\n") and generated[1]["text"] == generated[2]["text"]


def test_a_reply_that_thinks_is_split_into_reasoning_and_answer(workdir, monkeypatch):
    def thinking_reply(bot, text, options, on_text=lambda _text: None):
        return GeneratedReply("<think>\n347 + 589: use a calculator.\n</think>\n\n936.", 12, 0.1, "eos")

    monkeypatch.setattr(chat, "generate_reply", thinking_reply)
    doc = ask_json(workdir / "out/sft", *GREEDY)
    assert (doc["reasoning"], doc["answer"]) == ("347 + 589: use a calculator.", "936.")
    assert split_reasoning("plain answer") == (None, "plain answer")
    assert split_reasoning("<think>\n\n</think>\n\nHi") == ("", "Hi")  # thinking switched off


def scripted(monkeypatch, replies: list[str]) -> list[str]:
    """generate_reply answers with `replies` in turn; returns the prompt texts it was given."""
    seen, queue = [], list(replies)

    def reply(bot, text, options, on_text=lambda _text: None):
        seen.append(text)
        answer = queue.pop(0)
        on_text(answer)
        return GeneratedReply(answer, 9, 0.1, "eos")

    monkeypatch.setattr(chat, "generate_reply", reply)
    return seen


CALL = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "347 + 589"}}\n</tool_call>'


def test_tools_run_each_call_and_hand_the_result_back(workdir, monkeypatch):
    seen = scripted(monkeypatch, [CALL, "347 + 589 = 936."])
    doc = ask_json(workdir / "out/sft", *GREEDY, "--tools", prompt="What is 347 + 589?")
    assert doc["answer"] == "347 + 589 = 936."
    assert doc["tool_calls"] == [{"name": "calculator", "arguments": {"expression": "347 + 589"}, "result": "936",
                                  "ok": True}]
    assert "<tools>" in seen[0] and '"name": "lookup"' in seen[0]  # the tools are offered in the system turn
    assert seen[1].endswith(CALL + "<|im_end|>\n<|im_start|>user\n<tool_response>\n936\n</tool_response>"
                            "<|im_end|>\n<|im_start|>assistant\n")


def test_without_tools_a_call_is_just_text(workdir, monkeypatch):
    scripted(monkeypatch, [CALL])
    doc = ask_json(workdir / "out/sft", *GREEDY, prompt="What is 347 + 589?")
    assert doc["tool_calls"] == [] and doc["answer"] == CALL


def test_a_model_that_keeps_calling_is_stopped_and_shown(workdir, monkeypatch):
    scripted(monkeypatch, [CALL] * chat.MAX_TOOL_ROUNDS)
    result = invoke("--model", str(workdir / "out/sft"), "--prompt", "What is 347 + 589?", "--tools", *GREEDY)
    assert result.exit_code == 0, result.output
    assert result.stderr.count('tool calculator({"expression": "347 + 589"}) -> 936') == chat.MAX_TOOL_ROUNDS - 1


def test_interactive_tools_keep_the_calls_in_the_conversation(workdir, monkeypatch):
    seen = scripted(monkeypatch, [CALL, "= 936.", "Yes."])
    result = invoke("--model", str(workdir / "out/sft"), "--tools", *GREEDY, input="347 + 589?\nSure?\n")
    assert result.exit_code == 0, result.output
    assert "<tool_response>\n936\n</tool_response>" in seen[2] and seen[2].count(CALL) == 1
    assert seen[2].endswith("= 936.<|im_end|>\n<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\n")


def test_tools_need_a_chat_model(workdir):
    result = invoke("--model", str(workdir / "out/pretrain"), "--prompt", "1 + 1", "--tools")
    assert result.exit_code == 2 and "--tools needs a chat model" in result.output
