"""What the runner holds while a run is on: its stage locks, its record under logs/runs/, the graceful stop.

    with RunSession.begin(plan_name, workdir, stages) as session:   # RunLocked: another run has a stage
        session.stage_started("pretrain"); ...; session.finish(report)

Only the main process of a multi-process launch locks and records; the others run the stages alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from minillm_core.contract.outputs import output_path, run_name
from minillm_core.runs.locks import holding
from minillm_core.runs.record import RunRecord, new_run_id
from minillm_core.runs.stopping import graceful_stop
from minillm_core.util.distributed import is_main_process


def lock_names(stages: list[tuple[str, dict[str, Any], bool]], workdir: Path) -> list[str]:
    """One lock per stage, named after what it writes: (skill, settings, has an `output` option) each."""
    return [run_name(skill, output_path(skill, settings.get("output"), workdir), workdir) if has_output else skill
            for skill, settings, has_output in stages]


class RunSession:
    def __init__(self, record: RunRecord | None):
        self.record = record

    @property
    def run_id(self) -> str | None:
        return self.record.run_id if self.record else None

    @classmethod
    @contextmanager
    def begin(cls, skill: str, workdir: Path, stages: list[tuple[str, dict[str, Any], bool]]) -> Iterator[RunSession]:
        """Lock every stage (or raise RunLocked before anything is written), record the run, handle signals."""
        with ExitStack() as stack:
            record = None
            if is_main_process():
                run_id = new_run_id(skill)
                stack.enter_context(holding(workdir, lock_names(stages, workdir), run_id))
                record = RunRecord.start(workdir, run_id, skill, [name for name, _, _ in stages],
                                         ["minillm-skill", *sys.argv[1:]])
            stack.enter_context(graceful_stop())
            session = cls(record)
            try:
                yield session
            finally:
                if record and record.data["status"] == "running":  # the runner itself broke: say so
                    record.data["status"] = "failed"
                    record.save()

    def stage_started(self, name: str, **fields: Any) -> None:
        if self.record:
            self.record.update_stage(name, status="running", **fields)

    def note(self, name: str, **fields: Any) -> None:
        """What a running stage tells `status` (its log files, say); a no-op outside a recorded run."""
        if self.record:
            self.record.update_stage(name, **fields)

    def stage_finished(self, name: str, status: str) -> None:
        if self.record:
            self.record.update_stage(name, status=status)

    def finish(self, report: dict[str, Any]) -> None:
        if self.record:
            self.record.finish(report["status"], report)
