"""lm_eval's side of eval: the local multiple-choice tasks over the embedded held-out files, run offline.

A chat model (sft, dpo) sees each question as a user turn wrapped in its chat template, the way it was trained;
a base model sees the plain question. Standard lm_eval tasks (`--set tasks=arc_easy`) need the hub for data.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

from minillm_core.contract.skill import SkillError
from minillm_core.eval.likelihood import BATCH_SIZE
from minillm_core.hub.reach import probe_hub
from minillm_core.util.resources import assets_dir, shipped_path

# Short name (metrics keys, table rows) -> lm_eval task and its file in dataset/embedded/.
LOCAL_TASKS = {
    "identity": ("minillm_identity", "mc_identity.jsonl"),
    "arithmetic": ("minillm_arithmetic", "mc_arithmetic.jsonl"),
    "facts": ("minillm_facts", "mc_facts.jsonl"),
    "preference": ("minillm_preference", "dpo_eval.jsonl"),
}


_DATA_FILE = re.compile(r"^(\s+test: )(\S+\.jsonl)\s*$", re.MULTILINE)  # `test: mc_identity.jsonl`


def write_local_tasks(dest: Path, plugin_tasks: list[tuple[str, Path]] = ()) -> Path:
    """Copy the shipped task folder to `dest` with each data file made absolute, and each plugin's task folder to
    `dest/plugins/<plugin>` likewise (its data files relative to its own folder); return `dest`.

    lm_eval reads `data_files` relative to the current directory, not to the YAML file, so the shipped
    files name only the file and the copy names the embedded dataset folder in full. The copy also keeps
    the datasets cache beside it (dest/../.cache), inside the work directory like everything a run writes.
    """
    cache = f"dataset_kwargs:\n  cache_dir: {json.dumps(str(dest.parent / '.cache'))}\n"
    folders = [(assets_dir() / "lm_eval_tasks", dest, shipped_path("dataset/embedded"))]
    folders += [(folder, dest / "plugins" / plugin, folder) for plugin, folder in plugin_tasks]
    for source_folder, target, data in folders:
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(Path(source_folder).iterdir()):
            if source.suffix in (".yaml", ".py"):
                text = _DATA_FILE.sub(lambda m, data=data: m[1] + json.dumps(str(Path(data) / m[2])),
                                      source.read_text(encoding="utf-8"))
                (target / source.name).write_text(text.replace("dataset_kwargs:\n", cache), encoding="utf-8")
    return dest


def require_hub(tasks: list[str]) -> None:
    reachable, detail = probe_hub()
    if not reachable:
        raise SkillError(f"lm_eval task(s) {', '.join(tasks)} download their data from the Hugging Face hub, "
                         f"which is not reachable ({detail})",
                         hint="run it where huggingface.co (or the HF_ENDPOINT mirror) is reachable, or leave "
                              "out `--set tasks=...`: the local tasks run offline")


def load_tasks(tasks_dir: Path, names: list[str], extra: list[str],
               plugin_tasks: list[tuple[str, Path]] = ()) -> dict:
    """lm_eval's loaded tasks: the local ones, the plugins' (`register_eval_tasks`), then the `extra` standard ones."""
    from lm_eval.tasks import TaskManager

    # Indexing lm_eval's ~14,700 built-in tasks takes seconds: only when a standard task is asked for.
    manager = TaskManager(include_path=str(write_local_tasks(tasks_dir, plugin_tasks)), include_defaults=bool(extra))
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


def run_tasks(model, tokenizer, style: str, inputs: Any) -> dict[str, dict[str, Any]]:
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


def headline_metric(numbers: dict[str, Any]) -> str | None:
    """The metric that stands for a task: acc when it has one, else its first."""
    metrics = [key for key in numbers if key != "docs"]
    return "acc" if "acc" in metrics else next(iter(metrics), None)
