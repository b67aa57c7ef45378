"""Answer accuracy: does the model *say* the right thing? Held-out prompts, generated answers, rules.

    items = load_items()                                   # dataset/embedded/answers_eval.jsonl
    scores = answer_scores(model, tokenizer, items, "chat")
    scores["accuracy"], scores["by_topic"], scores["degenerate_rate"]

Each item is a held-out prompt (never in training) with a rule for its answer:
- `number`: the first number after "=" or "等于" (else the first number) is the expected one;
- `contains`: every expected string appears (identity: the name and the maker; facts: the value).
A chat model answers the prompt through its chat template. A base model (completion style) continues
the item's `completion` text instead ("3 + 4 =", "The capital of France is"), up to its first sentence end.

Besides the greedy answer, `samples` answers per prompt are drawn at temperature 0.7 (seeded): how many of
them are right is the consistency figure. Degenerate answers are counted by kind: empty, cut short (no
end-of-turn within the token budget), replacement characters (broken UTF-8), loops (a piece repeated four
times in a row), and the wrong language (no Chinese in the answer to a Chinese prompt, or Chinese in the
answer to an English one).

The headline `accuracy` is the mean of the topics' accuracies, so that 116 held-out sums do not drown 24
identity questions; `by_topic` and `by_lang` give the parts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from minillm_core.contract.skill import SkillError
from minillm_core.inference.replies import split_reasoning
from minillm_core.inference.samples import evaluating, prompt_text, stop_token_ids
from minillm_core.util.cpu_threads import follow_load
from minillm_core.util.resources import shipped_path

ANSWERS_FILE = "dataset/embedded/answers_eval.jsonl"
MAX_NEW_TOKENS = {"chat": 48, "completion": 24}
SAMPLES = 3
TEMPERATURE = 0.7
SAMPLE_SEED = 1234
BATCH_SIZE = 64
QUICK_EVERY = 4  # the quick check after a training stage reads every 4th item (48 of 192)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NUMBER = re.compile(r"-?\d+")
_SENTENCE_END = re.compile(r"[.。!！?？\n](?!\d)")
_LOOP = re.compile(r"(.+?)\1{3,}", re.DOTALL)


@dataclass(frozen=True)
class AnswerItem:
    prompt: str
    lang: str  # "en" or "zh"
    topic: str  # identity | arithmetic | fact
    rule: str  # number | contains
    expect: tuple[str, ...]
    completion: str  # the prompt a base model continues
    reference: str = ""  # the full right answer, for people reading the results


def load_items(path: str | Path | None = None, every: int = 1) -> list[AnswerItem]:
    """The held-out items (default: the embedded ones), every `every`-th of them."""
    def item(record: dict) -> AnswerItem:
        return AnswerItem(record["prompt"], record["lang"], record["topic"], record["rule"], tuple(record["expect"]),
                          record["completion"], record.get("reference", ""))

    return read_items(Path(path) if path else shipped_path(ANSWERS_FILE), item, "answer item",
                      "prompt, lang, topic, rule, expect and completion")[::every]


def read_items(path: Path, make: Callable[[dict], Any], what: str, fields: str) -> list[Any]:
    """`make(record)` for each record of a JSONL file of eval items; a bad line fails with its file:line and the
    fields it needs, an unreadable file with what to do (the shipped files come with the package)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SkillError(f"cannot read the {what}s {path}: {exc}",
                         hint="reinstall minillm-skill, or regenerate with `python dataset/generate.py`") from exc
    items = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                items.append(make(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise SkillError(f"{path}:{number}: not an {what} ({type(exc).__name__}: {exc})",
                                 hint=f"each line needs {fields}") from exc
    return items


# -- reading one answer ----------------------------------------------------------------------------


def first_sentence(text: str) -> str:
    """`text` up to and including its first sentence end (a base model's continuation runs on)."""
    match = _SENTENCE_END.search(text)
    return text[:match.end()] if match else text


def is_right(item: AnswerItem, answer: str) -> bool:
    """Whether `answer` holds what `item` expects (see the module docstring for the rules)."""
    if item.rule == "number":
        after = re.split(r"=|等于", answer, maxsplit=1)
        numbers = _NUMBER.findall(after[-1]) or _NUMBER.findall(answer)
        return bool(numbers) and numbers[0] == item.expect[0]
    return all(_contains(answer, expected) for expected in item.expect)


def _contains(text: str, expected: str) -> bool:
    if expected.isascii():  # whole words: "4" is not in "14" nor "MiniLLM" in "minillm-skill", but in "是MiniLLM，"
        return re.search(rf"(?<![\w-]){re.escape(expected)}(?![\w-])", text, re.ASCII) is not None
    return expected in text


def degeneration(item: AnswerItem, answer: str, stopped: bool) -> list[str]:
    """What is wrong with the form of `answer`, whatever its content: [] for a well-formed answer."""
    kinds = []
    if not answer.strip():
        kinds.append("empty")
    if not stopped:
        kinds.append("cut_short")
    if "\ufffd" in answer:
        kinds.append("replacement_char")
    if _LOOP.search(answer):
        kinds.append("loop")
    if answer.strip() and bool(_CJK.search(answer)) != (item.lang == "zh"):
        kinds.append("wrong_language")
    return kinds


# -- generating ------------------------------------------------------------------------------------


@torch.no_grad()
def generate_answers(model, tokenizer, items: list[AnswerItem], style: str, samples: int = 0,
                     batch_size: int = BATCH_SIZE) -> list[dict[str, Any]]:
    """For each item: {"answer", "stopped", "samples": [...]} (greedy first, then seeded samples)."""
    texts = [prompt_text(tokenizer, item.prompt if style == "chat" else item.completion, style) for item in items]
    with evaluating(model):
        greedy = generate_texts(model, tokenizer, texts, style, batch_size)
        drawn = seeded_samples(model, len(texts), samples, SAMPLE_SEED,
                               lambda: generate_texts(model, tokenizer, texts, style, batch_size, sample=True))
    return [{"answer": answer, "stopped": stopped, "samples": [text for text, _ in extra]}
            for (answer, stopped), extra in zip(greedy, drawn, strict=True)]


def seeded_samples(model, prompts: int, samples: int, seed: int, draw: Callable[[], list[Any]]) -> list[list[Any]]:
    """`draw()` (one sampled answer for each of `prompts` prompts) `samples` times from `seed`, regrouped per prompt;
    torch's global random state is left as it was, so a training run around it is not disturbed."""
    if not samples:
        return [[] for _ in range(prompts)]
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        torch.manual_seed(seed)
        rounds = [draw() for _ in range(samples)]
    return [list(per_prompt) for per_prompt in zip(*rounds, strict=True)]


def generate_texts(model, tokenizer, texts: list[str], style: str, batch_size: int = BATCH_SIZE,
                   sample: bool = False, max_new_tokens: int | None = None) -> list[tuple[str, bool]]:
    """(answer, stopped) per text (already templated), in batches, left-padded so every prompt ends where
    generation starts. Sampling draws from torch's global generator: seed it (or fork it) to repeat."""
    stop = stop_token_ids(tokenizer, style)
    budget = max_new_tokens or MAX_NEW_TOKENS[style]
    decoding = ({"do_sample": True, "temperature": TEMPERATURE, "top_p": 1.0, "top_k": 0} if sample
                else {"do_sample": False})
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    results = []
    try:
        for first in range(0, len(texts), batch_size):
            follow_load()
            batch = tokenizer(texts[first:first + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            output = model.generate(**batch, max_new_tokens=budget, eos_token_id=stop,
                                    pad_token_id=tokenizer.pad_token_id, **decoding)
            for row in output[:, batch["input_ids"].shape[1]:].tolist():
                ended = [i for i, token in enumerate(row) if token in stop]
                stopped = bool(ended)
                text = tokenizer.decode(row[:ended[0]] if ended else row, skip_special_tokens=True)
                if style == "completion":  # a base model runs on: its answer is its first sentence
                    cut = first_sentence(text)
                    stopped = stopped or cut != text
                    text = cut
                results.append((text.strip(), stopped))
    finally:
        tokenizer.padding_side = side
    return results


# -- scoring ---------------------------------------------------------------------------------------


def answer_scores(model, tokenizer, items: list[AnswerItem], style: str,
                  samples: int = SAMPLES) -> dict[str, Any]:
    """Greedy answer accuracy (headline), per topic and language, consistency and degeneration."""
    generated = generate_answers(model, tokenizer, items, style, samples)
    rows = []
    for item, result in zip(items, generated, strict=True):
        said = split_reasoning(result["answer"])[1]  # a model that thinks first is judged on what follows
        flaws = degeneration(item, said, result["stopped"])
        rows.append({"prompt": item.prompt if style == "chat" else item.completion, "lang": item.lang,
                     "topic": item.topic, "answer": result["answer"], "right": is_right(item, said),
                     "degenerate": flaws,
                     "samples_right": sum(is_right(item, split_reasoning(text)[1]) for text in result["samples"])})
    return summarize(rows, samples, style)


def summarize(rows: list[dict[str, Any]], samples: int, style: str) -> dict[str, Any]:
    by_topic = {topic: _share(row["right"] for row in rows if row["topic"] == topic)
                for topic in dict.fromkeys(row["topic"] for row in rows)}
    by_lang = {lang: _share(row["right"] for row in rows if row["lang"] == lang)
               for lang in dict.fromkeys(row["lang"] for row in rows)}
    flaws = sorted({flaw for row in rows for flaw in row["degenerate"]})
    return {
        "accuracy": round(sum(by_topic.values()) / len(by_topic), 4) if by_topic else None,
        "by_topic": by_topic,
        "by_lang": by_lang,
        "items": len(rows),
        "style": style,
        "sample_accuracy": (round(sum(row["samples_right"] for row in rows) / (samples * len(rows)), 4)
                            if samples and rows else None),
        "samples": samples,
        "temperature": TEMPERATURE,
        "degenerate_rate": _share(bool(row["degenerate"]) for row in rows),
        "degenerate_by_kind": {flaw: sum(flaw in row["degenerate"] for row in rows) for flaw in flaws},
        "answers": rows,
    }


def _share(values: Iterable[bool]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0
