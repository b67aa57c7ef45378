#!/usr/bin/env python
"""Benchmark: matmul peak, training throughput (plain PyTorch loop vs the pretrain skill), data preparation.

    python bench/run.py                 # the default run (see bench/README.md for what each figure means)
    python bench/run.py --quick --json  # a smoke run; stdout is one JSON document, progress goes to stderr

Every training run and every data-preparation run happens in a fresh child process, so its peak memory
belongs to it alone and not to whatever ran before it in the same process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

import psutil  # noqa: E402
import torch  # noqa: E402
from machine import cpu_model_name  # noqa: E402  (bench/machine.py)

from minillm_core.util.cpu_threads import LoadReader, usable_cores  # noqa: E402

MB = 2**20
WARMUP_STEPS = 2  # steps run before timing starts: allocator, autotuning and first-call costs land here


# --- device and peak -------------------------------------------------------------------------------------


def describe_device() -> dict[str, Any]:
    """What the figures were measured on."""
    if torch.cuda.is_available():
        return {"kind": "cuda", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(),
                "torch": torch.__version__}
    return {"kind": "cpu", "name": cpu_model_name(), "cores": os.cpu_count() or 1,
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "bf16_support": _cpu_bf16_support()}


def _cpu_bf16_support() -> str:
    """Which native bf16 instructions the CPU has: AMX tiles (Intel Sapphire Rapids on), AVX-512-BF16, or none."""
    try:
        flags = set(next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):  # not Linux
        return "unknown"
    found = [name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX-512-BF16")) if flag in flags]
    return ", ".join(found) or "none"


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def synchronize() -> None:
    """GPU work is asynchronous: wait for it before reading a clock."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def matmul_peak_gflops(dtype: torch.dtype, size: int, repeats: int) -> float:
    """Best GFLOP/s of a square size x size matmul: the ceiling MFU is measured against."""
    from minillm_core.train.speedups import matmul_flops_per_s

    return matmul_flops_per_s(dtype, size, repeats) / 1e9


# --- memory ----------------------------------------------------------------------------------------------


def _proc_status_kb(field: str, pid: int | str = "self") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):  # not Linux, or the process just ended
        pass
    return None


def start_peak_memory(cuda: bool) -> int:
    """Reset the peak counter where the system allows it; return the memory in use now (bytes)."""
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    try:  # Linux: writing 5 resets VmHWM (the peak RSS) to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return psutil.Process().memory_info().rss


def peak_memory_mb(start: int, cuda: bool) -> float:
    """Peak memory since start_peak_memory(), above what was in use then: CUDA allocations on a GPU,
    resident set size (VmHWM, else getrusage's ru_maxrss) on a CPU."""
    if cuda:
        return (torch.cuda.max_memory_allocated() - start) / MB
    peak_kb = _proc_status_kb("VmHWM")
    if peak_kb is None:
        import resource

        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux (bytes on macOS)
    return (peak_kb * 1024 - start) / MB


class TreeMemorySampler:
    """Peak memory of this process and every process it starts, sampled every 20 ms (a shorter spike can
    be missed), above what it was when the sampler started.

    datasets' map runs in forked workers (even with num_proc=1: a pool of one plus a manager), so the
    parent's own RSS misses the work, and summing RSS would count each page a fork shares several times.
    PSS divides a shared page among its sharers, so the sum is the memory really used. `anon` leaves out
    the pages of memory-mapped files (the Arrow cache), which the kernel can drop when memory is short."""

    def __init__(self) -> None:
        self.start = self.peak = self._now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _now() -> tuple[int, int]:
        me = psutil.Process()
        total = anon = 0
        for process in [me, *me.children(recursive=True)]:
            pss, pss_anon = _pss(process)
            total, anon = total + pss, anon + pss_anon
        return total, anon

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            now = self._now()
            self.peak = (max(self.peak[0], now[0]), max(self.peak[1], now[1]))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {"peak_pss_mb": (self.peak[0] - self.start[0]) / MB, "peak_anon_mb": (self.peak[1] - self.start[1]) / MB}


