"""The tokenizer skill: compact on real text, reproducible, sampling, and safe with bad input and foreign folders."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.contract.outputs import MARKER
from minillm_core.model.tokenizer import default_tokenizer_dir, load_tokenizer, tokenizer_sha256

MINIMIND = Path(__file__).parent / "fixtures" / "minimind"


def run_tokenizer(workdir: Path, *sets: str) -> tuple[int, dict | None, str]:
    args = ["run", "tokenizer", "--workdir", str(workdir), "--json"] + [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result.exit_code, report, result.stdout + result.stderr


def paragraphs(markdown: str) -> list[str]:
    """A README's prose: paragraphs of 20 characters or more, code blocks, tables and images left out."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return [part.strip() for part in re.split(r"\n\s*\n", text)
            if len(part.strip()) >= 20 and not part.strip().startswith(("|", "![", "<"))]


@pytest.fixture(scope="module")
def real_text(tmp_path_factory) -> Path:
    """MiniMind's READMEs (Chinese and English technical prose) as a pretraining JSONL, one paragraph a record."""
    path = tmp_path_factory.mktemp("real") / "minimind_readmes.jsonl"
    texts = [para for name in ("README.md.gz", "README_en.md.gz")
             for para in paragraphs(gzip.decompress((MINIMIND / name).read_bytes()).decode("utf-8"))]
    path.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def minimind_tokenizer(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("minimind_tokenizer")
    (folder / "tokenizer.json").write_bytes(gzip.decompress((MINIMIND / "tokenizer.json.gz").read_bytes()))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                                              "eos_token": "<|im_end|>"}))
    return folder


def test_on_real_text_it_holds_more_text_per_token_than_minimind(tmp_path, real_text, minimind_tokenizer):
    code, report, output = run_tokenizer(tmp_path, f"dataset={real_text}", f"compare={minimind_tokenizer}")
    assert code == 0, output
    metrics = report["stages"][0]["metrics"]
    assert metrics["vocab_size"] == metrics["asked_vocab_size"] == metrics["model_vocab_rows"] == 6400
    assert metrics["held_out_tokens"] > 500  # enough held-out text (18 paragraphs) for the figure to mean something
    reference = metrics["compare"]
    assert reference["vocab_size"] == 6400  # MiniMind's: the same size, so the comparison is fair
    assert metrics["bytes_per_token"] >= reference["bytes_per_token"], (metrics, reference)
    assert metrics["chars_per_token"] >= reference["chars_per_token"]
    assert 0 < metrics["vocab_used"] <= 1
    # What was written is what was measured, and it loads as any Hugging Face tokenizer.
    saved = load_tokenizer(tmp_path / "out" / "tokenizer")
    assert tokenizer_sha256(saved) == metrics["sha256"]
    assert (tmp_path / "out" / "tokenizer" / MARKER).is_file()


def test_on_the_embedded_corpus_it_writes_the_shipped_tokenizer_byte_for_byte(tmp_path):
    # The shipped default is this skill's output with bot-start's settings: the same code, reproducible.
    code, report, output = run_tokenizer(tmp_path, "vocab_size=2432")
    assert code == 0, output
    written = tmp_path / "out" / "tokenizer"
    assert (written / "tokenizer.json").read_bytes() == (default_tokenizer_dir() / "tokenizer.json").read_bytes()
    metrics = report["stages"][0]["metrics"]
    assert metrics["dataset"] == "embedded-pretrain"
    assert metrics["model_vocab_rows"] % 64 == 0 and 0 <= metrics["model_vocab_rows"] - metrics["vocab_size"] < 64
    assert metrics["held_out_records"] == metrics["records"] // 50


def test_a_corpus_larger_than_sample_mb_is_sampled_across_the_whole_file(tmp_path):
    corpus = tmp_path / "big.jsonl"
    records = [{"text": f"Document {i} is about topic {i % 7} at some length, again and again."} for i in range(4000)]
    corpus.write_text("".join(json.dumps(record) + "\n" for record in records))
    size_mb = corpus.stat().st_size / 2**20
    code, report, output = run_tokenizer(tmp_path, f"dataset={corpus}", f"sample_mb={size_mb / 3.96:.4f}")
    assert code == 0, output
    metrics = report["stages"][0]["metrics"]
    assert metrics["records"] == 4000  # read to the end: the sample spreads over the whole file ...
    assert 900 <= metrics["trained_records"] <= 1100  # ... and takes about one record in four
    assert metrics["held_out_records"] == 80


def test_a_malformed_record_fails_naming_its_line_and_keeps_the_tokenizer_already_there(tmp_path, real_text):
    code, _, output = run_tokenizer(tmp_path, f"dataset={real_text}", "vocab_size=800")
    assert code == 0, output
    before = (tmp_path / "out" / "tokenizer" / "tokenizer.json").read_bytes()
    broken = tmp_path / "broken.jsonl"
    lines = real_text.read_text(encoding="utf-8").splitlines()
    broken.write_text("\n".join(lines[:40] + ['{"text": "cut short'] + lines[40:80]) + "\n", encoding="utf-8")
    code, report, output = run_tokenizer(tmp_path, f"dataset={broken}", "vocab_size=800")
    assert code == 1, output
    stage = report["stages"][0]
    assert f"{broken}:41" in stage["error"] and "lenient" in stage["hint"]
    assert (tmp_path / "out" / "tokenizer" / "tokenizer.json").read_bytes() == before
    code, report, output = run_tokenizer(tmp_path, f"dataset={broken}", "vocab_size=800", "lenient=true")
    assert code == 0, output
    assert report["stages"][0]["metrics"]["skipped_records"] == 1


def test_a_folder_it_did_not_write_is_refused(tmp_path):
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, _, output = run_tokenizer(tmp_path, "output=my-notes")
    assert code == 2 and "my-notes" in output
    assert (mine / "notes.txt").read_text() == "keep me"


def test_a_bad_vocab_size_is_a_usage_error(tmp_path):
    code, _, output = run_tokenizer(tmp_path, "vocab_size=100")
    assert code == 2 and "vocab_size" in output
