"""Fine-tuning bot-start's model on a user's own identity file, as a tutorial walks a user through it: a JSON
array of OpenAI messages teaching a new name and maker in both languages (tests/identity_data.py), generated
here, not shipped. Slow: it needs bot-start's run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.identity_data import write_identity_file


def fine_tune(clone: Path, workdir: Path, *sets: str) -> dict:
    """`minillm-skill run sft` from bot-start's chat model on the identity file, in its own work directory."""
    data = write_identity_file(workdir / "identity.json")
    args = ["--set", f"init={clone / 'out' / 'sft'}", "--set", f"dataset={data}",
            "--set", f"output={workdir / 'out' / 'sft-id'}"]
    args += [part for pair in sets for part in ("--set", pair)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-m", "minillm_core", "run", "sft", "--workdir", str(workdir), "--json",
                             *args], capture_output=True, text=True, env=env, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_defaults_of_the_day_the_issue_was_filed_wipe_what_the_model_knew_and_are_caught(bot_start_clone,
                                                                                               tmp_path):
    """Full fine-tune at the start model's learning rate, epochs=auto and no replay: what a user got then. The
    new identity is changed on purpose; the check reports what else went, and final_model keeps bot-start's."""
    clone, _ = bot_start_clone
    report = fine_tune(clone, tmp_path, "replay=0")
    stage = report["stages"][0]
    check = stage["metrics"]["answer_check"]
    assert check["items"] == 192 and check["changed_topics"] == ["identity"], check
    assert check["regressed"] and stage["warnings"] and "lower `lr`" in stage["hint"], stage
    assert Path(report["final_model"]["path"]).resolve() == (clone / "out" / "sft").resolve(), report["final_model"]
    own = stage["metrics"]["on_your_data"]
    assert own["items"] == 20 and own["after"] > own["before"], own  # it did learn the file
