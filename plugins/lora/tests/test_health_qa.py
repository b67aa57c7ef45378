"""The lora plugin's data: the health-qa format, and the shipped files are what the generator writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from minillm_skill_lora import generate
from minillm_skill_lora.health_qa import looks_like, to_chat

from minillm_core.api import RecordError


def test_a_record_becomes_a_one_turn_chat_and_a_bad_one_says_why():
    assert to_chat({"question": "Q?", "answer": "A.", "key": "A"}) == {
        "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}
    with pytest.raises(RecordError, match='"answer" must be a non-empty string'):
        to_chat({"question": "Q?", "answer": "  "})
    assert looks_like({"question": "", "answer": ""}) and not looks_like({"text": "x"})


def test_the_shipped_files_are_the_generator_output_and_held_out_questions_are_new():
    files = generate.records()
    for name, rows in files.items():
        shipped = (generate.DATA / name).read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in shipped] == rows, f"{name}: run python -m minillm_skill_lora.generate"
    train = {row["question"] for row in files["health_qa.jsonl"]}
    held_out = files["health_qa_eval.jsonl"]
    assert len(held_out) == 40 and not train & {row["question"] for row in held_out}
    assert all(row["key"] in row["answer"] for rows in files.values() for row in rows)
    assert Path(generate.__file__).parent / "data" == generate.DATA
