"""The piece cache gives exactly the tokenizer's ids, or declines a tokenizer it cannot reproduce."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from minillm_core.data import piece_cache
from minillm_core.data.piece_cache import PieceCacheEncoder
from minillm_core.model.tokenizer import load_tokenizer
from minillm_core.util.resources import dataset_dir

# Characters where a re-implemented split would most likely part ways with the tokenizer's: contractions,
# runs of spaces before CJK and at the end, other scripts, digits that are not ASCII (Ⅻ ① ² ٣), combining
# marks, zero-width and non-breaking spaces, astral characters, control characters, and special tokens
# whole, cut short and run together.
ALPHABET = [*"ab Z'sdltmvre  \t\n\r\n0123!?.,<>|_-", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|im_",
            "<think>", "</think>", "<tool_call>", "<|spare3|>", "<think", "</tool_response>",
            "中", "文", "。", "，", "\u3000", "😀", "é", "ñ", "ß", "Ⅻ", "①", "²", "٣", "\u0301", "\u200b", "\ufeff",
            "й", "ا", "𠀀", "\x00", "\u00a0", "\u2028", "〇", "ｱ", "한", "'S", "'LL"]


def random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30))) for _ in range(count)]
    # Any code point (surrogates replaced): scripts and classes nobody thought to list.
    texts += ["".join(chr(rng.randint(0, 0x2FFFF)) for _ in range(rng.randint(1, 20)))
              .encode("utf-8", "replace").decode("utf-8") for _ in range(count // 4)]
    return texts


def shipped_texts() -> list[str]:
    """The embedded corpora: pretraining documents, and chat and preference records as raw JSON lines."""
    embedded = dataset_dir() / "embedded"
    texts = [json.loads(line)["text"] for line in (embedded / "pretrain.jsonl").read_text().splitlines()]
    return texts + [line for name in ("sft.jsonl", "dpo.jsonl") for line in (embedded / name).read_text().splitlines()]


def tokenizer_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def shipped():
    return load_tokenizer()


def test_the_shipped_tokenizer_is_served(shipped):
    encoder = PieceCacheEncoder.for_tokenizer(shipped)
    assert encoder is not None
    assert encoder.encode("猫 cats<think>") == tokenizer_ids(shipped, ["猫 cats<think>"])[0]


@pytest.mark.parametrize("texts", [shipped_texts(), random_texts(8000, seed=0)], ids=["shipped corpora", "random"])
def test_ids_equal_the_tokenizers(shipped, texts):
    encoder = PieceCacheEncoder.for_tokenizer(shipped)
    expected = tokenizer_ids(shipped, texts)
    mismatches = [(text, want) for text, want in zip(texts, expected, strict=True) if encoder.encode(text) != want]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, first: {mismatches[0]!r}"


def test_a_sequence_of_the_byte_level_step_alone_is_served_too(shipped):
    backend = Tokenizer.from_str(shipped.backend_tokenizer.to_str())
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.ByteLevel(add_prefix_space=False)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    encoder = PieceCacheEncoder.for_tokenizer(wrapped)
    assert encoder is not None
    texts = random_texts(2000, seed=1) + shipped_texts()[:500]
    assert [encoder.encode(text) for text in texts] == tokenizer_ids(wrapped, texts)


def test_a_full_cache_starts_afresh_and_the_ids_stay_right(shipped, monkeypatch):
    monkeypatch.setattr(piece_cache, "_MAX_CACHED_PIECES", 5)
    encoder = PieceCacheEncoder.for_tokenizer(shipped)
    texts = shipped_texts()[:300]
    assert [encoder.encode(text) for text in texts] == tokenizer_ids(shipped, texts)
    # Unbounded, these texts leave 880 pieces cached; cleared past 5, at most 5 + one text's (< 100) remain.
    assert len(encoder._cache) <= 5 + 100


def unsupported_variants(shipped) -> dict[str, PreTrainedTokenizerFast]:
    def variant(change) -> PreTrainedTokenizerFast:
        backend = Tokenizer.from_str(shipped.backend_tokenizer.to_str())
        change(backend)
        return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")

    return {
        "a normalizer": variant(lambda b: setattr(b, "normalizer", normalizers.NFKC())),
        "a prefix space": variant(
            lambda b: setattr(b, "pre_tokenizer", pre_tokenizers.ByteLevel(add_prefix_space=True))),
        "a whitespace split": variant(lambda b: setattr(b, "pre_tokenizer", pre_tokenizers.Whitespace())),
        "a CJK split (the old shipped tokenizer)": variant(lambda b: setattr(
            b, "pre_tokenizer", pre_tokenizers.Sequence([pre_tokenizers.Split(Regex("[\u4e00-\u9fff]"), "isolated"),
                                                         pre_tokenizers.ByteLevel(add_prefix_space=False)]))),
        "digits split": variant(lambda b: setattr(b, "pre_tokenizer", pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]))),
        "a WordPiece model": variant(lambda b: setattr(b, "model", models.WordPiece({"[UNK]": 0, "a": 1}))),
    }


def test_tokenizers_it_cannot_reproduce_are_declined(shipped):
    declined = {name for name, tokenizer in unsupported_variants(shipped).items()
                if PieceCacheEncoder.for_tokenizer(tokenizer) is None}
    assert declined == set(unsupported_variants(shipped))


def test_a_tokenizer_that_reads_special_tokens_as_text_is_declined(shipped):
    reads_them_as_text = PreTrainedTokenizerFast(tokenizer_object=shipped.backend_tokenizer,
                                                 eos_token="<|endoftext|>", split_special_tokens=True)
    assert tokenizer_ids(reads_them_as_text, ["<|im_end|>"]) != tokenizer_ids(shipped, ["<|im_end|>"])
    assert PieceCacheEncoder.for_tokenizer(reads_them_as_text) is None


def test_ids_equal_minimind_tokenizers_on_real_text():
    # A tokenizer trained elsewhere on a large corpus (6,400 tokens, plain ByteLevel), on prose people wrote.
    minimind = Path(__file__).parent / "fixtures" / "minimind"
    backend = Tokenizer.from_str(gzip.decompress((minimind / "tokenizer.json.gz").read_bytes()).decode("utf-8"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>")
    encoder = PieceCacheEncoder.for_tokenizer(tokenizer)
    assert encoder is not None
    texts = [line for name in ("README.md.gz", "README_en.md.gz")
             for line in gzip.decompress((minimind / name).read_bytes()).decode("utf-8").splitlines()]
    assert [encoder.encode(text) for text in texts] == tokenizer_ids(tokenizer, texts)
