"""The byte-level BPE tokenizer: reserved tokens, a standard pre-tokenizer, files that load everywhere, and the
ChatML template (with the assistant mask TRL trains on) that chat stages add."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minillm_core.data.formats import RecordReader
from minillm_core.model.tokenizer import (
    CHAT_TEMPLATE,
    DEFAULT_VOCAB_SIZE,
    RESERVED_TOKENS,
    THINK_AND_TOOL_TOKENS,
    chat_stop_token_ids,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
    with_chat_template,
)
from minillm_core.train.tokenizer_training import split_reserved, train_on_corpus

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL_VOCAB = 600

RECORDS = [
    {"text": "The small language model learns to predict the next token."},
    {"text": "小型语言模型通过预测下一个词来学习。今天天气很好，我们去公园散步吧。"},
    {"text": "Tokenizers split text into pieces; 分词器把文本切成片段。"},
    {"text": "<|im_start|>user\nWhat is a tokenizer? 什么是分词器？<|im_end|>\n<|im_start|>assistant\n"
             "<think>It turns text into numbers.</think>它把文本变成数字。<|im_end|>"},
] * 20

SAMPLES = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "你好，世界！小型语言模型训练很有趣。",
    "Mixed 中英文 text with   spaces ,  odd punctuation .  and\ttabs\n\nnewlines \n",
    "Emoji 😀🚀 family 👩‍👩‍👧 flag 🇨🇳 and unseen scripts: 한국어 العربية ελληνικά",
    " leading and trailing spaces ",
]

PROMPT = "<|im_start|>assistant\n"
MESSAGES = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hi 你好"},
    {"role": "assistant", "content": "Hello 😀 模型\n ok"},
    {"role": "user", "content": "again"},
    {"role": "assistant", "content": "Sure."},
]


def _subprocess_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer((part for record in RECORDS for part in split_reserved(record["text"])),
                           vocab_size=SMALL_VOCAB)


@pytest.fixture(scope="module")
def chat_tokenizer():
    return with_chat_template(train_tokenizer((part for record in RECORDS for part in split_reserved(record["text"])),
                                              vocab_size=SMALL_VOCAB))


@pytest.fixture(scope="module")
def saved_dir(tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    save_tokenizer(tokenizer, out)
    return out


def test_reserved_tokens(tokenizer) -> None:
    assert tokenizer.convert_tokens_to_ids(RESERVED_TOKENS) == list(range(16))
    assert RESERVED_TOKENS[:9] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>",
                                   "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == 0
    assert tokenizer.bos_token is None
    assert chat_stop_token_ids(tokenizer) == [2, 0]
    # Reserved tokens written in text stay single tokens, and nothing is added around a plain encode.
    ids = tokenizer("<|im_start|>user<|im_end|>")["input_ids"]
    assert ids == [1, *tokenizer.encode("user"), 2]
    assert tokenizer.encode("<|endoftext|>") == [0]
    assert tokenizer.encode("<think>hm</think><tool_call>{}</tool_call>") == [3, *tokenizer.encode("hm"), 4, 5,
                                                                              *tokenizer.encode("{}"), 6]
    assert len(RESERVED_TOKENS) + 256 < len(tokenizer) <= SMALL_VOCAB  # reserved + 256 bytes + merges


def test_think_and_tool_tokens_survive_skip_special_tokens(tokenizer) -> None:
    # A parser of thinking and tool calls reads decoded text: these tags must stay; ChatML markers go.
    text = "<|im_start|><think>a</think><tool_call>b</tool_call><tool_response>c</tool_response><|im_end|>"
    assert tokenizer.decode(tokenizer.encode(text), skip_special_tokens=True) == text[12:-10]
    assert all(token in tokenizer.get_vocab() for token in THINK_AND_TOOL_TOKENS)


def test_the_corpus_teaches_no_merges_of_reserved_tokens(tokenizer) -> None:
    # The training text holds <|im_start|>, <think> ...; split_reserved keeps their pieces out of the merges.
    learned = [tokenizer.convert_ids_to_tokens(i) for i in range(len(RESERVED_TOKENS), len(tokenizer))]
    assert not [token for token in learned if "<|" in token or "|>" in token or "think" in token]


def test_the_pre_tokenizer_is_gpt2_byte_level_alone(tokenizer) -> None:
    # The step llama.cpp's converter and other tools recognise (MiniMind's tokenizer has the same).
    config = json.loads(tokenizer.backend_tokenizer.to_str())
    assert config["pre_tokenizer"] == {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                       "use_regex": True}
    assert config["normalizer"] is None
    assert config["decoder"]["type"] == "ByteLevel"


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_is_exact(tokenizer, text: str) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text


def test_merges_were_learned(tokenizer) -> None:
    # A trained BPE needs fewer tokens than bytes for text like its corpus.
    text = "小型语言模型 the small language model"
    assert len(tokenizer.encode(text)) < len(text.encode("utf-8")) / 2


def test_chat_template_renders_chatml(chat_tokenizer) -> None:
    tokenizer = chat_tokenizer
    assert tokenizer.chat_template == CHAT_TEMPLATE
    expected = (
        "<|im_start|>system\nYou are helpful.<|im_end|>\n"
        "<|im_start|>user\nHi 你好<|im_end|>\n"
        "<|im_start|>assistant\nHello 😀 模型\n ok<|im_end|>\n"
        "<|im_start|>user\nagain<|im_end|>\n"
        "<|im_start|>assistant\nSure.<|im_end|>\n"
    )
    assert tokenizer.apply_chat_template(MESSAGES, tokenize=False) == expected


def test_no_default_system_prompt_and_generation_prompt(chat_tokenizer) -> None:
    tokenizer = chat_tokenizer
    user_only = [{"role": "user", "content": "Hi"}]
    assert tokenizer.apply_chat_template(user_only, tokenize=False) == "<|im_start|>user\nHi<|im_end|>\n"
    prompt = tokenizer.apply_chat_template(user_only, tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer.apply_chat_template(user_only, add_generation_prompt=True)["input_ids"]
    assert ids[-len(tokenizer.encode("assistant\n")) - 1 :] == [1, *tokenizer.encode("assistant\n")]
    assert tokenizer.decode(ids) == prompt


def test_assistant_mask_covers_exactly_replies_and_im_end(chat_tokenizer) -> None:
    tokenizer = chat_tokenizer
    # TRL's SFT (assistant_only_loss=True) calls apply_chat_template(..., return_assistant_tokens_mask=True)
    # and keeps the loss where assistant_masks == 1.
    out = tokenizer.apply_chat_template(MESSAGES, return_assistant_tokens_mask=True, return_dict=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask)
    runs = [
        (bit, tokenizer.decode([i for i, _ in run]))
        for bit, run in itertools.groupby(zip(ids, mask, strict=True), lambda x: x[1])
    ]
    assert runs == [
        (0, "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi 你好<|im_end|>\n" + PROMPT),
        (1, "Hello 😀 模型\n ok<|im_end|>"),
        (0, "\n<|im_start|>user\nagain<|im_end|>\n" + PROMPT),
        (1, "Sure.<|im_end|>"),
        (0, "\n"),
    ]
    # The trained span ends on <|im_end|> itself (what TRL's is_chat_template_stop_token_trained checks).
    masked = [i for i, bit in zip(ids, mask, strict=True) if bit]
    assert masked.count(2) == 2 and masked[-1] == 2


def test_prompt_is_a_token_prefix_of_the_full_chat(chat_tokenizer) -> None:
    tokenizer = chat_tokenizer
    # TRL's prompt-completion path needs the generation prompt to tokenize as a prefix of the full chat.
    prompt_ids = tokenizer.apply_chat_template(MESSAGES[:2], add_generation_prompt=True)["input_ids"]
    full_ids = tokenizer.apply_chat_template(MESSAGES[:3])["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids


def test_saved_files_and_model_dir_loading(tokenizer, saved_dir: Path, tmp_path: Path) -> None:
    names = {p.name for p in saved_dir.iterdir()}
    assert names == {"tokenizer.json", "tokenizer_config.json"}  # no chat template: a base model has none
    # transformers 4.x knows PreTrainedTokenizerFast; TokenizersBackend is transformers 5's own alias.
    assert json.loads((saved_dir / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    loaded = load_tokenizer(saved_dir)
    assert loaded.chat_template is None
    assert type(loaded).__name__ == "TokenizersBackend"
    assert [loaded.encode(s) for s in SAMPLES] == [tokenizer.encode(s) for s in SAMPLES]
    # Saved beside a model's config.json (a checkpoint), AutoTokenizer must not swap in the model family's
    # own tokenizer class (Qwen2Tokenizer for qwen3 would re-split text differently).
    checkpoint = tmp_path / "checkpoint"
    save_tokenizer(tokenizer, checkpoint)
    (checkpoint / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    in_checkpoint = load_tokenizer(checkpoint)
    assert type(in_checkpoint).__name__ == "TokenizersBackend"
    assert [in_checkpoint.encode(s) for s in SAMPLES] == [tokenizer.encode(s) for s in SAMPLES]


def test_load_minimind_style_config(saved_dir: Path, tmp_path: Path) -> None:
    # MiniMind's own tokenizer_config.json names "PreTrainedTokenizerFast" and sets eos to <|im_end|>.
    folder = tmp_path / "minimind_tokenizer"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes((saved_dir / "tokenizer.json").read_bytes())
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|im_end|>",
        "bos_token": "<|im_start|>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tok = load_tokenizer(folder)
    assert tok.eos_token_id == 2 and tok.pad_token_id == 2  # pad falls back to eos
    assert chat_stop_token_ids(tok) == [2]


def test_missing_tokenizer_dir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "nothing")


_FRESH_PROCESS = """
import json, sys
from minillm_core.train.tokenizer_training import main
main([sys.argv[1], sys.argv[2], "--vocab-size", sys.argv[3]])
from transformers import AutoTokenizer
from minillm_core.model.tokenizer import with_chat_template
tok = AutoTokenizer.from_pretrained(sys.argv[4])
samples = json.loads(sys.argv[5])
chat = with_chat_template(tok).apply_chat_template(json.loads(sys.argv[6]), return_assistant_tokens_mask=True,
                                                   return_dict=True)
