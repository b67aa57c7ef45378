"""download-data: make the requested datasets present (the embedded default needs no download)."""

from __future__ import annotations

from pathlib import Path

from minillm_core.hookspecs import hookimpl
from minillm_core.options import Option
from minillm_core.skill import Skill, SkillError, StageContext, StageResult

OPTIONS = {
    "dataset": Option("dataset", str, "embedded", "comma-separated registry names to fetch"),
    "source": Option("source", str, "auto", "auto (hub if reachable, else embedded) or hub"),
}


def run(ctx: StageContext) -> StageResult:
    names = [name.strip() for name in ctx.settings["dataset"].split(",") if name.strip()]
    if names == ["embedded"] and ctx.settings["source"] == "auto":
        return StageResult("nothing to download: training uses the embedded dataset shipped with the package",
                           metrics={"source": "embedded", "files": 0})
    raise SkillError("downloading from the hub is not implemented yet",
                     hint="use the embedded default: `minillm-skill run download-data` with no --set")


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS))
