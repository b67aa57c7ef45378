"""A training stage's preflight from its settings (minillm_core/train/preflight.py has the estimate itself):
the precondition that refuses a run that cannot fit (exit 3, before anything runs), and `batch_size=auto`.

Read before any model is built or any data tokenized: the model's config (the preset's, or the config.json of
the model the stage starts from), the tokenizer's size from its tokenizer.json, and for the time, a sample
of the dataset's first records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from minillm_core.contract.skill import Check, StageContext
from minillm_core.data.formats import RecordReader
from minillm_core.data.registry import resolve_dataset
from minillm_core.hub.download import dataset_for_training
from minillm_core.model.presets import DEFAULT_VOCAB_SIZE, PRESETS, resolve_preset, vocab_size_for
from minillm_core.model.tokenizer import tokenizer_for_new_model
from minillm_core.train import preflight
from minillm_core.train.preflight import ModelShape, Workload
from minillm_core.train.start_model import stage_sequence_length, start_folder, start_init
from minillm_core.util.distributed import world_size

WHAT = "memory for training (preflight)"
AUTO = "auto"
AUTO_MOST = 1024  # batch_size=auto goes no higher: beyond it a bigger batch only changes the recipe
SAMPLE_RECORDS = 256  # records read to estimate the dataset's tokens


def preflight_check(kind: str, default_init: str | None) -> Callable[[StageContext], list[Check]]:
    """The stage's estimated peak fits in the device's free memory; its figures go in the check (the plan,
    `--dry-run --json`), a refusal's hint names a setting that fits."""

    def check(ctx: StageContext) -> list[Check]:
        figures = stage_figures(ctx, kind, default_init)
        if figures is None:
            return [Check(WHAT, True, "not estimated: the start model's config is not on this machine yet, "
                                      "or not one of a Llama, Qwen3 or Qwen3-MoE model")]
        fits = figures["memory"]["total"] <= figures["free"]
        hint = None if fits else figures["fits_instead"]
        detail = preflight.summary(figures) if fits else f"needs {preflight.summary(figures)}: it would not fit"
        return [Check(WHAT, fits, detail, hint=hint, figures=figures)]

    return check


