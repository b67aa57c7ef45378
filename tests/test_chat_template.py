"""The chat template follows Qwen3's conventions for tools, tool calls, tool responses and thinking, and renders
plain conversations as plain ChatML (what the embedded data trains on). Expected texts are written out by hand."""

from __future__ import annotations

import itertools
import json

import pytest

from minillm_core.model.tokenizer import load_tokenizer, with_chat_template
from minillm_core.util.resources import dataset_dir

CALCULATOR = {"type": "function", "function": {
    "name": "calculator", "description": "Evaluate an arithmetic expression.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
TOOLS_PREAMBLE = ("# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided "
                  "with function signatures within <tools></tools> XML tags:\n<tools>\n" + json.dumps(CALCULATOR)
                  + "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
                  "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                  "\"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n")
TOOL_CONVERSATION = [
    {"role": "system", "content": "You are MiniLLM."},
    {"role": "user", "content": "What is 347 + 589?"},
    {"role": "assistant", "content": "", "reasoning_content": "Big numbers: I use the calculator.",
     "tool_calls": [{"type": "function",
                     "function": {"name": "calculator", "arguments": {"expression": "347 + 589"}}}]},
    {"role": "tool", "content": "936"},
    {"role": "assistant", "content": "347 + 589 = 936.", "reasoning_content": "The calculator says 936."},
]


@pytest.fixture(scope="module")
def tokenizer():
    return with_chat_template(load_tokenizer())


def render(tokenizer, messages, **kwargs) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def test_tools_tool_calls_tool_responses_and_thinking_render_as_qwen3s(tokenizer):
    assert render(tokenizer, TOOL_CONVERSATION, tools=[CALCULATOR]) == (
        "<|im_start|>system\nYou are MiniLLM.\n\n" + TOOLS_PREAMBLE
        + "<|im_start|>user\nWhat is 347 + 589?<|im_end|>\n"
        + "<|im_start|>assistant\n<think>\nBig numbers: I use the calculator.\n</think>\n\n"
        + '<tool_call>\n{"name": "calculator", "arguments": {"expression": "347 + 589"}}\n</tool_call><|im_end|>\n'
        + "<|im_start|>user\n<tool_response>\n936\n</tool_response><|im_end|>\n"
        + "<|im_start|>assistant\n<think>\nThe calculator says 936.\n</think>\n\n347 + 589 = 936.<|im_end|>\n")


def test_tools_without_a_system_message_and_several_calls_with_text_and_string_arguments(tokenizer):
    messages = [
        {"role": "user", "content": "Capitals?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"function": {"name": "lookup", "arguments": '{"key": "France"}'}},
            {"name": "lookup", "arguments": {"key": "Peru"}}]},  # a bare call (no "function" wrapper) works too
        {"role": "tool", "content": "Paris"},
        {"role": "tool", "content": "Lima"},
    ]
    assert render(tokenizer, messages, tools=[CALCULATOR], add_generation_prompt=True) == (
        "<|im_start|>system\n" + TOOLS_PREAMBLE
        + "<|im_start|>user\nCapitals?<|im_end|>\n<|im_start|>assistant\nLet me look.\n"
        + '<tool_call>\n{"name": "lookup", "arguments": {"key": "France"}}\n</tool_call>\n'
        + '<tool_call>\n{"name": "lookup", "arguments": {"key": "Peru"}}\n</tool_call><|im_end|>\n'
        + "<|im_start|>user\n<tool_response>\nParis\n</tool_response>\n<tool_response>\nLima\n</tool_response>"
        + "<|im_end|>\n<|im_start|>assistant\n")


def test_thinking_before_the_last_user_turn_is_dropped_and_think_tags_in_content_are_read(tokenizer):
    messages = [{"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!", "reasoning_content": "greet back"},
                {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "<think>\nsay goodbye\n</think>\n\nBye!"}]
    assert render(tokenizer, messages) == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n<think>\nsay goodbye\n</think>\n\nBye!<|im_end|>\n")


def test_thinking_switched_off(tokenizer):
    # In data: an empty reasoning_content; at generation: enable_thinking=False, as in Qwen3.
    answer = [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "4.", "reasoning_content": ""}]
    assert render(tokenizer, answer).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n4.<|im_end|>\n")
    prompt = answer[:1]
    assert render(tokenizer, prompt, add_generation_prompt=True, enable_thinking=False).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert render(tokenizer, prompt, add_generation_prompt=True, enable_thinking=True).endswith(
        "<|im_start|>assistant\n")
    assert render(tokenizer, prompt, add_generation_prompt=True).endswith("<|im_start|>assistant\n")


def test_the_assistant_mask_covers_thinking_and_tool_calls_never_tool_responses(tokenizer):
    out = tokenizer.apply_chat_template(TOOL_CONVERSATION, tools=[CALCULATOR], return_dict=True,
                                        return_assistant_tokens_mask=True)
    trained = [tokenizer.decode([token for token, _ in run]) for bit, run in
               itertools.groupby(zip(out["input_ids"], out["assistant_masks"], strict=True), lambda pair: pair[1])
               if bit]
    assert trained == [
        "<think>\nBig numbers: I use the calculator.\n</think>\n\n"
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "347 + 589"}}\n</tool_call><|im_end|>',
        "<think>\nThe calculator says 936.\n</think>\n\n347 + 589 = 936.<|im_end|>"]
    # <think> and <tool_call> are single tokens: the reserved ids 3 and 5.
    assert 3 in out["input_ids"] and 5 in out["input_ids"]


def test_the_embedded_chats_render_as_plain_chatml(tokenizer):
    # What bot-start's sft trains on: no tools, no thinking, so exactly ChatML, one line per message (the
    # one difference from Qwen3: no empty think block where the data has no reasoning_content at all).
    records = [json.loads(line) for line in (dataset_dir() / "embedded" / "sft.jsonl").read_text().splitlines()]
    for record in records[:300]:
        messages = [{"role": turn["role"], "content": turn["content"]} for turn in record["conversations"]]
        plain = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        assert render(tokenizer, messages) == plain
