"""Importing minillm_core changes no library setting; a command quiets the libraries' bars and chatter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ("(transformers.logging.get_verbosity(), datasets.is_progress_bar_enabled(), "
            "logging.getLogger('lm_eval').level, len(warnings.filters))")


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.slow
def test_importing_the_core_leaves_the_libraries_settings_alone():
    # The libraries themselves add warning filters when imported: import them first, then ours.
    code = (f"import logging, warnings, datasets, transformers, trl, peft, lm_eval; before = {SETTINGS}; "
            "import minillm_core.train.training, minillm_core.eval.evaluate, minillm_core.serve.chat; "
            "import minillm_core.cli; "
            f"print(before == {SETTINGS}, before)")
    assert run(code).startswith("True (30, True, 0,")  # transformers at WARNING, datasets' bars on


def test_a_command_quiets_them():
    code = ("import logging, warnings, datasets, transformers; from click.testing import CliRunner; "
            "from minillm_core.cli import cli; CliRunner().invoke(cli, ['list']); "
            f"print({SETTINGS}[:3])")
    assert run(code) == "(40, False, 30)"  # transformers at ERROR, datasets' bars off, lm_eval at WARNING