def _pss(process: psutil.Process) -> tuple[int, int]:
    """(PSS, anonymous PSS) in bytes; RSS for both where /proc/PID/smaps_rollup is missing (not Linux)."""
    fields = {}
    try:
        for line in Path(f"/proc/{process.pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        try:
            rss = process.memory_info().rss
        except psutil.Error:  # it just ended
            return 0, 0
        return rss, rss
    return fields.get("Pss", 0), fields.get("Pss_Anon", fields.get("Anonymous", 0))


class ContentionLog:
    """Notes each measurement during which other processes used a noticeable share of the CPU: on a shared
    machine they slow every figure, CPU training most (its threads wait on each other)."""

    threshold = 0.10  # share of all cores' time...
    min_seconds = 0.5  # ...and CPU seconds: a short blip hardly moves a best-of-N or a many-step average

    def __init__(self) -> None:
        self.warnings: list[str] = []

    @contextlib.contextmanager
    def watch(self, what: str) -> Iterator[None]:
        start, reader = time.monotonic(), LoadReader()  # the thread policy's reading: others' CPU, in cores
        yield
        busy_cores = reader.others_busy_cores()
        others = busy_cores * (time.monotonic() - start)
        share = busy_cores / (os.cpu_count() or 1)
        if share > self.threshold and others > self.min_seconds:
            self.warnings.append(f"{what}: other processes used {share:.0%} of the CPU meanwhile; "
                                 "its figures may be low")
            log(f"warning: {self.warnings[-1]}")


# --- child processes -------------------------------------------------------------------------------------


def run_in_child(function: Callable[..., dict], *args: Any) -> dict:
    """Run function(*args) in a fresh spawned process and return its result (a dict)."""
    context = multiprocessing.get_context("spawn")  # fork would share the parent's memory and CUDA state
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(send, function, args))
    child.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:  # it died without a word: killed, out of memory, or a crash in native code
        child.join()
        outcome = {"error": f"the child process died (exit code {child.exitcode})"}
    child.join()
    if "error" in outcome:
        raise RuntimeError(f"{function.__name__} failed in its child process:\n{outcome['error']}")
    return outcome["result"]


def _child_main(send: Any, function: Callable[..., dict], args: tuple) -> None:
    os.dup2(2, 1)  # stdout belongs to the parent's report; whatever a library prints goes to stderr
    sys.stdout = sys.stderr
    try:
        send.send({"result": function(*args)})
    except BaseException:
        send.send({"error": traceback.format_exc()})
    finally:
        send.close()


# --- training --------------------------------------------------------------------------------------------


def baseline_training(preset: str, seq_len: int, batch_size: int, steps: int, warmup: int) -> dict:
    """A plain PyTorch loop, what MiniMind's own trainer amounts to: float32, no compile, AdamW,
    full-length sequences of random tokens, gradient clipping, no data loader."""
    from minillm_core.model.presets import build_model, count_parameters, model_config, resolve_preset, vocab_size_for
    from minillm_core.model.tokenizer import load_tokenizer

    torch.manual_seed(0)
    # The same embedding size the skill builds for this preset with the shipped tokenizer.
    vocab = vocab_size_for(load_tokenizer(), resolve_preset(preset).min_vocab_size)
    memory = start_peak_memory(torch.cuda.is_available())
    model = build_model(model_config(preset, vocab_size=vocab)).to(device()).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.0)
    batches = torch.randint(0, vocab, (warmup + steps, batch_size, seq_len), device=device())
    for step, ids in enumerate(batches):
        if step == warmup:
            synchronize()
            start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize()
    seconds = time.perf_counter() - start
    return {"tokens_per_s": steps * batch_size * seq_len / seconds, "timed_steps": steps, "seconds": seconds,
            "bf16": False, "parameters": count_parameters(model),
            "peak_memory_mb": peak_memory_mb(memory, torch.cuda.is_available())}


