"""Pretraining packing: full blocks, EOS between documents, and a cache that is really reused."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

from minillm_core.data import packing  # noqa: E402
from minillm_core.data.formats import DataError, RecordReader  # noqa: E402
from minillm_core.data.packing import build_pretrain_dataset  # noqa: E402
from minillm_core.runs.stopping import graceful_stop  # noqa: E402

EOS = "<|endoftext|>"
WORDS = ("the a small model learns to read and write short stories about cats dogs birds trees rivers "
         "every morning evening night children play games sing songs draw pictures build houses").split()


def documents(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30))) for _ in range(count)]


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A throwaway byte-level BPE, trained in a fraction of a second."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(documents(300), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS)


def write_corpus(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    return path


def token_stream(tokenizer, texts: list[str]) -> list[int]:
    """What packing should concatenate: each document's ids followed by EOS."""
    stream = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return stream


def test_blocks_are_full_and_keep_documents_in_order_with_eos_between(tokenizer, tmp_path):
    texts = documents(200)
    data = build_pretrain_dataset(RecordReader(write_corpus(tmp_path / "c.jsonl", texts), "pretrain"),
                                  tokenizer, seq_len=32, cache_dir=tmp_path / "cache")
    blocks = data.dataset["input_ids"]
    stream = token_stream(tokenizer, texts)
    assert blocks and all(len(block) == 32 for block in blocks)
    # A few hundred documents are one batch: the blocks are the stream cut, less its tail.
    assert [token for block in blocks for token in block] == stream[: len(blocks) * 32]
    assert stream.count(tokenizer.eos_token_id) == len(texts)
    stats = data.stats
    assert (stats.documents, stats.tokens, stats.blocks) == (200, len(stream), len(blocks))
    assert 0 <= stats.dropped_tokens < 32


def test_dataset_is_memory_mapped_from_the_cache_dir(tokenizer, tmp_path):
    reader = RecordReader(write_corpus(tmp_path / "c.jsonl", documents(50)), "pretrain")
    dataset = build_pretrain_dataset(reader, tokenizer, 16, tmp_path / "cache").dataset
    assert dataset.cache_files
    assert all(Path(f["filename"]).is_relative_to(tmp_path / "cache") for f in dataset.cache_files)


def test_second_build_reuses_the_cache_without_reading_or_tokenizing(tokenizer, tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "c.jsonl", documents(100))
    first = build_pretrain_dataset(RecordReader(corpus, "pretrain"), tokenizer, 16, tmp_path / "cache")

    def must_not_run(*args, **kwargs):
        raise AssertionError("tokenized again although the cache holds the result")

    monkeypatch.setattr(packing, "_tokenize", must_not_run)
    reader = RecordReader(corpus, "pretrain")
    second = build_pretrain_dataset(reader, tokenizer, 16, tmp_path / "cache")
    assert reader.read == 0  # the file was not even read
    assert second.dataset.cache_files == first.dataset.cache_files
    assert second.dataset["input_ids"] == first.dataset["input_ids"]
    assert second.stats == first.stats
    # A new seq_len re-packs the cached tokens: still no tokenization.
    assert build_pretrain_dataset(reader, tokenizer, 8, tmp_path / "cache").stats.tokens == first.stats.tokens


