"""eval: how far each stage model got. Answer accuracy first, then held-out perplexity and lm_eval scores.

    inputs = eval_inputs(workdir, tasks_dir=workdir / "out/eval/tasks")   # once, shared by every model
    numbers = evaluate_model(workdir / "out/sft", inputs)                  # one model (what a report reuses)
    result = run_eval(ctx, {"sft": workdir / "out/sft"})                   # the skill: results.json, the table

The headline is answer accuracy (minillm_core/answers.py): the model answers held-out prompts by
generation and rules score what it said; degenerate answers are counted beside it. Everything else
is a diagnostic read below it: a likelihood can improve while the answers get worse.

Each run also measures an untrained model of the same architecture (`untrained=True`): the floor that
every stage's numbers are read against.

Held-out numbers: text perplexity on pretraining-style documents; chat perplexity of the assistant replies
in held-out conversations (what SFT teaches); preference accuracy and margin per token: the mean per-token
log-likelihood of a held-out pair's chosen reply minus its rejected one, so that a shorter reply does not
win by length alone (the summed margin and lm_eval's summed-likelihood accuracy stay as diagnostics).

The local tasks (minillm_core/assets/lm_eval_tasks/) are multiple choice over the embedded held-out files,
scored by lm_eval itself, offline. A chat model (sft, dpo) sees each question as a user turn wrapped in its
chat template, the way it was trained; the pretrain model sees the plain question.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers

from minillm_core import models
from minillm_core.answers import AnswerItem, answer_scores, load_items
from minillm_core.arithmetic_eval import (
    MODES,
    ArithmeticItem,
    arithmetic_markdown,
    arithmetic_scores,
    load_arithmetic_items,
)
from minillm_core.atomic import write_text_atomic
from minillm_core.data.formats import RecordReader
from minillm_core.data.registry import resolve_dataset
from minillm_core.distributed import is_main_process
from minillm_core.hub import probe_hub
from minillm_core.resources import assets_dir, shipped_path
from minillm_core.samples import DEFAULT_PROMPTS, greedy_answers
from minillm_core.skill import SkillError, StageContext, StageResult
from minillm_core.tokenizer import with_chat_template

# Short name (metrics keys, table rows) -> lm_eval task and its file in dataset/embedded/.
LOCAL_TASKS = {
    "identity": ("minillm_identity", "mc_identity.jsonl"),
    "arithmetic": ("minillm_arithmetic", "mc_arithmetic.jsonl"),
    "facts": ("minillm_facts", "mc_facts.jsonl"),
    "preference": ("minillm_preference", "dpo_eval.jsonl"),
}
ROW_LABELS = {"identity": "identity acc (chance 0.25)", "arithmetic": "arithmetic acc (chance 0.25)",
              "facts": "facts acc (chance 0.25)", "preference": "preference acc (chosen over rejected)"}
PERPLEXITY_DATASET = "embedded-pretrain-eval"
CHAT_DATASET = "embedded-sft-eval"
PREFERENCE_DATASET = "embedded-dpo-eval"
# Tokens per perplexity window: the shortest sequence length a preset trains on (tiny's 128), so no model
# is scored at positions it never saw in training. The held-out documents are shorter (at most 120 tokens).
PERPLEXITY_WINDOW = 128
BATCH_SIZE = 32
ANSWER_CHARS = 80  # sample answers are cut to this in the Markdown table (results.json keeps them whole)
HEADLINE_KEYS = ("answer_accuracy", "degenerate_rate", "sample_accuracy", "preference_acc_per_token")



@dataclass
class Reply:
    """An assistant reply and the conversation before it."""

    prompt: list[dict]  # messages, ending with a user turn
    text: str


@dataclass
class EvalInputs:
    """What every model is measured on, prepared once and shared by all of them."""

    texts: list[str]  # held-out documents for perplexity
    chats: list[Reply]  # held-out conversations: their last reply, for chat perplexity
    pairs: list[tuple[Reply, Reply]]  # held-out preference pairs: (chosen, rejected)
    tasks: dict  # lm_eval's loaded tasks (TaskManager.load): the local ones, then any extra ones
    prompts: list[str] | None = None  # None: each model gets DEFAULT_PROMPTS of its own style
    limit: int | None = None  # at most this many examples per task
    answer_items: list[AnswerItem] | None = None  # held-out prompts answered by generation
    samples: int = 3  # sampled answers per prompt, besides the greedy one (the consistency figure)
    arithmetic_items: list[ArithmeticItem] | None = None  # held-out multi-digit problems (chat models only)


# -- inputs ---------------------------------------------------------------------------------------


def eval_inputs(workdir: Path, tasks_dir: Path, prompts_file: str | Path | None = None,
                extra_tasks: list[str] | tuple[str, ...] = (), limit: int | None = None,
                samples: int = 3, arithmetic: bool = True) -> EvalInputs:
    """Read the prompts and held-out text, and load the lm_eval tasks (local ones written to `tasks_dir`).

    Extra (standard) tasks need the hub for their data: unreachable, this fails at once with a SkillError.
    """
    if limit is not None and limit < 1:
        raise SkillError(f"limit must be at least 1, got {limit}", hint="`--set limit=N` with N >= 1, or leave it out")
    local = [task for task, _ in LOCAL_TASKS.values()]
    extra = [name for name in dict.fromkeys(extra_tasks) if name not in local]
    if extra:
        _require_hub(extra)
    return EvalInputs(texts=perplexity_texts(workdir, limit), chats=held_out_chats(workdir, limit),
                      pairs=held_out_pairs(workdir, limit), tasks=_load_tasks(tasks_dir, local + extra, extra),
                      prompts=read_prompts(Path(prompts_file)) if prompts_file else None, limit=limit,
                      answer_items=load_items()[:limit], samples=samples,
                      arithmetic_items=load_arithmetic_items()[:limit] if arithmetic else None)


def read_prompts(path: Path) -> list[str]:
    """One prompt per non-empty line."""
    try:
        prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise SkillError(f"cannot read the prompts file {path}: {exc}",
                         hint="`--set prompts=FILE` with a UTF-8 text file, one prompt per line") from exc
    if not prompts:
        raise SkillError(f"the prompts file {path} holds no prompt", hint="write one prompt per line")
    return prompts


def perplexity_texts(workdir: Path, limit: int | None = None) -> list[str]:
    """The held-out pretraining documents (the registry's embedded-pretrain-eval)."""
    return [record["text"] for record in _records(PERPLEXITY_DATASET, "pretrain", workdir, limit)]


def held_out_chats(workdir: Path, limit: int | None = None) -> list[Reply]:
    """The last assistant reply of each held-out conversation (the registry's embedded-sft-eval)."""
    return [Reply(record["messages"][:-1], record["messages"][-1]["content"])
            for record in _records(CHAT_DATASET, "sft", workdir, limit)]


def held_out_pairs(workdir: Path, limit: int | None = None) -> list[tuple[Reply, Reply]]:
    """The held-out preference pairs (the registry's embedded-dpo-eval) as (chosen, rejected)."""
    return [(Reply(record["prompt"], record["chosen"][-1]["content"]),
             Reply(record["prompt"], record["rejected"][-1]["content"]))
            for record in _records(PREFERENCE_DATASET, "dpo", workdir, limit)]


def _records(name: str, kind: str, workdir: Path, limit: int | None) -> list[dict]:
    spec = resolve_dataset(name, kind, workdir)
    return list(RecordReader(spec.path, spec.kind, spec.format, spec.columns, limit=limit))


_DATA_FILE = re.compile(r"^(\s+test: )(\S+\.jsonl)\s*$", re.MULTILINE)  # `test: mc_identity.jsonl`


def write_local_tasks(dest: Path) -> Path:
    """Copy the shipped task folder to `dest` with each data file made absolute, and return `dest`.

    lm_eval reads `data_files` relative to the current directory, not to the YAML file, so the shipped
    files name only the file and the copy names the embedded dataset folder in full. The copy also keeps
    the datasets cache beside it (dest/../.cache), inside the work directory like everything a run writes.
    """
    data = shipped_path("dataset/embedded")
    cache = f"dataset_kwargs:\n  cache_dir: {json.dumps(str(dest.parent / '.cache'))}\n"
    dest.mkdir(parents=True, exist_ok=True)
    for source in sorted((assets_dir() / "lm_eval_tasks").iterdir()):
        if source.suffix in (".yaml", ".py"):
            text = _DATA_FILE.sub(lambda m: m[1] + json.dumps(str(data / m[2])), source.read_text(encoding="utf-8"))
            (dest / source.name).write_text(text.replace("dataset_kwargs:\n", cache), encoding="utf-8")
    return dest


def _require_hub(tasks: list[str]) -> None:
    reachable, detail = probe_hub()
    if not reachable:
        raise SkillError(f"lm_eval task(s) {', '.join(tasks)} download their data from the Hugging Face hub, "
                         f"which is not reachable ({detail})",
                         hint="run it where huggingface.co (or the HF_ENDPOINT mirror) is reachable, or leave "
                              "out `--set tasks=...`: the local tasks run offline")


def _load_tasks(tasks_dir: Path, names: list[str], extra: list[str]) -> dict:
    from lm_eval.tasks import TaskManager

    # Indexing lm_eval's ~14,700 built-in tasks takes seconds: only when a standard task is asked for.
    manager = TaskManager(include_path=str(write_local_tasks(tasks_dir)), include_defaults=bool(extra))
    unknown = [name for name in names if name not in manager.all_tasks]
    if unknown:
        raise SkillError(f"unknown lm_eval task(s): {', '.join(unknown)}",
                         hint="task names as `lm_eval ls tasks` lists them, e.g. `--set tasks=arc_easy,hellaswag`")
    try:
        loaded = manager.load(names)  # downloads the data of standard tasks
    except Exception as exc:  # lm_eval and datasets raise many kinds; all mean the task could not load
        raise SkillError(f"could not load lm_eval task(s) {', '.join(names)}: {type(exc).__name__}: {exc}",
                         hint="check the network (`minillm-skill run env-check`) and the task names") from exc
    for task in loaded["tasks"].values():
        task.set_fewshot_seed(seed=1234)  # as lm_eval.simple_evaluate does: the same few-shot examples each run
    return loaded


# -- one model -------------------------------------------------------------------------------------


def evaluate_model(path: Path, inputs: EvalInputs, untrained: bool = False) -> dict[str, Any]:
    """Every number for one model folder: sample answers, perplexities and task scores, in one dict.

    `untrained`: measure a freshly initialized model of the folder's architecture instead of its weights.
    """
    started = time.monotonic()
    model, tokenizer = load_model(path, untrained)
    if untrained:  # the floor for the chat figures too: the untrained model is asked as the chat models are
        with_chat_template(tokenizer)
    style = prompt_style(tokenizer)
    prompts = inputs.prompts or DEFAULT_PROMPTS[style]
    answers = greedy_answers(model, tokenizer, prompts, style)
    scored = answer_scores(model, tokenizer, inputs.answer_items or [], style, inputs.samples)
    result: dict[str, Any] = {"path": str(path), "untrained": untrained, "style": style,
                              "answer_accuracy": scored["accuracy"], "degenerate_rate": scored["degenerate_rate"],
                              "sample_accuracy": scored["sample_accuracy"], "answer_eval": scored,
                              "vocab_size": model.config.vocab_size, **perplexity(model, tokenizer, inputs.texts),
                              **chat_numbers(model, tokenizer, inputs)}
    if style == "chat" and inputs.arithmetic_items and not untrained:
        result["arithmetic"] = arithmetic_scores(model, tokenizer, inputs.arithmetic_items)
    tasks = run_tasks(model, tokenizer, style, inputs)
    for short, (task, _) in LOCAL_TASKS.items():
        result[f"{short}_acc"] = tasks[task].get("acc")
    result["tasks"] = tasks
    result["answers"] = [{"prompt": prompt, "answer": answer} for prompt, answer in zip(prompts, answers, strict=True)]
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def load_model(path: Path, untrained: bool = False):
    """(model, tokenizer) from a model folder, ready for inference (minillm_core/models.py); a folder that
    does not load fails the stage with what to do. `untrained`: its architecture with fresh, seeded weights."""
    try:
        return models.load_model(path, untrained=untrained)
    except models.ModelLoadError as exc:
        raise SkillError(str(exc), hint=exc.hint) from exc


def prompt_style(tokenizer) -> str:
    """"chat" for a model whose tokenizer has a chat template (chat stages add one), else "completion"."""
    return "chat" if tokenizer.chat_template else "completion"


@torch.no_grad()
def perplexity(model, tokenizer, texts: list[str], window: int = PERPLEXITY_WINDOW,
               batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Token-weighted perplexity of `texts` over non-overlapping windows of their token stream.

    The documents are joined as in pretraining (each followed by the eos token), cut into windows of
    `window` tokens, and every token but a window's first is predicted: exp(total loss / tokens predicted).
    """
    window = min(window, getattr(model.config, "max_position_embeddings", None) or window)
    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    stream = [token for text in texts for token in tokenizer(text, add_special_tokens=False)["input_ids"] + end]
    windows = [stream[i:i + window] for i in range(0, len(stream), window)]
    windows = [chunk for chunk in windows if len(chunk) > 1]
    scored = _scored_logprobs(model, [(chunk, len(chunk) - 1) for chunk in windows], tokenizer.pad_token_id,
                              batch_size)
    total, predicted = -sum(logprob for logprob, _ in scored), sum(count for _, count in scored)
    return {"perplexity": math.exp(total / predicted) if predicted else None, "perplexity_tokens": predicted,
            "perplexity_window": window}


def chat_numbers(model, tokenizer, inputs: EvalInputs) -> dict[str, Any]:
    """Chat perplexity of the held-out replies and the held-out preference figures. A base model has no chat
    template: it is measured through the one sft will give it, so the figures compare across stages."""
    if not tokenizer.chat_template:
        tokenizer = with_chat_template(copy.copy(tokenizer))
    scored = reply_logprobs(model, tokenizer, [reply for pair in inputs.pairs for reply in pair])
    return {**chat_perplexity(model, tokenizer, inputs.chats),
            **preference_figures(list(zip(scored[::2], scored[1::2], strict=True)))}


def preference_figures(pairs: list[tuple[tuple[float, int], tuple[float, int]]]) -> dict[str, Any]:
    """From ((chosen log-probability, tokens), (rejected log-probability, tokens)) per pair: accuracy and
    margin per token (length-normalised, the headline), and the summed margin (a diagnostic)."""
    if not pairs:
        return {"preference_acc_per_token": None, "preference_margin_per_token": None}
    per_token = [chosen[0] / max(chosen[1], 1) - rejected[0] / max(rejected[1], 1) for chosen, rejected in pairs]
    return {"preference_acc_per_token": sum(margin > 0 for margin in per_token) / len(pairs),
            "preference_margin_per_token": sum(per_token) / len(pairs),
            "preference_margin": sum(chosen[0] - rejected[0] for chosen, rejected in pairs) / len(pairs)}


def chat_perplexity(model, tokenizer, replies: list[Reply]) -> dict[str, Any]:
    """exp(mean negative log-likelihood per reply token) of `replies`, and how many tokens that covers."""
    scored = reply_logprobs(model, tokenizer, replies)
    tokens = sum(count for _, count in scored)
    return {"chat_perplexity": math.exp(-sum(total for total, _ in scored) / tokens) if tokens else None,
            "chat_perplexity_tokens": tokens}


@torch.no_grad()
def reply_logprobs(model, tokenizer, replies: list[Reply], batch_size: int = BATCH_SIZE) -> list[tuple[float, int]]:
    """For each reply: (summed log-probability of its tokens given the conversation before it, token count).

    The reply's tokens are what the chat template adds after the generation prompt: the text and the
    end-of-turn marker. Prompt and reply are tokenized apart, as TRL's trainers do. A sequence longer than
    the model's context keeps its last tokens.
    """
    limit = getattr(model.config, "max_position_embeddings", None)
    sequences = [_reply_tokens(tokenizer, reply, limit) for reply in replies]
    return _scored_logprobs(model, sequences, tokenizer.pad_token_id, batch_size)


@torch.no_grad()
def _scored_logprobs(model, sequences: list[tuple[list[int], int]], pad_id: int | None,
                     batch_size: int) -> list[tuple[float, int]]:
    """For each (token ids, n): the summed log-probability of its last n tokens, each given those before it."""
    results = []
    for first in range(0, len(sequences), batch_size):
        batch = sequences[first:first + batch_size]
        # Right padding, out of sight of every real token under causal attention; padded targets are -100.
        ids = torch.full((len(batch), max(len(seq) for seq, _ in batch)), pad_id or 0, dtype=torch.long)
        targets = torch.full_like(ids, -100)  # targets[:, i] is the token after position i, where it is scored
        for row, (seq, scored) in enumerate(batch):
            ids[row, :len(seq)] = torch.tensor(seq)
            targets[row, len(seq) - 1 - scored:len(seq) - 1] = torch.tensor(seq[len(seq) - scored:])
        logprobs = model(input_ids=ids.to(model.device)).logits.float().log_softmax(-1)
        targets = targets.to(model.device)
        picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (targets != -100)
        results += [(float(picked[row].sum()), scored) for row, (_, scored) in enumerate(batch)]
    return results


def _reply_tokens(tokenizer, reply: Reply, limit: int | None) -> tuple[list[int], int]:
    """(prompt and reply token ids, how many at the end are the reply's)."""
    prompt = tokenizer.apply_chat_template(reply.prompt, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(reply.prompt + [{"role": "assistant", "content": reply.text}],
                                         tokenize=False)
    if not full.startswith(prompt):
        raise SkillError("the chat template does not render a conversation as its generation prompt plus the reply",
                         hint="evaluate a model whose chat template extends the prompt (ChatML does)")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    seq = (prompt_ids + reply_ids)[-limit:] if limit else prompt_ids + reply_ids
    return seq, min(len(reply_ids), len(seq) - 1)


def run_tasks(model, tokenizer, style: str, inputs: EvalInputs) -> dict[str, dict[str, Any]]:
    """Each task's metrics ({"acc": ..., "acc_norm": ..., "docs": n scored}) from lm_eval's evaluator."""
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=BATCH_SIZE)
    # evaluator.evaluate, not simple_evaluate: that one also gathers environment info (about 4 s, each call).
    # lm_eval draws a progress bar per task and per request type; for seconds of work they are noise.
    with contextlib.redirect_stderr(io.StringIO()):
        output = evaluator.evaluate(lm=lm, task_dict=inputs.tasks, limit=inputs.limit, bootstrap_iters=0,
                                    log_samples=False, apply_chat_template=style == "chat")
    scored = output.get("n-samples", {})
    return {name: {**_numbers(values), "docs": scored.get(name, {}).get("effective")}
            for name, values in output["results"].items()}


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """lm_eval's {"acc,none": 0.5, "acc_stderr,none": "N/A", "alias": ...} as {"acc": 0.5}.

    A metric measured after a filter keeps the filter's name ("exact_match,strict-match")."""
    return {key.removesuffix(",none"): value for key, value in values.items()
            if "," in key and "_stderr" not in key and isinstance(value, (int, float))}


# -- the skill -------------------------------------------------------------------------------------


def run_eval(ctx: StageContext, paths: dict[str, Path]) -> StageResult:
    """The eval skill on `paths` (name -> model folder): every model measured the same way, results.json
    written, the models side by side in `details`."""
    missing = [str(path) for path in paths.values() if not path.is_dir()]
    if missing or not paths:
        raise SkillError(f"no model folder at {', '.join(missing)}" if missing else "no model to evaluate",
                         hint="`--set models=PATH,...` with folders written by pretrain, sft or dpo")
    extra = [name.strip() for name in (ctx.settings["tasks"] or "").split(",") if name.strip()]
    inputs = eval_inputs(ctx.workdir, ctx.path("out/eval/tasks"), ctx.settings["prompts"], extra,
                         ctx.settings["limit"], ctx.settings["samples"], ctx.settings.get("arithmetic", True))
    # The untrained baseline takes the architecture of the first model: the floor every stage is read against.
    runs = ([("untrained", next(iter(paths.values())), True)] if ctx.settings["baseline"] else [])
    runs += [(name, path, False) for name, path in paths.items()]
    models = {}
    for name, path, untrained in runs:
        ctx.log.info("eval: %s (%s)", name, f"untrained, architecture of {path}" if untrained else path)
        models[name] = evaluate_model(path, inputs, untrained)
        ctx.log.info("eval: %s done in %.1f s: %s", name, models[name]["seconds"], _one_line(models[name]))
    best = best_model({name: result for name, result in models.items() if not result["untrained"]})
    if is_main_process():
        _write_results(ctx.path("out/eval/results.json"), models, inputs, best)
    return StageResult(f"{len(models)} model(s): {_one_line_all(models)}; best: {best}",
                       metrics={"best_model": best, **_metrics(models, extra)},
                       artifacts=["out/eval/results.json", "out/eval/tasks"], details=comparison_markdown(models))


def best_model(models: dict[str, dict]) -> str | None:
    """The name of the model that answers best: highest answer accuracy, then fewest degenerate answers,
    then the later stage (the one trained further, as `models` is in pipeline order)."""
    ranked = [(result["answer_accuracy"] or 0.0, -(result["degenerate_rate"] or 0.0), index, name)
              for index, (name, result) in enumerate(models.items())]
    return max(ranked)[3] if ranked else None


def _write_results(path: Path, models: dict[str, dict], inputs: EvalInputs, best: str | None) -> None:
    import lm_eval

    data = {"headline": {"metric": "answer_accuracy", "best_model": best,
                         "by_model": {name: {key: result[key] for key in HEADLINE_KEYS}
                                      for name, result in models.items()}},
            "versions": {"lm_eval": lm_eval.__version__, "transformers": transformers.__version__,
                         "torch": torch.__version__},
            "settings": {"limit": inputs.limit, "tasks": list(inputs.tasks["tasks"]),
                         "perplexity_dataset": PERPLEXITY_DATASET, "perplexity_documents": len(inputs.texts),
                         "batch_size": BATCH_SIZE, "answer_items": len(inputs.answer_items or []),
                         "answer_samples": inputs.samples},
            "models": models}
    write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _metrics(models: dict[str, dict], extra: list[str]) -> dict[str, Any]:
    """{"models": {name: numbers}} plus flat keys such as sft_perplexity and dpo_preference_acc.

    Each model's answer rows (192 answers, hundreds of kB for four models) are left to results.json:
    the report, its stamp and an agent's stdout carry the figures."""
    flat: dict[str, Any] = {}
    for name, result in models.items():
        for key in HEADLINE_KEYS + ("perplexity", "chat_perplexity", "preference_margin"):
            flat[f"{name}_{key}"] = _round(result[key])
        for short in LOCAL_TASKS:
            flat[f"{name}_{short}_acc"] = _round(result[f"{short}_acc"])
        for task in extra:
            metric = _headline(result["tasks"].get(task, {}))
            if metric:
                flat[f"{name}_{task}_{metric}"] = _round(result["tasks"][task][metric])
        for mode in MODES if "arithmetic" in result else ():
            flat[f"{name}_arithmetic_{mode}"] = result["arithmetic"][mode]
    return {"models": {name: _without_answer_rows(result) for name, result in models.items()}, **flat}


def _without_answer_rows(result: dict[str, Any]) -> dict[str, Any]:
    trimmed = dict(result)
    for part in ("answer_eval", "arithmetic"):
        if part in result:
            trimmed[part] = {key: value for key, value in result[part].items() if key != "answers"}
    return trimmed


def _headline(numbers: dict[str, Any]) -> str | None:
    """The metric that stands for a task: acc when it has one, else its first."""
    metrics = [key for key in numbers if key != "docs"]
    return "acc" if "acc" in metrics else next(iter(metrics), None)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _one_line(result: dict[str, Any]) -> str:
    topics = ", ".join(f"{topic} {_fmt(value)}" for topic, value in result["answer_eval"]["by_topic"].items())
    return (f"answer accuracy {_fmt(result['answer_accuracy'])} ({topics}), degenerate "
            f"{_fmt(result['degenerate_rate'])}, chat perplexity {_fmt(result['chat_perplexity'])}, preference acc "
            f"per token {_fmt(result['preference_acc_per_token'])}, perplexity {_fmt(result['perplexity'])}")


def _one_line_all(models: dict[str, dict]) -> str:
    def row(key: str) -> str:
        return " / ".join(_fmt(result[key]) for result in models.values())

    return (f"{' / '.join(models)}: answer accuracy {row('answer_accuracy')}; degenerate {row('degenerate_rate')}; "
            f"chat perplexity {row('chat_perplexity')}; preference acc per token {row('preference_acc_per_token')}; "
            f"perplexity {row('perplexity')}")


def comparison_markdown(models: dict[str, dict]) -> str:
    """The models side by side (one column each), then their sample answers."""
    names = list(models)
    vocab = {result["vocab_size"] for result in models.values()}
    topics = list(dict.fromkeys(topic for name in names for topic in models[name]["answer_eval"]["by_topic"]))
    rows = [("**answer accuracy** (held-out prompts, greedy)", [models[name]["answer_accuracy"] for name in names])]
    rows += [(f"- {topic}", [models[name]["answer_eval"]["by_topic"].get(topic) for name in names]) for topic in topics]
    rows += [(label, [models[name][key] for name in names]) for key, label in (
        ("sample_accuracy", "consistency: sampled answers right (T=0.7)"),
        ("degenerate_rate", "degenerate answers (lower is better)"),
        ("preference_acc_per_token", "preference acc per token (chosen over rejected)"),
        ("preference_margin_per_token", "preference margin per token, nats"),
        ("perplexity", "text perplexity (lower is better)"),
        ("chat_perplexity", "chat perplexity, held-out replies (lower is better)"),
        ("preference_margin", "preference margin, summed nats (diagnostic)"))]
    rows += [(label, [models[name][f"{short}_acc"] for name in names]) for short, label in ROW_LABELS.items()]
    local = {task for task, _ in LOCAL_TASKS.values()}
    for task in sorted({task for name in names for task in models[name]["tasks"]} - local):
        metric = _headline(next(models[name]["tasks"][task] for name in names if task in models[name]["tasks"]))
        rows.append((f"{task} {metric}", [models[name]["tasks"].get(task, {}).get(metric) for name in names]))
    lines = ["### Stages side by side", "", "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(map(_fmt, values)) + " |" for label, values in rows]
    lines += ["", "Answer accuracy: each model answers held-out prompts (never trained on) by greedy generation, "
                  "and rules check what it said (identity: name and maker; sums: the number; facts: the value); "
                  "the headline is the mean over topics. Degenerate: empty, cut short, broken characters, loops or "
                  "the wrong language. Preference figures are per token, so length gives nothing away. The rows "
                  "below them are diagnostics: a uniform guesser scores perplexity "
                  f"{', '.join(map(str, sorted(vocab)))} (the vocabulary size); multiple-choice accuracy compares "
                  "summed log-likelihoods. `untrained` is the same architecture before training.",
              "", arithmetic_markdown(models), "### Sample answers (greedy)"]
    for name, result in models.items():
        lines += ["", f"**{name}** ({result['style']} prompts)", ""]
        lines += [f"- `{_short(pair['prompt'])}` -> {_short(pair['answer']) or '(nothing)'}"
                  for pair in result["answers"]]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"


def _short(text: str) -> str:
    text = " ".join(text.split()).replace("`", "'")
    return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS - 3] + "..."
