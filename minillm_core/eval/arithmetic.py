"""Multi-digit arithmetic four ways: answering directly, thinking first, with the calculator, and by majority.

    items = load_arithmetic_items()                  # dataset/embedded/big_arithmetic_eval.jsonl (held out)
    scores = arithmetic_scores(model, tokenizer, items)
    scores["direct"], scores["think"], scores["calculator"], scores["self_consistency"]
    wordings = calculator_scores(model, tokenizer, load_tool_wording_items())  # tool_wordings_eval.jsonl

Each figure is the share of exact final answers (the number after "=" / "等于" once any thinking is cut off):
- `direct`: thinking switched off (`enable_thinking=False`);
- `think`: thinking switched on, greedy;
- `calculator`: the built-in tools offered; each call is run and its result handed back, up to MAX_ROUNDS;
- `self_consistency`: SC_SAMPLES answers sampled with thinking on, the most common final number.
`tool_call_validity` reads the calculator mode's first call: its JSON parses, it names the calculator, and its
expression evaluates to the right value (`valid_json`, `right_tool`, `right_arguments`: shares of all items).
Only chat models are asked (a base model has no template to offer tools through).

The held-out problems above are asked in the wordings training uses. `calculator_scores` asks the calculator mode
alone on tool_wordings_eval.jsonl: the four operations on numbers of 1 to 6 digits, held out, asked in wordings
that no training file holds. It says whether tool use holds on wordings never seen.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from minillm_core.eval.answers import BATCH_SIZE, generate_texts, read_items, seeded_samples
from minillm_core.inference.replies import split_reasoning, tool_turns
from minillm_core.inference.samples import evaluating
from minillm_core.inference.tools import BUILTIN_TOOLS, Tool, calculate, parse_tool_calls
from minillm_core.util.resources import shipped_path

ITEMS_FILE = "dataset/embedded/big_arithmetic_eval.jsonl"
WORDINGS_FILE = "dataset/embedded/tool_wordings_eval.jsonl"
MODES = ("direct", "think", "calculator", "self_consistency")
MAX_NEW_TOKENS = 160  # the longest worked sum in the training data is about 150 tokens
MAX_ROUNDS = 3  # model turns in calculator mode: call, read the result, answer (and one spare)
SC_SAMPLES = 5
SC_TEMPERATURE = 0.7
SC_SEED = 4321
_NUMBER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class ArithmeticItem:
    prompt: str
    lang: str
    expression: str  # what a right calculator call asks
    answer: int
    op: str = ""  # + - * / where the file says (tool_wordings_eval.jsonl does)
    wording: str = ""  # the held-out wording's id ("div-en-07"), where the file says


def load_arithmetic_items(path: str | Path | None = None) -> list[ArithmeticItem]:
    return _read(Path(path) if path else shipped_path(ITEMS_FILE))


def load_tool_wording_items(path: str | Path | None = None) -> list[ArithmeticItem]:
    """The problems asked in held-out wordings (dataset/embedded/tool_wordings_eval.jsonl)."""
    return _read(Path(path) if path else shipped_path(WORDINGS_FILE))


def _read(path: Path) -> list[ArithmeticItem]:
    def item(record: dict) -> ArithmeticItem:
        return ArithmeticItem(record["prompt"], record["lang"], record["expression"], int(record["answer"]),
                              str(record.get("op", "")), str(record.get("wording", "")))

    return read_items(path, item, "arithmetic item", "prompt, lang, expression and answer")


def final_number(reply: str) -> int | None:
    """The number a reply gives as its answer: after its thinking, the first number after "=" or "等于"
    (else its last number)."""
    answer = split_reasoning(reply)[1]
    parts = re.split(r"=|等于", answer, maxsplit=1)
    numbers = _NUMBER.findall(parts[1]) if len(parts) == 2 else _NUMBER.findall(answer)[-1:]
    return int(numbers[0]) if numbers else None


# -- the four modes ----------------------------------------------------------------------------------


def _templated(tokenizer, conversations: list[list[dict]], **switches: Any) -> list[str]:
    return [tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **switches)
            for messages in conversations]


def _replies(model, tokenizer, conversations: list[list[dict]], sample: bool = False, **switches: Any) -> list[str]:
    texts = _templated(tokenizer, conversations, **switches)
    return [text for text, _ in generate_texts(model, tokenizer, texts, "chat", BATCH_SIZE, sample, MAX_NEW_TOKENS)]


def with_tools(model, tokenizer, prompts: list[str], tools: dict[str, Tool],
               max_rounds: int = MAX_ROUNDS) -> list[dict[str, Any]]:
    """Each prompt answered with `tools` offered: the model's turns run in batches; a turn that calls tools
    gets their results and another turn. {"answer": last reply, "calls": [...], "turns": [...]} per prompt."""
    schemas = [tool.schema() for tool in tools.values()]
    states = [{"messages": [{"role": "user", "content": prompt}], "answer": "", "calls": [], "turns": []}
              for prompt in prompts]
    pending = list(range(len(states)))
    for round_number in range(max_rounds):
        if not pending:
            break
        replies = _replies(model, tokenizer, [states[i]["messages"] for i in pending], tools=schemas)
        still = []
        for index, reply in zip(pending, replies, strict=True):
            state = states[index]
            state["turns"].append(reply)
            state["answer"] = reply
            messages, calls = tool_turns(reply, tools)
            if calls and round_number < max_rounds - 1:
                state["messages"] += messages
                state["calls"] += calls
                still.append(index)
        pending = still
    return [{key: state[key] for key in ("answer", "calls", "turns")} for state in states]


@torch.no_grad()
def arithmetic_scores(model, tokenizer, items: list[ArithmeticItem], samples: int = SC_SAMPLES) -> dict[str, Any]:
    """The four figures, tool-call validity, and every item's answers (see the module docstring)."""
    conversations = [[{"role": "user", "content": item.prompt}] for item in items]
    with evaluating(model):
        direct = _replies(model, tokenizer, conversations, enable_thinking=False)
        think = _replies(model, tokenizer, conversations, enable_thinking=True)
        tooled = with_tools(model, tokenizer, [item.prompt for item in items], {t.name: t for t in BUILTIN_TOOLS})
        drawn = seeded_samples(model, len(items), samples, SC_SEED, lambda: _replies(
            model, tokenizer, conversations, sample=True, enable_thinking=True))
    rows = [_row(item, d, t, tool, sampled) for item, d, t, tool, sampled in
            zip(items, direct, think, tooled, drawn, strict=True)]
    return summarize(rows, samples)


