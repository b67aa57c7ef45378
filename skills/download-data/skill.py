"""download-data: make the requested datasets present and verified (the embedded default needs no download)."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, Skill, StageContext, StageResult, hookimpl
from minillm_core.contract import one_of
from minillm_core.hub import SOURCES, download_data, parse_names

OPTIONS = {
    "dataset": Option("dataset", str, "embedded", "comma-separated registry names to fetch; `embedded`: nothing"),
    "source": Option("source", str, "auto", "auto (hub if reachable, else the embedded data), hub or modelscope",
                     valid=one_of(*SOURCES)),
    "require_pins": Option("require_pins", bool, False,
                           "refuse registry entries that pin no sha256 (else they are fetched, recorded as unpinned)"),
}


def run(ctx: StageContext) -> StageResult:
    return download_data(parse_names(ctx.settings["dataset"]), ctx.settings["source"], ctx.workdir,
                         force=ctx.force, require_pins=bool(ctx.settings["require_pins"]))


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS))
