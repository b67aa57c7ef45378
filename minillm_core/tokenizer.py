"""The tokenizer: a MiniMind-style byte-level BPE with a ChatML chat template.

Special tokens (ids fixed, the same as MiniMind's own tokenizer, so either tokenizer fits the presets):

    0 <|endoftext|>   end of a pretraining document; also the pad and unk token
    1 <|im_start|>    opens a chat turn
    2 <|im_end|>      closes a chat turn: what a chat model emits to stop

The tokenizer's ``eos_token`` is ``<|endoftext|>`` (TRL appends it to plain-text pretraining records).
Chat generation must stop on ``<|im_end|>`` too: ``chat_stop_token_ids(tokenizer)`` gives the ids for
the generation config's ``eos_token_id`` (the presets already set ``eos_token_id=[2, 0]``).

Reproduce the shipped default tokenizer with:

    python -m minillm_core.tokenizer --corpus dataset/embedded/pretrain.jsonl \\
        --corpus dataset/embedded/sft.jsonl --out minillm_core/assets/tokenizer
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from minillm_core.resources import assets_dir

DEFAULT_VOCAB_SIZE = 6400
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
# CJK Unified Ideographs (extension A, the main block, compatibility ideographs).
CJK_CHARACTER = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
# RoPE has no learned positions, so this is only the longest input the tokenizer will not warn about.
MODEL_MAX_LENGTH = 32768

# ChatML, one line per message, no default system prompt. The {% generation %} block marks what the
# assistant writes, <|im_end|> included (so the model learns to stop) and the newline after it excluded
# (the template adds it, the model never has to): TRL's assistant_only_loss trains on exactly that.
CHAT_TEMPLATE = r"""{%- for message in messages %}
    {%- if message['role'] == 'assistant' %}
        {{- '<|im_start|>assistant\n' }}
        {%- generation %}
            {{- message['content'] + '<|im_end|>' }}
        {%- endgeneration %}
        {{- '\n' }}
    {%- else %}
        {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}"""


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` and wrap it as a Hugging Face tokenizer with the ChatML template.

    The vocabulary holds the 3 special tokens, the 256 byte symbols, then merges until `vocab_size`;
    a small corpus can run out of pairs to merge first, so ``len(tokenizer)`` may be below `vocab_size`.
    """
    backend = Tokenizer(models.BPE())
    # Each CJK character is a piece of its own. Without this, a run of Chinese characters (no spaces)
    # is one "word" to BPE, and on a small corpus the merges grow whole phrases into single tokens that
    # never recur outside it. Then byte-level: any UTF-8 text (emoji too) encodes with no unknown token.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CJK_CHARACTER), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Equally frequent pairs are merged in a fixed order, so the same corpus gives the same files,
    # whatever the number of threads (tests/test_tokenizer.py checks it across processes).
    backend.train_from_iterator(texts, trainer=trainer)
    return _wrap(backend)


def _wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=None,  # nothing is prepended: documents end with eos, chat turns open with <|im_start|>
        eos_token=ENDOFTEXT,
        pad_token=ENDOFTEXT,  # TRL pads labels with -100, so padding with eos never hides a real eos
        unk_token=ENDOFTEXT,  # never produced (byte-level), but some tools expect one
        chat_template=CHAT_TEMPLATE,
        model_max_length=MODEL_MAX_LENGTH,
        clean_up_tokenization_spaces=False,  # decode must give back the exact text
    )


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir: Path) -> None:
    """Write `tokenizer` as a Hugging Face tokenizer folder (tokenizer.json, tokenizer_config.json,
    chat_template.jinja) that ``AutoTokenizer.from_pretrained(out_dir)`` loads."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))


def default_tokenizer_dir() -> Path:
    """The folder of the tokenizer shipped inside the package."""
    return assets_dir() / "tokenizer"


def load_tokenizer(path: str | Path | None = None) -> PreTrainedTokenizerFast:
    """Load a tokenizer folder: ours, a checkpoint's, or any user one (e.g. MiniMind's own files).

    None loads the shipped default. Remote code is never run: a folder that needs it fails to load.
    """
    path = Path(path) if path is not None else default_tokenizer_dir()
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise FileNotFoundError(f"no tokenizer in {path} (expected tokenizer.json / tokenizer_config.json)")
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # batching needs a pad token; eos is the usual stand-in
    return tokenizer


def chat_stop_token_ids(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """Token ids that end a chat reply: <|im_end|> (when the vocabulary has it) and the eos token.

    Use it as the generation config's ``eos_token_id`` so ``model.generate`` stops at the end of a turn.
    """
    ids = []
    vocab = tokenizer.get_vocab()
    if IM_END in vocab:
        ids.append(vocab[IM_END])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


# --- training corpus -------------------------------------------------------------------------------


def texts_from_record(record: dict) -> Iterator[str]:
    """The texts of one JSONL record: a "text" field, and the contents of conversations
    ("conversations" / "messages", and DPO "chosen" / "rejected"), in MiniMind, OpenAI or ShareGPT style."""
    if isinstance(record.get("text"), str):
        yield record["text"]
    for key in ("conversations", "messages", "chosen", "rejected"):
        turns = record.get(key)
        if not isinstance(turns, list):
            continue
        for turn in turns:
            if isinstance(turn, dict):
                content = turn.get("content", turn.get("value"))
                if isinstance(content, str):
                    yield content


def read_corpus(paths: Iterable[Path]) -> Iterator[str]:
    """Every text of every record of the JSONL files, in file order."""
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield from texts_from_record(json.loads(line))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the byte-level BPE tokenizer on JSONL corpora.")
    parser.add_argument("--corpus", type=Path, action="append", required=True, help="a JSONL file (repeat)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the tokenizer into")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
    args = parser.parse_args(argv)
    tokenizer = train_tokenizer(read_corpus(args.corpus), vocab_size=args.vocab_size)
    save_tokenizer(tokenizer, args.out)
    print(f"wrote {args.out}: vocab size {len(tokenizer)} (asked for {args.vocab_size})")


if __name__ == "__main__":
    main()
