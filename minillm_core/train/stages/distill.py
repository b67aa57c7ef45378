"""Distillation: a student learns to answer as a bigger teacher does, with TRL's DistillationTrainer.

On-policy (Agarwal et al., "On-Policy Distillation of Language Models"): at each step the student samples its
own reply to each prompt, and the loss is the divergence between its next-token distribution and the teacher's
at every token of that reply (`beta`: 0 forward KL, 1 reverse KL, between them a generalized Jensen-Shannon
divergence). The chats' own replies are never trained on: the teacher's distribution takes their place, so a
chat dataset gives only its prompts. MiniMind's train_distillation.py instead mixes a KL to the teacher's logits
with cross-entropy on the data's replies (off-policy); TRL's trainer has no such term.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
from trl import DistillationConfig, DistillationTrainer

from minillm_core.contract.skill import SkillError
from minillm_core.model.loading import load_model
from minillm_core.model.presets import count_parameters
from minillm_core.model.tokenizer import chat_stop_token_ids
from minillm_core.train.checks import teacher_problem
from minillm_core.train.training import TrainingRun


def build_trainer(run: TrainingRun) -> DistillationTrainer:
    settings = run.ctx.settings
    teacher = load_teacher(Path(settings["teacher"]), run)
    longest_reply = settings["max_new_tokens"]
    prompts = reply_prompts(run.records_dataset(), run.tokenizer)
    fitting = fitting_prompts(prompts, run.tokenizer, run.seq_len - longest_reply)
    _note_dropped(run, len(prompts) - len(fitting), longest_reply)
    run.data_stats.update(prompts=len(fitting), seq_len=run.seq_len, teacher=settings["teacher"],
                          teacher_parameters=count_parameters(teacher))
    # A pretrained base ends its text with <|endoftext|> only: the sampled replies must end at <|im_end|> too.
    run.model.generation_config.eos_token_id = chat_stop_token_ids(run.tokenizer)
    args = run.config(DistillationConfig, max_completion_length=longest_reply, beta=settings["beta"],
                      temperature=settings["temperature"])
    return DistillationTrainer(model=run.model, teacher_model=teacher, args=args, train_dataset=fitting,
                               processing_class=run.tokenizer, callbacks=run.callbacks)


def load_teacher(folder: Path, run: TrainingRun):
    """The teacher, frozen, after checking that it shares the student's tokenizer and vocabulary (the plan checks
    it too, but the student may have been made by an earlier stage of the same run)."""
    problem = teacher_problem(folder, run.tokenizer, run.model.config.vocab_size, "being trained")
    if problem:
        raise SkillError(problem[0], hint=problem[1])
    teacher, _ = load_model(folder, for_training=True)  # float32 on the CPU; the trainer places it
    run.ctx.log.info("teacher: %s (%s parameters)", folder, f"{count_parameters(teacher):,}")
    return teacher.eval().requires_grad_(False)


def reply_prompts(records: datasets.Dataset, tokenizer) -> datasets.Dataset:
    """One prompt per assistant reply of each chat: the chat up to that reply, rendered by the chat template with
    the chat's tools offered (text, as TRL passes no per-prompt tools to the template), ending where the reply
    starts. A tool chat gives two: the call, and the answer after the tool's result."""

    def prompts(batch: dict) -> dict:
        rendered = []
        for messages, tools in zip(batch["messages"], batch["tools"], strict=True):  # SFT_FEATURES: tools or None
            offered = json.loads(tools) if tools else None
            rendered += [tokenizer.apply_chat_template(messages[:index], tools=offered, add_generation_prompt=True,
                                                       tokenize=False)
                         for index, message in enumerate(messages) if message["role"] == "assistant" and index]
        return {"prompt": rendered}

    return records.map(prompts, batched=True, remove_columns=records.column_names, desc="prompts from the chats")


def fitting_prompts(prompts: datasets.Dataset, tokenizer, most_tokens: int) -> datasets.Dataset:
    """The prompts of at most `most_tokens` tokens: a prompt and its sampled reply must fit in max_seq_len."""
    return prompts.filter(lambda batch: [len(ids) <= most_tokens for ids in tokenizer(batch)["input_ids"]],
                          input_columns="prompt", batched=True, desc="dropping prompts too long for a reply")


def _note_dropped(run: TrainingRun, dropped: int, longest_reply: int) -> None:
    run.data_stats["dropped_prompts"] = dropped
    if dropped:
        run.ctx.log.warning("%d prompts leave no room for a reply of max_new_tokens=%d in max_seq_len=%d and are "
                            "left out; `--set max_seq_len=` more to keep them", dropped, longest_reply, run.seq_len)
