"""Read dataset files of any supported format into one normalized record shape per kind.

Formats: minimind (MiniMind's JSONL), text (one document per line), alpaca and sharegpt
(LLaMA-Factory), openai ({"messages": [...]}), and any a plugin adds (`add_format`, the
`register_formats` hook). JSON formats are read from JSONL (streamed line
by line) or from a JSON array (parsed whole: a documented limit, fine for the sizes people keep
in one array). See minillm_core.data.convert for the shapes yielded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from minillm_core.data.convert import CONVERTERS, Columns, example, minimind_pretrain, openai_dpo, openai_sft
from minillm_core.data.messages import RecordError

FORMATS = ["minimind", "text", "alpaca", "sharegpt", "openai"]  # add_format appends a plugin's
KINDS = ("pretrain", "sft", "dpo")
SUPPORTED = {*CONVERTERS, ("text", "pretrain")}  # (format, kind) pairs a reader can yield
_PLUGIN_CONVERTERS: dict[tuple[str, str], Callable[[dict], dict]] = {}  # what add_format was given
_PLUGIN_EXAMPLES: dict[tuple[str, str], str] = {}  # (format, kind) -> the record a user should have written
_PLUGIN_DETECTORS: dict[str, tuple[str, Callable[[dict], bool]]] = {}  # format -> (kind, detect(record))
# A plugin's output is checked as if it were written in the normalized shape itself, by the same code.
_NORMALIZED = {"pretrain": (minimind_pretrain, "minimind"), "sft": (openai_sft, "openai"),
               "dpo": (openai_dpo, "openai")}
MAX_KEPT_ERRORS = 5  # lenient mode keeps this many messages for the report; counting goes on


class DataError(ValueError):
    """A bad record or file: str() reads 'FILE:LINE: what is wrong; expected ...'."""

    def __init__(self, path: Path | str, line: int | None, problem: str, expected: str | None = None):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.expected = expected
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}" + (f"; expected {expected}" if expected else ""))

    def __reduce__(self):
        # Exceptions pickle through their args; ours are built from fields (multiprocessing needs this).
        return type(self), (self.path, self.line, self.problem, self.expected)


class DatasetFileNotFoundError(DataError, FileNotFoundError):
    """The dataset file does not exist."""

    def __init__(self, path: Path | str, line: int | None = None, problem: str = "", expected=None):
        problem = problem or (
            f"no such file (looked at {Path(path).absolute()}); check the path, or download the "
            "dataset first if it is a registered one"
        )
        super().__init__(path, line, problem, expected)


def add_format(name: str, kind: str, convert: Callable[[dict], dict], example: str | None = None,
               detect: Callable[[dict], bool] | None = None) -> None:
    """Teach the readers a new format (what the `register_formats` hook calls).

    `convert(record)` turns one parsed JSON record into the normalized shape of `kind` (see
    minillm_core.data.convert) or raises RecordError saying what is wrong; the reader adds the file and
    line. `example` is the record a user should have written, shown in errors. `detect(record)` lets a bare
    path in this format be recognized from its first record (after the built-in formats).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if _PLUGIN_CONVERTERS.get((name, kind)) is convert:
        return  # the same plugin registered again (a second plugin host in one process)
    if (name, kind) in SUPPORTED:
        raise ValueError(f"format '{name}' already reads {kind} records")
    check, shape = _NORMALIZED[kind]
    columns = Columns(shape)

    def converter(record: dict, _columns: Columns) -> dict:
        try:
            converted = convert(record)
        except RecordError:
            raise
        except (KeyError, TypeError, ValueError) as exc:  # how a converter usually meets a record it cannot read
            raise RecordError(f"the {name} format cannot read this record ({type(exc).__name__}: {exc})") from None
        return check(converted, columns)

    CONVERTERS[(name, kind)] = converter
    _PLUGIN_CONVERTERS[(name, kind)] = convert
    SUPPORTED.add((name, kind))
    if name not in FORMATS:
        FORMATS.append(name)
    _PLUGIN_EXAMPLES[(name, kind)] = example or f"a record of the {name} format"
    if detect is not None:
        _PLUGIN_DETECTORS[name] = (kind, detect)


