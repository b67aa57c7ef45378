"""The embedded default dataset: reproducible, well-formed, bilingual, and its eval splits held out."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import EMBEDDED
from tests.helpers import read_embedded as read

DATASET_DIR = Path(__file__).resolve().parents[1] / "dataset"
TRAIN_FILES = ["pretrain.jsonl", "sft.jsonl", "dpo.jsonl"]
EVAL_FILES = ["pretrain_eval.jsonl", "sft_eval.jsonl", "dpo_eval.jsonl"]
MC_FILES = ["mc_identity.jsonl", "mc_arithmetic.jsonl", "mc_facts.jsonl"]
ALL_FILES = TRAIN_FILES + EVAL_FILES + MC_FILES
FROZEN_EVAL_FILES = ["big_arithmetic_eval.jsonl", "tool_wordings_eval.jsonl"]  # eval reads them as they are

EQ_EN = re.compile(r"(\d+) ([+×-]) (\d+) = (\d+)")
EQ_ZH = re.compile(r"(\d+)(加|减|乘)(\d+)等于(\d+)")
OP = {"+": "+", "加": "+", "-": "-", "减": "-", "×": "*", "乘": "*"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def load_generator():
    spec = importlib.util.spec_from_file_location("embedded_generate", DATASET_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict]]:
    return {name: read(name) for name in ALL_FILES}


def equations(text: str) -> list[tuple[int, str, int, int]]:
    found = [(int(a), OP[o], int(b), int(c)) for a, o, b, c in EQ_EN.findall(text)]
    return found + [(int(a), OP[o], int(b), int(c)) for a, o, b, c in EQ_ZH.findall(text)]


def is_right(a: int, op: str, b: int, c: int) -> bool:
    return {"+": a + b, "-": a - b, "*": a * b}[op] == c


def user_prompts(records: list[dict]) -> set[str]:
    out = set()
    for rec in records:
        for conv in (rec.get("conversations"), rec.get("chosen"), rec.get("rejected")):
            out |= {t["content"] for t in conv or [] if t["role"] == "user"}
        if "question" in rec:
            out.add(rec["question"])
    return out


def normalize(prompt: str) -> str:
    return prompt.rstrip("?？.。!！").lower()


def exchanges(records: list[dict], key: str = "conversations"):
    """(user, assistant) pairs of every conversation under `key`."""
    for rec in records:
        turns = [t for t in rec[key] if t["role"] != "system"]
        for user, assistant in zip(turns[::2], turns[1::2], strict=True):
            yield user["content"], assistant["content"]


def test_regenerating_gives_identical_bytes(tmp_path):
    load_generator().main(["--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in EMBEDDED.iterdir())
    for name in ALL_FILES + FROZEN_EVAL_FILES:
        assert (tmp_path / name).read_bytes() == (EMBEDDED / name).read_bytes(), name


def test_small_enough():
    assert sum((EMBEDDED / name).stat().st_size for name in ALL_FILES) < 3_000_000


def check_conversation(conv: list[dict]) -> None:
    roles = [t["role"] for t in conv]
    if roles and roles[0] == "system":
        roles = roles[1:]
    assert roles and len(roles) % 2 == 0, roles
    assert roles == ["user", "assistant"] * (len(roles) // 2), roles
    assert all(isinstance(t["content"], str) and t["content"].strip() for t in conv)


def test_minimind_shapes(data):
    for name in ("pretrain.jsonl", "pretrain_eval.jsonl"):
        assert data[name] and all(set(r) == {"text"} and r["text"].strip() for r in data[name])
    for name in ("sft.jsonl", "sft_eval.jsonl"):
        assert data[name]
        for rec in data[name]:
            assert set(rec) == {"conversations"}
            check_conversation(rec["conversations"])
    assert any(len(r["conversations"]) > 3 for r in data["sft.jsonl"]), "some multi-turn records"
    assert any(r["conversations"][0]["role"] == "system" for r in data["sft.jsonl"])
    for name in ("dpo.jsonl", "dpo_eval.jsonl"):
        assert data[name]
        for rec in data[name]:
            assert set(rec) == {"chosen", "rejected"}
            check_conversation(rec["chosen"])
            check_conversation(rec["rejected"])
            assert rec["chosen"][:-1] == rec["rejected"][:-1], "same user turn"
            assert rec["chosen"][-1]["content"] != rec["rejected"][-1]["content"]
    for name in MC_FILES:
        assert data[name]
        for rec in data[name]:
            assert set(rec) == {"question", "choices", "answer"}
            assert len(rec["choices"]) == 4 and len(set(rec["choices"])) == 4
            assert rec["answer"] in range(4)


def test_eval_prompts_are_held_out(data):
    train = user_prompts(data["sft.jsonl"]) | user_prompts(data["dpo.jsonl"])
    for name in EVAL_FILES[1:] + MC_FILES:
        held = user_prompts(data[name])
        assert held and not held & train, (name, sorted(held & train)[:5])
    # Identity wordings are held out even up to case and final punctuation.
    gen = load_generator()
    eval_identity = {normalize(q) for lang in gen.LANGS for table in (gen.WHO_QUESTIONS, gen.NOT_X_QUESTIONS)
                     for q in table[(lang, "eval")]}
    assert not eval_identity & {normalize(p) for p in train}
    pretrain = {r["text"] for r in data["pretrain.jsonl"]}
    assert not pretrain & {r["text"] for r in data["pretrain_eval.jsonl"]}


def test_identity_answers_say_minillm(data):
    gen = load_generator()
    identity = {normalize(q) for table in (gen.WHO_QUESTIONS, gen.NOT_X_QUESTIONS) for qs in table.values()
                for q in qs} | {normalize(q) for qs in gen.GREETINGS.values() for q in qs}
    seen = 0
    for name, key in [("sft.jsonl", "conversations"), ("sft_eval.jsonl", "conversations"),
                      ("dpo.jsonl", "chosen"), ("dpo_eval.jsonl", "chosen")]:
        for user, assistant in exchanges(data[name], key):
            if normalize(user) in identity:
                seen += 1
                assert "MiniLLM" in assistant, (name, user, assistant)
    assert seen > 300
    for rec in data["mc_identity.jsonl"]:
        assert ["MiniLLM" in c for c in rec["choices"]].count(True) == 1
        assert "MiniLLM" in rec["choices"][rec["answer"]]


def test_arithmetic_right_in_answers_and_wrong_in_rejected(data):
    checked = 0
    for name, key in [("sft.jsonl", "conversations"), ("sft_eval.jsonl", "conversations"),
                      ("dpo.jsonl", "chosen"), ("dpo_eval.jsonl", "chosen")]:
        for _, assistant in exchanges(data[name], key):
            for eq in equations(assistant):
                checked += 1
                assert is_right(*eq), (name, assistant)
    assert checked > 1500
    for name in ("dpo.jsonl", "dpo_eval.jsonl"):
        wrong = 0
        for rec in data[name]:
            good = equations(rec["chosen"][-1]["content"])
            if good:
                bad = equations(rec["rejected"][-1]["content"])
                assert len(bad) == 1 and not is_right(*bad[0]), rec
                assert bad[0][:3] == good[0][:3], "same problem, wrong result"
                wrong += 1
        assert wrong > 50, name
    for rec in data["mc_arithmetic.jsonl"]:
        verdicts = [all(is_right(*eq) for eq in equations(c)) and bool(equations(c)) for c in rec["choices"]]
        assert verdicts.count(True) == 1 and verdicts[rec["answer"]], rec
    for rec in data["pretrain.jsonl"] + data["pretrain_eval.jsonl"]:
        assert all(is_right(*eq) for eq in equations(rec["text"])), rec["text"]


def test_both_languages_in_every_file():
    for name in ALL_FILES:
        lines = (EMBEDDED / name).read_text(encoding="utf-8").splitlines()
        assert any(CJK.search(line) for line in lines), f"{name}: no Chinese"
        assert any(line.isascii() for line in lines), f"{name}: no English-only record"


def test_registry_entries():
    registry = yaml.safe_load((DATASET_DIR / "registry.yaml").read_text(encoding="utf-8"))
    expected = {"embedded-pretrain": "pretrain", "embedded-sft": "sft", "embedded-dpo": "dpo",
                "embedded-pretrain-eval": "pretrain", "embedded-sft-eval": "sft", "embedded-dpo-eval": "dpo"}
    for name, kind in expected.items():
        entry = registry[name]
        assert entry["kind"] == kind and entry["format"] == "minimind" and entry["description"]
        assert (DATASET_DIR / entry["file"]).is_file(), entry["file"]
    hub = {name: e for name, e in registry.items() if "hub" in e}
    assert len(hub) >= 9
    for name, entry in hub.items():
        assert entry["hub"]["repo"] == "jingyaogong/minimind_dataset", name
        assert entry["kind"] in ("pretrain", "sft", "dpo") and entry["file"] == entry["hub"]["file"]
