"""How likely a model finds held-out text: perplexity of documents, of chat replies, and of preference pairs.

    perplexity(model, tokenizer, texts)                 # documents joined as in pretraining, in windows
    chat_perplexity(model, tokenizer, replies)          # only each reply's tokens, given its conversation
    preference_figures(pairs of reply_logprobs)         # chosen over rejected, per token

Diagnostics beside the answer accuracy: a likelihood can improve while the answers get worse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from minillm_core.contract.skill import SkillError
from minillm_core.util.cpu_threads import follow_load

BATCH_SIZE = 32

# Tokens per perplexity window: the shortest sequence length a preset trains on (tiny's 128), so no model
# is scored at positions it never saw in training. The held-out documents are shorter (at most 120 tokens).
PERPLEXITY_WINDOW = 128


@dataclass
class Reply:
    """An assistant reply and the conversation before it."""

    prompt: list[dict]  # messages, ending with a user turn
    text: str


@torch.no_grad()
def perplexity(model, tokenizer, texts: list[str], window: int = PERPLEXITY_WINDOW,
               batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Token-weighted perplexity of `texts` over non-overlapping windows of their token stream.

    The documents are joined as in pretraining (each followed by the eos token), cut into windows of
    `window` tokens, and every token but a window's first is predicted: exp(total loss / tokens predicted).
    """
    window = min(window, getattr(model.config, "max_position_embeddings", None) or window)
    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    stream = [token for text in texts for token in tokenizer(text, add_special_tokens=False)["input_ids"] + end]
    windows = [stream[i:i + window] for i in range(0, len(stream), window)]
    windows = [chunk for chunk in windows if len(chunk) > 1]
    scored = _scored_logprobs(model, [(chunk, len(chunk) - 1) for chunk in windows], tokenizer.pad_token_id,
                              batch_size)
    total, predicted = -sum(logprob for logprob, _ in scored), sum(count for _, count in scored)
    return {"perplexity": math.exp(total / predicted) if predicted else None, "perplexity_tokens": predicted,
            "perplexity_window": window}


def preference_figures(pairs: list[tuple[tuple[float, int], tuple[float, int]]]) -> dict[str, Any]:
    """From ((chosen log-probability, tokens), (rejected log-probability, tokens)) per pair: accuracy and
    margin per token (length-normalised, the headline), and the summed margin (a diagnostic)."""
    if not pairs:
        return {"preference_acc_per_token": None, "preference_margin_per_token": None}
    per_token = [chosen[0] / max(chosen[1], 1) - rejected[0] / max(rejected[1], 1) for chosen, rejected in pairs]
    return {"preference_acc_per_token": sum(margin > 0 for margin in per_token) / len(pairs),
            "preference_margin_per_token": sum(per_token) / len(pairs),
            "preference_margin": sum(chosen[0] - rejected[0] for chosen, rejected in pairs) / len(pairs)}


def chat_perplexity(model, tokenizer, replies: list[Reply]) -> dict[str, Any]:
    """exp(mean negative log-likelihood per reply token) of `replies`, and how many tokens that covers."""
    scored = reply_logprobs(model, tokenizer, replies)
    tokens = sum(count for _, count in scored)
    return {"chat_perplexity": math.exp(-sum(total for total, _ in scored) / tokens) if tokens else None,
            "chat_perplexity_tokens": tokens}


@torch.no_grad()
def reply_logprobs(model, tokenizer, replies: list[Reply], batch_size: int = BATCH_SIZE) -> list[tuple[float, int]]:
    """For each reply: (summed log-probability of its tokens given the conversation before it, token count).

    The reply's tokens are what the chat template adds after the generation prompt: the text and the
    end-of-turn marker. Prompt and reply are tokenized apart, as TRL's trainers do. A sequence longer than
    the model's context keeps its last tokens.
    """
    limit = getattr(model.config, "max_position_embeddings", None)
    sequences = [_reply_tokens(tokenizer, reply, limit) for reply in replies]
    return _scored_logprobs(model, sequences, tokenizer.pad_token_id, batch_size)


@torch.no_grad()
def _scored_logprobs(model, sequences: list[tuple[list[int], int]], pad_id: int | None,
                     batch_size: int) -> list[tuple[float, int]]:
    """For each (token ids, n): the summed log-probability of its last n tokens, each given those before it."""
    results = []
    for first in range(0, len(sequences), batch_size):
        follow_load()
        batch = sequences[first:first + batch_size]
        # Right padding, out of sight of every real token under causal attention; padded targets are -100.
        ids = torch.full((len(batch), max(len(seq) for seq, _ in batch)), pad_id or 0, dtype=torch.long)
        targets = torch.full_like(ids, -100)  # targets[:, i] is the token after position i, where it is scored
        for row, (seq, scored) in enumerate(batch):
            ids[row, :len(seq)] = torch.tensor(seq)
            targets[row, len(seq) - 1 - scored:len(seq) - 1] = torch.tensor(seq[len(seq) - scored:])
        logprobs = model(input_ids=ids.to(model.device)).logits.float().log_softmax(-1)
        targets = targets.to(model.device)
        picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (targets != -100)
        results += [(float(picked[row].sum()), scored) for row, (_, scored) in enumerate(batch)]
    return results


def _reply_tokens(tokenizer, reply: Reply, limit: int | None) -> tuple[list[int], int]:
    """(prompt and reply token ids, how many at the end are the reply's)."""
    prompt = tokenizer.apply_chat_template(reply.prompt, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(reply.prompt + [{"role": "assistant", "content": reply.text}],
                                         tokenize=False)
    if not full.startswith(prompt):
        raise SkillError("the chat template does not render a conversation as its generation prompt plus the reply",
                         hint="evaluate a model whose chat template extends the prompt (ChatML does)")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    seq = (prompt_ids + reply_ids)[-limit:] if limit else prompt_ids + reply_ids
    return seq, min(len(reply_ids), len(seq) - 1)
