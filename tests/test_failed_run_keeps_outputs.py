"""A run that fails after it has started leaves out/ and the logs of the model in out/ as they were (issue 27):
its own log is logs/<stage>.partial.jsonl, which takes the stage's name only once its model is saved."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import Trainer

from minillm_core.contract.outputs import MARKER
from tests.helpers import invoke

TINY = ["--set", "preset=tiny", "--set", "max_steps=3", "--set", "log_steps=1", "--set", "answer_check=false"]


def _crash_at_step_two(monkeypatch) -> None:
    """The third training step raises, as an out-of-memory error or a bad batch would."""
    real = Trainer.training_step
    calls = []

    def training_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", training_step)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_run_that_fails_mid_training_changes_neither_the_model_nor_its_logs(tmp_path, monkeypatch):
    model = tmp_path / "out" / "pretrain"  # the model of an earlier, successful run
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / MARKER).write_text('{"stage": "pretrain"}')
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pretrain.jsonl").write_text(json.dumps({"step": 1, "loss": 9.0}) + "\n")
    (logs / "pretrain_samples.jsonl").write_text(json.dumps({"step": 1, "answer": "earlier"}) + "\n")
    before = {"model": _snapshot(model), "logs": _snapshot(logs)}

    _crash_at_step_two(monkeypatch)
    result = invoke("run", "pretrain", "--workdir", str(tmp_path), "--json", *TINY)

    assert result.exit_code == 1, result.output
    assert "disk on fire" in json.loads(result.stdout)["stages"][0]["error"]
    assert _snapshot(model) == before["model"]
    kept = _snapshot(logs)
    assert {name: kept[name] for name in before["logs"]} == before["logs"]
    failed_run = [json.loads(line) for line in (logs / "pretrain.partial.jsonl").read_text().splitlines()]
    assert [line["step"] for line in failed_run] == [1, 2]  # its own log, beside the model's
