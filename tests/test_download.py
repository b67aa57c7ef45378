"""download-data against a local stand-in for the hub: download, resume, verification, offline fallback."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from minillm_core.data.registry import load_registry
from minillm_core.hub import download, fetch
from minillm_core.plugins.host import get_host
from minillm_core.runner.plan import make_plan, run_plan
from tests.hub_standin import CONTENT, FILE, NAME, REPO, closed_port_endpoint, register


def run_skill(workdir: Path, *sets: str, force: bool = False) -> dict:
    """Run download-data through the runner; the stage's record."""
    host = get_host()
    plan = make_plan(host, "download-data", workdir, sets=list(sets), cwd=workdir, force=force)
    return run_plan(host, plan)["stages"][0]


def run_cli(workdir: Path, *sets: str) -> tuple[int, dict]:
    args = ["run", "download-data", "--workdir", str(workdir), "--json"]
    for pair in sets:
        args += ["--set", pair]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)["stages"][0]


def leftovers(workdir: Path) -> list[Path]:
    return list((workdir / "dataset" / ".cache").rglob("*.incomplete"))


@pytest.mark.parametrize("pinned", [True, False], ids=["registry-sha256", "hub-lfs-sha256"])
def test_download_lands_verified_in_the_dataset_folder(hub, workdir, pinned):
    sha = hub.add(REPO, FILE, CONTENT)
    register(workdir, **({"sha256": sha, "size": len(CONTENT)} if pinned else {}))
    stage = run_skill(workdir, f"dataset={NAME}")
    assert stage["status"] == "ok", stage["error"]
    assert (workdir / "dataset" / FILE).read_bytes() == CONTENT
    metrics = stage["metrics"]
    assert (metrics["source"], metrics["fallback"], metrics["files"], metrics["bytes"]) == ("hub", False, 1,
                                                                                          len(CONTENT))
    assert metrics["endpoint"] == hub.endpoint
    assert metrics["datasets"][NAME] == {"state": "downloaded", "file": f"dataset/{FILE}", "size": len(CONTENT),
                                         "sha256": sha, "verified": "sha256", "bytes": len(CONTENT),
                                         "pinned": pinned}
    assert stage["artifacts"] == [f"dataset/{FILE}"]
    assert "fetched 1 file(s)" in stage["summary"] and "verified by sha256" in stage["summary"]
    assert [r.range for r in hub.gets()] == [None] and not leftovers(workdir)

    # A re-run finds the recorded file unchanged: no network, no re-download.
    asked = len(hub.requests)
    again = run_skill(workdir, f"dataset={NAME}")
    assert again["status"] == "ok" and len(hub.requests) == asked
    assert (again["metrics"]["source"], again["metrics"]["datasets"][NAME]["state"]) == ("local", "present")


def test_a_partial_download_resumes_with_a_range_request(hub, workdir):
    sha = hub.add(REPO, FILE, CONTENT)
    register(workdir, sha256=sha)
    spec = load_registry(workdir)[NAME]
    partial = fetch.partial_path(workdir, spec, sha)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(CONTENT[:5000])
    stage = run_skill(workdir, f"dataset={NAME}")
    assert stage["status"] == "ok", stage["error"]
    assert [r.range for r in hub.gets()] == ["bytes=5000-"]
    assert (workdir / "dataset" / FILE).read_bytes() == CONTENT
    record = stage["metrics"]["datasets"][NAME]
    assert (record["state"], record["bytes"], record["sha256"], record["verified"]) == (
        "resumed", len(CONTENT) - 5000, sha, "sha256")
    assert not leftovers(workdir)


@pytest.mark.parametrize("served", [CONTENT[:-10] + b"corrupted\n", CONTENT + b"extra bytes\n"],
                         ids=["wrong-bytes", "too-long"])