def _row(item: ArithmeticItem, direct: str, think: str, tooled: dict, sampled: list[str]) -> dict[str, Any]:
    votes = Counter(number for number in map(final_number, sampled) if number is not None)
    majority = votes.most_common(1)[0][0] if votes else None
    first_turn = tooled["turns"][0] if tooled["turns"] else ""
    return {"prompt": item.prompt, "lang": item.lang, "expected": item.answer,
            "direct": direct, "think": think, "calculator": tooled["answer"], "calls": tooled["calls"],
            "right": {"direct": final_number(direct) == item.answer, "think": final_number(think) == item.answer,
                      "calculator": final_number(tooled["answer"]) == item.answer,
                      "self_consistency": majority == item.answer},
            "call": call_validity(first_turn, item)}


@torch.no_grad()
def first_calls(model, tokenizer, items: list[ArithmeticItem]) -> list[dict[str, bool]]:
    """Each item asked once with the built-in tools offered: its first reply's call, read by call_validity.
    One turn is enough to say whether the model calls a tool where one is due, and costs a third of `calculator`."""
    schemas = [tool.schema() for tool in BUILTIN_TOOLS]
    with evaluating(model):
        replies = _replies(model, tokenizer, [[{"role": "user", "content": item.prompt}] for item in items],
                           tools=schemas)
    return [call_validity(reply, item) for reply, item in zip(replies, items, strict=True)]


