"""Where one training step's time goes: torch.profiler over a step of the plain loop, ops grouped.

    python bench/profile_step.py                         # minimind2-small, batch 16, seq 256, bf16 autocast
    python bench/profile_step.py --preset tiny --fp32

Prints each group's share of the step (linear-layer matmuls, attention, elementwise and dtype casts,
optimizer, the rest) and the rate the linear matmuls reach: with them near the matmul peak, what MFU
misses is the time spent outside them (bench/README.md).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

GROUPS = {
    "linear matmuls": ("aten::mm", "aten::addmm", "aten::bmm"),
    "attention": ("aten::_scaled_dot_product_flash_attention_for_cpu",
                  "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
                  "aten::_scaled_dot_product_efficient_attention", "aten::_flash_attention_forward",
                  "aten::_flash_attention_backward", "aten::_efficient_attention_backward"),
    "optimizer": ("aten::_fused_adamw_", "aten::_foreach_add_", "aten::_foreach_mul_", "aten::_foreach_norm"),
    "elementwise and casts": ("aten::mul", "aten::copy_", "aten::add", "aten::add_", "aten::fill_", "aten::silu",
                              "aten::silu_backward", "aten::pow", "aten::div", "aten::sum", "aten::mean",
                              "aten::rsqrt", "aten::neg", "aten::cat", "aten::_log_softmax",
                              "aten::_log_softmax_backward_data", "aten::nll_loss_forward",
                              "aten::nll_loss_backward", "aten::embedding_dense_backward", "aten::index_select"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="minimind2-small")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    args = parser.parse_args()

    from minillm_core.model.presets import build_model, count_parameters, model_config, resolve_preset, vocab_size_for
    from minillm_core.model.tokenizer import load_tokenizer

    vocab = vocab_size_for(load_tokenizer(), resolve_preset(args.preset).min_vocab_size)
    model = build_model(model_config(args.preset, vocab_size=vocab))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(0, vocab, (args.batch_size, args.seq_len))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()

    step(), step()  # warm-up
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        step()
    times = {event.key: event.self_cpu_time_total for event in profiler.key_averages()}
    total = sum(times.values())
    shares = {group: sum(times.get(op, 0) for op in ops) / total for group, ops in GROUPS.items()}
    shares["other"] = 1 - sum(shares.values())

    tokens = args.batch_size * args.seq_len
    linear_flops = 6 * count_parameters(model) * tokens
    linear_seconds = shares["linear matmuls"] * seconds
    print(f"{args.preset}, batch {args.batch_size} x seq {args.seq_len}, "
          f"{'float32' if args.fp32 else 'bf16 autocast'}: {seconds:.2f} s per step, {tokens / seconds:,.0f} tokens/s")
    for group, share in shares.items():
        print(f"  {group:<24}{share:>7.1%}{share * seconds:>8.2f} s")
    print(f"linear matmuls run at {linear_flops / linear_seconds / 1e9:,.1f} GFLOP/s "
          f"(6 x parameters x tokens in their share of the step)")


if __name__ == "__main__":
    main()
