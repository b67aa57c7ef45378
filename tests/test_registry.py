"""The dataset registry: shipped and user files, names, paths and the errors users see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minillm_core.data import registry
from minillm_core.data.registry import (
    DatasetKindError,
    DatasetNotFound,
    RegistryError,
    load_registry,
    registry_paths,
    resolve_dataset,
)
from minillm_core.util.resources import shipped_path

SHIPPED = """
# comments like the real file's header
tiny-pretrain:
  kind: pretrain
  format: minimind
  file: embedded/pretrain.jsonl
  description: a few documents
tiny-sft:
  kind: sft
  file: embedded/sft.jsonl
big-sft:
  kind: sft
  format: alpaca
  hub: {repo: someone/data, file: data/big_sft.json, size: 10, sha256: abc}
  columns: {instruction: question, output: answer}
tiny-dpo:
  kind: dpo
  file: embedded/dpo.jsonl
"""

USER = """
tiny-sft:
  kind: sft
  format: sharegpt
  file: my_sft.jsonl
  description: mine
mine-pretrain:
  kind: pretrain
  file: corpora/../corpus.txt
"""


@pytest.fixture
def shipped(tmp_path, monkeypatch) -> Path:
    """A stand-in for the shipped registry, so tests do not depend on its entries."""
    path = tmp_path / "shipped" / "dataset" / "registry.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(SHIPPED)
    monkeypatch.setattr(registry, "shipped_path", lambda relative: tmp_path / "shipped" / relative)
    return path


@pytest.fixture
def workdir(tmp_path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def write_user_registry(workdir: Path, text: str) -> Path:
    path = workdir / "dataset" / "registry.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_entries_resolve_files_beside_the_registry(shipped, workdir):
    specs = load_registry(workdir)
    assert sorted(specs) == ["big-sft", "tiny-dpo", "tiny-pretrain", "tiny-sft"]
    tiny = specs["tiny-pretrain"]
    assert (tiny.kind, tiny.format, tiny.description) == ("pretrain", "minimind", "a few documents")
    assert tiny.path == shipped.parent / "embedded" / "pretrain.jsonl"
    assert tiny.hub is None and tiny.columns == {} and tiny.registry == shipped
    assert specs["tiny-sft"].format is None


def test_hub_entries_land_in_the_workdir_dataset_folder(shipped, workdir):
    big = load_registry(workdir)["big-sft"]
    assert big.path == workdir / "dataset" / "big_sft.json"
    assert big.hub == {"repo": "someone/data", "file": "data/big_sft.json", "size": 10, "sha256": "abc"}
    assert big.columns == {"instruction": "question", "output": "answer"}
    assert not big.is_downloaded
    big.path.parent.mkdir(parents=True)
    big.path.write_text("[]")
    assert big.is_downloaded


def test_hub_entries_fall_back_to_the_embedded_data_of_their_kind(shipped, workdir):
    write_user_registry(workdir, "x:\n  kind: sft\n  hub: {repo: a/b, file: y.jsonl, modelscope: c/d}\n"
                                 "  fallback: tiny-sft\n")
    specs = load_registry(workdir)
    assert (specs["x"].fallback, specs["x"].hub["modelscope"]) == ("tiny-sft", "c/d")
    assert specs["big-sft"].fallback == "embedded-sft"  # the default
    assert specs["tiny-sft"].fallback is None  # shipped data needs none


def test_hub_entry_with_explicit_file(shipped, workdir):
    write_user_registry(workdir, "x:\n  kind: sft\n  file: sub/x.jsonl\n  hub: {repo: a/b, file: y.jsonl}\n")
    assert load_registry(workdir)["x"].path == workdir / "dataset" / "sub" / "x.jsonl"


def test_user_registry_adds_and_overrides(shipped, workdir):
    user = write_user_registry(workdir, USER)
    specs = load_registry(workdir)
    assert sorted(specs) == ["big-sft", "mine-pretrain", "tiny-dpo", "tiny-pretrain", "tiny-sft"]
    mine = specs["tiny-sft"]
    assert (mine.format, mine.description, mine.registry) == ("sharegpt", "mine", user)
    assert mine.path == user.parent / "my_sft.jsonl"
    assert specs["mine-pretrain"].path == user.parent / "corpus.txt"
    assert registry_paths(workdir) == [shipped, user]


def test_a_workdir_holding_the_shipped_registry_reads_it_once(shipped):
    workdir = shipped.parent.parent  # the registry is <workdir>/dataset/registry.yaml itself
    assert registry_paths(workdir) == [shipped]
    assert len(load_registry(workdir)) == 4


def test_resolve_by_name(shipped, workdir):
    assert resolve_dataset("tiny-dpo", "dpo", workdir).path == shipped.parent / "embedded" / "dpo.jsonl"


def test_unknown_name_lists_registries_names_and_the_path_option(shipped, workdir):
    with pytest.raises(DatasetNotFound) as error:
        resolve_dataset("nope", "sft", workdir)
    message = str(error.value)
    assert str(shipped) in message
    assert f"{workdir / 'dataset' / 'registry.yaml'} (not present)" in message
    assert "Registered sft datasets: big-sft, tiny-sft." in message
    assert "tiny-pretrain" not in message
    assert "--set dataset=PATH" in message
    assert isinstance(error.value, ValueError)


def test_kind_mismatch_by_name(shipped, workdir):
    with pytest.raises(DatasetKindError) as error:
        resolve_dataset("tiny-sft", "pretrain", workdir)
    message = str(error.value)
    assert "'tiny-sft' holds sft data" in message and "trains pretrain" in message
    assert "pretrain datasets: tiny-pretrain" in message


def test_resolve_a_path_relative_to_the_current_directory(shipped, workdir, tmp_path, monkeypatch):
    data = tmp_path / "files" / "chat.jsonl"
    data.parent.mkdir()
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "a"},
                                             {"role": "assistant", "content": "b"}]}) + "\n")
    monkeypatch.chdir(tmp_path)
    for ref in ("files/chat.jsonl", str(data)):
        spec = resolve_dataset(ref, "sft", workdir)
        assert (spec.name, spec.kind, spec.format, spec.path) == ("chat", "sft", "openai", data)
        assert spec.hub is None and spec.is_downloaded


def test_a_path_of_the_wrong_kind_is_refused(shipped, workdir, tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"conversations": [{"role": "user", "content": "a"}]}) + "\n")
    with pytest.raises(DatasetKindError, match=r"chat\.jsonl looks like sft data \(format minimind\), but "
                                               r"this step trains pretrain"):
        resolve_dataset(str(data), "pretrain", workdir)


@pytest.mark.parametrize("file", ["../../x", "/etc/x", "~/x", "sub/../../x", ".", ".."])
@pytest.mark.parametrize("hub", ["", "  hub: {repo: a/b, file: y.jsonl}\n"])
def test_a_file_outside_the_data_folder_is_refused(shipped, workdir, file, hub):
    """download-data writes, and first deletes a differing file at, a hub entry's path: it must stay in dataset/."""
    user = write_user_registry(workdir, f"escape:\n  kind: sft\n  file: '{file}'\n{hub}")
    with pytest.raises(RegistryError) as error:
        load_registry(workdir)
    assert str(error.value).startswith(f"{user}: entry 'escape': file {file!r} must be a path inside ")
    assert "--set dataset=PATH" in str(error.value)