def test_a_corrupted_download_is_rejected_and_deleted(hub, workdir, served):
    hub.add(REPO, FILE, CONTENT, served=served)
    register(workdir)  # verified against the hub's own size and LFS sha256
    code, stage = run_cli(workdir, f"dataset={NAME}")
    assert (code, stage["status"]) == (1, "failed")
    assert f"the downloaded {FILE} is corrupt" in stage["error"] and NAME in stage["error"]
    assert f"minillm-skill run download-data --set dataset={NAME}" in stage["hint"]
    assert not (workdir / "dataset" / FILE).exists() and not leftovers(workdir)


def test_a_wrong_file_already_in_place_is_replaced(hub, workdir):
    sha = hub.add(REPO, FILE, CONTENT)
    register(workdir)
    (workdir / "dataset" / FILE).write_bytes(b"not the data\n")
    stage = run_skill(workdir, f"dataset={NAME}")
    assert stage["status"] == "ok", stage["error"]
    assert stage["metrics"]["datasets"][NAME]["state"] == "downloaded"
    assert fetch.sha256_of(workdir / "dataset" / FILE) == sha


def test_a_hub_file_that_differs_from_the_registry_is_refused_before_downloading(hub, workdir):
    hub.add(REPO, FILE, CONTENT)
    register(workdir, sha256="0" * 64)
    code, stage = run_cli(workdir, f"dataset={NAME}")
    assert code == 1 and "the registry expects" in stage["error"] and "sha256" in stage["hint"]
    assert hub.gets() == [] and not (workdir / "dataset" / FILE).exists()


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE", "closed-port"])
def test_offline_auto_falls_back_to_the_embedded_data_fast(workdir, monkeypatch, offline):
    if offline == "closed-port":
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", closed_port_endpoint())
    register(workdir)
    started = time.monotonic()
    stage = run_skill(workdir, f"dataset={NAME},embedded")
    assert time.monotonic() - started < 1.0
    assert stage["status"] == "ok", stage["error"]
    metrics = stage["metrics"]
    assert (metrics["source"], metrics["fallback"], metrics["files"]) == ("embedded", True, 0)
    assert metrics["replacements"] == {NAME: "embedded-pretrain"}
    assert "unreachable" in metrics["reason"] and "embedded-pretrain" in stage["summary"]

    # Training asks which dataset to read: the recorded fallback, until the file is downloaded.
    spec = load_registry(workdir)[NAME]
    assert download.dataset_for_training(spec, workdir).name == "embedded-pretrain"
    spec.path.write_bytes(CONTENT)
    assert download.dataset_for_training(spec, workdir) is spec


def test_without_a_recorded_fallback_training_keeps_the_hub_dataset(workdir):
    register(workdir)
    spec = load_registry(workdir)[NAME]
    assert download.dataset_for_training(spec, workdir) is spec


def test_offline_with_source_hub_fails_with_a_hint(workdir):
    register(workdir)
    code, stage = run_cli(workdir, f"dataset={NAME}", "source=hub")
    assert (code, stage["status"]) == (1, "failed")
    assert "unreachable" in stage["error"] and "HF_HUB_OFFLINE" in stage["error"]
    assert "HF_ENDPOINT" in stage["hint"] and "source=auto" in stage["hint"]


def test_the_embedded_default_fetches_nothing(workdir):
    stage = run_skill(workdir)
    assert stage["status"] == "ok"
    assert (stage["metrics"]["source"], stage["metrics"]["files"], stage["metrics"]["fallback"]) == (
        "embedded", 0, False)


def test_an_unknown_dataset_name_is_a_clear_error(workdir):  # a bad `source` is refused earlier: test_bad_inputs
    code, stage = run_cli(workdir, "dataset=minimind-pretrain,nope")
    assert code == 1 and "no dataset named 'nope'" in stage["error"]
    assert "Downloadable: minimind-dpo, minimind-lora-identity" in stage["error"] and "embedded" in stage["error"]


def test_modelscope_without_its_package_says_what_to_install(workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "modelscope", None)  # makes `import modelscope` fail
    register(workdir)
    code, stage = run_cli(workdir, f"dataset={NAME}", "source=modelscope")
    assert code == 1 and "needs the modelscope package" in stage["error"]
    assert "pip install modelscope" in stage["hint"]
