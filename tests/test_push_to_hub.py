"""`--set push_to_hub=ORG/NAME`: the trained model folder goes to the hub (here the suite's stand-in) in one
commit; checked before training (token, repo id); a failed upload leaves the saved model and says how to
push it again."""

from __future__ import annotations

import json

import pytest

from tests.helpers import invoke
from tests.hub_standin import closed_port_endpoint

TINY = ["--set", "preset=tiny", "--set", "max_steps=2", "--set", "answer_check=false"]


@pytest.fixture
def token(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token stored by a login on this machine
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")


@pytest.mark.slow  # seconds of training or exporting: the fast suite stays under 3 minutes
def test_the_model_folder_is_pushed_in_one_commit(hub, token, workdir):
    result = invoke("run", "pretrain", "--workdir", str(workdir), "--json", *TINY, "--set", "push_to_hub=me/tiny-lm")
    assert result.exit_code == 0, result.output
    pushed = json.loads(result.stdout)["stages"][0]["metrics"]["push_to_hub"]
    assert pushed["repo"] == "me/tiny-lm" and pushed["url"].endswith("/me/tiny-lm") and pushed["commit"]

    folder = workdir / "out" / "pretrain"
    uploaded = {path: data for (repo, path), data in hub.uploads.items() if repo == "me/tiny-lm"}
    expected = {path.name for path in folder.iterdir() if path.name != ".minillm-output.json"}
    assert set(uploaded) == expected and {"README.md", "trainer_state.json", "model.safetensors"} <= expected
    assert uploaded["model.safetensors"] == (folder / "model.safetensors").read_bytes()
    assert hub.commits == ["minillm-skill pretrain: pretrain"]
    assert set(hub.tokens) == {"Bearer hf_test_token"}
    assert hub.validated == [(folder / "README.md").read_text()]  # the card's metadata, checked by the hub


@pytest.mark.parametrize("repo, message", [("not a repo", "must be a hub repository id, ORG/NAME"),
                                           ("me/tiny-lm", "no Hugging Face token: set HF_TOKEN")])
def test_a_push_that_cannot_work_is_refused_before_training(monkeypatch, tmp_path, workdir, repo, message):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    result = invoke("run", "pretrain", "--workdir", str(workdir), "--set", f"push_to_hub={repo}")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (workdir / "out").exists()


@pytest.mark.slow  # seconds of training or exporting: the fast suite stays under 3 minutes
def test_a_failed_upload_keeps_the_model_and_says_how_to_push_it(hub, token, workdir, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())  # the hub is down
    result = invoke("run", "pretrain", "--workdir", str(workdir), "--json", *TINY, "--set", "push_to_hub=me/tiny-lm")
    assert result.exit_code == 0, result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["status"] == "ok" and "could not push pretrain" in stage["warnings"][0]
    assert stage["hint"] == ("the model is saved in out/pretrain; push it with "
                             "`huggingface-cli upload me/tiny-lm out/pretrain`")
    assert "error" in stage["metrics"]["push_to_hub"]
    assert (workdir / "out" / "pretrain" / "model.safetensors").is_file()