def skill_training(preset: str, seq_len: int, batch_size: int, steps: int, warmup: int, data: str,
                   workdir: str, compile: bool = False, stage: str = "pretrain", sets: tuple[str, ...] = ()) -> dict:
    """A training skill's own path (minillm_core.train.training.train via the skill's run function), with the
    settings `--set` would give it. Throughput comes from logs/<stage>.jsonl, past the first log interval."""
    from minillm_core.contract.outputs import run_name
    from minillm_core.plugins.host import PluginHost
    from minillm_core.runner.plan import make_plan
    from minillm_core.train.speedups import use_bf16

    # log_steps = warmup: the first logged interval holds the start-up (sample answers before training,
    # first steps), every later one `warmup` steady steps. save_steps is past the end: no checkpoint, no
    # mid-run sample answers inside the timed window.
    sets = [f"dataset={data}", f"preset={preset}", f"max_steps={warmup + steps}", f"batch_size={batch_size}",
            f"max_seq_len={seq_len}", f"log_steps={warmup}", f"save_steps={10**9}", f"compile={str(compile).lower()}",
            *sets]
    plan = make_plan(PluginHost(load_entry_points=False), stage, Path(workdir), sets=sets, cwd=Path(workdir))
    planned = plan.stages[0]
    if not plan.ready:
        raise RuntimeError(f"{stage} preconditions do not hold: {[c.to_dict() for c in planned.checks]}")
    import minillm_core.train.training  # noqa: F401 - its libraries (~250 MB) count in the start, not in the peak

    memory = start_peak_memory(torch.cuda.is_available())
    result = planned.skill.run(planned.context)
    peak = peak_memory_mb(memory, torch.cuda.is_available())
    name = run_name(stage, Path(workdir) / result.metrics["model"]["path"], Path(workdir))
    rates = [json.loads(line)["tokens_per_s"] for line in (Path(workdir) / f"logs/{name}.jsonl").open()][1:]
    # Every later interval holds the same number of steps; the rate over them all is their harmonic mean
    # (exact where the steps hold the same number of tokens, as packed pretraining's do).
    steady = len(rates) / sum(1 / rate for rate in rates)
    parameters = result.metrics["parameters"]
    return {"tokens_per_s": steady, "timed_steps": len(rates) * warmup,
            "stage_tokens_per_s": result.metrics["tokens_per_s"],  # the stage's own figure, start-up included
            "bf16": use_bf16(planned.context.settings["bf16"], torch.cuda.is_available(), parameters),
            "parameters": parameters, "peak_memory_mb": peak, "lowest_threads": result.metrics["threads"]["lowest"]}


def with_mfu(run: dict, peaks: dict[str, float]) -> dict:
    """Model FLOPs utilization: 6 x parameters x tokens/s (forward + backward of a dense model, attention
    scores left out) over the measured matmul peak of the precision the run computed in."""
    dtype = "bfloat16" if run["bf16"] else "float32"
    return {**run, "peak_dtype": dtype, "mfu": 6 * run["parameters"] * run["tokens_per_s"] / (peaks[dtype] * 1e9)}


