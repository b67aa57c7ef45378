"""eval: how far each stage model got. Answer accuracy first, then held-out perplexity and lm_eval scores.

    inputs = eval_inputs(workdir, tasks_dir=workdir / "out/eval/tasks")   # once, shared by every model
    numbers = evaluate_model(workdir / "out/sft", inputs)                  # one model (what a report reuses)
    result = run_eval(ctx, {"sft": workdir / "out/sft"})                   # the skill: results.json, the table

The headline is answer accuracy (minillm_core/eval/answers.py): the model answers held-out prompts by
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

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers

from minillm_core.contract.skill import SkillError, StageContext, StageResult
from minillm_core.data import prompts_file
from minillm_core.data.formats import RecordReader
from minillm_core.data.registry import resolve_dataset
from minillm_core.eval.answers import AnswerItem, answer_scores, load_items
from minillm_core.eval.arithmetic import (
    MODES,
    ArithmeticItem,
    arithmetic_scores,
    calculator_scores,
    load_arithmetic_items,
    load_tool_wording_items,
)
from minillm_core.eval.likelihood import (
    BATCH_SIZE,
    Reply,
    chat_perplexity,
    perplexity,
    preference_figures,
    reply_logprobs,
)
from minillm_core.eval.lm_eval_tasks import LOCAL_TASKS, headline_metric, load_tasks, require_hub, run_tasks
from minillm_core.eval.table import comparison_markdown, one_line, one_line_all
from minillm_core.hub.model_card import add_eval_results
from minillm_core.inference.samples import DEFAULT_PROMPTS, greedy_answers
from minillm_core.model import loading as models
from minillm_core.model.tokenizer import with_chat_template
from minillm_core.plugins.host import get_host
from minillm_core.util.atomic import write_text_atomic
from minillm_core.util.distributed import is_main_process

PERPLEXITY_DATASET = "embedded-pretrain-eval"
CHAT_DATASET = "embedded-sft-eval"
PREFERENCE_DATASET = "embedded-dpo-eval"
HEADLINE_KEYS = ("answer_accuracy", "degenerate_rate", "sample_accuracy", "preference_acc_per_token")


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
    tool_wording_items: list[ArithmeticItem] | None = None  # the same in held-out wordings (calculator mode only)
    plugin_tasks: list[str] = field(default_factory=list)  # lm_eval tasks the plugins added (register_eval_tasks)


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
    plugin_tasks = get_host().eval_tasks()
    plugin_names = [name for _plugin, _folder, names in plugin_tasks for name in names]
    extra = [name for name in dict.fromkeys(extra_tasks) if name not in local + plugin_names]
    if extra:
        require_hub(extra)
    tasks = load_tasks(tasks_dir, local + plugin_names + extra, extra,
                       [(plugin, folder) for plugin, folder, _names in plugin_tasks])
    return EvalInputs(texts=perplexity_texts(workdir, limit), chats=held_out_chats(workdir, limit),
                      pairs=held_out_pairs(workdir, limit), tasks=tasks,
                      prompts=read_prompts(Path(prompts_file)) if prompts_file else None, limit=limit,
                      answer_items=load_items()[:limit], samples=samples,
                      arithmetic_items=load_arithmetic_items()[:limit] if arithmetic else None,
                      tool_wording_items=load_tool_wording_items()[:limit] if arithmetic else None,
                      plugin_tasks=plugin_names)


def read_prompts(path: Path) -> list[str]:
    """One prompt per non-empty line (checked when the option was given; the file may have changed since)."""
    try:
        return prompts_file.read_prompts(path)
    except prompts_file.PromptsFileError as exc:
        raise SkillError(str(exc), hint="`--set prompts=FILE` with a UTF-8 text file, one prompt per line") from exc


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
    # The untrained floor answers greedily only: its sampled answers are noise, and since it never stops they
    # cost the most of any model (27 of bot-start's 112 s went to them).
    scored = answer_scores(model, tokenizer, inputs.answer_items or [], style, 0 if untrained else inputs.samples)
    result: dict[str, Any] = {"path": str(path), "untrained": untrained, "style": style,
                              "answer_accuracy": scored["accuracy"], "degenerate_rate": scored["degenerate_rate"],
                              "sample_accuracy": scored["sample_accuracy"], "answer_eval": scored,
                              "vocab_size": model.config.vocab_size, **perplexity(model, tokenizer, inputs.texts),
                              **chat_numbers(model, tokenizer, inputs)}
    if style == "chat" and inputs.arithmetic_items and not untrained:
        result["arithmetic"] = arithmetic_scores(model, tokenizer, inputs.arithmetic_items)
    if style == "chat" and inputs.tool_wording_items and not untrained:
        result["tool_wordings"] = calculator_scores(model, tokenizer, inputs.tool_wording_items)
    tasks = run_tasks(model, tokenizer, style, inputs)
    for short, (task, _) in LOCAL_TASKS.items():
        result[f"{short}_acc"] = tasks[task].get("acc")
    result["tasks"] = tasks
    result["answers"] = [{"prompt": prompt, "answer": answer} for prompt, answer in zip(prompts, answers, strict=True)]
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def load_model(path: Path, untrained: bool = False):
    """(model, tokenizer) from a model folder, ready for inference (minillm_core/model/loading.py); a folder that
    does not load fails the stage with what to do. `untrained`: its architecture with fresh, seeded weights."""
    try:
        return models.load_model(path, untrained=untrained)
    except models.ModelLoadError as exc:
        raise SkillError(str(exc), hint=exc.hint) from exc


def prompt_style(tokenizer) -> str:
    """"chat" for a model whose tokenizer has a chat template (chat stages add one), else "completion"."""
    return "chat" if tokenizer.chat_template else "completion"


def chat_numbers(model, tokenizer, inputs: EvalInputs) -> dict[str, Any]:
    """Chat perplexity of the held-out replies and the held-out preference figures. A base model has no chat
    template: it is measured through the one sft will give it, so the figures compare across stages."""
    if not tokenizer.chat_template:
        tokenizer = with_chat_template(copy.copy(tokenizer))
    scored = reply_logprobs(model, tokenizer, [reply for pair in inputs.pairs for reply in pair])
    return {**chat_perplexity(model, tokenizer, inputs.chats),
            **preference_figures(list(zip(scored[::2], scored[1::2], strict=True)))}


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
        ctx.log.info("eval: %s done in %.1f s: %s", name, models[name]["seconds"], one_line(models[name]))
    best = best_model({name: result for name, result in models.items() if not result["untrained"]})
    if is_main_process():
        _write_results(ctx.path("out/eval/results.json"), models, inputs, best)
        for name, path in paths.items():  # the figures join each model's card (model_card.py)
            add_eval_results(path, models[name])
    return StageResult(f"{len(models)} model(s): {one_line_all(models)}; best: {best}",
                       metrics={"best_model": best, **_metrics(models, [*inputs.plugin_tasks, *extra])},
                       artifacts=["out/eval/results.json", "out/eval/tasks"], details=comparison_markdown(models))


def best_model(models: dict[str, dict]) -> str | None:
    """The name of the model that answers best: highest answer accuracy, then fewest degenerate answers,
    then the later stage (the one trained further, as `models` is in pipeline order).

    Chat models first: a base model is scored on sentences to complete ("The capital of Brazil is"), a chat
    model on questions, and what a user talks to is a chat model. A base model is chosen only when no chat
    model was measured (measured: with another seed, bot-start's pretrain model completed 0.306 and its
    sft model answered 0.269, and the pretrain model would have been handed to `chat`)."""
    chat = {name: result for name, result in models.items() if result.get("style") == "chat"}
    ranked = [(result["answer_accuracy"] or 0.0, -(result["degenerate_rate"] or 0.0), index, name)
              for index, (name, result) in enumerate((chat or models).items())]
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
                         "answer_samples": inputs.samples, "chat_conversations": len(inputs.chats),
                         "preference_pairs": len(inputs.pairs),
                         "tool_wording_items": len(inputs.tool_wording_items or [])},
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
            metric = headline_metric(result["tasks"].get(task, {}))
            if metric:
                flat[f"{name}_{task}_{metric}"] = _round(result["tasks"][task][metric])
        for mode in MODES if "arithmetic" in result else ():
            flat[f"{name}_arithmetic_{mode}"] = result["arithmetic"][mode]
        if "tool_wordings" in result:
            flat[f"{name}_tool_wordings_calculator"] = result["tool_wordings"]["calculator"]
    return {"models": {name: _without_answer_rows(result) for name, result in models.items()}, **flat}


def _without_answer_rows(result: dict[str, Any]) -> dict[str, Any]:
    trimmed = dict(result)
    for part in ("answer_eval", "arithmetic", "tool_wordings"):
        if part in result:
            trimmed[part] = {key: value for key, value in result[part].items() if key != "answers"}
    return trimmed


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


