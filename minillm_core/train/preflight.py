"""The preflight of a training stage: will it fit in this device's memory, and about how long will it take.

Estimated before anything runs, from the model's shape (its config: a preset, or the config.json of the
model it starts from; the parameters are counted from the shapes, no model is built), the tokenizer's size,
the micro-batch, the sequence length, the precision, the optimizer and gradient checkpointing:

    peak = weights + gradients + optimizer states + activations (+ a reference model for dpo) + overhead

"Peak" means what bench/preflight.py measures: the rise over the process's memory after its imports (the
peak RSS on a CPU, `torch.cuda.max_memory_allocated` on a GPU). The activation figures per token are the
tensors autograd keeps for the backward pass, counted from a Llama block's shapes and checked against that
benchmark (docs/performance.md, "Will it fit"). A stage whose estimate is over the device's free memory is
refused before it starts (exit 3), with a setting that fits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

GB = 1e9
FLOAT32, BFLOAT16 = 4, 2

# Floats autograd keeps per token in one decoder block (fp32): norms' inputs and outputs, q/k/v and their
# rotated and grouped copies, the attention output and o_proj's input make about 12 x hidden; the MLP's
# gate, up, SiLU and product about 4 x intermediate. Measured: 12 KB per token per block for tiny (hidden
# 128, MLP 384), 3,072 floats. The attention scores (batch x heads x seq x seq) are not kept: the SDPA kernel
# recomputes them (no seq-squared growth measured from seq 128 to 512); eager attention keeps them.
BLOCK_HIDDEN_FLOATS, BLOCK_MLP_FLOATS = 12, 4
# Per token and vocabulary entry, the loss: log_softmax's output (kept), and in the backward pass its
# gradient and the logits' gradient, all fp32 (transformers upcasts logits for the loss).
LOGIT_FLOATS = 3
# Memory a CPU process gains beyond the tensors: the Trainer, the packed data and allocator pools (a constant),
# and the allocator's slack on the activations (rounding, and pages malloc keeps between steps). Fitted on
# bench/preflight.py (pretrain skill, tiny at batch 16 and 64, minimind2-small at 4 and 16): 60 MB and 6%.
CPU_OVERHEAD_BYTES = 60 * 2**20
CPU_ACTIVATION_SLACK = 0.06
# Bytes of optimizer state per trainable parameter, by the Trainer's `optim` name (AdamW: two fp32 moments).
OPTIMIZER_BYTES = {"adamw": 8, "adam": 8, "adafactor": 0.1, "sgd": 0, "lion": 4, "8bit": 2}
# An estimate is within about 25% of the measured peak: `auto` and the hints pick what fits with this share
# of the free memory, so the setting they name fits even where the estimate is low.
FIT_SHARE = 0.8
# Tokens/s of the pretrain skill measured by bench/run.py on this project's 2-core CPU (docs/performance.md),
# float32 and bfloat16; another preset scales by its parameters (a step's work is 6 x parameters per token).
STORED_CPU_SPEED = {"tiny": (1_100_000, 9_900.0, 9_900.0), "minimind2-small": (23_800_000, 870.0, 1_590.0)}


@dataclass(frozen=True)
class ModelShape:
    """What the estimate reads from a model config (Llama, Qwen3 and Qwen3-MoE names)."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    tied: bool = True
    experts: int = 0  # MoE: experts per block, each an MLP of expert_intermediate
    active_experts: int = 0
    expert_intermediate: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any], vocab: int | None = None) -> ModelShape:
        """From a config's keyword arguments (a preset's, or a config.json); `vocab` wins over its vocab_size."""
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        experts = int(config.get("num_experts") or 0)
        return cls(vocab=int(vocab or config["vocab_size"]), hidden=hidden, layers=int(config["num_hidden_layers"]),
                   heads=heads, kv_heads=int(config.get("num_key_value_heads") or heads),
                   head_dim=int(config.get("head_dim") or hidden // heads),
                   intermediate=int(config.get("intermediate_size") or 0),
                   tied=bool(config.get("tie_word_embeddings", True)), experts=experts,
                   active_experts=int(config.get("num_experts_per_tok") or 0) if experts else 0,
                   expert_intermediate=int(config.get("moe_intermediate_size") or 0) if experts else 0)

    @property
    def parameters(self) -> int:
        """Distinct parameters (tied embeddings count once); biases and q/k norms are left out (under 0.1%)."""
        attention = 2 * self.hidden * self.heads * self.head_dim + 2 * self.hidden * self.kv_heads * self.head_dim
        if self.experts:
            mlp = self.experts * 3 * self.hidden * self.expert_intermediate + self.hidden * self.experts
        else:
            mlp = 3 * self.hidden * self.intermediate
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return embeddings + self.layers * (attention + mlp + 2 * self.hidden) + self.hidden

    def block_floats(self) -> int:
        """Floats one decoder block keeps per token for the backward pass (see BLOCK_HIDDEN_FLOATS)."""
        mlp = self.active_experts * self.expert_intermediate if self.experts else self.intermediate
        return BLOCK_HIDDEN_FLOATS * self.hidden + BLOCK_MLP_FLOATS * mlp


@dataclass(frozen=True)
class Workload:
    """One training step's shape on one device."""

    batch: int  # sequences per device per micro-step
    seq_len: int
    bf16: bool = False  # bfloat16 autocast (weights and optimizer stay fp32)
    checkpointing: bool = False  # gradient checkpointing: a block keeps only its input
    optimizer: str = "adamw_torch"
    pairs: bool = False  # dpo: chosen and rejected in one batch, and a frozen reference model
    cuda: bool = False
    eager_attention: bool = False  # attention scores kept (attn_implementation=eager)
    lora: bool = False  # only small adapters train: no gradients or optimizer states for the weights


def estimate_memory(shape: ModelShape, work: Workload) -> dict[str, int]:
    """The estimated peak of one training step, in bytes, by part, and their `total`."""
    params = shape.parameters
    tokens = work.batch * work.seq_len * (2 if work.pairs else 1)
    trainable = 0 if work.lora else params
    parts = {"weights": FLOAT32 * params, "gradients": FLOAT32 * trainable,
             "optimizer": int(optimizer_bytes(work.optimizer) * trainable),
             "reference_model": FLOAT32 * params if work.pairs else 0,
             "activations": tokens * activation_bytes_per_token(shape, work)}
    if work.bf16:  # autocast keeps a bf16 copy of each weight during the forward pass
        parts["weights"] += BFLOAT16 * params
    tensors = sum(parts.values())
    parts["overhead"] = 0 if work.cuda else int(CPU_OVERHEAD_BYTES + CPU_ACTIVATION_SLACK * parts["activations"])
    parts["total"] = tensors + parts["overhead"]
    return parts


def activation_bytes_per_token(shape: ModelShape, work: Workload) -> int:
    """What autograd keeps per token: every block's tensors (or, checkpointed, each block's input and one
    block recomputed), the attention scores under eager attention, and the loss's vocabulary-wide tensors."""
    block = shape.block_floats() * FLOAT32
    if work.bf16:  # the residual stream and norms stay fp32 (about a third of a block), the rest is bf16
        block = block * 2 // 3
    if work.eager_attention:
        block += shape.heads * work.seq_len * (BFLOAT16 if work.bf16 else FLOAT32) * 2  # scores and their softmax
    blocks = (shape.layers * shape.hidden * FLOAT32 + block) if work.checkpointing else shape.layers * block
    logits = shape.vocab * (LOGIT_FLOATS * FLOAT32 + (BFLOAT16 if work.bf16 else 0))  # bf16: the head's own output
    return blocks + logits


def optimizer_bytes(optim: str) -> float:
    """Bytes of state per parameter for the Trainer's `optim` (adamw_torch, adamw_bnb_8bit, sgd, ...)."""
    name = str(optim).lower()
    if "8bit" in name:
        return OPTIMIZER_BYTES["8bit"]
    return next((value for key, value in OPTIMIZER_BYTES.items() if name.startswith(key)), OPTIMIZER_BYTES["adamw"])


def fits(shape: ModelShape, work: Workload, free: int, share: float = 1.0) -> bool:
    return estimate_memory(shape, work)["total"] <= free * share


def largest_batch(shape: ModelShape, work: Workload, free: int, most: int) -> int | None:
    """The largest power-of-two micro-batch, at most `most`, whose estimate fits in FIT_SHARE of `free`;
    None when not even one sequence does."""
    batch = 1 << max(int(math.log2(max(most, 1))), 0)
    while batch >= 1:
        if fits(shape, replace(work, batch=batch), free, FIT_SHARE):
            return batch
        batch //= 2
    return None


def fitting_setting(shape: ModelShape, work: Workload, free: int, grad_accum: int,
                    smaller_presets: Mapping[str, ModelShape] | None = None) -> str:
    """A setting that fits, for the refusal's hint: a smaller micro-batch with gradient accumulation raised to
    keep the sequences per optimizer step; else gradient checkpointing; else a smaller preset."""
    per_step = work.batch * grad_accum
    batch = largest_batch(shape, work, free, work.batch - 1) if work.batch > 1 else None
    if batch:
        accum = -(-per_step // batch)
        return (f"`--set batch_size={batch} --set grad_accum={accum}` ({batch * accum} sequences per optimizer "
                f"step, as now {per_step}) needs about {_gb(estimate_memory(shape, replace(work, batch=batch)))}; "
                "or `--set batch_size=auto` for the largest micro-batch that fits")
    if not work.checkpointing:
        checkpointed = replace(work, checkpointing=True)
        batch = largest_batch(shape, checkpointed, free, work.batch)
        if batch:
            accum = -(-per_step // batch)
            return (f"`--set args.gradient_checkpointing=true --set batch_size={batch} --set grad_accum={accum}` "
                    f"needs about {_gb(estimate_memory(shape, replace(checkpointed, batch=batch)))}")
    for name, smaller in (smaller_presets or {}).items():
        if smaller.parameters < shape.parameters and fits(smaller, replace(work, batch=1), free, FIT_SHARE):
            return f"`--set preset={name}`, a smaller model, with a small `batch_size`"
    return "a machine with more memory: not even one sequence of this model fits here"


def free_memory(cuda: bool) -> int:
    """Bytes free now: on the GPU (torch.cuda.mem_get_info), else the RAM available to a new allocation."""
    if cuda:
        import torch

        return int(torch.cuda.mem_get_info()[0])
    import psutil

    return int(psutil.virtual_memory().available)


def stored_tokens_per_s(preset: str, parameters: int, bf16: bool, cuda: bool) -> tuple[float | None, str]:
    """A rough tokens/s before any step has run, and where it comes from; (None, why) when nothing is stored."""
    if cuda:
        return None, "no stored figure for GPUs: the first log line gives the time left"
    if preset in STORED_CPU_SPEED:
        _, fp32, bf16_speed = STORED_CPU_SPEED[preset]
        return (bf16_speed if bf16 else fp32), f"stored figure for {preset} on a 2-core CPU, docs/performance.md"
    known, fp32, bf16_speed = STORED_CPU_SPEED["minimind2-small"]
    speed = (bf16_speed if bf16 else fp32) * known / max(parameters, 1)
    return speed, "scaled from the stored minimind2-small figure on a 2-core CPU by parameters"


def time_estimate(tokens: int | None, tokens_per_s: float | None, source: str) -> dict[str, Any]:
    """Tokens to train over a tokens/s, and where that figure comes from (measured, stored or scaled)."""
    seconds = round(tokens / tokens_per_s) if tokens and tokens_per_s else None
    return {"tokens": tokens, "tokens_per_s": round(tokens_per_s, 1) if tokens_per_s else None,
            "seconds": seconds, "source": source}


def summary(figures: Mapping[str, Any]) -> str:
    """One line: the estimated peak, the free memory, the time; for the plan, the log and `status`."""
    memory = figures["memory"]
    line = (f"about {memory['total'] / GB:.2f} GB at batch {figures['batch_size']} x {figures['seq_len']} tokens "
            f"(weights {memory['weights'] / GB:.2f}, optimizer {memory['optimizer'] / GB:.2f}, activations "
            f"{memory['activations'] / GB:.2f}), {figures['free'] / GB:.1f} GB free on the {figures['device']}")
    seconds = (figures.get("time") or {}).get("seconds")
    if seconds:
        line += f"; about {_duration(seconds)} ({figures['time']['source']})"
    return line


def _gb(parts: Mapping[str, int]) -> str:
    return f"{parts['total'] / GB:.2f} GB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def tokenizer_size(folder: Path) -> int | None:
    """Tokens in the tokenizer saved in `folder` (added ones included), read from tokenizer.json; None if absent."""
    path = Path(folder) / "tokenizer.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ids = list((data.get("model") or {}).get("vocab", {}).values()) + [t["id"] for t in data.get("added_tokens", [])]
    return max(ids) + 1 if ids else None