def training_comparison(preset: str, args: argparse.Namespace, peaks: dict[str, float], scratch: Path,
                        contention: ContentionLog) -> dict:
    """Baseline and skill path for one preset, each in its own process."""
    tokens_needed = (WARMUP_STEPS + args.steps) * args.batch_size * args.seq_len
    # About 3.5 bytes of this text per token; twice that, so no batch repeats.
    data = write_pretrain_jsonl(scratch / f"train-{preset}.jsonl", max(1, 8 * tokens_needed // MB + 1))
    log(f"training {preset}: baseline (plain PyTorch loop)")
    with contention.watch(f"{preset} baseline"):
        baseline = run_in_child(baseline_training, preset, args.seq_len, args.batch_size, args.steps, WARMUP_STEPS)
    log(f"training {preset}: pretrain skill")
    with contention.watch(f"{preset} skill"):
        skill = run_in_child(skill_training, preset, args.seq_len, args.batch_size, args.steps, WARMUP_STEPS,
                             str(data), str(scratch / f"work-{preset}"))
    row = {"preset": preset, "parameters": baseline["parameters"], "baseline": with_mfu(baseline, peaks),
           "skill": with_mfu(skill, peaks), "skill_vs_baseline": skill["tokens_per_s"] / baseline["tokens_per_s"]}
    if args.compile:  # the skill with `--set compile=true`: its compile time falls in the untimed first interval
        log(f"training {preset}: pretrain skill, compiled")
        with contention.watch(f"{preset} compiled"):
            compiled = run_in_child(skill_training, preset, args.seq_len, args.batch_size, args.steps, WARMUP_STEPS,
                                    str(data), str(scratch / f"work-{preset}-compiled"), True)
        row["compiled"] = with_mfu(compiled, peaks)
        row["compiled_vs_baseline"] = compiled["tokens_per_s"] / baseline["tokens_per_s"]
    return row


# --- a busy machine -------------------------------------------------------------------------------------

BUSY_LOG_STEPS = 5  # the busy runs' log interval: the first holds the start-up and is left out


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """`count` CPU-bound processes running beside the measurement: a laptop with other work, a CI runner, an
    agent that runs two commands at once."""
    # Each spinner ends when this process does, even when killed before `finally` runs (a timed-out test).
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]
    try:
        time.sleep(0.5)  # already busy when the measurement starts
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def busy_comparison(preset: str, args: argparse.Namespace, scratch: Path) -> list[dict]:
    """The pretrain and sft skills alone and beside CPU-bound processes, with each thread policy: `auto` (the
    default: fewer threads while others keep cores busy) and the core count fixed (the old default)."""
    workdir, rows = scratch / f"busy-{preset}", []
    data = write_pretrain_jsonl(scratch / f"busy-{preset}.jsonl", 4)
    if "sft" in args.busy_stages:  # a start model for sft: a short pretrain, untimed
        run_in_child(skill_training, preset, args.seq_len, args.batch_size, 2, 2, str(data), str(workdir))
    for stage in args.busy_stages:
        for threads in args.thread_policies:
            runs = {load: busy_run(preset, stage, threads, load, args, data, workdir) for load in args.loads}
            alone = runs[args.loads[0]]["tokens_per_s"]
            rows.append({"preset": preset, "stage": stage, "threads": threads,
                         "tokens_per_s": {str(load): run["tokens_per_s"] for load, run in runs.items()},
                         "vs_alone": {str(load): run["tokens_per_s"] / alone for load, run in runs.items()},
                         "lowest_threads": {str(load): run["lowest_threads"] for load, run in runs.items()}})
    return rows


def busy_run(preset: str, stage: str, threads: str, load: int, args: argparse.Namespace, data: Path,
             workdir: Path) -> dict:
    log(f"busy machine: {preset} {stage}, threads={threads}, beside {load} CPU-bound processes")
    sets = (f"threads={threads}", f"output=out/{stage}-{threads}-{load}", "answer_check=false")
    if stage == "sft":  # on the shipped chats, from the model the first pretrain run made
        sets += (f"init={workdir / 'out' / 'pretrain'}",)
    with busy_processes(load):
        return run_in_child(skill_training, preset, args.seq_len, args.batch_size, args.busy_steps, BUSY_LOG_STEPS,
                            str(data) if stage == "pretrain" else "embedded-sft", str(workdir), False, stage, sets)


# --- data preparation ------------------------------------------------------------------------------------


def write_pretrain_jsonl(path: Path, megabytes: float) -> Path:
    """A pretraining JSONL file of about `megabytes`: the shipped corpus's documents in random order."""
    from minillm_core.util.resources import dataset_dir

    lines = (dataset_dir() / "embedded" / "pretrain.jsonl").read_bytes().splitlines(keepends=True)
    rng, target, written = random.Random(0), int(megabytes * MB), 0
    with path.open("wb") as out:
        while written < target:
            chunk = b"".join(rng.choices(lines, k=min(2000, max(1, (target - written) // 150))))
            out.write(chunk)
            written += len(chunk)
    return path


def data_preparation(path: str, seq_len: int, cache_dir: str) -> dict:
    """The project's tokenize-and-pack path (build_pretrain_dataset, shipped tokenizer) from a cold cache."""
    from minillm_core.data.formats import RecordReader
    from minillm_core.data.packing import build_pretrain_dataset
    from minillm_core.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer()
    memory = TreeMemorySampler()
    start = time.perf_counter()
    packed = build_pretrain_dataset(RecordReader(Path(path), "pretrain"), tokenizer, seq_len, Path(cache_dir))
    seconds = time.perf_counter() - start
    megabytes = Path(path).stat().st_size / MB
    return {"file_mb": megabytes, "seconds": seconds, "mb_per_s": megabytes / seconds,
            "documents": packed.stats.documents, "tokens": packed.stats.tokens, "blocks": packed.stats.blocks,
            **memory.stop()}


def data_preparation_runs(megabytes: float, seq_len: int, scratch: Path, contention: ContentionLog) -> list[dict]:
    """The full size and a quarter of it: does peak memory grow with the file?"""
    runs = []
    for size in (megabytes / 4, megabytes):
        path = write_pretrain_jsonl(scratch / f"data-{size:g}mb.jsonl", size)
        log(f"data preparation: {path.stat().st_size / MB:.1f} MB")
        with contention.watch(f"data preparation {size:g} MB"):
            runs.append(run_in_child(data_preparation, str(path), seq_len, str(scratch / f"cache-{size:g}mb")))
        path.unlink()
    return runs


def tokenizer_speeds(megabytes: float) -> dict:
    """MB/s of tokenizing alone, on one core: where data preparation's time goes, and its ceiling here."""
    os.environ["RAYON_NUM_THREADS"] = "1"  # the tokenizers library's thread pool: one core, as a worker gets
    from minillm_core.data.piece_cache import PieceCacheEncoder
    from minillm_core.model.tokenizer import load_tokenizer
    from minillm_core.util.resources import dataset_dir

    documents = [json.loads(line)["text"] for line in (dataset_dir() / "embedded" / "pretrain.jsonl").open()]
    random.Random(0).shuffle(documents)
    size = sum(len(text.encode()) for text in documents)
    texts = documents * max(1, round(megabytes * MB / size))
    text_mb = size * (len(texts) // len(documents)) / MB
    tokenizer = load_tokenizer()
    encoder = PieceCacheEncoder.for_tokenizer(tokenizer)

    def rate(work: Callable[[], object]) -> float:
        start = time.perf_counter()
        work()
        return text_mb / (time.perf_counter() - start)

    return {"text_mb": text_mb,
            "library": rate(lambda: tokenizer(texts, add_special_tokens=False)),
            "piece_cache": rate(lambda: [encoder.encode(text) for text in texts]),
            "split_only": rate(lambda: [encoder._pieces.findall(text) for text in texts])}


# --- report ----------------------------------------------------------------------------------------------


def format_report(report: dict) -> str:
    dev, peaks = report["device"], report["peak_gflops"]
    where = (f"{dev['name']} ({dev['cores']} cores, {dev['torch_threads']} torch threads, native bf16: "
             f"{dev['bf16_support']})" if dev["kind"] == "cpu"
             else f"{dev['name']} (CUDA)")
    settings = report["settings"]
    lines = [f"Device: {where}, torch {dev['torch']}",
             f"Matmul peak: float32 {peaks['float32']:.1f} GFLOP/s, bfloat16 {peaks['bfloat16']:.1f} GFLOP/s "
             f"({settings['matmul_size']}x{settings['matmul_size']}, best of {settings['matmul_repeats']})"]
    if report["training"]:
        lines += ["", *_training_lines(report)]
    if report["busy_machine"]:
        lines += ["", *_busy_lines(report)]
    lines += ["", *_data_lines(report)]
    lines += [f"WARNING: {warning}" for warning in report["warnings"]]
    return "\n".join(lines)


def _training_lines(report: dict) -> list[str]:
    settings, kind = report["settings"], report["device"]["kind"]
    lines = ["Training (MFU: 6 x parameters x tokens/s over the matmul peak of the precision the run computed in)",
             f"Seq len {settings['seq_len']}, batch {settings['batch_size']}, {settings['steps']} timed "
             f"steps after {WARMUP_STEPS} warm-up steps",
             f"{'preset':<16}{'path':<10}{'params':>8}{'tokens/s':>11}{'MFU':>8}{'precision':>11}{'peak mem':>11}"
             f"{'vs baseline':>13}"]
    for row in report["training"]:
        for path in [path for path in ("baseline", "skill", "compiled") if path in row]:
            run = row[path]
            ratio = f"{row[f'{path}_vs_baseline']:.2f}x" if path != "baseline" else ""
            lines.append(f"{row['preset']:<16}{path:<10}{row['parameters'] / 1e6:>7.1f}M{run['tokens_per_s']:>11,.0f}"
                         f"{run['mfu']:>8.1%}{run['peak_dtype']:>11}{run['peak_memory_mb']:>8,.0f} MB{ratio:>13}")
    memory = "CUDA max allocated" if kind == "cuda" else "peak RSS above the process's start"
    lines.append("(skill tokens/s: past its first log interval; the stage's own figure incl. start-up: "
                 + ", ".join(f"{r['preset']} {r['skill']['stage_tokens_per_s']:,.0f}" for r in report["training"])
                 + f"; peak mem: {memory})")
    return lines


def _busy_lines(report: dict) -> list[str]:
    settings = report["settings"]
    loads = list(report["busy_machine"][0]["tokens_per_s"])
    lines = ["Busy machine: the skill's tokens/s alone and beside N CPU-bound processes (`python -c 'while True: "
             "pass'`), and its share of the figure alone",
             f"Seq len {settings['seq_len']}, batch {settings['batch_size']}, {settings['busy_steps']} steps, the "
             f"first {BUSY_LOG_STEPS} left out; threads: auto (the default) or fixed at the core count",
             f"{'preset':<16}{'stage':<10}{'threads':<9}"
             + "".join(f"{'alone' if load == '0' else f'beside {load}':>18}" for load in loads) + "   lowest threads"]
    for row in report["busy_machine"]:
        cells = "".join(f"{row['tokens_per_s'][load]:>10,.0f} ({row['vs_alone'][load]:>4.0%})" for load in loads)
        lowest = "/".join(str(row["lowest_threads"][load]) for load in loads)
        lines.append(f"{row['preset']:<16}{row['stage']:<10}{row['threads']:<9}{cells}   {lowest}")
    return lines


def _data_lines(report: dict) -> list[str]:
    lines = ["Data preparation (build_pretrain_dataset, shipped tokenizer, cold cache, own process)",
             f"{'file':>10}{'seconds':>9}{'MB/s':>8}{'tokens':>13}{'peak PSS':>11}{'peak anon':>12}"]
    for run in report["data_preparation"]:
        lines.append(f"{run['file_mb']:>7.1f} MB{run['seconds']:>9.1f}{run['mb_per_s']:>8.2f}{run['tokens']:>13,}"
                     f"{run['peak_pss_mb']:>8,.0f} MB{run['peak_anon_mb']:>9,.0f} MB")
    lines.append("(peak memory of the process and its tokenizing workers above its start, sampled: PSS counts a "
                 "page shared by forks once and includes read pages of the memory-mapped cache; anon leaves those out)")
    speeds = report["tokenizer_mb_per_s"]
    lines.append(f"Tokenizing alone, one core, {speeds['text_mb']:.0f} MB in memory: the tokenizers library "
                 f"{speeds['library']:.2f} MB/s, the piece cache {speeds['piece_cache']:.2f} MB/s (its "
                 f"regex split alone: {speeds['split_only']:.2f} MB/s)")
    return lines


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,minimind2-small", help="comma-separated model presets")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per measurement")
    parser.add_argument("--data-mb", type=float, default=1024, help="size of the data-preparation file (MB)")
    parser.add_argument("--json", action="store_true", help="stdout: exactly one JSON document")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny preset, few steps, 2 MB of data")
    parser.add_argument("--busy-presets", default="tiny", help="presets measured on a busy machine ('' for none)")
    parser.add_argument("--busy-steps", type=int, default=40, help="training steps per busy-machine measurement")
    parser.add_argument("--compile", action="store_true",
                        help="also time the skill with `--set compile=true` (torch.compile; start-up left out)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.seq_len < 2 or args.batch_size < 1 or args.data_mb <= 0 or args.busy_steps < 1:
        parser.error("--steps, --busy-steps, --seq-len, --batch-size and --data-mb must be positive")
    args.matmul_size = 8192 if torch.cuda.is_available() else 2048
    args.matmul_repeats = 5
    args.loads, args.busy_stages = [0, 1, 3], ["pretrain", "sft"]
    args.thread_policies = ["auto", str(usable_cores())]
    if torch.cuda.is_available():  # a GPU computes: CPU-bound neighbours hardly slow it, threads stay fixed
        args.busy_presets = ""
    if args.quick:
        args.presets, args.steps, args.batch_size, args.data_mb = "tiny", 2, 8, 2
        args.matmul_size, args.matmul_repeats = args.matmul_size // 2, 3
        args.busy_steps, args.busy_stages = 2 * BUSY_LOG_STEPS, ["sft"]
        args.loads, args.thread_policies = [0, 1], ["auto"]
    if args.steps % WARMUP_STEPS:  # the skill path times whole log intervals of WARMUP_STEPS steps
        args.steps += WARMUP_STEPS - args.steps % WARMUP_STEPS
    args.busy_steps += -args.busy_steps % BUSY_LOG_STEPS  # and so do the busy runs, of BUSY_LOG_STEPS
    return args


def _names(listing: str) -> list[str]:
    return [name.strip() for name in listing.split(",") if name.strip()]


def measure(args: argparse.Namespace) -> dict:
    contention = ContentionLog()
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    log("matmul peak")
    with contention.watch("matmul peak"):
        peaks = {name: matmul_peak_gflops(dtype, args.matmul_size, args.matmul_repeats)
                 for name, dtype in dtypes.items()}
    settings = {key: getattr(args, key) for key in ("seq_len", "batch_size", "steps", "busy_steps", "data_mb",
                                                    "matmul_size", "matmul_repeats")}
    with tempfile.TemporaryDirectory(prefix="minillm-bench-") as scratch:
        presets = _names(args.presets)
        training = [training_comparison(preset, args, peaks, Path(scratch), contention) for preset in presets]
        busy = [row for preset in _names(args.busy_presets) for row in busy_comparison(preset, args, Path(scratch))]
        data = data_preparation_runs(args.data_mb, args.seq_len, Path(scratch), contention)
    log("tokenizer speeds")
    with contention.watch("tokenizer speeds"):
        speeds = run_in_child(tokenizer_speeds, min(args.data_mb, 8))
    return {"device": describe_device(), "settings": {**settings, "warmup_steps": WARMUP_STEPS},
            "peak_gflops": peaks, "training": training, "busy_machine": busy, "data_preparation": data,
            "tokenizer_mb_per_s": speeds,
            "warnings": contention.warnings}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local; never wait on the network
    args = parse_args(argv)
    stdout = os.dup(1)
    if args.json:
        os.dup2(2, 1)  # until the report: anything printed, here or in a child, goes to stderr
    report = measure(args)
    text = json.dumps(report, indent=2) if args.json else format_report(report)
    os.write(stdout, (text + "\n").encode())


if __name__ == "__main__":
    main()