@torch.no_grad()
def calculator_scores(model, tokenizer, items: list[ArithmeticItem]) -> dict[str, Any]:
    """The calculator mode alone (a call and an answer per item, a third of `arithmetic_scores`' cost): the share
    of exact answers, by language and operation, the first call's validity, and every item's answer."""
    with evaluating(model):
        tooled = with_tools(model, tokenizer, [item.prompt for item in items], {t.name: t for t in BUILTIN_TOOLS})
    rows = [{"prompt": item.prompt, "lang": item.lang, "op": item.op, "wording": item.wording,
             "expected": item.answer, "calculator": result["answer"], "calls": result["calls"],
             "right": final_number(result["answer"]) == item.answer,
             "call": call_validity(result["turns"][0] if result["turns"] else "", item)}
            for item, result in zip(items, tooled, strict=True)]
    return {"calculator": _share(row["right"] for row in rows),
            **{f"by_{key}": {value: _share(row["right"] for row in rows if row[key] == value)
                             for value in dict.fromkeys(row[key] for row in rows)} for key in ("lang", "op")},
            "tool_call_validity": _validity(rows), "items": len(rows), "answers": rows}


def call_validity(reply: str, item: ArithmeticItem) -> dict[str, bool]:
    """Whether the reply's first tool call parses, names the calculator and asks for the right value."""
    calls = parse_tool_calls(reply)
    call = calls[0] if calls else None
    valid = call is not None and call.error is None
    right_tool = valid and call.name == "calculator"
    right_arguments = False
    if right_tool:
        try:
            right_arguments = calculate(call.arguments.get("expression", "")) == str(item.answer)
        except ValueError:
            pass
    return {"called": call is not None, "valid_json": valid, "right_tool": right_tool,
            "right_arguments": right_arguments}


def _share(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


def _validity(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {key: _share(row["call"][key] for row in rows) for key in ("called", "valid_json", "right_tool",
                                                                       "right_arguments")}


def summarize(rows: list[dict[str, Any]], samples: int) -> dict[str, Any]:
    return {
        **{mode: _share(row["right"][mode] for row in rows) for mode in MODES},
        "by_lang": {lang: {mode: _share(row["right"][mode] for row in rows if row["lang"] == lang) for mode in MODES}
                    for lang in dict.fromkeys(row["lang"] for row in rows)},
        "tool_call_validity": _validity(rows),
        "items": len(rows), "samples": samples, "temperature": SC_TEMPERATURE,
        "answers": rows,
    }


def arithmetic_markdown(models: dict[str, dict[str, Any]]) -> str:
    """The chat models side by side on the four modes and the calculator calls ("" when none was asked)."""
    asked = {name: result["arithmetic"] for name, result in models.items() if "arithmetic" in result}
    if not asked:
        return ""
    any_result = next(iter(asked.values()))
    majority = f"majority of {any_result['samples']}, T={any_result['temperature']}"
    labels = {"direct": "answering directly (thinking off)", "think": "thinking first",
              "calculator": "with the calculator tool", "self_consistency": f"self-consistency ({majority})"}
    lines = [f"### Multi-digit arithmetic ({any_result['items']} held-out sums and products, exact answers)", "",
             "| | " + " | ".join(asked) + " |", "|---" * (len(asked) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(f"{result[mode]:.3f}" for result in asked.values()) + " |"
              for mode, label in labels.items()]
    lines += [f"| calculator call: {key.replace('_', ' ')} | "
              + " | ".join(f"{result['tool_call_validity'][key]:.3f}" for result in asked.values()) + " |"
              for key in ("valid_json", "right_tool", "right_arguments")]
    return "\n".join(lines + _wordings_rows(models, list(asked))) + "\n"


def _wordings_rows(models: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    """The calculator on held-out wordings, a row each for the answers and the right arguments (- for a model
    not asked)."""
    scored = {name: models[name].get("tool_wordings") for name in names}
    if not any(scored.values()):
        return []
    count = next(result["items"] for result in scored.values() if result)

    def row(label: str, value) -> str:
        return f"| {label} | " + " | ".join("-" if result is None else f"{value(result):.3f}"
                                            for result in scored.values()) + " |"

    return [row(f"with the calculator, {count} held-out wordings (+ - × ÷, 1-6 digits)", lambda r: r["calculator"]),
            row("held-out wordings: calculator call right arguments",
                lambda r: r["tool_call_validity"]["right_arguments"])]
