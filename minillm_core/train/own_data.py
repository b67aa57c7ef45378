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

from collections import Counter
from typing import TYPE_CHECKING

import datasets

from minillm_core.contract.skill import SkillError
from minillm_core.data.formats import RecordReader
from minillm_core.data.held_out import SplitError, held_out_indices, parse_setting
from minillm_core.data.registry import DatasetNotFound, resolve_dataset
from minillm_core.eval.own_data import tokens
from minillm_core.train.answer_check import SAME_QUESTION_F1
from minillm_core.train.held_out_check import SHIPPED_EVERY
from minillm_core.train.start_model import trained_on

if TYPE_CHECKING:
    from minillm_core.train.training import TrainingRun

REPLAY_AUTO = 1.0


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
    if run.stage != "sft":  # the sft skill's option: a plugin's method may have a `replay` of its own (lora does)
        return 0.0
    setting = str(run.ctx.settings.get("replay", 0)).lower()
    if setting == "auto":
        return REPLAY_AUTO if not run.dataset.name.startswith("embedded-") and replay_source(run) else 0.0
    return float(setting)


def with_replay(run: TrainingRun, records: datasets.Dataset) -> datasets.Dataset:
    """`records` plus replayed chats of the start model's own training data (the module docstring says when)."""
    ratio, source = replay_ratio(run), replay_source(run)
    if not ratio or not source or run.dataset.kind != "sft":
        return records
    try:
        spec = resolve_dataset(source, "sft", run.ctx.workdir)
    except (DatasetNotFound, ValueError):  # the start model's data is not registered here: nothing to replay
        run.ctx.log.warning("replay: the start model's dataset %s is not in this work directory's registry", source)
        return records
    reader, stat = RecordReader(spec.path, spec.kind, spec.format, spec.columns, lenient=True), spec.path.stat()
    replayed = datasets.Dataset.from_generator(  # cached on disk beside the stage's own records
        _records, cache_dir=str(run.cache_dir()), features=records.features,
        gen_kwargs={"reader": reader, "file_identity": f"{stat.st_size}-{stat.st_mtime_ns}"})
    replayed = without_same_questions(replayed, records)
    count = min(len(replayed), round(len(records) * ratio))
    replayed = replayed.shuffle(seed=run.ctx.settings["seed"]).select(range(count))
    run.data_stats["replayed_records"] = count
    run.data_stats["replayed_from"] = source
    run.ctx.log.info("replay: %d chats of %s mixed in with the %d records of %s", count, source, len(records),
                     run.dataset.path.name)
    return datasets.concatenate_datasets([records, replayed])


def without_same_questions(replayed: datasets.Dataset, records: datasets.Dataset) -> datasets.Dataset:
    """The replayed chats minus those that ask what the user's records ask (token F1 of the first user turns at
    least SAME_QUESTION_F1): replaying "Who are you?" -> "I am MiniLLM" would teach against a new identity."""
    def first_question(row: dict) -> str:
        return next((m["content"] or "" for m in row["messages"] if m["role"] == "user"), "")

    # token_f1 of own_data, with the user's questions tokenized once: thousands of chats against each question
    asked = [Counter(tokens(q)) for q in dict.fromkeys(first_question(row) for row in records)]

    def same(question: str) -> bool:
        said = Counter(tokens(question))
        for wanted in asked:
            common = sum((said & wanted).values())
            if common and 2 * common / (sum(said.values()) + sum(wanted.values())) >= SAME_QUESTION_F1:
                return True
        return False

    return replayed.filter(lambda row: not same(first_question(row)))


def _records(reader: RecordReader, file_identity: str):
    """Generator for datasets; `file_identity` only makes the cache key change when the file does."""
    yield from reader
