"""Every SKILL.md follows the Agent Skills spec (checked by skills-ref) and documents its options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from skills_ref.parser import parse_frontmatter
from skills_ref.validator import validate, validate_metadata

from minillm_core.plugins.host import get_host
from minillm_core.util.resources import shipped_path, skills_dir

SKILL_FOLDERS = sorted(path.parent for path in skills_dir().glob("*/SKILL.md"))
PLUGIN_SKILL_FOLDERS = sorted(path.parent for path in (Path(__file__).parent.parent / "plugins").glob("*/*/*/SKILL.md"))


def test_all_eleven_skills_have_a_folder():
    assert {folder.name for folder in SKILL_FOLDERS} == {
        "bot-start", "env-check", "download-data", "tokenizer", "pretrain", "sft", "dpo", "eval", "report", "export",
        "distill"}


@pytest.mark.parametrize("folder", SKILL_FOLDERS + PLUGIN_SKILL_FOLDERS, ids=lambda folder: folder.name)
def test_skill_md_passes_skills_ref(folder):
    assert validate(folder) == []
    body = (folder / "SKILL.md").read_text()
    assert len(body.splitlines()) < 500
    assert "## Command" in body and "minillm-skill run " + folder.name in body


@pytest.mark.parametrize("folder", SKILL_FOLDERS, ids=lambda folder: folder.name)
def test_skill_md_documents_every_option(folder):
    skill = get_host().get_skill(folder.name)
    body = (folder / "SKILL.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", body, re.MULTILINE))
    assert documented == set(skill.options), f"{folder.name}: SKILL.md options table differs from the code"


def test_the_example_plugins_skills_are_checked_too():
    assert [folder.name for folder in PLUGIN_SKILL_FOLDERS] == ["grpo", "lora"]


def test_top_level_skill_md_is_valid():
    metadata, body = parse_frontmatter(shipped_path("SKILL.md").read_text())
    assert validate_metadata(metadata) == []
    assert all(f"`{folder.name}`" in body for folder in SKILL_FOLDERS)
