"""env-check: measure the machine; fail only when a hard requirement is missing."""

from __future__ import annotations

from pathlib import Path

from minillm_core.api import Option, Skill, SkillError, StageContext, StageResult, hookimpl
from minillm_core.contract import greater_than
from minillm_core.runner import envcheck

OPTIONS = {"hub_timeout": Option("hub_timeout", float, 2.0, "seconds to wait for the model hub",
                                  valid=greater_than(0))}


def run(ctx: StageContext) -> StageResult:
    facts = envcheck.collect(ctx.workdir, ctx.settings["hub_timeout"])
    facts["warnings"] = envcheck.warnings(facts)
    for warning in facts["warnings"]:
        ctx.log.warning("warning: %s", warning)
    problems = envcheck.problems(facts)
    if problems:
        raise SkillError("; ".join(what for what, _ in problems), hint="; ".join(fix for _, fix in problems))
    gpu = facts["gpu"]
    device = f"{gpu['count']} x {gpu['devices'][0]['name']}" if gpu["count"] else "no GPU"
    summary = (f"Python {facts['python']}, torch {facts['packages']['torch']}, {facts['cpu_cores']} cores, "
               f"{facts['ram_gb']} GB RAM, {facts['disk_free_gb']} GB free, {device}, "
               f"hub {'reachable' if facts['hub_reachable'] else 'unreachable'}")
    return StageResult(summary, metrics=facts)


@hookimpl
def register_skills(register):
    register(Skill.from_folder(Path(__file__).parent, run=run, options=OPTIONS))
