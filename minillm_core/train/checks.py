"""Preconditions and inputs shared by the training skills, checked before anything runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minillm_core.contract.skill import Check, SkillError, StageContext
from minillm_core.data.formats import DataError, RecordReader
from minillm_core.data.registry import DatasetSpec, resolve_dataset
from minillm_core.hub.download import dataset_for_training
from minillm_core.model.tokenizer import tokenizer_folder_problem


def dataset_check(kind: str) -> Callable[[StageContext], list[Check]]:
    """The stage's `dataset` names a registered dataset or a file, and its file is present."""

    def check(ctx: StageContext) -> list[Check]:
        ref = ctx.settings["dataset"]
        what = f"the {kind} dataset '{ref}'"
        if not ref:
            return [Check(what, False, "no dataset given", hint="`--set dataset=NAME` or `--set dataset=PATH`")]
        try:
            requested = resolve_dataset(ref, kind, ctx.workdir)
            spec = dataset_for_training(requested, ctx.workdir)
        except DataError as exc:  # a file that exists but cannot be read as records
            return [Check(what, False, str(exc), hint="fix the file (UTF-8 JSON lines, a JSON array or plain text), "
                                                      "or give another with `--set dataset=NAME|PATH`")]
        except (ValueError, OSError) as exc:
            return [Check(what, False, str(exc), hint="`--set dataset=NAME` with a name from dataset/registry.yaml, "
                                                      "or `--set dataset=PATH` to a data file")]
        if spec.is_downloaded:
            problem = first_records_problem(spec, ctx.settings.get("lenient", False))
            if problem:
                return [Check(what, False, problem, hint="fix the file, or `--set lenient=true` to skip bad records"
                              if "every record" not in problem else "fix the file, or give another dataset")]
            fallback = f" (fallback for '{ref}': the hub was unreachable)" if spec.name != requested.name else ""
            return [Check(what, True, f"found {spec.path}{fallback}")]
        return [Check(what, False, f"not downloaded yet: {spec.path} is missing", made_by="download-data",
                      hint=f"run `minillm-skill run download-data --set dataset={spec.name}`")]

    return check


def resolve_stage_dataset(kind: str, ctx: StageContext) -> tuple[DatasetSpec, str]:
    """The stage's dataset, checked the same way as its precondition (for callers that skip the runner),
    and the name of the one asked for (another when download-data fell back to the embedded data)."""
    for check in dataset_check(kind)(ctx):
        if not check.holds:
            raise SkillError(f"{check.what}: {check.detail}", hint=check.hint)
    requested = resolve_dataset(ctx.settings["dataset"], kind, ctx.workdir)
    spec = dataset_for_training(requested, ctx.workdir)
    if spec.name != requested.name:
        ctx.log.warning("dataset '%s' could not be downloaded; training on '%s' instead", requested.name, spec.name)
    return spec, requested.name


def dataset_inputs(kind: str) -> Callable[[StageContext], list[Path]]:
    """The data file a stage reads, so an edited or newly downloaded file makes the stage run again."""

    def inputs(ctx: StageContext) -> list[Path]:
        try:
            return [dataset_for_training(resolve_dataset(ctx.settings["dataset"], kind, ctx.workdir), ctx.workdir).path]
        except (ValueError, OSError):
            return []

    return inputs


def training_inputs(kind: str, builds_new_model: bool) -> Callable[[StageContext], list[Path]]:
    """The stage's data file and, for a stage that builds a new model, the tokenizer it builds it with: a
    retrained out/tokenizer makes pretrain run again."""
    data = dataset_inputs(kind)

    def inputs(ctx: StageContext) -> list[Path]:
        files = data(ctx)
        if builds_new_model and not ctx.settings.get("init"):
            from minillm_core.model.tokenizer import (
                tokenizer_for_new_model,  # here: `list` should not import transformers
            )

            files.append(tokenizer_for_new_model(ctx.settings.get("tokenizer"), ctx.workdir) / "tokenizer.json")
        return files

    return inputs


FIRST_RECORDS = 5


def first_records_problem(spec: DatasetSpec, lenient: bool) -> str | None:
    """What is wrong with the dataset's first records ('FILE:LINE: ...'), read before anything runs; or None.
    In lenient mode, bad records are skipped: then the problem is a file in which every record is bad."""
    try:
        reader = RecordReader(spec.path, spec.kind, spec.format, spec.columns, lenient=lenient, limit=FIRST_RECORDS)
        for _ in reader:
            pass
    except DataError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read {spec.path}: {exc.strerror or exc}"
    if reader.read == 0:
        example = f", e.g. {reader.errors[0]}" if reader.errors else ""
        return f"{spec.path}: every record is malformed ({reader.skipped} skipped){example}" if reader.skipped \
            else f"{spec.path}: the file holds no records"
    return None


