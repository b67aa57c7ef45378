"""The trainer the `grpo` skill trains with: TRL's GRPOTrainer on prompts from chats, rewarded by rules.

GRPO samples a group of completions per prompt, scores each with the reward functions, and raises the
probability of the completions that beat their group's mean. No value model, no reward model, no vLLM:
it runs on a CPU.

Two tasks, from the same kind of data (an SFT dataset of chats):
- `answer`: single-turn chats whose reply is an arithmetic answer; the reward checks the stated result.
- `tools`: chats whose first reply calls a built-in tool (calculator, lookup); the prompt is the chat up to
  that reply with the chat's tools offered, and the reward runs the sampled call and compares what it
  returns with what the reference call returns. One turn only: TRL's own tool loop needs a response parser
  for the chat template, which it sets only for templates it knows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
from trl import GRPOConfig, GRPOTrainer

from minillm_core.api import SkillError, ToolCall, TrainingRun
from minillm_skill_grpo.rewards import (
    TOOLS,
    answer_form,
    call_result,
    correct_result,
    is_arithmetic,
    tool_form,
    tool_result,
)


def build_trainer(run: TrainingRun) -> GRPOTrainer:
    settings = run.ctx.settings
    task = TASKS[settings["task"]]
    prompts = task.prompts(run.records_dataset(), run.tokenizer)
    if len(prompts) == 0:
        raise SkillError(f"no {task.chats} chats in {run.dataset.path}: task={settings['task']} needs {task.needs}",
                         hint=task.hint)
    run.data_stats.update(prompts=len(prompts))
    args = run.config(GRPOConfig, num_generations=settings["generations"],
                      max_completion_length=settings["max_new_tokens"] or task.max_new_tokens,
                      temperature=settings["temperature"], beta=settings["beta"])
    return GRPOTrainer(model=run.model, reward_funcs=list(task.rewards), args=args, train_dataset=prompts,
                       processing_class=run.tokenizer, callbacks=run.callbacks)


def answer_prompts(records: datasets.Dataset, tokenizer: Any = None) -> datasets.Dataset:
    """The single-turn chats whose reply is an arithmetic answer: the prompt and its reference."""
    prompts = records.filter(lambda r: len(r["messages"]) == 2 and is_arithmetic(r["messages"][-1]["content"]))
    return prompts.map(lambda r: {"prompt": r["messages"][:-1], "answer": r["messages"][-1]["content"]},
                       remove_columns=records.column_names)


def first_reply(messages: list[dict]) -> int | None:
    return next((i for i, message in enumerate(messages) if message["role"] == "assistant"), None)


def calls_a_builtin_tool(record: dict) -> bool:
    index = first_reply(record["messages"])
    calls = record["messages"][index]["tool_calls"] if index is not None else None
    return bool(record["tools"] and calls and calls[0]["name"] in TOOLS)


def tool_call_prompts(records: datasets.Dataset, tokenizer) -> datasets.Dataset:
    """The chats whose first reply calls a built-in tool: the prompt as text, rendered by the chat template
    with the chat's tools offered (a text prompt, as TRL passes no per-prompt tools to the template), and
    what the reference call returns, run once here rather than for every sampled completion."""
    def row(record: dict) -> dict:
        index = first_reply(record["messages"])
        call = record["messages"][index]["tool_calls"][0]
        prompt = tokenizer.apply_chat_template(record["messages"][:index], tools=json.loads(record["tools"]),
                                               add_generation_prompt=True, tokenize=False)
        return {"prompt": prompt, "expected": call_result(ToolCall(call["name"], json.loads(call["arguments"])))}

    return records.filter(calls_a_builtin_tool).map(row, remove_columns=records.column_names)


@dataclass(frozen=True)
class Task:
    """What `--set task=` chooses: which chats are prompts, how completions are rewarded, how long they run."""

    prompts: Callable[[datasets.Dataset, Any], datasets.Dataset]
    rewards: tuple[Callable[..., list[float]], ...]
    max_new_tokens: int  # "3 + 4 = 7." / a call such as {"expression": "347 + 589"}
    chats: str  # what the prompts are, and what a dataset without any lacks
    needs: str
    hint: str


TASKS = {
    "answer": Task(answer_prompts, (correct_result, answer_form), 16, "arithmetic", "replies such as '3 + 4 = 7.'",
                   "use `--set dataset=embedded-sft` or a file of such conversations"),
    "tools": Task(tool_call_prompts, (tool_result, tool_form), 64, "tool-calling",
                  "chats whose first reply calls the calculator or lookup tool",
                  "use `--set dataset=embedded-sft-reasoning` or a file of such conversations"),
}
