"""The runner: resolve a skill into stages, check every precondition first, run them, report.

plan (make_plan, run_plan), preconditions, report (reports/latest.json and .md), stamps (what each stage's
last successful run was), final_model (which model a run hands over), gitcheck (the cleanliness check that
ends every run), envcheck (what env-check measures), report_card (the report skill's card).

The runner never imports train or eval: it reaches them through skills."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "Plan": "minillm_core.runner.plan",
    "make_plan": "minillm_core.runner.plan",
    "run_plan": "minillm_core.runner.plan",
    "locked_report": "minillm_core.runner.plan",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
