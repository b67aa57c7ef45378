"""report: the report card of the stages finished in this work directory."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Skill, StageContext, StageResult, hookimpl
from minillm_core.runner import report_card


def run(ctx: StageContext) -> StageResult:
    # In bot-start, eval's own section already shows its table: show it here only when run alone.
    details, metrics = report_card.card(ctx.workdir, include_eval="eval" not in ctx.run_stages)
    stages = list(metrics["stages"])
    if not stages:
        return StageResult("no stage has finished in this work directory yet", metrics=metrics)
    return StageResult(f"report card of {', '.join(stages)}; {len(metrics['plots'])} loss plots",
                       metrics=metrics, artifacts=metrics["plots"], details=details)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run))