def tokenizer_check(ctx: StageContext) -> list[Check]:
    """A `tokenizer` option, when given, names a folder that holds a tokenizer."""
    path = ctx.settings.get("tokenizer")
    if not path:
        return []
    what = "the tokenizer given by tokenizer"
    problem = tokenizer_folder_problem(path)
    if problem:
        return [Check(what, False, problem, hint="`--set tokenizer=` a folder a tokenizer was saved to "
                                                 "(save_pretrained)")]
    return [Check(what, True, f"found {path}")]


def training_checks(kind: str, default_init: str | None = None) -> Callable[[StageContext], list[Check]]:
    """A training stage's preconditions beyond `requires`: its dataset (and first records), its tokenizer, and
    that it fits in memory (the preflight, minillm_core/train/stage_preflight.py)."""
    data = dataset_check(kind)

    def checks(ctx: StageContext) -> list[Check]:
        from minillm_core.train.stage_preflight import preflight_check  # here: `minillm-skill list` plans nothing

        return data(ctx) + tokenizer_check(ctx) + preflight_check(kind, default_init)(ctx)

    return checks


def teacher_check(default_init: str | None) -> Callable[[StageContext], list[Check]]:
    """distill's `teacher`: a model folder that reads text as the student does, with as many embedding rows.
    Compared here when the student's folder exists; when an earlier stage of the run makes it, when it runs."""

    def check(ctx: StageContext) -> list[Check]:
        from minillm_core.train.start_model import start_folder  # here: `minillm-skill list` plans nothing

        teacher = ctx.settings.get("teacher")
        what = "the teacher model given by teacher"
        if not teacher:
            return [Check(what, False, "no teacher given: distill needs a model to learn from",
                          hint="`--set teacher=FOLDER`: a causal LM folder with the student's tokenizer (a bigger "
                               "model trained in this work directory, say)")]
        student = start_folder(ctx.settings, ctx, default_init)
        problem = student_problem(Path(teacher), student) if student else teacher_folder_problem(Path(teacher))
        if problem:
            return [Check(what, False, problem[0], hint=problem[1])]
        compared = f", same tokenizer and vocabulary as {student}" if student else " (compared with the student " \
                                                                                    "when the stage runs)"
        return [Check(what, True, f"found {teacher}{compared}")]

    return check


def teacher_folder_problem(teacher: Path) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `teacher` is not a model folder, else None."""
    if not (teacher / "config.json").is_file():
        detail = f"missing: {teacher}" if not teacher.exists() else f"{teacher} is not a model folder (no config.json)"
        return detail, "`--set teacher=` a causal LM folder (one a training stage saved, with config.json)"
    problem = tokenizer_folder_problem(teacher)
    return (problem, "the teacher's folder must hold its tokenizer, as a stage's saved folder does") if problem \
        else None


def teacher_problem(teacher: Path, student_tokenizer: Any, student_rows: int, student: str) -> tuple[str, str] | None:
    """(what is wrong, what to do) when the model in `teacher` cannot teach `student` (its tokenizer and embedding
    rows given), else None. The loss compares the two next-token distributions token for token: one tokenizer,
    one vocabulary size."""
    from minillm_core.model.tokenizer import load_tokenizer, tokenizer_sha256  # transformers: only when planned

    problem = teacher_folder_problem(teacher)
    if problem:
        return problem
    if tokenizer_sha256(load_tokenizer(teacher)) != tokenizer_sha256(student_tokenizer):
        return (f"the teacher {teacher} reads text with another tokenizer than the student {student}",
                "train the teacher with the student's tokenizer (in the same work directory: `out/tokenizer`), "
                "or give the student a teacher trained with it")
    rows = embedding_rows(teacher)
    if rows != student_rows:
        return (f"the teacher {teacher} has {rows} embedding rows and the student {student} {student_rows}: the "
                "same tokenizer, but presets that round its size differently",
                "build the teacher from a preset file (`minillm-skill presets copy tiny FILE`, made wider) so its "
                "rows match the student's")
    return None


def student_problem(teacher: Path, student: Path) -> tuple[str, str] | None:
    """teacher_problem for a student saved in `student`, read from its folder."""
    from minillm_core.model.tokenizer import load_tokenizer

    return teacher_problem(teacher, load_tokenizer(student), embedding_rows(student), str(student))


def embedding_rows(folder: Path) -> int | None:
    """The vocabulary size in the config of the model saved in `folder`."""
    return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("vocab_size")
