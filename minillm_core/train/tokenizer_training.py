"""Train the tokenizer on a pretraining corpus: stream it, sample it when large, measure it on held-out text.

The corpus is read once, as a stream. Every HELD_OUT_EVERY-th record (up to HELD_OUT_MAX_BYTES of text) is
set aside to measure the result; the rest feeds the BPE trainer: all of it when the file fits in `sample_mb`,
else an even share of the records (one in four for a file four times as large), so that the sample spreads
over the whole file (a corpus sorted by source still gives
each source its share). Memory stays flat in the corpus size: the trainer keeps counts of distinct pieces,
not the text. Reserved tokens written in the text (MiniMind's pretraining text holds <|im_start|>) are cut
out first, or the trainer would spend merges on their pieces.

The shipped default tokenizer is this on the embedded pretraining corpus, with bot-start's settings (the
same as `minillm-skill run tokenizer --set vocab_size=2432` writes):

    python -m minillm_core.train.tokenizer_training dataset/embedded/pretrain.jsonl minillm_core/assets/tokenizer \\
        --vocab-size 2432
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from minillm_core.contract.outputs import stage_output, staged_output
from minillm_core.contract.skill import SkillError, StageContext, StageResult
from minillm_core.data.formats import DataError, RecordReader
from minillm_core.model.presets import vocab_size_for
from minillm_core.model.tokenizer import (
    DEFAULT_VOCAB_SIZE,
    RESERVED_TOKENS,
    load_tokenizer,
    save_tokenizer,
    tokenizer_sha256,
    train_tokenizer,
)
from minillm_core.train.checks import resolve_stage_dataset

MB = 2**20
DEFAULT_SAMPLE_MB = 100  # BPE training time and memory grow with it; 100 MB of text takes minutes on 2 cores
HELD_OUT_EVERY = 50  # one record in 50 is held out for measuring ...
HELD_OUT_MAX_BYTES = 2 * MB  # ... up to this much text, enough for a stable bytes/token figure
_RESERVED = re.compile("|".join(re.escape(token) for token in RESERVED_TOKENS))


@dataclass
class CorpusSplit:
    """What one pass over the corpus gave the trainer, and the text it kept back."""

    trained_records: int = 0
    trained_bytes: int = 0
    held_out: list[str] = field(default_factory=list)
    held_out_bytes: int = 0


def split_reserved(text: str) -> Iterator[str]:
    """The stretches of `text` between reserved tokens (the tokens themselves left out)."""
    for part in _RESERVED.split(text):
        if part:
            yield part


def sample_corpus(reader: RecordReader, sample_bytes: int, split: CorpusSplit) -> Iterator[str]:
    """Texts for the trainer from `reader` ({"text"} records), filling `split` as it goes, with a progress bar."""
    file_bytes = reader.path.stat().st_size
    share = min(1.0, sample_bytes / max(file_bytes, 1))  # of the records, taken evenly: 0.25 is one in four
    with tqdm(total=file_bytes, unit="B", unit_scale=True, desc="tokenizer: reading", file=sys.stderr,
              disable=None) as progress:
        for index, record in enumerate(reader):
            progress.update(reader.bytes_read - progress.n)
            text = record["text"]
            size = len(text.encode("utf-8"))
            if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 and split.held_out_bytes < HELD_OUT_MAX_BYTES:
                split.held_out.append(text)
                split.held_out_bytes += size
            elif int((index + 1) * share) > int(index * share):
                split.trained_records += 1
                split.trained_bytes += size
                yield from split_reserved(text)


def compactness(tokenizer, texts: list[str]) -> dict[str, Any]:
    """How much text a token holds on `texts` (held-out text), and the share of the vocabulary they use."""
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    tokens = sum(len(row) for row in ids)
    if not tokens:
        return {"bytes_per_token": None, "chars_per_token": None, "vocab_used": None, "held_out_tokens": 0}
    return {"bytes_per_token": round(sum(len(text.encode("utf-8")) for text in texts) / tokens, 3),
            "chars_per_token": round(sum(len(text) for text in texts) / tokens, 3),
            "vocab_used": round(len({token for row in ids for token in row}) / len(tokenizer), 3),
            "held_out_tokens": tokens}


def train_on_corpus(reader: RecordReader, vocab_size: int = DEFAULT_VOCAB_SIZE,
                    sample_mb: float = DEFAULT_SAMPLE_MB, max_token_length: int | None = None,
                    split_digits: bool = False):
    """(tokenizer, split): a tokenizer trained on a sample of `reader`'s texts, and what was read and held out."""
    split = CorpusSplit()
    tokenizer = train_tokenizer(sample_corpus(reader, int(sample_mb * MB), split), vocab_size=vocab_size,
                                max_token_length=max_token_length, split_digits=split_digits)
    return tokenizer, split


