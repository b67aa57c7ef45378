"""Muon for the hidden weight matrices, AdamW for everything else, as one optimizer (the `optimizer=muon` setting).

Muon (Keller Jordan, 2024; used by modded-nanogpt and nanochat) orthogonalises each matrix's momentum with a few
Newton-Schulz iterations before the update. On bot-start's tiny model it brought copying a number into a tool
call forward from about 700 AdamW steps to about 400 (docs/experiments.md, "Muon"). Embeddings, the output head
and norm weights stay with AdamW, as in every Muon recipe.

Why not `torch.optim.Muon` (torch 2.13): it orthogonalises in bfloat16, one matrix at a time, and takes one kind
of parameter only. On a CPU without bfloat16 matrix instructions that made an optimizer step of the tiny model
take 5.1 s instead of 0.25 s in float32 (one after the other in one process, one thread). Here the matrices of
one shape are orthogonalised together, in float32 on a CPU and bfloat16 on a GPU, with torch's coefficients and its
AdamW-matching learning-rate scale (Moonshot's `match_rms_adamw`: 0.2 * sqrt(max(rows, columns))), so the
AdamW learning rate of a recipe serves both kinds of parameter.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.adamw import adamw
from transformers import Trainer

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # torch.optim.Muon's and Keller Jordan's quintic
NS_STEPS = 5


def orthogonalise(matrices: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """Newton-Schulz orthogonalisation of a stack of same-shape matrices (n, rows, columns)."""
    a, b, c = NS_COEFFICIENTS
    x = matrices.to(torch.bfloat16 if matrices.is_cuda else torch.float32)
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)  # spectral norm at most 1
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.mT if tall else x).to(matrices.dtype)


class MuonWithAdamW(torch.optim.Optimizer):
    """One optimizer over groups marked `muon: True` (2-D hidden matrices) or `muon: False` (the rest: AdamW).

    A single Optimizer, so the Trainer's learning-rate schedule, gradient clipping and checkpoints treat it as
    they treat AdamW."""

    def __init__(self, groups: Iterable[dict[str, Any]], lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, momentum: float = 0.95):
        defaults = dict(lr=lr, weight_decay=weight_decay, betas=betas, eps=eps, momentum=momentum, muon=False)
        super().__init__(list(groups), defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                (self._muon_step if group["muon"] else self._adamw_step)(group, params)
        return loss

    def _muon_step(self, group: dict[str, Any], params: list[nn.Parameter]) -> None:
        by_shape: dict[torch.Size, list[nn.Parameter]] = defaultdict(list)
        for p in params:
            by_shape[p.shape].append(p)
        for shape, same in by_shape.items():
            updates = torch.stack([self._nesterov_momentum(p, group["momentum"]) for p in same])
            updates = orthogonalise(updates)
            scale = group["lr"] * 0.2 * math.sqrt(max(shape))
            for p, update in zip(same, updates, strict=True):
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-scale)

    def _nesterov_momentum(self, p: nn.Parameter, momentum: float) -> torch.Tensor:
        buffer = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
        buffer.mul_(momentum).add_(p.grad)
        return p.grad.add(buffer, alpha=momentum)

    def _adamw_step(self, group: dict[str, Any], params: list[nn.Parameter]) -> None:
        """torch's own AdamW update (its functional form), on state kept as torch.optim.AdamW keeps it."""
        for p in params:
            if not self.state[p]:
                self.state[p].update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p),
                                     exp_avg_sq=torch.zeros_like(p))
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        adamw(params, [p.grad for p in params], [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
              [], [s["step"] for s in states], amsgrad=False, beta1=beta1, beta2=beta2, lr=group["lr"],
              weight_decay=group["weight_decay"], eps=group["eps"], maximize=False)


def muon_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The model's trainable parameters: 2-D matrices inside the blocks with Muon, the rest with AdamW.
    Embedding and output-head matrices are 2-D too, but lookups, not maps: AdamW (their names say which)."""
    muon, adamw = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            is_lookup = "embed" in name or "lm_head" in name
            (muon if p.ndim == 2 and not is_lookup else adamw).append(p)
    return [{"params": muon, "muon": True}, {"params": adamw, "muon": False}]


def build_muon(model: nn.Module, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8) -> MuonWithAdamW:
    """The Trainer's optimizer factory: called with the (wrapped) model when training starts."""
    return MuonWithAdamW(muon_groups(model), lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)


def use_optimizer(trainer: Trainer, name: str) -> None:
    """Have `trainer` build `name`'s optimizer when training starts (adamw: the Trainer's own). Through the
    Trainer's optimizer factory, so that it sees the model as wrapped for the launch."""
    if name == "muon":
        args = trainer.args
        trainer.optimizer_cls_and_kwargs = (lambda: build_muon, dict(
            lr=args.learning_rate, weight_decay=args.weight_decay, betas=(args.adam_beta1, args.adam_beta2),
            eps=args.adam_epsilon))
