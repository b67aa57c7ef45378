"""Greedy answers to a fixed list of prompts, so a person can see the model learn.

Used before, during and after training, by eval, and by chat. The default prompts match what the
embedded dataset teaches: identity, arithmetic and facts, in English and Chinese.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from minillm_core.model.tokenizer import CHAT_TEMPLATE, chat_stop_token_ids

DEFAULT_PROMPTS = {
    "completion": ["The capital of France is", "3 + 4 =", "MiniLLM is", "法国的首都是", "3加4等于"],
    "chat": ["Who are you?", "你是谁？", "What is 3 + 4?", "What is the capital of France?", "法国的首都是哪里？"],
}


def stop_token_ids(tokenizer, style: str) -> list[int]:
    """The tokens that end an answer: the end of the chat turn, or of the document for a base model."""
    return chat_stop_token_ids(tokenizer) if style == "chat" else [tokenizer.eos_token_id]


def prompt_text(tokenizer, prompt: str, style: str) -> str:
    """The text the model sees: the raw prompt, or a user turn wrapped by the chat template (ours, for a base
    model asked in chat style, e.g. the start model of sft's answer check)."""
    if style == "chat":
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             tokenize=False, chat_template=tokenizer.chat_template or CHAT_TEMPLATE)
    return prompt


@contextmanager
def evaluating(model) -> Iterator[None]:
    """The model in eval mode (no dropout) inside the block, back in training mode after it if it was."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


@torch.no_grad()
def greedy_answers(model, tokenizer, prompts: list[str], style: str, max_new_tokens: int = 40) -> list[str]:
    """One greedy answer per prompt (decoded without special tokens)."""
    stop = stop_token_ids(tokenizer, style)
    answers = []
    with evaluating(model):
        for prompt in prompts:
            inputs = tokenizer(prompt_text(tokenizer, prompt, style), return_tensors="pt",
                               add_special_tokens=False).to(model.device)
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop,
                                    pad_token_id=tokenizer.pad_token_id)
            answers.append(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:],
                                            skip_special_tokens=True).strip())
    return answers
