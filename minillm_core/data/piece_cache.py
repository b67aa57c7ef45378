"""Tokenize many documents fast: split them as the tokenizer does, and encode each distinct piece once.

A byte-level BPE tokenizer (GPT-2's, MiniMind's, ours) encodes a text in three steps: cut out the added
tokens (``<|endoftext|>`` ...), split the rest into pieces with one regex, then run BPE on each piece
alone. Hugging Face tokenizers does all three per call in Rust, but it also builds a full Encoding (token
strings, offsets, masks) per document: on the benchmark machine that is ~1.5 MB/s per core, the slowest
step of data preparation. Text repeats its words, so splitting with the same regex and looking each piece
up in a dict, running the tokenizer's own BPE model on a piece only the first time it is seen, gives the
same ids 4-5x faster (bench/run.py measures both).

Only pipelines this reproduces exactly are served: no normalizer, added tokens without strip options,
and a pre-tokenizer that is GPT-2's ByteLevel regex, optionally after a Split that isolates each
character of one class (the shipped tokenizer isolates CJK characters). `PieceCacheEncoder.for_tokenizer`
returns None for any other tokenizer, and the caller uses the tokenizer itself.
tests/test_piece_cache.py compares the ids with the tokenizer's on the shipped corpora and random text.
"""

from __future__ import annotations

import json

import regex
from tokenizers import pre_tokenizers

# GPT-2's pre-token regex, as the tokenizers ByteLevel pre-tokenizer uses it (use_regex=True).
_CONTRACTIONS = r"'s|'t|'re|'ve|'m|'ll|'d"
GPT2_PATTERN = _CONTRACTIONS + r"| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_MAX_CACHED_PIECES = 200_000  # then the cache starts afresh, so memory stays bounded on any data


class PieceCacheEncoder:
    """`encode(text)` gives the ids the tokenizer gives for `text` with add_special_tokens=False."""

    def __init__(self, backend, pattern: str, added_tokens: dict[str, int]) -> None:
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
                piece_ids = cache[piece] = self._encode_piece(piece)
            ids += piece_ids
        return ids

    def _encode_piece(self, piece: str) -> list[int]:
        ((symbols, _offsets),) = self._to_bytes_alphabet.pre_tokenize_str(piece)
        return [token.id for token in self._model.tokenize(symbols)]


def pre_token_pattern(pre_tokenizer: dict | None) -> str | None:
    """The single regex that splits text as `pre_tokenizer` (a tokenizer.json entry) does, or None."""
    if _is_gpt2_byte_level(pre_tokenizer):
        return GPT2_PATTERN
    if not pre_tokenizer or pre_tokenizer.get("type") != "Sequence":
        return None
    steps = pre_tokenizer.get("pretokenizers") or []
    if len(steps) != 2 or not _is_gpt2_byte_level(steps[1]):
        return None
    return _isolating_pattern(steps[0])


def _is_gpt2_byte_level(step: dict | None) -> bool:
    return (bool(step) and step.get("type") == "ByteLevel" and step.get("use_regex", True)
            and not step.get("add_prefix_space", False))


def _isolating_pattern(split: dict) -> str | None:
    """GPT-2's regex where each character of a class is a piece of its own (Split, behavior Isolated).

    The Split cuts the text at those characters before GPT-2's regex runs, so no other piece may hold one,
    and a piece that ends where one follows ends as at the end of the text: each class of GPT-2's pattern
    leaves them out, and `(?!\\S)` becomes "not followed by a non-space that is not one of them".
    """
    character_class = (split.get("pattern") or {}).get("Regex")
    if (split.get("type") != "Split" or split.get("behavior") != "Isolated" or split.get("invert")
            or not character_class or not regex.fullmatch(r"\[[^\^\[\]\\][^\[\]\\]*\]", character_class)):
        return None
    members = character_class[1:-1]
    if regex.search(character_class, "'stremvld \t\r\n\u3000"):  # would change contractions or spaces
        return None
    return (f"{character_class}|{_CONTRACTIONS}"
            rf"| ?[^\P{{L}}{members}]+| ?[^\P{{N}}{members}]+| ?[^\s\p{{L}}\p{{N}}{members}]+"
            rf"|\s+(?![^\s{members}])|\s+")