print(json.dumps({
    "class": type(tok).__name__,
    "ids": [tok.encode(s) for s in samples],
    "chat_ids": chat["input_ids"],
    "mask": chat["assistant_masks"],
}))
"""


@pytest.mark.slow
def test_fresh_process_retrains_identically_and_loads_same_ids(corpus_file: Path, tmp_path: Path) -> None:
    # One subprocess does both, to pay for one interpreter start: (1) the command line retrains from the
    # same corpus, in a process with other hash seeds, and must write the same bytes as training here;
    # (2) AutoTokenizer loads the folder saved here and must encode exactly as this process does.
    trained, _ = train_on_corpus(RecordReader(corpus_file, "pretrain"), vocab_size=SMALL_VOCAB)
    saved_dir = tmp_path / "here"
    save_tokenizer(trained, saved_dir)
    retrained = tmp_path / "retrained"
    args = [str(corpus_file), str(retrained), str(SMALL_VOCAB), str(saved_dir), json.dumps(SAMPLES),
            json.dumps(MESSAGES)]
    result = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, *args], capture_output=True, text=True,
                            env=_subprocess_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (retrained / name).read_bytes() == (saved_dir / name).read_bytes(), f"{name} differs"
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["class"] == "TokenizersBackend"
    assert out["ids"] == [trained.encode(s) for s in SAMPLES]
    expected_chat = with_chat_template(trained).apply_chat_template(MESSAGES, return_assistant_tokens_mask=True,
                                                                    return_dict=True)
    assert out["chat_ids"] == expected_chat["input_ids"]
    assert out["mask"] == expected_chat["assistant_masks"]


def test_shipped_tokenizer() -> None:
    tok = load_tokenizer()
    assert tok.convert_tokens_to_ids(RESERVED_TOKENS) == list(range(len(RESERVED_TOKENS)))
    assert tok.eos_token_id == tok.pad_token_id == 0
    assert tok.chat_template is None  # chat stages add CHAT_TEMPLATE
    assert with_chat_template(tok).chat_template == CHAT_TEMPLATE
    assert 259 < len(tok) <= DEFAULT_VOCAB_SIZE
    for text in SAMPLES:
        assert tok.decode(tok.encode(text)) == text
    # Trained on the bilingual corpus (bot-start's vocab_size, 2432): common English words are one token,
    # and Chinese needs fewer tokens than characters.
    assert len(tok) == 2432
    assert len(tok.encode(" the model")) == 2
    assert len(tok.encode("法国的首都是巴黎。")) < len("法国的首都是巴黎。")


def test_split_digits_makes_every_digit_a_token_as_qwen2_does() -> None:
    from minillm_core.data.piece_cache import PieceCacheEncoder
    from minillm_core.model.tokenizer import QWEN2_PATTERN, train_tokenizer

    texts = ["347 + 589 = 936. 1000 apples, 2024 years."] * 50 + ["The capital of France is Paris."] * 50
    digits = train_tokenizer(texts, vocab_size=400, split_digits=True)
    plain = train_tokenizer(texts, vocab_size=400)
    assert digits.tokenize("347 + 589") == ["3", "4", "7", "Ġ+", "Ġ", "5", "8", "9"]
    assert len(plain.tokenize("347 + 589")) < 8  # GPT-2's split lets BPE merge the frequent numbers
    steps = json.loads(digits.backend_tokenizer.to_str())["pre_tokenizer"]["pretokenizers"]
    assert steps[0]["pattern"]["Regex"] == QWEN2_PATTERN and steps[1]["use_regex"] is False
    assert digits.decode(digits("Paris: 2024-11-30")["input_ids"]) == "Paris: 2024-11-30"
    assert PieceCacheEncoder.for_tokenizer(digits) is None  # data preparation falls back to the tokenizer itself
