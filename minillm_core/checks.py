"""Preconditions and inputs shared by the training skills, checked before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from minillm_core.data.registry import resolve_dataset
from minillm_core.download import dataset_for_training
from minillm_core.skill import Check, StageContext


def dataset_check(kind: str) -> Callable[[StageContext], list[Check]]:
    """The stage's `dataset` names a registered dataset or a file, and its file is present."""

    def check(ctx: StageContext) -> list[Check]:
        ref = ctx.settings["dataset"]
        what = f"the {kind} dataset '{ref}'"
        try:
            requested = resolve_dataset(ref, kind, ctx.workdir)
            spec = dataset_for_training(requested, ctx.workdir)
        except (ValueError, OSError) as exc:
            return [Check(what, False, str(exc), hint="`--set dataset=NAME` with a name from dataset/registry.yaml, "
                                                      "or `--set dataset=PATH` to a data file")]
        if spec.is_downloaded:
            fallback = f" (fallback for '{ref}': the hub was unreachable)" if spec.name != requested.name else ""
            return [Check(what, True, f"found {spec.path}{fallback}")]
        return [Check(what, False, f"not downloaded yet: {spec.path} is missing", made_by="download-data",
                      hint=f"run `minillm-skill run download-data --set dataset={spec.name}`")]

    return check


def dataset_inputs(kind: str) -> Callable[[StageContext], list[Path]]:
    """The data file a stage reads, so an edited or newly downloaded file makes the stage run again."""

    def inputs(ctx: StageContext) -> list[Path]:
        try:
            return [dataset_for_training(resolve_dataset(ctx.settings["dataset"], kind, ctx.workdir), ctx.workdir).path]
        except (ValueError, OSError):
            return []

    return inputs