def forget_plugin_formats() -> None:
    """Drop every format add_format taught: a new plugin host registers its plugins' formats afresh, so a
    format of a plugin loaded earlier in the process cannot win the sniff over the current plugins'."""
    for pair in _PLUGIN_CONVERTERS:
        CONVERTERS.pop(pair, None)
        SUPPORTED.discard(pair)
    plugin_names = {name for name, _ in _PLUGIN_CONVERTERS}
    FORMATS[:] = [name for name in FORMATS if name not in plugin_names]
    _PLUGIN_CONVERTERS.clear()
    _PLUGIN_EXAMPLES.clear()
    _PLUGIN_DETECTORS.clear()


def detect_format(path: Path) -> str:
    """The format of a dataset file: by suffix (.txt is text), else by its first record's fields."""
    return sniff(path)[0]


def sniff(path: Path) -> tuple[str, str]:
    """(format, kind) of a dataset file, judged from its suffix and its first record."""
    path = Path(path)
    _require_file(path)
    if path.suffix.lower() == ".txt":
        return "text", "pretrain"
    line, raw = next(_json_raw_records(path), (None, None))
    if line is None:
        raise DataError(path, None, "the file holds no records")
    try:
        record = _parse_json_record(raw)
    except RecordError as problem:
        raise DataError(path, line, str(problem), "one JSON object per line, or a JSON array") from None
    format = _format_of(record)
    if format is None:
        format = next((name for name, (_, detect) in _PLUGIN_DETECTORS.items() if _detects(detect, record)), None)
        if format is not None:
            return format, _PLUGIN_DETECTORS[format][0]
    if format is None:
        raise DataError(
            path, line,
            f"cannot tell the format from the first record's fields ({', '.join(record) or 'none'}); "
            f"known formats: {', '.join(FORMATS)}",
            "the fields of one of those formats, or name the format and columns in a registry entry",
        )
    return format, _kind_of(record)


def _detects(detect: Callable[[dict], bool], record: dict) -> bool:
    try:
        return bool(detect(record))
    except Exception:  # a plugin's detector that fails on a record it does not know just says no
        return False


def _format_of(record: dict) -> str | None:
    conversations = record.get("conversations")
    if isinstance(conversations, list) and conversations and isinstance(conversations[0], dict):
        return "sharegpt" if "from" in conversations[0] else "minimind"
    if "text" in record:
        return "minimind"
    if "messages" in record or "prompt" in record:
        return "openai"
    if "instruction" in record:
        return "alpaca"
    if isinstance(record.get("chosen"), list) and isinstance(record.get("rejected"), list):
        return "minimind"
    return None


def _kind_of(record: dict) -> str:
    if ("chosen" in record and "rejected" in record) or isinstance(record.get("output"), list):
        return "dpo"
    return "pretrain" if "text" in record else "sft"


