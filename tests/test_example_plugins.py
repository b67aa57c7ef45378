"""The example plugins under plugins/, installed by pip into a fresh virtual environment as a user would,
found through their entry points, and run on the tiny preset."""

from __future__ import annotations

import json
import os
import site
import subprocess
import venv
from pathlib import Path

import pytest

from minillm_core.contract.outputs import read_marker, trained_models

pytestmark = pytest.mark.slow  # the example plugins installed in their own venv: minutes

REPO = Path(__file__).resolve().parent.parent
PLUGINS = ("grpo", "lora")


@pytest.fixture(scope="module")
def python(tmp_path_factory) -> Path:
    """A new virtual environment holding only the two plugins; minillm-skill and its dependencies come
    from this environment (a .pth file adds its site-packages), so nothing is downloaded."""
    env = tmp_path_factory.mktemp("plugin-venv") / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    own_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    parent = [path for path in site.getsitepackages() if Path(path).is_dir()]
    (Path(own_site) / "_minillm_parent.pth").write_text(
        "".join(f"import site; site.addsitedir({path!r})\n" for path in parent))
    for name in PLUGINS:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", str(REPO / "plugins" / name)], check=True, capture_output=True)
    return python


def cli(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # cwd outside the repo: `python -m` would otherwise import minillm_core from a checkout in cwd.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINILLM_STRICT_PLUGINS": "1"}
    env.pop("MINILLM_LOAD_PLUGINS", None)
    return subprocess.run([str(python), "-m", "minillm_core", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def workdir(python, tmp_path_factory) -> Path:
    """A work directory where pretrain and sft ran briefly (about 20 s): a chat model that knows a little,
    as the plugins expect to find in out/sft."""
    root = tmp_path_factory.mktemp("plugin-work")
    for stage, steps in (("pretrain", 40), ("sft", 60)):
        result = cli(python, "run", stage, "--workdir", str(root), "--json", "--set", f"max_steps={steps}", cwd=root)
        assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_installed_plugins_show_in_plugins_and_list(python, tmp_path):
    plugins = json.loads(cli(python, "plugins", "--json", cwd=tmp_path).stdout)
    found = {info["distribution"]: info for info in plugins["plugins"]}
    assert found["minillm-skill-grpo"]["version"] == "0.1.0" and found["minillm-skill-grpo"]["skills"] == ["grpo"]
    assert found["minillm-skill-lora"]["skills"] == ["lora"]
    assert found["minillm-skill-lora"]["formats"] == ["health-qa (sft)"]
    assert found["minillm-skill-lora"]["hooks"] == ["register_formats", "register_skills"]
    assert plugins["problems"] == []
    listed = {row["name"]: row for row in json.loads(cli(python, "list", "--json", cwd=tmp_path).stdout)}
    assert listed["grpo"]["source"] == "minillm-skill-grpo" and listed["lora"]["source"] == "minillm-skill-lora"


def test_the_lora_skill_teaches_the_domain_and_saves_adapter_and_merged_model(python, workdir):
    result = cli(python, "run", "lora", "--workdir", str(workdir), "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    stage = json.loads(result.stdout)["stages"][0]
    metrics = stage["metrics"]
    assert metrics["domain_perplexity_after"] < metrics["domain_perplexity_before"] / 2, stage["summary"]
    # Replayed general chats keep the rest: it may not get much worse (it usually gets better).
    assert metrics["general_perplexity_after"] < metrics["general_perplexity_before"] * 1.2, stage["summary"]
    assert (metrics["domain_conversations"], metrics["replay_conversations"]) == (120, 240)
    assert (workdir / "out/lora/adapter/adapter_config.json").exists()
    assert (workdir / "out/lora/model.safetensors").exists() and not any((workdir / "out/lora").glob("*lora*"))
    assert len(metrics["answers_after"]) == 40 and "dataset_fallback" not in metrics


def test_the_grpo_skill_trains_through_the_shared_path_and_reports_its_reward(python, workdir):
    result = cli(python, "run", "grpo", "--workdir", str(workdir), "--json", "--set", "max_steps=4",
                 "--set", "log_steps=2", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    assert metrics["steps"] == 4 and metrics["prompts"] == 912
    assert 0.0 <= metrics["final_reward"] <= 1.25 and "final_correct_rate" in metrics
    lines = [json.loads(line) for line in (workdir / "logs/grpo.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 4] and all("reward" in line for line in lines)
    assert (workdir / "out/grpo/model.safetensors").exists()


def test_plugin_stages_are_known_by_what_they_declare_not_by_name(python, workdir):
    # After the two tests above: lora and grpo trained in this work directory, after pretrain and sft.
    assert (workdir / "out/lora/config.json").exists() and (workdir / "out/grpo/config.json").exists()
    result = cli(python, "run", "report", "--workdir", str(workdir), "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    card = (workdir / "reports" / "latest.md").read_text()
    for name in ("pretrain", "sft", "lora", "grpo"):  # the report card's training table and loss plots
        assert f"| {name} |" in card and f"(plots/{name}_loss.png)" in card, name
    assert trained_models(workdir)[:2] == [workdir / "out/grpo", workdir / "out/lora"]  # chat's fallback, newest
    assert read_marker(workdir / "out/lora")["style"] == "chat"


def test_grpo_task_tools_rewards_the_calls_run_from_the_tool_chats(python, workdir):
    # After the report test above, which expects grpo and lora to be the newest models.
    result = cli(python, "run", "grpo", "--workdir", str(workdir), "--json", "--set", "task=tools", "--set",
                 "dataset=embedded-sft-reasoning", "--set", "max_steps=2", "--set", "log_steps=1", "--set",
                 "output=out/grpo-tools", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    assert metrics["prompts"] == 720 and "final_answer_rate" in metrics  # 560 calculator + 160 lookup chats
    lines = [json.loads(line) for line in (workdir / "logs/grpo-tools.jsonl").read_text().splitlines()]
    assert all({"rewards/final_answer/mean", "rewards/call_form/mean", "tools/call_frequency"} <= set(line)
               for line in lines)

    result = cli(python, "run", "grpo", "--workdir", str(workdir), "--json", "--set", "task=tools", "--set",
                 "output=out/grpo-none", cwd=workdir)  # embedded-sft: no tool chats
    assert result.returncode == 1
    stage = json.loads(result.stdout)["stages"][0]
    assert "no tool-calling chats in" in stage["error"] and "embedded-sft-reasoning" in stage["hint"]


def test_a_plugin_skill_with_its_precondition_missing_exits_3_and_names_sft(python, tmp_path):
    result = cli(python, "run", "lora", "--workdir", str(tmp_path), "--json", cwd=tmp_path)
    assert result.returncode == 3
    assert "minillm-skill run sft" in json.dumps(json.loads(result.stdout)["stages"][0])
