"""The dataset readers: every format and kind, detection, and the errors users see."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from minillm_core.data.formats import (
    MAX_KEPT_ERRORS,
    DataError,
    DatasetFileNotFoundError,
    RecordReader,
    detect_format,
    sniff,
)

USER = {"role": "user", "content": "What is 2+2?"}
ASSISTANT = {"role": "assistant", "content": "4"}
SFT_MESSAGES = [USER, ASSISTANT]


def write_jsonl(path: Path, records: list) -> Path:
    """Records are dicts (dumped as JSON) or strings (written as they are, for broken lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read(path: Path, kind: str, **options) -> list[dict]:
    return list(RecordReader(path, kind, **options))


# --- minimind


def test_minimind_pretrain_skips_blank_lines(tmp_path):
    path = write_jsonl(tmp_path / "pre.jsonl", [{"text": "one"}, "", "  ", {"text": "two", "id": 7}])
    assert read(path, "pretrain") == [{"text": "one"}, {"text": "two"}]


def test_minimind_sft_keeps_system_and_thinking_and_ignores_extra_keys(tmp_path):
    conversation = [{"role": "system", "content": "Be brief."}, USER,
                    {"role": "assistant", "content": "4", "reasoning_content": "2+2", "extra": 1}]
    path = write_jsonl(tmp_path / "sft.jsonl", [{"conversations": conversation, "source": "x"}])
    assert read(path, "sft") == [{"messages": [{"role": "system", "content": "Be brief."}, USER,
                                               {**ASSISTANT, "reasoning_content": "2+2"}]}]


def test_minimind_dpo_splits_the_shared_prompt(tmp_path):
    bad = {"role": "assistant", "content": "5"}
    path = write_jsonl(tmp_path / "dpo.jsonl", [{"chosen": [USER, ASSISTANT], "rejected": [USER, bad]}])
    assert read(path, "dpo") == [{"prompt": [USER], "chosen": [ASSISTANT], "rejected": [bad]}]


def test_minimind_dpo_with_different_prompts_is_an_error(tmp_path):
    other = {"role": "user", "content": "What is 3+3?"}
    record = {"chosen": [USER, ASSISTANT], "rejected": [other, ASSISTANT]}
    path = write_jsonl(tmp_path / "dpo.jsonl", [record])
    with pytest.raises(DataError, match=r"dpo\.jsonl:1: chosen and rejected must have the same prompt"):
        read(path, "dpo")


# --- text


def test_text_reads_one_document_per_line(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes("\ufefffirst document\r\n\n   \nsecond\n".encode())
    assert read(path, "pretrain") == [{"text": "first document"}, {"text": "second"}]
    assert detect_format(path) == "text"


def test_text_has_no_sft_records(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("a line\n")
    with pytest.raises(DataError, match=r"corpus\.txt: text files hold pretrain records, not sft"):
        RecordReader(path, "sft")


# --- openai


def test_openai_sft_from_jsonl_and_json_array(tmp_path):
    record = {"messages": SFT_MESSAGES}
    jsonl = write_jsonl(tmp_path / "chat.jsonl", [record])
    array = tmp_path / "chat.json"
    array.write_text(json.dumps([record, record], indent=2))
    assert read(jsonl, "sft") == [{"messages": SFT_MESSAGES}]
    assert read(array, "sft") == [{"messages": SFT_MESSAGES}] * 2


def test_openai_dpo_accepts_strings_and_message_lists(tmp_path):
    path = write_jsonl(tmp_path / "dpo.jsonl", [
        {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
        {"messages": [USER], "chosen": [ASSISTANT], "rejected": [{"role": "assistant", "content": "5"}]},
    ])
    expected = {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [{"role": "assistant", "content": "5"}]}
    assert read(path, "dpo") == [expected, expected]


# --- alpaca


def test_alpaca_sft_joins_instruction_and_input(tmp_path):
    path = write_jsonl(tmp_path / "alpaca.jsonl", [
        {"instruction": "Translate", "input": "bonjour", "output": "hello"},
        {"instruction": "Say hi", "input": "", "output": "hi", "system": "Be kind.",
         "history": [["first?", "yes"]]},
    ])
    first, second = read(path, "sft")
    assert first == {"messages": [{"role": "user", "content": "Translate\nbonjour"},
                                  {"role": "assistant", "content": "hello"}]}
    assert second["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "first?"}, {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"},
    ]


def test_alpaca_dpo_from_output_pair_or_chosen_rejected(tmp_path):
    path = write_jsonl(tmp_path / "alpaca_dpo.jsonl", [
        {"instruction": "What is 2+2?", "output": ["4", "5"]},
        {"instruction": "What is 2+2?", "input": "", "chosen": "4", "rejected": "5"},
    ])
    expected = {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [{"role": "assistant", "content": "5"}]}
    assert read(path, "dpo") == [expected, expected]


def test_alpaca_has_no_pretrain_records(tmp_path):
    path = write_jsonl(tmp_path / "alpaca.jsonl", [{"instruction": "a", "output": "b"}])
    with pytest.raises(DataError, match=r"alpaca\.jsonl: alpaca files hold sft or dpo records, not pretrain"):
        RecordReader(path, "pretrain")


# --- sharegpt


def test_sharegpt_sft_maps_speakers_and_system_column(tmp_path):
    path = write_jsonl(tmp_path / "share.jsonl", [
        {"conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}],
         "system": "Be brief."},
    ])
    assert read(path, "sft") == [{"messages": [{"role": "system", "content": "Be brief."}, USER, ASSISTANT]}]


def test_sharegpt_dpo(tmp_path):
    path = write_jsonl(tmp_path / "share_dpo.jsonl", [
        {"conversations": [{"from": "human", "value": "What is 2+2?"}],
         "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}},
    ])
    assert read(path, "dpo") == [
        {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [{"role": "assistant", "content": "5"}]}
    ]


# --- column mapping


def test_columns_map_standard_names_to_the_files_columns(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "What is 2+2?", "answer": "4"}])
    records = read(path, "sft", format="alpaca", columns={"instruction": "question", "output": "answer"})
    assert records == [{"messages": SFT_MESSAGES}]


def test_columns_accept_llama_factory_names(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"q": "What is 2+2?", "a": "4"}])
    assert read(path, "sft", format="alpaca", columns={"prompt": "q", "response": "a"}) == [
        {"messages": SFT_MESSAGES}
    ]
    dialog = write_jsonl(tmp_path / "dialog.jsonl", [
        {"dialog": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]}
    ])
    records = read(dialog, "sft", format="sharegpt", columns={"messages": "dialog"})
    assert records == [{"messages": SFT_MESSAGES}]


