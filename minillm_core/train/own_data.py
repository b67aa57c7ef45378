"""A fine-tune's data: what is held out of the user's records to measure on, and what replays beside them.

    records = with_replay(run, without_held_out(run, records))   # TrainingRun.records_dataset does this

- Held out (`eval_split`, sft and dpo): the dataset's own held-out file when the registry names one (every
  record trains), else a seeded split of the records (minillm_core/data/held_out.py), never trained on.
- Replay (`replay`, sft): chats the start model was trained on, mixed in so that a small fine-tune does not
  wipe what the model knew. `auto` replays when the stage fine-tunes a model of this project (its provenance
  names the chat datasets that trained it) on data of the user's own: as many replayed chats as the user's
  records times REPLAY_AUTO. A number sets that ratio; 0 turns replay off. Replayed chats that ask what the
  user's records ask are left out: they would teach the old answer against the new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import datasets

from minillm_core.contract.skill import SkillError
from minillm_core.data.cached import cached_records
from minillm_core.data.formats import RecordReader
from minillm_core.data.held_out import SplitError, held_out_indices, parse_setting
from minillm_core.data.registry import DatasetNotFound, resolve_dataset
from minillm_core.eval.own_data import Questions
from minillm_core.train.start_model import trained_on

if TYPE_CHECKING:
    from minillm_core.train.training import TrainingRun

REPLAY_AUTO = 1.0
SHIPPED_EVERY = 4  # a dataset's own held-out file is read every 4th record: what a subset tells, in seconds


def without_held_out(run: TrainingRun, records: datasets.Dataset) -> datasets.Dataset:
    """The records to train on; the records to measure the model on go to `run.held_out`."""
    setting = run.ctx.settings.get("eval_split")
    if setting is None or parse_setting(setting) == 0:
        return records
    if run.dataset.held_out:
        spec = resolve_dataset(run.dataset.held_out, run.dataset.kind, run.ctx.workdir)
        every = list(RecordReader(spec.path, spec.kind, spec.format, spec.columns))
        run.held_out, run.held_out_source = every[::SHIPPED_EVERY], f"{spec.name} (every {SHIPPED_EVERY}th)"
        return records
    try:
        indices = held_out_indices(len(records), setting, run.ctx.settings["seed"])
    except SplitError as exc:
        raise SkillError(f"{run.dataset.path}: {exc}", hint="`--set eval_split=` a smaller share, or 0") from None
    if not indices:
        return records
    run.held_out = [records[index] for index in indices]
    run.held_out_source = f"{len(indices)} of the {len(records)} records of {run.dataset.path.name}"
    run.data_stats["held_out_records"] = len(indices)
    held = set(indices)
    return records.select([index for index in range(len(records)) if index not in held])


def replay_source(run: TrainingRun) -> str | None:
    """The registry name of the last chat dataset that trained the start model, when it is not this stage's."""
    names = [step["dataset"] for step in trained_on(run.start) if step["stage"] in ("sft", run.stage)]
    return names[-1] if names and names[-1] != run.dataset.name else None


def replay_ratio(run: TrainingRun) -> float:
    """Replayed chats per record of the user's, when there is a source to replay (replay_source)."""
    if run.stage != "sft":  # the sft skill's option: a plugin's method may have a `replay` of its own (lora does)
        return 0.0
    setting = str(run.ctx.settings.get("replay", 0)).lower()
    if setting == "auto":
        return 0.0 if run.dataset.name.startswith("embedded-") else REPLAY_AUTO
    return float(setting)


def with_replay(run: TrainingRun, records: datasets.Dataset) -> datasets.Dataset:
    """`records` plus replayed chats of the start model's own training data (the module docstring says when)."""
    ratio = replay_ratio(run) if run.dataset.kind == "sft" else 0.0
    source = replay_source(run) if ratio else None
    if not source:
        return records
    try:
        spec = resolve_dataset(source, "sft", run.ctx.workdir)
    except (DatasetNotFound, ValueError):  # the start model's data is not registered here: nothing to replay
        run.ctx.log.warning("replay: the start model's dataset %s is not in this work directory's registry", source)
        return records
    reader = RecordReader(spec.path, spec.kind, spec.format, spec.columns, lenient=True)
    replayed = without_same_questions(cached_records(reader, run.cache_dir(), records.features), records)
    count = min(len(replayed), round(len(records) * ratio))
    replayed = replayed.shuffle(seed=run.ctx.settings["seed"]).select(range(count))
    run.data_stats["replayed_records"] = count
    run.data_stats["replayed_from"] = source
    run.ctx.log.info("replay: %d chats of %s mixed in with the %d records of %s", count, source, len(records),
                     run.dataset.path.name)
    return datasets.concatenate_datasets([records, replayed])


def without_same_questions(replayed: datasets.Dataset, records: datasets.Dataset) -> datasets.Dataset:
    """The replayed chats minus those that ask what the user's records ask (their first user turns, by
    eval/own_data.py's Questions): replaying "Who are you?" -> "I am MiniLLM" would teach against a new identity."""
    asked = Questions(_first_question(row) for row in records)
    return replayed.filter(lambda row: not asked.asks(_first_question(row)))


def _first_question(row: dict) -> str:
    return next((message["content"] or "" for message in row["messages"] if message["role"] == "user"), "")
