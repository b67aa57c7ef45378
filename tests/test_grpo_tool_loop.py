"""The grpo plugin's task=tools through TRL's multi-turn tool loop, on a tiny model taught one tool episode: the
trainer builds, a step runs, and the rewarded episode holds the calculator's result, spliced in as the chat
template writes it. Here rather than in plugins/grpo/tests, whose files import minillm_core.api only: these
build the tiny model and tokenizer with minillm_core's own presets."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import datasets
import pytest
import torch

from minillm_core.inference.tools import BUILTIN_TOOLS
from minillm_core.model.presets import build_model, model_config, vocab_size_for
from minillm_core.model.tokenizer import load_tokenizer, with_chat_template

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "grpo"))  # the plugin, uninstalled
from minillm_skill_grpo import recipe  # noqa: E402
from minillm_skill_grpo.rewards import final_answer  # noqa: E402
from minillm_skill_grpo.tools import TOOL_SCHEMAS  # noqa: E402

QUESTION, CALL, RESULT, ANSWER = "What is 2 + 3?", {"expression": "2 + 3"}, "5", "2 + 3 = 5."
STEPS = 100


def message(role: str, content: str = "", call: dict | None = None) -> dict:
    """A message as the SFT records hold it (minillm_core's normalised chat format)."""
    calls = [{"name": "calculator", "arguments": json.dumps(call)}] if call else None
    return {"role": role, "content": content, "reasoning_content": None, "tool_calls": calls}


def episode() -> list[dict]:
    return [message("user", QUESTION), message("assistant", call=CALL), message("tool", RESULT),
            message("assistant", ANSWER)]


def taught_model(tokenizer):
    """A tiny model (one layer) trained on one tool episode, offered the tools as TRL offers them, until it says
    the episode back token for token: 100 steps, each on 620 tokens (the tools' schemas make the prompt long)."""
    torch.manual_seed(0)
    model = build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer), num_hidden_layers=1,
                                     hidden_size=64, intermediate_size=192))
    chat = [{**m, "tool_calls": [{"type": "function", "function": {"name": "calculator", "arguments": CALL}}]}
            if m["tool_calls"] else m for m in episode()]
    ids = torch.tensor([tokenizer.apply_chat_template(chat, tools=list(TOOL_SCHEMAS), return_dict=False)])
    start = len(tokenizer.apply_chat_template(chat[:1], tools=list(TOOL_SCHEMAS), add_generation_prompt=True,
                                              return_dict=False))
    labels = ids.clone()
    labels[0, :start] = -100  # the episode only: the prompt is given
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(STEPS):
        output = model(input_ids=ids, labels=labels)
        output.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    said = output.logits[0, start - 1:-1].argmax(-1)
    assert torch.equal(said, ids[0, start:]), "the tiny model did not learn its episode"
    return model


@pytest.fixture
def tokenizer():
    return with_chat_template(load_tokenizer())


def test_trl_gets_the_builtin_tools_as_the_tool_chats_show_them_and_can_call_them(tokenizer):
    chat = [{"role": "user", "content": QUESTION}]
    assert (tokenizer.apply_chat_template(chat, tools=list(TOOL_SCHEMAS), tokenize=False)
            == tokenizer.apply_chat_template(chat, tools=[tool.schema() for tool in BUILTIN_TOOLS], tokenize=False))
    calculator, lookup = TOOL_SCHEMAS
    assert (calculator.__name__, lookup.__name__) == ("calculator", "lookup")
    assert calculator(expression="2 + 3") == "5" and "Lima" in lookup(query="capital of Peru")
    assert calculator(expression="2 +").startswith("error: ") and calculator().startswith("error: ")


@pytest.mark.slow  # teaching the tiny model its episode takes 6-15 s on a 2-core CPU
def test_the_tool_task_runs_whole_episodes_in_trls_loop(tokenizer, tmp_path, monkeypatch):
    seen = []

    def recorded(completions, completion_ids, **columns):
        seen.extend(zip(completions, completion_ids, strict=True))
        return final_answer(completions, **columns)

    recorded.__name__ = "final_answer"
    task = recipe.TASKS["tools"]
    monkeypatch.setitem(recipe.TASKS, "tools", dataclasses.replace(task, rewards=(recorded, *task.rewards[1:])))
    tools = json.dumps([tool.schema() for tool in BUILTIN_TOOLS])
    records = datasets.Dataset.from_list([{"messages": episode(), "tools": tools}] * 2)
    settings = {"task": "tools", "generations": 2, "max_new_tokens": 200, "temperature": 0.3, "beta": 0.0}

    def config(cls, **stage):
        return cls(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1, learning_rate=1e-5,
                   report_to=[], logging_steps=1, save_strategy="no", use_cpu=True, **stage)

    run = SimpleNamespace(ctx=SimpleNamespace(settings=settings), records_dataset=lambda: records,
                          tokenizer=tokenizer, model=taught_model(tokenizer), config=config, callbacks=[],
                          data_stats={}, dataset=SimpleNamespace(path="episodes.jsonl"))
    trainer = recipe.build_trainer(run)
    trainer.train()

    assert trainer.state.global_step == 1 and run.data_stats == {"prompts": 2}
    assert tokenizer.eos_token == "<|endoftext|>"  # the tokenizer the stage saves is left as it was
    completion, ids = seen[0]
    assert [m["role"] for m in completion] == ["assistant", "tool", "assistant"], completion
    assert completion[1]["content"] == RESULT and completion[-1]["content"] == ANSWER
    # The result went back to the model as the chat template writes it: a newline after <|im_end|>, then the
    # <tool_response> in a user turn.
    text = tokenizer.decode(ids)
    assert f"</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{RESULT}\n</tool_response>" in text, text
    assert trainer.state.log_history[0]["rewards/final_answer/mean"] == 1.0
    assert trainer.state.log_history[0]["rewards/call_form/mean"] == 0.25


def test_trls_loop_gets_a_tokenizer_whose_eos_ends_a_turn_and_the_saved_one_is_untouched(tokenizer):
    ending = recipe.turn_ending(tokenizer)
    assert (ending.eos_token, tokenizer.eos_token) == ("<|im_end|>", "<|endoftext|>")
    assert ending.pad_token == tokenizer.pad_token and recipe.turn_ending(ending) is ending