def run_tokenizer_stage(ctx: StageContext) -> StageResult:
    """The tokenizer skill: train on the `dataset` setting's corpus, save to `output`, report the figures."""
    settings = ctx.settings
    spec, _requested = resolve_stage_dataset("pretrain", ctx)
    output = stage_output("tokenizer", settings.get("output"), ctx.workdir)
    reader = RecordReader(spec.path, spec.kind, spec.format, spec.columns, lenient=settings["lenient"])
    ctx.log.info("training a %d-token tokenizer on %s", settings["vocab_size"], spec.path)
    try:
        tokenizer, split = train_on_corpus(reader, settings["vocab_size"], settings["sample_mb"],
                                           settings["max_token_length"] or None, settings["split_digits"])
    except DataError as exc:
        raise SkillError(str(exc), hint="fix the record, or `--set lenient=true` to skip bad records") from exc
    if not split.trained_records:
        raise SkillError(f"{spec.path} holds no text to train a tokenizer on", hint="give a corpus with text")
    result = _result(ctx, spec.name, output, tokenizer, split, reader)  # what may fail, before out/ changes
    with staged_output(output, "tokenizer") as staging:
        save_tokenizer(tokenizer, staging)
    return result


def _result(ctx: StageContext, dataset: str, output: Path, tokenizer, split: CorpusSplit,
            reader: RecordReader) -> StageResult:
    figures = compactness(tokenizer, split.held_out)
    metrics: dict[str, Any] = {
        "vocab_size": len(tokenizer), "asked_vocab_size": ctx.settings["vocab_size"],
        "model_vocab_rows": vocab_size_for(tokenizer), "dataset": dataset, "records": reader.read,
        "trained_records": split.trained_records, "trained_mb": round(split.trained_bytes / MB, 2),
        "held_out_records": len(split.held_out), "held_out_mb": round(split.held_out_bytes / MB, 3),
        **figures, "skipped_records": reader.skipped, "sha256": tokenizer_sha256(tokenizer),
    }
    warnings = []
    if not split.held_out:
        warnings.append(f"the corpus has fewer than {HELD_OUT_EVERY} records: no text was held out to measure on")
    if ctx.settings.get("compare"):
        reference = load_tokenizer(ctx.settings["compare"])
        metrics["compare"] = {"path": str(ctx.settings["compare"]), "vocab_size": len(reference),
                              **compactness(reference, split.held_out)}
    relative = os.path.relpath(output, ctx.workdir)
    summary = (f"{len(tokenizer)}-token byte-level BPE from {metrics['trained_mb']} MB of {dataset} in {relative}: "
               f"{figures['bytes_per_token']} bytes/token, {figures['chars_per_token']} characters/token on "
               f"held-out text")
    if "compare" in metrics:
        summary += f" ({metrics['compare']['bytes_per_token']} with {ctx.settings['compare']})"
    return StageResult(summary=summary, metrics=metrics, artifacts=[relative], warnings=warnings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the byte-level BPE tokenizer on a pretraining corpus.")
    parser.add_argument("corpus", type=Path, help="a pretraining data file (JSONL with \"text\", or plain text)")
    parser.add_argument("out", type=Path, help="folder to write the tokenizer into")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
    parser.add_argument("--sample-mb", type=float, default=DEFAULT_SAMPLE_MB)
    parser.add_argument("--max-token-length", type=int, default=None, help="characters per token at most")
    parser.add_argument("--split-digits", action="store_true", help="every digit a token (Qwen2's pre-tokenizer)")
    args = parser.parse_args(argv)
    tokenizer, split = train_on_corpus(RecordReader(args.corpus, "pretrain"), args.vocab_size, args.sample_mb,
                                       args.max_token_length, args.split_digits)
    save_tokenizer(tokenizer, args.out)
    figures = compactness(tokenizer, split.held_out)
    print(f"wrote {args.out}: {len(tokenizer)} tokens (asked for {args.vocab_size}); held-out text: "
          f"{figures['bytes_per_token']} bytes/token, {figures['chars_per_token']} characters/token")


if __name__ == "__main__":
    main()
