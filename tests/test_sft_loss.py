"""sft's reasoning weight: tokens of a <think> block (tags included) count `weight` times in the mean loss."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from minillm_core.model.tokenizer import load_tokenizer
from minillm_core.train.stages.sft import reasoning_weighted_loss


def test_think_tokens_count_weight_times_and_ignored_tokens_not_at_all():
    tokenizer = load_tokenizer()
    think, end = tokenizer.convert_tokens_to_ids("<think>"), tokenizer.convert_tokens_to_ids("</think>")
    vocab = len(tokenizer)
    # Targets (labels shifted by one): prompt (ignored), <think> a </think> b c, end of a chat, ignored padding.
    labels = torch.tensor([[-100, -100, think, 20, end, 21, 22, -100]])
    logits = torch.full((1, 8, vocab), -1e4)
    for position, target in enumerate(labels[0, 1:].tolist()):  # position i predicts the label at i + 1
        if target != -100:
            logits[0, position, target] = logits[0, position, 30] = 0.0  # a rival token: p = 1/2, cost ln 2
    logits[0, 2, 30] = 1e4  # ...except "a" inside the thinking, predicted wrong: cost 1e4
    outputs = SimpleNamespace(logits=logits)
    plain = reasoning_weighted_loss(tokenizer, 1.0)(outputs, labels)
    weighted = reasoning_weighted_loss(tokenizer, 5.0)(outputs, labels)
    # 5 learned targets: <think> a </think> inside (weight w), b c outside; "a" costs 1e4, the rest ln 2.
    assert math.isclose(plain.item(), (1e4 + 4 * math.log(2)) / 5, rel_tol=1e-4)
    assert math.isclose(weighted.item(), (5 * 1e4 + 5 * 2 * math.log(2) + 2 * math.log(2)) / 17, rel_tol=1e-4)
