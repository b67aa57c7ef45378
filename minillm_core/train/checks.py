"""Preconditions and inputs shared by the training skills, checked before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