def test_error_expectation_uses_the_mapped_column_names(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "What is 2+2?"}])
    with pytest.raises(DataError) as error:
        read(path, "sft", format="alpaca", columns={"instruction": "question", "output": "answer"})
    assert 'record has no "answer" field (its fields: question)' in str(error.value)
    assert '{"question": "...", "input": "", "answer": "..."}' in str(error.value)


# --- errors: file, 1-based line, what is wrong, what was expected

GOOD = {
    ("minimind", "pretrain"): {"text": "fine"},
    ("minimind", "sft"): {"conversations": SFT_MESSAGES},
    ("minimind", "dpo"): {"chosen": SFT_MESSAGES, "rejected": [USER, {"role": "assistant", "content": "5"}]},
    ("openai", "sft"): {"messages": SFT_MESSAGES},
    ("alpaca", "sft"): {"instruction": "a", "output": "b"},
    ("alpaca", "dpo"): {"instruction": "a", "output": ["b", "c"]},
    ("sharegpt", "sft"): {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
}


@pytest.mark.parametrize(("format", "kind", "bad", "problem", "expected"), [
    ("minimind", "sft", '{"conversations": [', "not valid JSON", '{"conversations": [{"role": "user"'),
    ("minimind", "sft", "[1, 2]", "a record must be a JSON object, got list", '{"conversations"'),
    ("minimind", "sft", {"messages": SFT_MESSAGES},
     'record has no "conversations" field (its fields: messages)', '{"conversations"'),
    ("minimind", "sft", {"conversations": [USER, USER]},
     "conversation must alternate user/assistant turns, got user then user", '{"conversations"'),
    ("minimind", "sft", {"conversations": [ASSISTANT, USER, ASSISTANT]},
     "conversation must start with a user turn, got assistant", '{"conversations"'),
    ("minimind", "sft", {"conversations": [USER, ASSISTANT, USER]},
     "conversation must end with an assistant turn, got user", '{"conversations"'),
    ("minimind", "sft", {"conversations": [USER, {"role": "assistant", "content": "  "}]},
     "assistant content is empty", '{"conversations"'),
    ("minimind", "sft", {"conversations": [{"role": "bot", "content": "x"}]},
     'unknown role "bot"', '{"conversations"'),
    ("minimind", "sft", {"conversations": [USER, ASSISTANT, {"role": "system", "content": "late"}, USER,
                                           ASSISTANT]},
     "a system message may only come first", '{"conversations"'),
    ("minimind", "pretrain", {"text": " \n "}, "text is empty", '{"text": "..."}'),
    ("minimind", "pretrain", {"text": 3}, "text must be a string, got int", '{"text": "..."}'),
    ("minimind", "dpo", {"chosen": [USER, ASSISTANT], "rejected": [USER]},
     "rejected must end with an assistant turn", '{"chosen": [{"role": "user"'),
    ("openai", "sft", {"messages": "hello"}, "messages must be a list, got str", '{"messages"'),
    ("alpaca", "sft", {"instruction": "a"}, 'record has no "output" field', '{"instruction": "...", "input"'),
    ("alpaca", "dpo", {"instruction": "a", "output": "b"}, "output must be a list of two answers",
     '{"instruction": "...", "input": "", "output": ["good", "bad"]}'),
    ("sharegpt", "sft", {"conversations": [{"from": "human", "value": "a"}, {"from": "bot", "value": "b"}]},
     'unknown speaker "bot"', '{"conversations": [{"from": "human"'),
])
def test_bad_record_names_file_line_problem_and_expectation(tmp_path, format, kind, bad, problem, expected):
    path = write_jsonl(tmp_path / "data.jsonl", [GOOD[(format, kind)], bad])
    with pytest.raises(DataError) as error:
        read(path, kind, format=format)
    message = str(error.value)
    assert message.startswith(f"{path}:2: ")
    assert problem in message
    assert f"; expected {expected}" in message
    assert error.value.line == 2 and error.value.path == path


def test_broken_json_array_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": "b",}\n]\n')
    records = RecordReader(path, "pretrain", format="minimind")
    with pytest.raises(DataError, match=r"broken\.json:3: not valid JSON"):
        list(records)


def test_json_array_records_report_the_line_they_start_on(tmp_path):
    path = tmp_path / "array.json"
    path.write_text('[\n  {"text": "a"},\n\n  {"text": ""}\n]')
    with pytest.raises(DataError, match=r"array\.json:4: text is empty"):
        read(path, "pretrain")


def test_non_utf8_line_is_a_record_error(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(DataError, match=r"latin\.txt:2: not UTF-8 text"):
        read(path, "pretrain")


def test_missing_file_is_a_file_not_found_data_error(tmp_path):
    path = tmp_path / "nowhere.jsonl"
    with pytest.raises(FileNotFoundError) as error:
        RecordReader(path, "sft")
    assert isinstance(error.value, DataError) and isinstance(error.value, DatasetFileNotFoundError)
    assert str(path) in str(error.value) and "check the path" in str(error.value)


def test_data_error_survives_pickling():
    # datasets' worker processes send exceptions back pickled.
    error = pickle.loads(pickle.dumps(DataError("a.jsonl", 3, "bad", "good")))
    assert str(error) == "a.jsonl:3: bad; expected good" and error.line == 3


# --- lenient mode and limit


def test_lenient_skips_and_counts_bad_records(tmp_path):
    records = [{"text": "ok"}] + ["{broken"] * (MAX_KEPT_ERRORS + 2) + [{"text": ""}, {"text": "also ok"}]
    path = write_jsonl(tmp_path / "pre.jsonl", records)
    reader = RecordReader(path, "pretrain", lenient=True)
    assert list(reader) == [{"text": "ok"}, {"text": "also ok"}]
    assert (reader.read, reader.skipped) == (2, MAX_KEPT_ERRORS + 3)
    assert len(reader.errors) == MAX_KEPT_ERRORS
    assert reader.errors[0].startswith(f"{path}:2: not valid JSON")


def test_counts_reset_on_each_pass(tmp_path):
    path = write_jsonl(tmp_path / "pre.jsonl", [{"text": "a"}, {"text": ""}, {"text": "b"}])
    reader = RecordReader(path, "pretrain", lenient=True)
    assert list(reader) == list(reader)
    assert (reader.read, reader.skipped) == (2, 1)


def test_limit_stops_after_that_many_good_records(tmp_path):
    path = write_jsonl(tmp_path / "pre.jsonl", [{"text": str(i)} for i in range(10)])
    reader = RecordReader(path, "pretrain", limit=3)
    assert [r["text"] for r in reader] == ["0", "1", "2"] and reader.read == 3


# --- detection


@pytest.mark.parametrize(("record", "format", "kind"), [
    ({"text": "a"}, "minimind", "pretrain"),
    ({"conversations": SFT_MESSAGES}, "minimind", "sft"),
    ({"chosen": SFT_MESSAGES, "rejected": SFT_MESSAGES}, "minimind", "dpo"),
    ({"conversations": [{"from": "human", "value": "a"}]}, "sharegpt", "sft"),
    ({"conversations": [{"from": "human", "value": "a"}], "chosen": {}, "rejected": {}}, "sharegpt", "dpo"),
    ({"messages": SFT_MESSAGES}, "openai", "sft"),
    ({"prompt": "a", "chosen": "b", "rejected": "c"}, "openai", "dpo"),
    ({"instruction": "a", "input": "", "output": "b"}, "alpaca", "sft"),
    ({"instruction": "a", "output": ["b", "c"]}, "alpaca", "dpo"),
])
def test_detect_format_and_kind_from_first_record(tmp_path, record, format, kind):
    path = write_jsonl(tmp_path / "data.jsonl", ["", record, "{not even json"])
    assert detect_format(path) == format
    assert sniff(path) == (format, kind)


def test_detect_reads_json_arrays_and_jsonl_named_json(tmp_path):
    array = tmp_path / "array.json"
    array.write_text('\n  [ {"instruction": "a", "output": "b"} ]')
    jsonl = write_jsonl(tmp_path / "lines.json", [{"messages": SFT_MESSAGES}, {"messages": SFT_MESSAGES}])
    assert detect_format(array) == "alpaca"
    assert detect_format(jsonl) == "openai"
    assert len(read(jsonl, "sft")) == 2


def test_undetectable_file_names_file_keys_and_known_formats(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"question": "a", "answer": "b"}])
    with pytest.raises(DataError) as error:
        detect_format(path)
    message = str(error.value)
    assert f"{path}:1:" in message and "question, answer" in message
    assert "minimind, text, alpaca, sharegpt, openai" in message


def test_empty_file_cannot_be_detected(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="holds no records"):
        detect_format(path)


def test_unknown_format_and_kind_are_rejected(tmp_path):
    path = write_jsonl(tmp_path / "pre.jsonl", [{"text": "a"}])
    with pytest.raises(DataError, match="unknown format 'csv'"):
        RecordReader(path, "pretrain", format="csv")
    with pytest.raises(ValueError, match="kind must be one of pretrain, sft, dpo"):
        RecordReader(path, "rlhf")
