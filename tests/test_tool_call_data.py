"""Chats with thinking and tool calls: OpenAI messages and LLaMA-Factory's sharegpt read into one shape, bad ones
named by file and line, and sft trains on them through the chat template (loss on thinking and tool calls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.data.formats import DataError, RecordReader

CALCULATOR = {"type": "function", "function": {"name": "calculator", "parameters": {
    "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
OPENAI = {"tools": [CALCULATOR], "messages": [
    {"role": "user", "content": "What is 347 + 589?"},
    {"role": "assistant", "content": None, "reasoning_content": "Big numbers: the calculator.",
     "tool_calls": [{"type": "function", "function": {"name": "calculator",
                                                      "arguments": "{\"expression\": \"347 + 589\"}"}}]},
    {"role": "tool", "content": "936"},
    {"role": "assistant", "content": "347 + 589 = 936."}]}
NORMALIZED = {"tools": json.dumps([CALCULATOR]), "messages": [
    {"role": "user", "content": "What is 347 + 589?"},
    {"role": "assistant", "content": "", "reasoning_content": "Big numbers: the calculator.",
     "tool_calls": [{"name": "calculator", "arguments": "{\"expression\": \"347 + 589\"}"}]},
    {"role": "tool", "content": "936"},
    {"role": "assistant", "content": "347 + 589 = 936."}]}
SHAREGPT = {"tools": json.dumps([CALCULATOR]), "conversations": [
    {"from": "human", "value": "What is 347 + 589?"},
    {"from": "function_call", "value": json.dumps({"name": "calculator", "arguments": {"expression": "347 + 589"}})},
    {"from": "observation", "value": "936"},
    {"from": "gpt", "value": "347 + 589 = 936."}]}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def test_openai_tool_calls_tool_messages_and_thinking_are_read(tmp_path):
    assert list(RecordReader(write_jsonl(tmp_path / "chats.jsonl", [OPENAI]), "sft")) == [NORMALIZED]


def test_llama_factory_function_call_and_observation_turns_are_read(tmp_path):
    normalized = {**NORMALIZED, "messages": [{key: value for key, value in turn.items() if key != "reasoning_content"}
                                             for turn in NORMALIZED["messages"]]}
    assert list(RecordReader(write_jsonl(tmp_path / "chats.jsonl", [SHAREGPT]), "sft", "sharegpt")) == [normalized]


@pytest.mark.parametrize("change, problem", [
    (lambda m: m[1]["tool_calls"][0]["function"].update(arguments="{347"), 'tool call "calculator": arguments are not '
                                                                          "valid JSON"),
    (lambda m: m[1]["tool_calls"][0]["function"].pop("name"), 'each tool call needs a "name"'),
    (lambda m: m.pop(1), "a tool message must follow an assistant turn with tool_calls"),
    (lambda m: m.pop(2), "an assistant turn with tool_calls must be followed by tool messages, got assistant"),
    (lambda m: m[2].update(tool_calls=[{"name": "x"}]), "only an assistant message may have tool_calls"),
])
def test_a_bad_tool_conversation_is_named_by_file_and_line(tmp_path, change, problem):
    broken = json.loads(json.dumps(OPENAI))
    change(broken["messages"])
    path = write_jsonl(tmp_path / "chats.jsonl", [OPENAI, broken])
    with pytest.raises(DataError) as error:
        list(RecordReader(path, "sft"))
    assert f"{path}:2:" in str(error.value) and problem in str(error.value)


def test_sft_trains_on_tool_conversations_mixed_with_plain_ones(tmp_path):
    plain = {"messages": [{"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "MiniLLM."}]}
    data = write_jsonl(tmp_path / "mixed.jsonl", [plain, OPENAI] * 8)  # the first batch of rows has no tools
    args = ["run", "sft", "--workdir", str(tmp_path), "--json", "--set", f"dataset={data}", "--set", "max_steps=2",
            "--set", "batch_size=4", "--set", f"init={_base_model(tmp_path)}", "--set", "answer_check=false"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    assert metrics["conversations"] == 16 and metrics["steps"] == 2 and metrics["final_loss"] > 0


def _base_model(tmp_path: Path) -> Path:
    """A random tiny base model (no chat template), saved as pretrain would save it."""
    from minillm_core.model.presets import build_model, model_config, vocab_size_for
    from minillm_core.model.tokenizer import load_tokenizer, save_tokenizer

    folder = tmp_path / "base"
    tokenizer = load_tokenizer()
    build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer))).save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    return folder
