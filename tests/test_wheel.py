"""A wheel built from the repository carries every skill and its SKILL.md into a fresh environment."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a wheel built and installed in a fresh venv: minutes

REPO = Path(__file__).resolve().parent.parent


def test_wheel_in_a_fresh_venv_lists_and_shows_all_skills(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(REPO)], check=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("minillm_skill-*.whl"))
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    # Dependencies come from this environment's site-packages, read after the fresh venv's own, so the
    # code and skills under test are the wheel's, never the clone's.
    site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = env_dir / "bin" / "minillm-skill"
    env = {"PATH": str(env_dir / "bin"), "MINILLM_LOAD_PLUGINS": "", "HOME": str(tmp_path)}

    listing = subprocess.run([script, "list", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert {row["name"] for row in rows} >= {
        "bot-start", "env-check", "download-data", "pretrain", "sft", "dpo", "eval", "report"}
    assert all(str(env_dir) in row["skill_md"] for row in rows), "skills must come from the wheel"
    for name in ("bot-start", "dpo"):
        shown = subprocess.run([script, "show", name], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert shown.returncode == 0 and f"name: {name}" in shown.stdout