def stage_figures(ctx: StageContext, kind: str, default_init: str | None, cuda: bool | None = None,
                  free: int | None = None) -> dict[str, Any] | None:
    """The preflight of the stage `ctx` describes: memory by part, free memory, the batch (`auto` resolved),
    the time; None when the start model's config cannot be read (a hub id not downloaded yet)."""
    settings = ctx.settings
    model = _model_config(ctx, default_init)
    if model is None:
        return None
    config, vocab = model
    try:
        shape = ModelShape.from_config(config, vocab)
    except (KeyError, TypeError, ValueError):  # a config of another shape: its model's own check will say
        return None
    cuda = _cuda() if cuda is None else cuda
    free = preflight.free_memory(cuda) if free is None else free
    work = _workload(ctx, kind, default_init, shape, cuda)
    sequences, tokens_per_sequence = _dataset_sequences(ctx, kind, work.seq_len)
    if settings["batch_size"] == AUTO:
        most = min(AUTO_MOST, max(1, (sequences or AUTO_MOST) // world_size()))
        work = replace(work, batch=preflight.largest_batch(shape, work, free, most) or 1)
    memory = preflight.estimate_memory(shape, work)
    new_model = start_folder(settings, ctx, default_init) is None  # else the preset need not describe the model
    speed, source = preflight.stored_tokens_per_s(str(settings["preset"]) if new_model else "", shape.parameters,
                                                  work.bf16, cuda)
    figures = {"device": "GPU" if cuda else "CPU", "free": free, "memory": memory, "parameters": shape.parameters,
               "batch_size": work.batch, "seq_len": work.seq_len, "bf16": work.bf16,
               "gradient_checkpointing": work.checkpointing,
               "time": preflight.time_estimate(_tokens_to_train(settings, work, sequences, tokens_per_sequence),
                                               speed, source)}
    if memory["total"] > free:
        smaller = {p.name: ModelShape.from_config(p.config, shape.vocab) for p in PRESETS.values()}
        figures["fits_instead"] = preflight.fitting_setting(
            shape, work, free, settings["grad_accum"],
            smaller if start_init(settings, ctx, default_init) is None else None)
    return figures


def batch_size(settings: dict[str, Any], figures: dict[str, Any] | None) -> int:
    """The stage's micro-batch: `batch_size`, or for `auto` the one its preflight chose (1 without one)."""
    if settings["batch_size"] != AUTO:
        return int(settings["batch_size"])
    return figures["batch_size"] if figures else 1


def _cuda() -> bool:
    import torch  # here: `minillm-skill list` does not plan, and needs no torch

    return torch.cuda.is_available()


def _model_config(ctx: StageContext, default_init: str | None) -> tuple[dict[str, Any], int] | None:
    """(config keyword arguments, embedding rows): the start model's config.json, else the preset's config
    with the rows the stage would build a new model with."""
    settings = ctx.settings
    folder = start_folder(settings, ctx, default_init)
    if folder is not None:
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            return config, int(config["vocab_size"])
        except (OSError, ValueError, KeyError, TypeError):  # not a config this estimate reads
            return None
    if settings.get("init"):
        return None  # a hub id: its config comes with the download, when the stage runs
    preset = resolve_preset(settings["preset"])  # a new model, or a start model an earlier stage will make
    tokens = preflight.tokenizer_size(tokenizer_for_new_model(settings.get("tokenizer"), ctx.workdir))
    return preset.config, vocab_size_for(range(tokens or DEFAULT_VOCAB_SIZE), preset.min_vocab_size)


def _workload(ctx: StageContext, kind: str, default_init: str | None, shape: ModelShape, cuda: bool) -> Workload:
    from minillm_core.train.speedups import use_bf16  # torch

    settings = ctx.settings
    args = settings.get("args") or {}
    batch = settings["batch_size"]
    seq_len = stage_sequence_length(settings, start_folder(settings, ctx, default_init))
    return Workload(batch=1 if batch == AUTO else int(batch), seq_len=seq_len,
                    bf16=use_bf16(settings["bf16"], cuda, shape.parameters),
                    checkpointing=bool(args.get("gradient_checkpointing") or args.get("activation_checkpointing")),
                    optimizer=str(args.get("optim") or "adamw_torch"), pairs=kind == "dpo", cuda=cuda,
                    lora=bool(settings.get("lora")))


def _dataset_sequences(ctx: StageContext, kind: str, seq_len: int) -> tuple[int | None, float]:
    """About how many sequences one epoch holds and their tokens, from the first records of the data file:
    packed blocks of seq_len for pretraining, one per record (cut at seq_len) otherwise; None when the file
    is not there yet."""
    estimate = _dataset_sample(ctx, kind)
    if estimate is None:
        return None, seq_len
    records, tokens_per_record = estimate
    if kind == "pretrain":
        return max(1, int(records * tokens_per_record / seq_len)), seq_len
    return records, min(tokens_per_record, seq_len)


def _dataset_sample(ctx: StageContext, kind: str) -> tuple[int, float] | None:
    """(records in the file, tokens per record), from its first SAMPLE_RECORDS records and its size."""
    try:
        spec = dataset_for_training(resolve_dataset(ctx.settings["dataset"], kind, ctx.workdir), ctx.workdir)
        reader = RecordReader(spec.path, spec.kind, spec.format, spec.columns, lenient=True, limit=SAMPLE_RECORDS)
        texts = [_text(record) for record in reader]
    except Exception:  # a missing or unreadable file is the dataset check's to report
        return None
    if not texts or not reader.bytes_read:
        return None
    records = int(reader.read * spec.path.stat().st_size / reader.bytes_read)
    characters = sum(len(text) for text in texts) / len(texts)
    return records, characters / CHARACTERS_PER_TOKEN


# The shipped tokenizer's characters per token on the embedded bilingual text (docs/performance.md gives
# 2.46 for bot-start's 2432-token one); a rough figure, for the time estimate only.
CHARACTERS_PER_TOKEN = 2.5


def _text(record: Any) -> str:
    """Every string in a record, joined: what the tokenizer would see, near enough."""
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        return " ".join(_text(value) for value in record.values())
    if isinstance(record, list):
        return " ".join(_text(value) for value in record)
    return ""


def _tokens_to_train(settings: dict[str, Any], work: Workload, sequences: int | None,
                     tokens_per_sequence: float) -> int | None:
    """Tokens the stage will train on: max_steps' worth, else the epochs over the dataset's sequences."""
    per_step = work.batch * settings["grad_accum"] * world_size()
    if settings["max_steps"] > 0:
        total = settings["max_steps"] * per_step
    elif sequences is None:
        return None
    else:
        epochs = str(settings["epochs"]).lower()
        passes = 1.0 if epochs == AUTO else float(epochs)
        if epochs == AUTO and settings.get("min_steps"):  # sft: enough passes for min_steps, at most 10
            passes = max(1, min(10, math.ceil(settings["min_steps"] / max(1, math.ceil(sequences / per_step)))))
        total = int(sequences * passes)
    return int(total * tokens_per_sequence * (2 if work.pairs else 1))
