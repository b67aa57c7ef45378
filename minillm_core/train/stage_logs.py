"""A stage's logs, logs/<name>.jsonl (a line per log step) and logs/<name>_samples.jsonl (sample answers).

They describe the model in out/<name>, so a run writes its own under logs/<name>.partial.jsonl (and
_samples.partial.jsonl) and they take the names only once its model is saved: a run that fails or is stopped
leaves the logs of the model still in out/ as they were. A resumed run goes on appending to the partial ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PARTIAL = ".partial"


@dataclass(frozen=True)
class StageLogs:
    workdir: Path
    name: str  # the stage's run name: its output folder's (contract.outputs.run_name)

    @property
    def log(self) -> str:
        """Relative to the work directory, as reports name it."""
        return f"logs/{self.name}.jsonl"

    @property
    def samples(self) -> str:
        return f"logs/{self.name}_samples.jsonl"

    @staticmethod
    def partial(relative: str) -> str:
        """Where this run writes `relative` until its model is saved."""
        return f"{relative.removesuffix('.jsonl')}{PARTIAL}.jsonl"

    def publish(self) -> None:
        """The model is saved: this run's logs become the stage's."""
        for relative in (self.log, self.samples):
            partial = self.workdir / self.partial(relative)
            if partial.exists():
                os.replace(partial, self.workdir / relative)
