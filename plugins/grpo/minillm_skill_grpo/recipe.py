"""The trainer the `grpo` skill trains with: TRL's GRPOTrainer on prompts from chats, rewarded by rules.

GRPO samples a group of completions per prompt, scores each with the reward functions, and raises the
probability of the completions that beat their group's mean. No value model, no reward model, no vLLM:
it runs on a CPU.

Two tasks, from the same kind of data (an SFT dataset of chats):
- `answer`: single-turn chats whose reply is an arithmetic answer; the reward checks the stated result.
- `tools`: chats whose first reply calls a built-in tool (calculator, lookup). TRL's own multi-turn tool loop
  samples whole episodes: the model calls a tool, TRL runs it (minillm_skill_grpo.tools) and hands the result
  back, and the model answers; the reward is the answer's correctness plus a small term for well-formed calls.
  The loop reads calls with the response template every chat model here saves with its tokenizer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
from trl import GRPOConfig, GRPOTrainer

from minillm_core.api import SkillError, TrainingRun
from minillm_skill_grpo.rewards import TOOLS, answer_form, call_form, correct_result, final_answer, is_arithmetic
from minillm_skill_grpo.tools import TOOL_SCHEMAS

END_OF_TURN = "<|im_end|>"  # what ends a turn in this project's chat template (ChatML)
# Tool-calling turns run per episode, as in eval's calculator mode: the call, and one spare, before the answer.
TOOL_ROUNDS = 2


def build_trainer(run: TrainingRun) -> GRPOTrainer:
    settings = run.ctx.settings
    task = TASKS[settings["task"]]
    prompts = task.prompts(run.records_dataset())
    if len(prompts) == 0:
        raise SkillError(f"no {task.chats} chats in {run.dataset.path}: task={settings['task']} needs {task.needs}",
                         hint=task.hint)
    run.data_stats.update(prompts=len(prompts))
    args = run.config(GRPOConfig, num_generations=settings["generations"],
                      max_completion_length=settings["max_new_tokens"] or task.max_new_tokens,
                      temperature=settings["temperature"], beta=settings["beta"],
                      max_tool_calling_iterations=TOOL_ROUNDS)  # without tools, TRL runs no tool loop
    tokenizer = turn_ending(run.tokenizer) if task.tools else run.tokenizer
    return GRPOTrainer(model=run.model, reward_funcs=list(task.rewards), args=args, train_dataset=prompts,
                       processing_class=tokenizer, callbacks=run.callbacks, tools=list(task.tools) or None)


def turn_ending(tokenizer: Any) -> Any:
    """A copy of the tokenizer whose eos token is the end of a chat turn, for TRL's tool loop.

    TRL splices a tool result in after a sampled call as the template renders it, cut just after the tokenizer's
    eos token (GRPOTrainer._get_tool_suffix_ids), as for Qwen's chat tokenizers, whose eos is <|im_end|>. Ours
    keeps <|endoftext|> (the pretraining separator), which the template never writes, so the cut fell one token
    late and every episode read "<|im_end|><|im_start|>user", without the newline the model learned between
    turns. The copy leaves the tokenizer the stage saves as it was."""
    if END_OF_TURN not in tokenizer.get_vocab() or tokenizer.eos_token == END_OF_TURN:
        return tokenizer
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.eos_token = END_OF_TURN
    return tokenizer


def answer_prompts(records: datasets.Dataset) -> datasets.Dataset:
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


def episode_prompts(records: datasets.Dataset) -> datasets.Dataset:
    """The chats whose first reply calls a built-in tool: the messages before that reply (the prompt; TRL offers
    the built-in tools with it, as these chats do) and the chat's last reply, the answer the reward checks."""
    def row(record: dict) -> dict:
        messages = record["messages"]
        prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:first_reply(messages)]]
        return {"prompt": prompt, "answer": messages[-1]["content"]}

    def ends_in_an_answer(record: dict) -> bool:
        last = record["messages"][-1]
        return last["role"] == "assistant" and bool(last["content"]) and not last["tool_calls"]

    chats = records.filter(lambda r: calls_a_builtin_tool(r) and ends_in_an_answer(r))
    return chats.map(row, remove_columns=records.column_names)


@dataclass(frozen=True)
class Task:
    """What `--set task=` chooses: which chats are prompts, how completions are rewarded, how long they run."""

    prompts: Callable[[datasets.Dataset], datasets.Dataset]
    rewards: tuple[Callable[..., list[float]], ...]
    # "3 + 4 = 7." / a whole episode: call, result and answer (87 tokens at most in the tool chats, with
    # bot-start's tokenizer)
    max_new_tokens: int
    chats: str  # what the prompts are, and what a dataset without any lacks
    needs: str
    hint: str
    tools: tuple[Callable[..., str], ...] = ()  # what TRL's tool loop may call (none: no tool loop)


TASKS = {
    "answer": Task(answer_prompts, (correct_result, answer_form), 16, "arithmetic", "replies such as '3 + 4 = 7.'",
                   "use `--set dataset=embedded-sft` or a file of such conversations"),
    "tools": Task(episode_prompts, (final_answer, call_form), 96, "tool-calling",
                  "chats whose first reply calls the calculator or lookup tool and whose last reply answers",
                  "use `--set dataset=embedded-sft-reasoning` or a file of such conversations", TOOL_SCHEMAS),
}
