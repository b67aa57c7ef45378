"""Runs seen from outside: record (logs/runs/<run id>.json), locks (one run per stage and work directory),
detach (`run --detach`), session (what a run holds while it is on), status (what `status` and `stop` say),
stopping (Ctrl-C, SIGTERM and `stop` end a run at the next step), recovery (a model folder a kill left set
aside is put back)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "RunSession": "minillm_core.runs.session",
    "list_runs": "minillm_core.runs.record",
    "start_detached": "minillm_core.runs.detach",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
