"""report: the report card of the stages finished in this work directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

from minillm_core.hookspecs import hookimpl
from minillm_core.runner import STAMPS
from minillm_core.skill import Skill, StageContext, StageResult

STAGE_ORDER = ["env-check", "download-data", "pretrain", "sft", "dpo", "eval"]


def _last_results(workdir: Path) -> dict[str, dict]:
    results = {}
    for stamp in sorted((workdir / STAMPS).glob("*.json")):
        data = json.loads(stamp.read_text())
        results[stamp.stem] = {"finished_at": time.strftime("%Y-%m-%d %H:%M", time.localtime(data["finished_at"])),
                               **{k: data["record"][k] for k in ("summary", "duration_s", "metrics")}}
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    return dict(sorted(results.items(), key=lambda item: order.get(item[0], len(order))))


def run(ctx: StageContext) -> StageResult:
    stages = _last_results(ctx.workdir)
    if not stages:
        return StageResult("no stage has finished in this work directory yet", metrics={"stages": {}})
    rows = ["| stage | finished | time | summary |", "|---|---|---|---|"]
    rows += [f"| {name} | {r['finished_at']} | {r['duration_s']:.1f} s | {r['summary']} |"
             for name, r in stages.items()]
    return StageResult(f"{len(stages)} stages have results: {', '.join(stages)}",
                       metrics={"stages": stages}, details="### Last result of each stage\n\n" + "\n".join(rows))


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run))
