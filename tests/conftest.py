"""Shared fixtures: no hub, no third-party plugins unless a test asks, a fresh plugin host per test; the local
hub stand-in (`hub`) and a work directory (`workdir`) for the download tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
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
    from minillm_core.plugins import reset_host

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


class BackgroundBotStart:
    """bot-start in a fresh clone of the committed state, offline, started as soon as the tests are collected.

    The main job takes minutes; the other tests train on one torch thread, and bot-start's `threads=auto` takes
    the core they leave. So it runs beside them, and the tests that read its report run last."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bot-start-"))
        self.clone = self.root / "clone"
        subprocess.run(["git", "clone", "-q", str(Path(__file__).resolve().parent.parent), str(self.clone)],
                       check=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_LOAD_PLUGINS": ""}
        self.stdout = (self.root / "stdout.json").open("w")
        self.stderr = (self.root / "stderr.txt").open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "minillm_core", "run", "bot-start", "--json"],
                                        cwd=self.clone, stdout=self.stdout, stderr=self.stderr, env=env)

    def result(self, timeout: float = 1800) -> tuple[Path, dict]:
        returncode = self.process.wait(timeout)
        self.stdout.close()
        self.stderr.close()
        assert returncode == 0, (self.root / "stderr.txt").read_text()[-4000:]
        return self.clone, json.loads((self.root / "stdout.json").read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if os.environ.get("MINILLM_KEEP_BOT_START"):  # to read the run's report and models after the tests
            print(f"\nbot-start's clone kept: {self.clone}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


_BOT_START: BackgroundBotStart | None = None


def pytest_collection_modifyitems(session, config, items) -> None:
    """Start bot-start now when a selected test needs it, and run the tests that need it last."""
    global _BOT_START
    needing = [item for item in items if "bot_start_clone" in getattr(item, "fixturenames", ())]
    if needing and _BOT_START is None and not config.option.collectonly:
        _BOT_START = BackgroundBotStart()
    items[:] = [item for item in items if item not in needing] + needing


def pytest_sessionfinish(session, exitstatus) -> None:
    if _BOT_START is not None:
        _BOT_START.stop()


@pytest.fixture(scope="session")
def bot_start_clone() -> tuple[Path, dict]:
    """bot-start's clone and its JSON report (the run started at collection: see BackgroundBotStart)."""
    assert _BOT_START is not None, "bot-start was not started at collection"
    return _BOT_START.result()
