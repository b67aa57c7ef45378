"""Pretraining data: tokenize documents and pack them into full sequences, cached on disk.

MiniMind pads every sample to the sequence length; we concatenate documents with EOS between
them and cut the stream into blocks of exactly `seq_len` tokens, so no compute goes to padding.
Three stages, each an Arrow file under `cache_dir` that datasets memory-maps, so memory does not
grow with the data:

  text     the documents, read once from the records       keyed by the source
  tokens   token ids per document, EOS appended             keyed by the source and the tokenizer
  blocks   `seq_len` ids per row                            keyed by the tokens and seq_len

Each key is a fingerprint of its inputs: a second build with the same inputs loads the files
instead of reading and tokenizing again, and a new seq_len re-packs without re-tokenizing.
Blocks are cut per batch of documents, so up to seq_len - 1 tokens per 10,000 documents are dropped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow.compute as pc
from datasets import Features, List, Value

from minillm_core.data.formats import DataError, RecordReader

log = logging.getLogger(__name__)

_CACHE_VERSION = "1"  # bump when a stage's output changes, so old caches are not reused
_BATCH_DOCUMENTS = 1000  # per tokenizer call
_PACK_BATCH_DOCUMENTS = 10_000  # per cut into blocks: numpy arrays, so a large batch is cheap
_SMALL_INPUT_BYTES = 8 * 1024 * 1024  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class PackStats:
    """What went into the packed dataset, for reports."""

    documents: int
    tokens: int  # including one EOS per document
    blocks: int
    seq_len: int

    @property
    def dropped_tokens(self) -> int:
        return self.tokens - self.blocks * self.seq_len


@dataclass(frozen=True)
class PretrainData:
    """The packed dataset (rows of `input_ids`, each `seq_len` ints) and its stats."""

    dataset: datasets.Dataset
    stats: PackStats


def build_pretrain_dataset(records: RecordReader | Iterable[dict], tokenizer, seq_len: int,
                           cache_dir: Path, num_proc: int | None = None,
                           source_key: str | None = None) -> PretrainData:
    """Tokenize `records` ({"text": ...} dicts) and pack them into blocks of `seq_len` tokens.

    `records` is a RecordReader (its file names the cache) or any iterable of {"text"} dicts
    with a `source_key` that changes whenever the records do. `tokenizer` is a transformers
    tokenizer with an eos_token. `num_proc` defaults to the CPU count, or 1 for small inputs.
    Ids are stored as int32; a collator turning them into tensors should make them int64.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    if isinstance(records, RecordReader) and records.kind != "pretrain":
        raise ValueError(f"packing reads pretrain records, but {records.path} is read as {records.kind}")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos_token; packing needs one to separate documents")
    cache_dir = Path(cache_dir)
    text_key = _hash(_CACHE_VERSION, "text", _source_key(records, source_key))
    tokens_key = _hash(_CACHE_VERSION, "tokens", text_key, tokenizer_fingerprint(tokenizer))
    blocks_key = _hash(_CACHE_VERSION, "blocks", tokens_key, seq_len)

    text = _read_texts(records, cache_dir, text_key)
    if num_proc is None:
        num_proc = _default_num_proc(text)
    tokens = text.map(
        functools.partial(_tokenize, tokenizer=tokenizer),
        batched=True, batch_size=_BATCH_DOCUMENTS, remove_columns=["text"],
        features=Features({"input_ids": List(Value("int32"))}),
        num_proc=num_proc, cache_file_name=str(cache_dir / f"tokens-{tokens_key}.arrow"),
        load_from_cache_file=True, new_fingerprint=tokens_key, desc="Tokenizing",
    )
    blocks = tokens.with_format("numpy").map(
        functools.partial(_pack, seq_len=seq_len),
        batched=True, batch_size=_PACK_BATCH_DOCUMENTS,
        features=Features({"input_ids": List(Value("int32"), length=seq_len)}),
        num_proc=num_proc, cache_file_name=str(cache_dir / f"blocks-{blocks_key}.arrow"),
        load_from_cache_file=True, new_fingerprint=blocks_key, desc=f"Packing into {seq_len}-token blocks",
    ).with_format(None)
    stats = PackStats(documents=len(tokens), tokens=_count_tokens(tokens), blocks=len(blocks),
                      seq_len=seq_len)
    log.info("pretraining data: %d documents, %d tokens, %d blocks of %d (%d tokens dropped)",
             stats.documents, stats.tokens, stats.blocks, seq_len, stats.dropped_tokens)
    if stats.blocks == 0:
        raise ValueError(f"the data holds {stats.tokens} tokens, fewer than one sequence of {seq_len}; "
                         "use more data or a smaller seq_len")
    return PretrainData(blocks, stats)


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything in the tokenizer that changes the ids it produces."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        vocabulary = backend.to_str()
    else:
        vocabulary = json.dumps(sorted(tokenizer.get_vocab().items()))
    return _hash(type(tokenizer).__name__, vocabulary, tokenizer.eos_token_id)


def _source_key(records: RecordReader | Iterable[dict], source_key: str | None) -> str:
    if source_key is not None:
        return source_key
    if not isinstance(records, RecordReader):
        raise ValueError("records that are not a RecordReader need a source_key: a string that "
                         "changes whenever the records do (it names the cache)")
    stat = records.path.stat()
    return json.dumps([str(records.path.resolve()), stat.st_size, stat.st_mtime_ns, records.format,
                       records.kind, records.columns, records.lenient, records.limit], sort_keys=True)


def _read_texts(records: RecordReader | Iterable[dict], cache_dir: Path, key: str) -> datasets.Dataset:
    try:
        return datasets.Dataset.from_generator(
            _texts, gen_kwargs={"records": records}, features=Features({"text": Value("string")}),
            cache_dir=str(cache_dir / "text"), fingerprint=key,
        )
    except datasets.exceptions.DatasetGenerationError as error:
        # datasets wraps whatever the generator raised; a DataError is the message the user needs.
        if isinstance(error.__cause__, DataError):
            raise error.__cause__ from None
        raise


def _texts(records: Iterable[dict]):
    for record in records:
        yield {"text": record["text"]}


def _default_num_proc(text: datasets.Dataset) -> int:
    if text.data.nbytes < _SMALL_INPUT_BYTES:
        return 1
    batches = -(-len(text) // _BATCH_DOCUMENTS)
    return max(1, min(os.cpu_count() or 1, batches))


def _tokenize(batch: dict, tokenizer) -> dict:
    ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
    return {"input_ids": [document + [tokenizer.eos_token_id] for document in ids]}


def _pack(batch: dict, seq_len: int) -> dict:
    ids = np.concatenate(batch["input_ids"]) if len(batch["input_ids"]) else np.empty(0, np.int32)
    blocks = len(ids) // seq_len
    return {"input_ids": ids[: blocks * seq_len].reshape(blocks, seq_len)}


def _count_tokens(tokens: datasets.Dataset) -> int:
    # Summed by Arrow over the memory-mapped column: no Python list per document.
    return int(pc.sum(pc.list_value_length(tokens.data.column("input_ids"))).as_py() or 0)


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(part) for part in parts]).encode()).hexdigest()[:32]
