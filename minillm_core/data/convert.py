"""Turn one parsed record of each input format into the normalized shape of its kind.

The normalized shapes are TRL's conversational formats, so the trainers take them as they are:
  pretrain  {"text": str}
  sft       {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}
  dpo       {"prompt": [messages ending with user], "chosen": [assistant msg], "rejected": [assistant msg]}

A converter raises RecordError saying what is wrong; the reader adds the file and line, and
`example()` the record shape the user should have written.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from minillm_core.data.messages import ROLES, RecordError, check_conversation, message, tool_calls_of, tools_of

# LLaMA-Factory's dataset_info.json calls alpaca's instruction/input/output prompt/query/response;
# accepting its names lets users paste their `columns` block as it is.
_ALPACA_ALIASES = {"prompt": "instruction", "query": "input", "response": "output"}
# Where a format's column is not named after the standard field.
_DEFAULT_COLUMNS = {"sharegpt": {"messages": "conversations"}}
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "observation": "tool"}  # and "function_call": an assistant's tool call


class Columns:
    """Maps a standard field name to the column holding it in the file (dataset_info's `columns`)."""

    def __init__(self, format: str, mapping: dict[str, str] | None = None) -> None:
        mapping = dict(mapping or {})
        if format == "alpaca":
            mapping = {_ALPACA_ALIASES.get(name, name): column for name, column in mapping.items()}
        self._mapping = {**_DEFAULT_COLUMNS.get(format, {}), **mapping}

    def __call__(self, name: str) -> str:
        return self._mapping.get(name, name)


Converter = Callable[[dict, Columns], dict]


def _get(record: dict, col: Columns, name: str, default: object = ...) -> object:
    column = col(name)
    if column in record and record[column] is not None:
        return record[column]
    if default is not ...:
        return default
    keys = ", ".join(record) or "none"
    raise RecordError(f'record has no "{column}" field (its fields: {keys})')


def _list(value: object, what: str) -> list:
    if not isinstance(value, list):
        raise RecordError(f"{what} must be a list, got {type(value).__name__}")
    return value


def _role_content(turn: object) -> dict:
    """One {"role", "content"} message as MiniMind and OpenAI write them; an assistant's may add
    `reasoning_content` and `tool_calls` (then its content may be empty or null)."""
    if not isinstance(turn, dict) or "role" not in turn or ("content" not in turn and "tool_calls" not in turn):
        raise RecordError(f'each message must be an object with "role" and "content", got {turn!r:.80}')
    role = turn["role"]
    if role not in ROLES:
        raise RecordError(f'unknown role "{role}"; roles are {", ".join(ROLES)}')
    calls = turn.get("tool_calls")
    if (calls or "reasoning_content" in turn) and role != "assistant":
        raise RecordError(f"only an assistant message may have tool_calls or reasoning_content, not {role}")
    return message(role, turn.get("content"), turn.get("reasoning_content"), tool_calls_of(calls) if calls else None)


def _role_content_list(value: object, what: str) -> list[dict]:
    return [_role_content(turn) for turn in _list(value, what)]


def _answer(value: object, what: str) -> list[dict]:
    """A dpo answer: a string, one assistant message, or a list holding one."""
    if isinstance(value, str):
        return [message("assistant", value)]
    if isinstance(value, dict):
        value = [value]
    turns = _role_content_list(value, what)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise RecordError(f"{what} must be one assistant message, got {len(turns)} message(s)")
    return turns


def _dpo(prompt: list[dict], chosen: list[dict], rejected: list[dict]) -> dict:
    return {"prompt": check_conversation(prompt, "user"), "chosen": chosen, "rejected": rejected}


# --- minimind: {"text"} / {"conversations": [{role, content}]} / {"chosen": [...], "rejected": [...]}


def minimind_pretrain(record: dict, col: Columns) -> dict:
    text = _get(record, col, "text")
    if not isinstance(text, str):
        raise RecordError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise RecordError("text is empty")
    return {"text": text}


def minimind_sft(record: dict, col: Columns) -> dict:
    messages = _role_content_list(_get(record, col, "conversations"), col("conversations"))
    return _with_tools({"messages": check_conversation(messages, "assistant")}, record, col)


def minimind_dpo(record: dict, col: Columns) -> dict:
    # MiniMind stores two whole conversations that share the prompt and differ in the last answer.
    chosen = _role_content_list(_get(record, col, "chosen"), col("chosen"))
    rejected = _role_content_list(_get(record, col, "rejected"), col("rejected"))
    for name, turns in ((col("chosen"), chosen), (col("rejected"), rejected)):
        if not turns or turns[-1]["role"] != "assistant":
            raise RecordError(f"{name} must end with an assistant turn")
    if chosen[:-1] != rejected[:-1]:
        raise RecordError("chosen and rejected must have the same prompt turns and differ only "
                          "in the last assistant turn")
    return _dpo(chosen[:-1], chosen[-1:], rejected[-1:])


# --- openai: {"messages": [{role, content}]}; dpo adds "chosen"/"rejected" to "messages" or "prompt"


def openai_sft(record: dict, col: Columns) -> dict:
    messages = _role_content_list(_get(record, col, "messages"), col("messages"))
    return _with_tools({"messages": check_conversation(messages, "assistant")}, record, col)


def _with_tools(converted: dict, record: dict, col: Columns) -> dict:
    """The record's tool definitions (`tools`: a list, or LLaMA-Factory's JSON text), kept as JSON text."""
    tools = _get(record, col, "tools", None)
    if tools not in (None, "", []):
        converted["tools"] = tools_of(tools)
    return converted


def openai_dpo(record: dict, col: Columns) -> dict:
    prompt = _get(record, col, "messages", None)
    if prompt is None:
        prompt = _get(record, col, "prompt")
    if isinstance(prompt, str):
        prompt = [message("user", prompt)]
    else:
        prompt = _role_content_list(prompt, "prompt")
    chosen = _answer(_get(record, col, "chosen"), col("chosen"))
    rejected = _answer(_get(record, col, "rejected"), col("rejected"))
    return _dpo(prompt, chosen, rejected)


# --- alpaca (LLaMA-Factory): instruction, input, output, optional system and history


def _optional_str(record: dict, col: Columns, name: str) -> str:
    value = _get(record, col, name, "")
    if not isinstance(value, str):
        raise RecordError(f"{col(name)} must be a string, got {type(value).__name__}")
    return value


def _alpaca_prompt(record: dict, col: Columns) -> list[dict]:
    instruction = _get(record, col, "instruction")
    if not isinstance(instruction, str):
        raise RecordError(f"{col('instruction')} must be a string, got {type(instruction).__name__}")
    query = _optional_str(record, col, "input")
    system = _optional_str(record, col, "system")
    messages = [message("system", system)] if system.strip() else []
    for pair in _list(_get(record, col, "history", []), col("history")):
        if not isinstance(pair, list) or len(pair) != 2:
            raise RecordError(f"{col('history')} must hold [user, assistant] pairs, got {pair!r:.80}")
        messages += [message("user", pair[0]), message("assistant", pair[1])]
    user = "\n".join(part for part in (instruction, query) if part)
    return messages + [message("user", user)]


def alpaca_sft(record: dict, col: Columns) -> dict:
    messages = _alpaca_prompt(record, col) + [message("assistant", _get(record, col, "output"))]
    return {"messages": check_conversation(messages, "assistant")}


def alpaca_dpo(record: dict, col: Columns) -> dict:
    prompt = _alpaca_prompt(record, col)
    output = _get(record, col, "output", None)
    if output is None:
        chosen, rejected = _get(record, col, "chosen"), _get(record, col, "rejected")
    elif isinstance(output, list) and len(output) == 2:
        chosen, rejected = output
    else:
        raise RecordError(f"{col('output')} must be a list of two answers, the preferred one first")
    return _dpo(prompt, [message("assistant", chosen)], [message("assistant", rejected)])


# --- sharegpt (LLaMA-Factory): {"conversations": [{"from": "human"|"gpt"|"system", "value"}]}


def _sharegpt_turn(turn: object) -> dict:
    if isinstance(turn, dict) and "from" in turn and "value" in turn:
        speaker, content = turn["from"], turn["value"]
    elif isinstance(turn, dict) and "role" in turn and "content" in turn:
        speaker, content = turn["role"], turn["content"]
    else:
        raise RecordError(f'each turn must be an object with "from" and "value", got {turn!r:.80}')
    if speaker == "function_call":  # LLaMA-Factory: the assistant calls a tool, {"name", "arguments"} as JSON
        try:
            calls = json.loads(content) if isinstance(content, str) else content
        except json.JSONDecodeError as error:
            raise RecordError(f"a function_call turn must hold JSON ({error.msg})") from None
        return message("assistant", "", tool_calls=tool_calls_of(calls if isinstance(calls, list) else [calls]))
    if speaker not in _SHAREGPT_ROLES:
        raise RecordError(f'unknown speaker "{speaker}"; turns are from "human", "gpt", "system", '
                          f'"function_call" or "observation"')
    return message(_SHAREGPT_ROLES[speaker], content)


def _sharegpt_turns(record: dict, col: Columns) -> list[dict]:
    turns = [_sharegpt_turn(turn) for turn in _list(_get(record, col, "messages"), col("messages"))]
    system = _optional_str(record, col, "system")
    if system.strip() and not (turns and turns[0]["role"] == "system"):
        turns.insert(0, message("system", system))
    return turns


def _sharegpt_answer(value: object, what: str) -> list[dict]:
    turn = message("assistant", value) if isinstance(value, str) else _sharegpt_turn(value)
    if turn["role"] != "assistant":
        raise RecordError(f'{what} must be a "gpt" turn, got {turn["role"]}')
    return [turn]


def sharegpt_sft(record: dict, col: Columns) -> dict:
    return _with_tools({"messages": check_conversation(_sharegpt_turns(record, col), "assistant")}, record, col)


def sharegpt_dpo(record: dict, col: Columns) -> dict:
    chosen = _sharegpt_answer(_get(record, col, "chosen"), col("chosen"))
    rejected = _sharegpt_answer(_get(record, col, "rejected"), col("rejected"))
    return _dpo(_sharegpt_turns(record, col), chosen, rejected)


CONVERTERS: dict[tuple[str, str], Converter] = {
    ("minimind", "pretrain"): minimind_pretrain,
    ("minimind", "sft"): minimind_sft,
    ("minimind", "dpo"): minimind_dpo,
    ("openai", "sft"): openai_sft,
    ("openai", "dpo"): openai_dpo,
    ("alpaca", "sft"): alpaca_sft,
    ("alpaca", "dpo"): alpaca_dpo,
    ("sharegpt", "sft"): sharegpt_sft,
    ("sharegpt", "dpo"): sharegpt_dpo,
}


def example(format: str, kind: str, col: Columns) -> str:
    """The record a user should have written, in the file's own column names."""
    if format == "text":
        return "one document per line"
    user, assistant = {"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}
    human, gpt = {"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}
    examples = {
        ("minimind", "pretrain"): {col("text"): "..."},
        ("minimind", "sft"): {col("conversations"): [user, assistant]},
        ("minimind", "dpo"): {col("chosen"): [user, {"role": "assistant", "content": "good"}],
                              col("rejected"): [user, {"role": "assistant", "content": "bad"}]},
        ("openai", "sft"): {col("messages"): [user, assistant]},
        ("openai", "dpo"): {col("prompt"): [user], col("chosen"): "good", col("rejected"): "bad"},
        ("alpaca", "sft"): {col("instruction"): "...", col("input"): "", col("output"): "..."},
        ("alpaca", "dpo"): {col("instruction"): "...", col("input"): "", col("output"): ["good", "bad"]},
        ("sharegpt", "sft"): {col("messages"): [human, gpt]},
        ("sharegpt", "dpo"): {col("messages"): [human], col("chosen"): {"from": "gpt", "value": "good"},
                              col("rejected"): {"from": "gpt", "value": "bad"}},
    }
    return json.dumps(examples[(format, kind)], ensure_ascii=False)
