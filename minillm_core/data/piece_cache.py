"""Tokenize many documents fast: split them as the tokenizer does, and encode each distinct piece once.

A byte-level BPE tokenizer (GPT-2's, MiniMind's, ours) encodes a text in three steps: cut out the added
tokens (``<|endoftext|>`` ...), split the rest into pieces with one regex, then run BPE on each piece
alone. Hugging Face tokenizers does all three per call in Rust, but it also builds a full Encoding (token
strings, offsets, masks) per document: on the benchmark machine that is ~1.5 MB/s per core, the slowest
step of data preparation. Text repeats its words, so splitting with the same regex and looking each piece
up in a dict, running the tokenizer's own BPE model on a piece only the first time it is seen, gives the
same ids 4-5x faster (bench/run.py measures both).

Only pipelines this reproduces exactly are served: no normalizer, added tokens without strip options,
and GPT-2's ByteLevel pre-tokenizer (ours, MiniMind's). `PieceCacheEncoder.for_tokenizer` returns None for
any other tokenizer (a custom Split step, Qwen2's regex ...), and the caller uses the tokenizer itself.
tests/test_piece_cache.py compares the ids with the tokenizer's on the shipped corpora and random text.
"""

from __future__ import annotations

import functools
import json
import sys
import unicodedata

import regex
from tokenizers import pre_tokenizers

# GPT-2's pre-token regex, as the tokenizers ByteLevel pre-tokenizer uses it (use_regex=True).
_CONTRACTIONS = r"'s|'t|'re|'ve|'m|'ll|'d"
GPT2_PATTERN = _CONTRACTIONS + r"| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_MAX_CACHED_PIECES = 200_000  # then the cache starts afresh, so memory stays bounded on any data


class _UnsureSplit(Exception):
    """A piece holds a character whose class the two Unicode tables may disagree on."""


class PieceCacheEncoder:
    """`encode(text)` gives the ids the tokenizer gives for `text` with add_special_tokens=False."""

    def __init__(self, backend, pattern: str, added_tokens: dict[str, int]) -> None:
        self._backend = backend
        self._unassigned = unassigned_characters()
        self._model = backend.model
        self._pieces = regex.compile(pattern)
        # Longest first, so of two added tokens starting at one place the longer wins, as in tokenizers.
        ordered = sorted(added_tokens, key=len, reverse=True)
        self._added = regex.compile("|".join(regex.escape(token) for token in ordered)) if ordered else None
        self._added_ids = added_tokens
        self._to_bytes_alphabet = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def for_tokenizer(cls, tokenizer) -> PieceCacheEncoder | None:
        """An encoder for a transformers fast tokenizer, or None where its pipeline is not one this reproduces."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None or getattr(tokenizer, "split_special_tokens", False):  # special tokens read as text
            return None
        config = json.loads(backend.to_str())
        if config.get("normalizer") is not None or config["model"].get("type") != "BPE":
            return None
        if config["model"].get("dropout") not in (None, 0.0):
            return None
        added = config.get("added_tokens") or []
        if any(token.get(option) for token in added for option in ("lstrip", "rstrip", "single_word")):
            return None
        pattern = pre_token_pattern(config.get("pre_tokenizer"))
        if pattern is None:
            return None
        return cls(backend, pattern, {token["content"]: token["id"] for token in added})

    def encode(self, text: str) -> list[int]:
        try:
            return self._encode_split(text)
        except _UnsureSplit:  # see unassigned_characters: the library decides this text
            return self._backend.encode(text, add_special_tokens=False).ids

    def _encode_split(self, text: str) -> list[int]:
        if self._added is None:
            return self._encode_pieces(text)
        ids: list[int] = []
        start = 0
        for match in self._added.finditer(text):
            ids += self._encode_pieces(text[start:match.start()])
            ids.append(self._added_ids[match.group()])
            start = match.end()
        return ids + self._encode_pieces(text[start:])

    def _encode_pieces(self, text: str) -> list[int]:
        cache = self._cache
        if len(cache) > _MAX_CACHED_PIECES:
            cache.clear()
        ids: list[int] = []
        for piece in self._pieces.findall(text):
            piece_ids = cache.get(piece)
            if piece_ids is None:
                # Every character lands in some piece, so checking new pieces checks the whole text.
                if self._unassigned.search(piece):
                    raise _UnsureSplit
                piece_ids = cache[piece] = self._encode_piece(piece)
            ids += piece_ids
        return ids

    def _encode_piece(self, piece: str) -> list[int]:
        ((symbols, _offsets),) = self._to_bytes_alphabet.pre_tokenize_str(piece)
        return [token.id for token in self._model.tokenize(symbols)]


@functools.cache
def unassigned_characters() -> regex.Pattern:
    """The code points this Python's Unicode data leaves unassigned, as a regex class (0.3 s, once).

    The tokenizers library and the regex module each carry their own Unicode version, and a character
    assigned in one and not the other (a letter to one, nothing to the other) splits differently. Texts
    holding one are rare (new scripts, unassigned code points) and go to the library itself.
    """
    ranges, start = [], None
    for code in range(sys.maxunicode + 2):
        unassigned = code <= sys.maxunicode and unicodedata.category(chr(code)) == "Cn"
        if unassigned and start is None:
            start = code
        elif not unassigned and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{code - 1:08x}")
            start = None
    return regex.compile("[" + "".join(ranges) + "]")


def pre_token_pattern(pre_tokenizer: dict | None) -> str | None:
    """The single regex that splits text as `pre_tokenizer` (a tokenizer.json entry) does, or None."""
    if _is_gpt2_byte_level(pre_tokenizer):
        return GPT2_PATTERN
    if pre_tokenizer and pre_tokenizer.get("type") == "Sequence":  # a Sequence of that one step alone
        steps = pre_tokenizer.get("pretokenizers") or []
        if len(steps) == 1 and _is_gpt2_byte_level(steps[0]):
            return GPT2_PATTERN
    return None


def _is_gpt2_byte_level(step: dict | None) -> bool:
    return (bool(step) and step.get("type") == "ByteLevel" and step.get("use_regex", True)
            and not step.get("add_prefix_space", False))