def test_a_changed_file_is_read_again(tokenizer, tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", documents(60))
    first = build_pretrain_dataset(RecordReader(corpus, "pretrain"), tokenizer, 16, tmp_path / "cache")
    write_corpus(corpus, documents(90, seed=1))
    second = build_pretrain_dataset(RecordReader(corpus, "pretrain"), tokenizer, 16, tmp_path / "cache")
    assert (first.stats.documents, second.stats.documents) == (60, 90)


def test_any_iterable_with_a_source_key(tokenizer, tmp_path):
    texts = documents(40)
    records = [{"text": text, "other": 1} for text in texts]
    data = build_pretrain_dataset(records, tokenizer, 16, tmp_path / "cache", source_key="generated-v1")
    assert data.stats.tokens == len(token_stream(tokenizer, texts))
    with pytest.raises(ValueError, match="need a source_key"):
        build_pretrain_dataset(records, tokenizer, 16, tmp_path / "cache")


def test_documents_of_equal_length(tokenizer, tmp_path):
    # numpy hands a batch of equal-length rows over as one 2-D array rather than a list of rows.
    records = [{"text": "cats and dogs"}] * 20
    data = build_pretrain_dataset(records, tokenizer, 8, tmp_path / "cache", source_key="same")
    assert [t for block in data.dataset["input_ids"] for t in block] == \
        token_stream(tokenizer, ["cats and dogs"] * 20)[: data.stats.blocks * 8]


def test_only_pretrain_readers_are_packed(tokenizer, tmp_path):
    corpus = tmp_path / "chat.jsonl"
    corpus.write_text(json.dumps({"messages": [{"role": "user", "content": "a"},
                                               {"role": "assistant", "content": "b"}]}) + "\n")
    with pytest.raises(ValueError, match="packing reads pretrain records"):
        build_pretrain_dataset(RecordReader(corpus, "sft"), tokenizer, 8, tmp_path / "cache")


def test_two_processes_give_the_same_blocks_as_one(tokenizer, tmp_path, monkeypatch):
    texts = documents(300)
    corpus = write_corpus(tmp_path / "c.jsonl", texts)
    one = build_pretrain_dataset(RecordReader(corpus, "pretrain"), tokenizer, 32, tmp_path / "one", num_proc=1)

    monkeypatch.setattr(packing, "_BATCH_DOCUMENTS", 20)  # 15 batches, so both workers get some
    started_in = tmp_path / "workers"
    started_in.mkdir()
    start_tokenizing = packing._start_tokenizing

    def recording_start(tokenizer):  # runs in each worker (forked: it sees this patch)
        (started_in / str(os.getpid())).touch()
        start_tokenizing(tokenizer)

    monkeypatch.setattr(packing, "_start_tokenizing", recording_start)
    two = build_pretrain_dataset(RecordReader(corpus, "pretrain"), tokenizer, 32, tmp_path / "two", num_proc=2)
    workers = {int(path.name) for path in started_in.iterdir()}
    assert len(workers) == 2 and os.getpid() not in workers
    assert two.dataset["input_ids"] == one.dataset["input_ids"]
    assert two.stats == one.stats
    assert two.stats.tokens == len(token_stream(tokenizer, texts))


def test_an_interrupted_build_leaves_no_cache_and_the_next_one_completes(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(packing, "_BATCH_DOCUMENTS", 10)
    texts = documents(100)

    def records_then_interrupt():
        for number, text in enumerate(texts):
            if number == 55:  # five batches written
                raise KeyboardInterrupt
            yield {"text": text}

    for num_proc in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            build_pretrain_dataset(records_then_interrupt(), tokenizer, 16, tmp_path / "cache",
                                   num_proc=num_proc, source_key="texts")
        assert list((tmp_path / "cache").iterdir()) == []
    records = [{"text": text} for text in texts]
    data = build_pretrain_dataset(records, tokenizer, 16, tmp_path / "cache", source_key="texts")
    assert data.stats.tokens == len(token_stream(tokenizer, texts))

    # A run killed outright (SIGKILL) cannot clean up: the next build of the same tokens does.
    [tokens] = (tmp_path / "cache").glob("tokens-*.arrow")
    stale = tokens.with_name(f"{tokens.name}.999999.partial")
    stale.write_bytes(b"half")
    tokens.unlink()
    build_pretrain_dataset(records, tokenizer, 16, tmp_path / "cache", source_key="texts")
    assert tokens.exists() and not stale.exists()


def _busy(path: str) -> None:
    """A task that says it has started, then works until it is stopped."""
    Path(path).touch()
    time.sleep(60)


def test_a_worker_the_pool_stops_prints_no_traceback_during_a_run(tokenizer, tmp_path, capfd):
    """A pool ends by sending SIGTERM to the workers still running. Forked inside a run, they had its stop
    handler (runs/stopping.py), which raises KeyboardInterrupt outside training: a successful pretraining
    run on 8 MB or more printed their tracebacks."""
    started = tmp_path / "started"
    with graceful_stop(), packing._tokenizing_pool(tokenizer, 1) as pool:
        pool.apply_async(_busy, (str(started),))
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the task did not start"
            time.sleep(0.02)
    # Leaving the block, the pool sent SIGTERM to the worker still in its task, and waited for it to end.
    assert "KeyboardInterrupt" not in capfd.readouterr().err


@pytest.mark.parametrize("num_proc", [1, 2])
def test_a_bad_record_surfaces_as_the_data_error(tokenizer, tmp_path, num_proc):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "fine"}\n{"txt": "typo"}\n')
    with pytest.raises(DataError, match=r"c\.jsonl:2: record has no \"text\" field"):
        build_pretrain_dataset(RecordReader(corpus, "pretrain"), tokenizer, 16, tmp_path / "cache",
                               num_proc=num_proc)
    assert not any((tmp_path / "cache").glob("tokens-*"))


def test_too_little_data_for_one_block(tokenizer, tmp_path):
    reader = RecordReader(write_corpus(tmp_path / "c.jsonl", ["cats"]), "pretrain")
    with pytest.raises(ValueError, match="fewer than one sequence of 512"):
        build_pretrain_dataset(reader, tokenizer, 512, tmp_path / "cache")


def test_a_tokenizer_without_eos_is_refused(tokenizer, tmp_path):
    no_eos = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer)
    with pytest.raises(ValueError, match="no eos_token"):
        build_pretrain_dataset([{"text": "a"}], no_eos, 16, tmp_path / "cache", source_key="x")


def test_tokenizer_fingerprint_follows_the_vocabulary(tokenizer):
    assert packing.tokenizer_fingerprint(tokenizer) == packing.tokenizer_fingerprint(tokenizer)
    other = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()),
                                    eos_token=EOS)
    other.add_tokens(["<extra>"])
    assert packing.tokenizer_fingerprint(other) != packing.tokenizer_fingerprint(tokenizer)