class RecordReader:
    """Iterates over the normalized records of one dataset file, streaming it.

    `kind` is "pretrain", "sft" or "dpo"; `format` None detects it. `columns` maps standard field
    names to the file's columns, as LLaMA-Factory's dataset_info.json does. A bad record raises
    DataError, or with `lenient` is skipped: `.skipped` counts them and `.errors` keeps the first
    few messages. `.read` counts the records yielded, `.bytes_read` the bytes of the lines they came from
    (JSONL and text: for a progress bar). Each iteration reads the file afresh.
    A JSON array that does not parse fails as a whole, lenient or not: there is no next record
    to resume at.
    """

    def __init__(self, path: Path, kind: str, format: str | None = None,
                 columns: dict[str, str] | None = None, lenient: bool = False,
                 limit: int | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.path = Path(path)
        _require_file(self.path)
        self.kind = kind
        self.format = format or detect_format(self.path)
        if self.format not in FORMATS:
            raise DataError(self.path, None, f"unknown format {self.format!r}", ", ".join(FORMATS))
        if (self.format, kind) not in SUPPORTED:
            raise DataError(self.path, None, _wrong_kind_message(self.format, kind))
        self.columns = dict(columns or {})
        self._col = Columns(self.format, self.columns)
        self.expected = _PLUGIN_EXAMPLES.get((self.format, kind)) or example(self.format, kind, self._col)
        self.lenient = lenient
        self.limit = limit
        self.read = 0
        self.bytes_read = 0
        self.skipped = 0
        self.errors: list[str] = []

    def __iter__(self) -> Iterator[dict]:
        self.read, self.bytes_read, self.skipped, self.errors = 0, 0, 0, []
        raw_records = _text_lines(self.path) if self.format == "text" else _json_raw_records(self.path)
        for line, raw in raw_records:
            if self.limit is not None and self.read >= self.limit:
                return
            if isinstance(raw, bytes):
                self.bytes_read += len(raw)
            try:
                record = self._convert(raw)
            except RecordError as problem:
                self._reject(DataError(self.path, line, str(problem), self.expected))
                continue
            self.read += 1
            yield record

    def _convert(self, raw: bytes | object) -> dict:
        if self.format == "text":
            return {"text": _decode(raw).rstrip("\r\n")}
        record = _parse_json_record(raw)
        return CONVERTERS[(self.format, self.kind)](record, self._col)

    def _reject(self, error: DataError) -> None:
        if not self.lenient:
            raise error
        self.skipped += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(str(error))


def _wrong_kind_message(format: str, kind: str) -> str:
    holds = [k for k in KINDS if (format, k) in SUPPORTED]
    return (f"{format} files hold {' or '.join(holds)} records, not {kind}; for {kind} use "
            + ("a .txt file (one document per line) or JSONL records like {\"text\": \"...\"}"
               if kind == "pretrain" else "a conversation format (minimind, openai, alpaca, sharegpt)"))


def _require_file(path: Path) -> None:
    if not path.exists():
        raise DatasetFileNotFoundError(path)
    if not path.is_file():
        raise DataError(path, None, "is not a file", "the path of a dataset file")


# --- raw records: (1-based line, bytes of a JSONL line or text line | object from a JSON array)


def _text_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line


def _json_raw_records(path: Path) -> Iterator[tuple[int, bytes | object]]:
    if _first_char(path) == "[":
        yield from _array_records(path)
    else:
        yield from _text_lines(path)


def _first_char(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace") as text:
        while chunk := text.read(4096):
            if chunk.strip():
                return chunk.lstrip()[0]
    return ""


_WHITESPACE = re.compile(r"\s*")


def _array_records(path: Path) -> Iterator[tuple[int, object]]:
    """The elements of a JSON array, each with the line it starts on."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(path, None, f"is not UTF-8 text ({error.reason} at byte {error.start})") from None
    decoder = json.JSONDecoder()
    position = _WHITESPACE.match(text, text.index("[") + 1).end()
    while not text.startswith("]", position):
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise DataError(path, error.lineno, f"not valid JSON ({error.msg} at column {error.colno})",
                            "a JSON array of records: [{...}, {...}]") from None
        yield text.count("\n", 0, position) + 1, value
        position = _WHITESPACE.match(text, end).end()
        if text.startswith(",", position):
            position = _WHITESPACE.match(text, position + 1).end()
        elif not text.startswith("]", position):
            raise DataError(path, text.count("\n", 0, position) + 1, "records must be separated by ','",
                            "a JSON array of records: [{...}, {...}]")


def _parse_json_record(raw: bytes | object) -> dict:
    """A JSONL line parsed (array elements come parsed), checked to be an object."""
    if isinstance(raw, bytes):
        try:
            # Decoded here, not by json.loads: it would first guess the encoding, a quarter of its time.
            raw = json.loads(raw.decode("utf-8-sig"))
        except json.JSONDecodeError as error:
            raise RecordError(f"not valid JSON ({error.msg} at column {error.colno})") from None
        except UnicodeDecodeError:
            raise RecordError("not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise RecordError(f"a record must be a JSON object, got {type(raw).__name__}")
    return raw


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise RecordError("not UTF-8 text") from None
