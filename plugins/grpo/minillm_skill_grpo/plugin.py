"""The plugin's entry point (group `minillm_skill`): it adds the `grpo` skill, built on minillm's public API.

TrainingMethod gives the skill minillm's shared training path: the common options, the dataset check,
crash-safe checkpoints and resume, logs/grpo.jsonl, the progress bar and the stage report.
"""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, TrainingMethod, hookimpl, training_options

METHOD = TrainingMethod(kind="sft", trainer="minillm_skill_grpo.recipe:build_trainer", default_init="out/sft",
                        tracked={"reward": "reward", "rewards/correct_result/mean": "correct_rate",
                                 "rewards/final_answer/mean": "answer_rate", "tools/call_frequency": "call_rate"},
                        config="trl:GRPOConfig")
# Defaults sized for the tiny preset on a CPU (about 30 s), chosen by measurement: at lr 1e-3 the reward
# rose faster but every answer collapsed to one sum; at 1e-4 it barely moved. The embedded SFT set's
# arithmetic chats are the prompts; their replies hold the reference results the reward checks against.
OPTIONS = training_options(dataset="embedded-sft", lr=3e-4, max_steps=150, batch_size=16, log_steps=10,
                           warmup_ratio=0.0)
OPTIONS["generations"] = Option("generations", int, 8, "completions sampled per prompt (the GRPO group)")
OPTIONS["task"] = Option("task", str, "answer", "what is rewarded: answer (the result an arithmetic reply "
                         "states) or tools (whole tool episodes: the answer after the tool's result, and the calls)",
                         valid=lambda value: None if value in ("answer", "tools") else "must be answer or tools")
OPTIONS["max_new_tokens"] = Option("max_new_tokens", int, None, "longest completion sampled (default: 16 for "
                                   "task=answer; 96 for task=tools, the whole episode, tool results included)")
OPTIONS["temperature"] = Option("temperature", float, 0.8, "sampling temperature of the completions")
OPTIONS["beta"] = Option("beta", float, 0.0, "KL penalty against the starting model (0: none, TRL's default)")


@hookimpl
def register_skills(register):
    register(METHOD.skill(Path(__file__).parent / "grpo", OPTIONS))
