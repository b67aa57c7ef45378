"""Shared fixtures: no hub, no third-party plugins unless a test asks, a fresh plugin host per test; the local
hub stand-in (`hub`) and a work directory (`workdir`) for the download tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_standin import HubStandIn

# Set before anything imports huggingface_hub: tests must never try the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(autouse=True)
def _isolated_plugins(monkeypatch):
    """Load no installed third-party plugins unless a test sets MINILLM_LOAD_PLUGINS itself."""
    from minillm_core.plugins.host import reset_host

    monkeypatch.setenv("MINILLM_LOAD_PLUGINS", "")
    monkeypatch.delenv("MINILLM_STRICT_PLUGINS", raising=False)
    reset_host()
    yield
    reset_host()


@pytest.fixture
def git_workdir(tmp_path: Path) -> Path:
    """A fresh git repository that ignores what runs write, with one committed file."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitignore").write_text("dataset/\nout/\nlogs/\nreports/\n")
    (repo / "notes.txt").write_text("tracked\n")
    git = ["git", "-c", "user.email=test@example.com", "-c", "user.name=test"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    return repo


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for modules that only run tiny untrained models: on a CPU shared with other jobs,
    two threads ran them up to 20x slower. Training tests keep the default, as users get it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def hub(monkeypatch):
    """The stand-in as HF_ENDPOINT, with huggingface_hub's import-time settings patched to match."""
    from huggingface_hub import constants

    with HubStandIn() as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.endpoint)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        # huggingface_hub's own default endpoint leads nowhere: a call that forgets `endpoint=` fails here.
        dead = "http://127.0.0.1:9"
        monkeypatch.setattr(constants, "ENDPOINT", dead)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", dead + "/{repo_id}/resolve/{revision}/{filename}")
        yield standin


def pytest_collection_modifyitems(config, items) -> None:
    """A test that needs bot-start's run is `slow`: the main job takes minutes, so `python -m pytest -q` leaves
    these out and `python -m pytest -q -m slow` runs them (CI runs both)."""
    for item in items:
        if "bot_start_clone" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def bot_start_clone(tmp_path_factory) -> tuple[Path, dict]:
    """bot-start in a fresh clone of the committed state, offline: (the clone, its JSON report). Once a session."""
    clone = tmp_path_factory.mktemp("bot-start") / "clone"
    subprocess.run(["git", "clone", "-q", str(Path(__file__).resolve().parent.parent), str(clone)], check=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-m", "minillm_core", "run", "bot-start", "--json"], cwd=clone,
                            capture_output=True, text=True, env=env, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    return clone, json.loads(result.stdout)
