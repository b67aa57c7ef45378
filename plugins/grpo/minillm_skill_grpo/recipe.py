"""The trainer the `grpo` skill trains with: TRL's GRPOTrainer on arithmetic prompts, rewarded by rules.

GRPO samples a group of completions per prompt, scores each with the reward functions, and raises the
probability of the completions that beat their group's mean. No value model, no reward model, no vLLM:
it runs on a CPU.
"""

from __future__ import annotations

from trl import GRPOConfig, GRPOTrainer

from minillm_core.api import SkillError, TrainingRun
from minillm_skill_grpo.rewards import answer_form, correct_result, is_arithmetic


def build_trainer(run: TrainingRun) -> GRPOTrainer:
    settings = run.ctx.settings
    records = run.records_dataset()
    # Keep the single-turn chats whose reply is an arithmetic answer: the prompt and its reference.
    prompts = records.filter(lambda r: len(r["messages"]) == 2 and is_arithmetic(r["messages"][-1]["content"]))
    if len(prompts) == 0:
        raise SkillError(f"no arithmetic chats in {run.dataset.path}: grpo needs replies such as '3 + 4 = 7.'",
                         hint="use `--set dataset=embedded-sft` or a file of such conversations")
    prompts = prompts.map(lambda r: {"prompt": r["messages"][:-1], "answer": r["messages"][-1]["content"]},
                          remove_columns=records.column_names)
    run.data_stats.update(prompts=len(prompts))
    args = run.config(GRPOConfig, num_generations=settings["generations"],
                      max_completion_length=settings["max_new_tokens"], temperature=settings["temperature"],
                      beta=settings["beta"])
    return GRPOTrainer(model=run.model, reward_funcs=[correct_result, answer_form], args=args,
                       train_dataset=prompts, processing_class=run.tokenizer, callbacks=run.callbacks)
