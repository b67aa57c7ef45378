"""When bf16 autocast and torch.compile pay, decided from what bench/run.py measured.

Both are training options that take `auto`, `true` or `false`; `auto` turns each on only where the
benchmark showed a gain (figures in docs/performance.md).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from minillm_core.contract.skill import SkillError

log = logging.getLogger("minillm")  # the CLI shows this logger on stderr

# bf16 autocast on CPU pays only with native bf16 instructions and a model big enough to be compute-bound:
# measured 1.48x for the 26M preset on an AVX-512-BF16 CPU, and no gain for the tiny preset.
CPU_BF16_MIN_PARAMETERS = 10_000_000

# torch.compile of minimind2-small on the 2-core CPU: about 45 s of start-up, then 1.26x the tokens/s
# (bench/run.py --compile). It saves 1 - 1/1.26 = 21% of the time left, so it breaks even after about
# 220 s of uncompiled training; `auto` waits for twice that, as the time is an estimate.
COMPILE_WORTH_IT_S = 450.0
# The share of the matmul peak a training step reaches uncompiled (measured 46-51% on that CPU in bf16):
# turns a run's FLOPs into an estimated duration.
EXPECTED_MFU = 0.45


def _choice(name: str, setting: str | bool) -> str:
    choice = str(setting).lower()
    if choice not in ("auto", "true", "false"):
        raise SkillError(f"{name} must be auto, true or false, got {setting!r}")
    return choice


def use_bf16(setting: str, cuda: bool, parameters: int) -> bool:
    """`auto`: bf16 on GPUs that support it, and on CPUs with native bf16 for models of 10M parameters up."""
    choice = _choice("bf16", setting)
    if choice != "auto":
        return choice == "true"
    if cuda:
        return torch.cuda.is_bf16_supported()
    return parameters >= CPU_BF16_MIN_PARAMETERS and cpu_has_native_bf16()


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to tell, and fp32 is always correct
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def compile_requested(setting: str | bool) -> bool:
    """`true` alone: what a stage whose batch shapes vary (sft, dpo: padded to each batch's longest) uses,
    since each new shape would compile again."""
    return _choice("compile", setting) == "true"


def compile_pays_back(setting: str | bool, training_flops: float, bf16: bool) -> bool:
    """For a stage whose batches all have one shape (packed pretraining): `auto` compiles when the run is
    estimated to take longer uncompiled than COMPILE_WORTH_IT_S."""
    choice = _choice("compile", setting)
    if choice != "auto":
        return choice == "true"
    seconds = training_flops / (EXPECTED_MFU * matmul_flops_per_s(torch.bfloat16 if bf16 else torch.float32))
    log.info("compile=auto: about %.0f s of training estimated; %s", seconds,
             "compiling the model" if seconds > COMPILE_WORTH_IT_S else
             f"too short for torch.compile's start-up to pay back (needs > {COMPILE_WORTH_IT_S:.0f} s)")
    return seconds > COMPILE_WORTH_IT_S


def matmul_flops_per_s(dtype: torch.dtype, size: int | None = None, repeats: int = 3) -> float:
    """This device's best FLOP/s on a square matmul, over `repeats` after two warm-ups (thread pools,
    kernel selection). The default size, 1024 on a CPU and 4096 on a GPU (a smaller one would leave it
    underused), takes well under a second; bench/run.py measures the peak with it at larger sizes."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    size = size or (4096 if device == "cuda" else 1024)
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)

    def seconds() -> float:
        start = time.perf_counter()
        torch.mm(a, b)
        if device == "cuda":  # GPU work is asynchronous: wait for it before reading the clock
            torch.cuda.synchronize()
        return time.perf_counter() - start

    seconds(), seconds()
    return 2 * size**3 / min(seconds() for _ in range(repeats))
