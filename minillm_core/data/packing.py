"""Pretraining data: tokenize documents and pack them into full sequences, cached on disk.

MiniMind pads every sample to the sequence length; we concatenate documents with EOS between
them and cut the stream into blocks of exactly `seq_len` tokens, so no compute goes to padding.
Two stages, each an Arrow file under `cache_dir` that datasets memory-maps, so memory does not
grow with the data:

  tokens   token ids per document, EOS appended             keyed by the source and the tokenizer
  blocks   `seq_len` ids per row                            keyed by the tokens and seq_len

Each key is a fingerprint of its inputs: a second build with the same inputs loads the files
instead of reading and tokenizing again, and a new seq_len re-packs without re-tokenizing.
The tokens stage streams: this process reads batches of documents and writes ids in order, while
worker processes tokenize (a few batches in flight, no more), so reading overlaps tokenizing.
Blocks are cut per batch of documents, so up to seq_len - 1 tokens per 10,000 documents are dropped.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import itertools
import json
import logging
import multiprocessing
import multiprocessing.pool
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Features, List, Value
from datasets.arrow_writer import ArrowWriter
from tqdm.auto import tqdm

from minillm_core.data.formats import RecordReader
from minillm_core.data.piece_cache import PieceCacheEncoder

log = logging.getLogger("minillm")  # the CLI shows this logger on stderr

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
    tokenizer with an eos_token. `num_proc` (tokenizing processes) defaults to the CPU count, or 1
    for a file under 8 MB or records that are not a file. Ids are stored as int32; a collator
    turning them into tensors should make them int64.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    if isinstance(records, RecordReader) and records.kind != "pretrain":
        raise ValueError(f"packing reads pretrain records, but {records.path} is read as {records.kind}")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos_token; packing needs one to separate documents")
    cache_dir = Path(cache_dir)
    tokens_key = _hash(_CACHE_VERSION, "tokens", _source_key(records, source_key), tokenizer_fingerprint(tokenizer))
    blocks_key = _hash(_CACHE_VERSION, "blocks", tokens_key, seq_len)

    tokens_file = cache_dir / f"tokens-{tokens_key}.arrow"
    if not tokens_file.exists():
        _write_tokens(records, tokenizer, tokens_file, num_proc or _default_num_proc(records))
    tokens = datasets.Dataset.from_file(str(tokens_file))
    blocks = tokens.with_format("arrow").map(
        functools.partial(_pack, seq_len=seq_len),
        batched=True, batch_size=_PACK_BATCH_DOCUMENTS,
        features=Features({"input_ids": List(Value("int32"), length=seq_len)}),
        cache_file_name=str(cache_dir / f"blocks-{blocks_key}.arrow"),
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


def _default_num_proc(records: RecordReader | Iterable[dict]) -> int:
    if not isinstance(records, RecordReader) or records.path.stat().st_size < _SMALL_INPUT_BYTES:
        return 1
    return os.cpu_count() or 1


def _write_tokens(records: Iterable[dict], tokenizer, path: Path, num_proc: int) -> None:
    """Tokenize the records in order into `path`, written under a temporary name and renamed when
    complete: an interrupted run leaves no half-written cache behind for the next run to trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f"{path.name}.*.partial"):  # left by a run killed outright (SIGKILL)
        stale.unlink(missing_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    texts = (record["text"] for record in records)
    batches = iter(lambda: list(itertools.islice(texts, _BATCH_DOCUMENTS)), [])
    progress = tqdm(desc="Tokenizing", unit=" documents", disable=None)
    try:
        with ArrowWriter(features=_TOKENS, path=str(partial)) as writer:
            for ids in _tokenized_batches(batches, tokenizer, num_proc):
                writer.write_table(pa.table({"input_ids": ids}))
                progress.update(len(ids))
            writer.finalize()
        os.replace(partial, path)
    finally:
        progress.close()
        partial.unlink(missing_ok=True)


_TOKENS = Features({"input_ids": List(Value("int32"))})
_tokenizing: dict = {}  # this process's tokenizer and encoder: set once, not sent with every batch


def _start_tokenizing(tokenizer) -> None:
    _tokenizing.update(tokenizer=tokenizer, encoder=PieceCacheEncoder.for_tokenizer(tokenizer))


def _tokenizing_pool(tokenizer, processes: int) -> multiprocessing.pool.Pool:
    # fork: the workers inherit the tokenizer instead of unpickling a copy each.
    return multiprocessing.get_context("fork").Pool(processes, _start_tokenizing, (tokenizer,))


def _tokenize(texts: list[str]) -> pa.ListArray:
    """Each text's ids with EOS appended, as one Arrow list array (cheap to send between processes)."""
    tokenizer, encoder = _tokenizing["tokenizer"], _tokenizing["encoder"]
    if encoder is not None:  # the same ids, several times faster (piece_cache.py)
        ids = [encoder.encode(text) for text in texts]
    else:
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    lengths = np.fromiter((len(document) + 1 for document in ids), np.int32, len(ids))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int32)])
    values = np.fromiter(itertools.chain.from_iterable(document + [eos] for document in ids), np.int32,
                         int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def _tokenized_batches(batches: Iterator[list[str]], tokenizer, processes: int) -> Iterator[pa.ListArray]:
    """Each batch's ids, in order, tokenized by `processes` worker processes with at most two batches per
    process in flight: reading never runs ahead of tokenizing, so memory stays flat on any file."""
    if processes <= 1:
        _start_tokenizing(tokenizer)
        try:
            yield from map(_tokenize, batches)
        finally:
            _tokenizing.clear()
        return
    with _tokenizing_pool(tokenizer, processes) as pool:
        pending: collections.deque = collections.deque()
        for batch in batches:
            pending.append(pool.apply_async(_tokenize, (batch,)))
            if len(pending) >= 2 * processes:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _pack(batch: pa.Table, seq_len: int) -> pa.Table:
    # Arrow all the way: one flat view of the batch's ids, no Python or numpy object per document.
    ids = pc.list_flatten(batch.column("input_ids")).combine_chunks()
    full = len(ids) // seq_len * seq_len
    return pa.table({"input_ids": pa.FixedSizeListArray.from_arrays(ids.slice(0, full), seq_len)})


def _count_tokens(tokens: datasets.Dataset) -> int:
    # Summed by Arrow over the memory-mapped column: no Python list per document.
    return int(pc.sum(pc.list_value_length(tokens.data.column("input_ids"))).as_py() or 0)


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(part) for part in parts]).encode()).hexdigest()[:32]
