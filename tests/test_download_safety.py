"""download-data cannot be led outside dataset/, hub credentials never reach a file or the output, and a file
whose sha256 the registry does not pin is recorded as unpinned (or refused, with require_pins)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from minillm_core.cli import cli
from tests.hub_standin import CONTENT, FILE, NAME, REPO, closed_port_endpoint, register

PASSWORD = "s3cret-pw"


def run_cli(folder: Path, *sets: str):
    args = ["run", "download-data", "--workdir", str(folder), "--json"]
    for pair in sets:
        args += ["--set", pair]
    return CliRunner().invoke(cli, args)


def test_a_registry_file_leading_out_of_dataset_is_refused(hub, workdir, tmp_path):
    hub.add(REPO, FILE, CONTENT)
    victim = tmp_path / "x"  # ../../x from <workdir>/dataset/
    victim.write_text("precious, and not the hub's file\n")
    registry = workdir / "dataset" / "registry.yaml"
    registry.parent.mkdir(parents=True)
    registry.write_text(f"escape:\n  kind: pretrain\n  file: ../../x\n  hub: {{repo: {REPO}, file: {FILE}}}\n")
    result = run_cli(workdir, "dataset=escape")
    assert result.exit_code == 1
    stage = json.loads(result.stdout)["stages"][0]
    assert "entry 'escape': file '../../x' must be a path inside" in stage["error"]
    assert victim.read_text() == "precious, and not the hub's file\n"
    assert hub.gets() == []


def with_credentials(endpoint: str) -> str:
    return endpoint.replace("://", f"://someone:{PASSWORD}@")


def files_holding_the_password(root: Path) -> list[str]:
    return [str(path.relative_to(root)) for path in root.rglob("*")
            if path.is_file() and PASSWORD.encode() in path.read_bytes()]


@pytest.mark.parametrize("case", ["downloaded", "not-on-the-hub", "unreachable", "unreachable-source-hub"])
def test_credentials_in_hf_endpoint_reach_no_file_and_no_output(hub, workdir, monkeypatch, capfd, case):
    if case == "downloaded":
        hub.add(REPO, FILE, CONTENT)
    endpoint = closed_port_endpoint() if case.startswith("unreachable") else hub.endpoint
    monkeypatch.setenv("HF_ENDPOINT", with_credentials(endpoint))
    register(workdir)
    result = run_cli(workdir, f"dataset={NAME}", *(["source=hub"] if case.endswith("source-hub") else []))
    stage = json.loads(result.stdout)["stages"][0]
    expected = {"downloaded": "ok", "not-on-the-hub": "failed", "unreachable": "ok",
                "unreachable-source-hub": "failed"}[case]
    assert stage["status"] == expected, stage
    assert "://***@127.0.0.1:" in result.stdout  # the address is shown, its credentials are not
    assert files_holding_the_password(workdir) == []
    captured = capfd.readouterr()
    for text in (result.stdout, result.stderr, captured.out, captured.err):
        assert PASSWORD not in text
    assert (workdir / "reports" / "latest.json").is_file()  # the reports were written, and checked above
    if expected == "ok":
        assert (workdir / "dataset" / "downloads.json").is_file() and (workdir / "out" / ".stamps").is_dir()


def test_an_unpinned_download_is_recorded_as_such_with_a_warning(hub, workdir):
    sha = hub.add(REPO, FILE, CONTENT)
    register(workdir)  # no sha256, no size: as the shipped MiniMind entries
    result = run_cli(workdir, f"dataset={NAME}")
    assert result.exit_code == 0, result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert stage["metrics"]["unpinned"] == [NAME]
    assert stage["metrics"]["datasets"][NAME]["pinned"] is False
    assert f"unpinned (the registry has no sha256; the hub's own was trusted): {NAME}" in stage["summary"]
    assert f"dataset '{NAME}' pins no sha256" in result.stderr and "require_pins" in result.stderr
    note = json.loads((workdir / "dataset" / "downloads.json").read_text())
    assert note["files"][NAME]["pinned"] is False and note["files"][NAME]["sha256"] == sha


def test_require_pins_refuses_unpinned_entries_before_fetching(hub, workdir):
    hub.add(REPO, FILE, CONTENT)
    register(workdir)
    result = run_cli(workdir, f"dataset={NAME}", "require_pins=true")
    assert result.exit_code == 1
    stage = json.loads(result.stdout)["stages"][0]
    assert f"the registry pins no sha256 for '{NAME}'" in stage["error"] and "sha256:" in stage["hint"]
    assert hub.requests == [] and not (workdir / "dataset" / FILE).exists()


def test_require_pins_accepts_pinned_entries(hub, workdir):
    sha = hub.add(REPO, FILE, CONTENT)
    register(workdir, sha256=sha, size=len(CONTENT))
    result = run_cli(workdir, f"dataset={NAME}", "require_pins=true")
    assert result.exit_code == 0, result.output
    stage = json.loads(result.stdout)["stages"][0]
    assert "unpinned" not in stage["metrics"] and stage["metrics"]["datasets"][NAME]["pinned"] is True
