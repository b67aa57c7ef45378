"""A chat model saved here reads back in plain transformers: its tokenizer config carries a response template,
so `tokenizer.parse_response` gives thinking, content and tool calls (minillm_core/model/response_template.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minillm_core.model.tokenizer import load_tokenizer, save_tokenizer, with_chat_template
from tests.helpers import call_text

# Runs in a fresh process: only transformers, no minillm_core, reads the folder.
PARSE = """
import json, sys
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Calculate 347 + 589."}],
                                       add_generation_prompt=True, tokenize=False)
print(json.dumps([tokenizer.parse_response(reply, prefix=prompt) for reply in json.loads(sys.argv[2])]))
"""


def parsed_in_a_fresh_process(folder: Path, replies: list[str]) -> list[dict]:
    result = subprocess.run([sys.executable, "-c", PARSE, str(folder), json.dumps(replies)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_a_saved_chat_tokenizer_parses_thinking_content_and_tool_calls_in_plain_transformers(tmp_path):
    save_tokenizer(with_chat_template(load_tokenizer()), tmp_path)
    assert "response_template" in json.loads((tmp_path / "tokenizer_config.json").read_text())
    one = call_text("calculator", expression="347 + 589")
    two = one + "\n" + call_text("lookup", query="capital of France")
    replies = [f"{one}<|im_end|>", "<think>\n347 + 589 is 936.\n</think>\n\n347 + 589 = 936.<|im_end|>",
               f"Let me check.\n{two}<|im_end|>", "Paris.<|endoftext|>"]
    call, thought, both, plain = parsed_in_a_fresh_process(tmp_path, replies)
    assert call["tool_calls"] == [{"type": "function", "function": {"name": "calculator",
                                                                    "arguments": {"expression": "347 + 589"}}}]
    assert thought == {"role": "assistant", "reasoning_content": "347 + 589 is 936.", "content": "347 + 589 = 936."}
    assert both["content"] == "Let me check." and [c["function"]["name"] for c in both["tool_calls"]] == [
        "calculator", "lookup"]
    assert plain == {"role": "assistant", "content": "Paris."}


def test_a_downloaded_models_own_chat_template_gets_no_response_template_of_ours():
    tokenizer = load_tokenizer()
    tokenizer.chat_template = "{{ messages[0]['content'] }}"  # a template of another family
    assert getattr(with_chat_template(tokenizer), "response_template", None) is None


@pytest.mark.slow
def test_bot_starts_model_parses_its_own_generated_tool_call_in_plain_transformers(bot_start_clone):
    """The model generates, greedily, with the built-in tools offered; plain transformers reads the call."""
    from minillm_core.eval.evaluate import load_model
    from minillm_core.inference.tools import BUILTIN_TOOLS

    clone, _ = bot_start_clone
    folder = clone / "out" / "sft"
    model, tokenizer = load_model(folder)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Calculate 347 + 589."}],
                                           tools=[tool.schema() for tool in BUILTIN_TOOLS],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**prompt, max_new_tokens=60, do_sample=False)
    reply = tokenizer.decode(output[0, prompt["input_ids"].shape[1]:])
    (parsed,) = parsed_in_a_fresh_process(folder, [reply])
    assert parsed["tool_calls"][0]["function"] == {"name": "calculator", "arguments": {"expression": "347 + 589"}}