def test_a_hub_file_name_cannot_lead_out_either(shipped, workdir):
    write_user_registry(workdir, "escape:\n  kind: sft\n  hub: {repo: a/b, file: ..}\n")
    with pytest.raises(RegistryError, match="file '..' must be a path inside"):
        load_registry(workdir)


@pytest.mark.parametrize(("text", "problem"), [
    ("a: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping of dataset names"),
    ("broken:\n  file: x.jsonl\n", "entry 'broken': kind must be one of pretrain, sft, dpo, got None"),
    ("broken:\n  kind: sft\n", "entry 'broken': file is required"),
    ("broken: just-a-string\n", "entry 'broken': expected a mapping"),
    ("broken:\n  kind: sft\n  file: x\n  colums: {a: b}\n", "entry 'broken': unknown key(s) colums"),
    ("broken:\n  kind: sft\n  file: x\n  format: csv\n", "entry 'broken': format must be one of"),
    ("broken:\n  kind: sft\n  hub: {file: x}\n", "entry 'broken': hub must be {repo"),
    ("broken:\n  kind: sft\n  file: x\n  columns: [a]\n", "entry 'broken': columns must map"),
    ("broken:\n  kind: sft\n  file: x\n  fallback: tiny-sft\n", "entry 'broken': fallback must be a registry name"),
])
def test_malformed_registry_names_file_and_entry(shipped, workdir, text, problem):
    user = write_user_registry(workdir, text)
    with pytest.raises(RegistryError) as error:
        load_registry(workdir)
    assert str(error.value).startswith(f"{user}: ")
    assert problem in str(error.value)


def test_registry_of_only_comments_is_empty(shipped, workdir):
    write_user_registry(workdir, "# nothing here yet\n")
    assert len(load_registry(workdir)) == 4


def test_the_real_shipped_registry_loads(tmp_path):
    assert shipped_path("dataset/registry.yaml").is_file()
    specs = load_registry(tmp_path)
    assert all(spec.kind in ("pretrain", "sft", "dpo") for spec in specs.values())
    for spec in specs.values():  # every hub dataset can fall back to shipped data of its kind
        if spec.hub:
            fallback = specs[spec.fallback]
            assert (fallback.kind, fallback.hub, fallback.path.is_file()) == (spec.kind, None, True), spec.name
