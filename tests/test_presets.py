"""Model presets: sizes, shared architecture choices, YAML copies, and a real CPU training step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from minillm_core.model.presets import (
    PRESETS,
    build_model,
    copy_preset,
    count_parameters,
    list_presets,
    model_config,
    vocab_size_for,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

# Target sizes (parameters, tied embeddings counted once), as MiniMind reports them.
TARGETS = {
    "tiny": 1.6e6,
    "minimind2-small": 26e6,
    "minimind2": 104e6,
    "minimind3": 64e6,
    "minimind2-moe": 118.5e6,
}


def _meta_model(config):
    # On the meta device no memory is allocated and nothing is initialised: the 100M presets cost nothing.
    with torch.device("meta"):
        return build_model(config)


def test_presets_listed() -> None:
    assert [p.name for p in list_presets()] == list(TARGETS)
    assert PRESETS["tiny"].max_seq_len == 128
    assert all(p.max_seq_len == 512 for p in list_presets() if p.name != "tiny")


@pytest.mark.parametrize("name", list(TARGETS))
def test_parameter_count_and_shared_choices(name: str) -> None:
    config = model_config(name)
    model = _meta_model(config)
    assert count_parameters(model) == pytest.approx(TARGETS[name], rel=0.03)
    # Tied embeddings: one matrix serves as input embedding and output head, counted once.
    assert config.tie_word_embeddings
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert count_parameters(model) < sum(p.numel() for p in model.state_dict().values())
    # Grouped-query attention, RoPE theta 1e6, the tokenizer's vocabulary and special ids.
    assert config.num_key_value_heads < config.num_attention_heads
    assert config.rope_parameters["rope_theta"] == 1e6
    assert config.vocab_size == 6400
    assert (config.pad_token_id, config.eos_token_id) == (0, [2, 0])
    assert model.generation_config.eos_token_id == [2, 0]


def test_moe_preset_total_and_active_parameters() -> None:
    config = model_config("minimind2-moe")
    model = _meta_model(config)
    total = count_parameters(model)
    experts = sum(p.numel() for name, p in model.named_parameters() if ".experts." in name)
    active = total - experts + experts * config.num_experts_per_tok // config.num_experts
    assert (config.num_experts, config.num_experts_per_tok) == (4, 2)
    assert active == pytest.approx(65.4e6, rel=0.03)


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ValueError) as error:
        model_config("gpt-5")
    assert all(name in str(error.value) for name in PRESETS)


def test_overrides_and_vocab_size() -> None:
    config = model_config("tiny", vocab_size=6464, num_hidden_layers=2)
    assert (config.vocab_size, config.num_hidden_layers, config.hidden_size) == (6464, 2, 128)
    assert vocab_size_for(["x"] * 2037) == 2048  # one row per token, rounded up to 64: none sits untrained
    assert vocab_size_for(["x"] * 2037, minimum=6400) == 6400  # a preset may ask for more
    assert vocab_size_for(["x"] * 32001) == 32064  # a bigger one gets rows for all ids, a multiple of 64


@pytest.mark.parametrize("name", list(TARGETS))
def test_copy_preset_round_trip(name: str, tmp_path: Path) -> None:
    path = copy_preset(name, tmp_path)
    assert path == tmp_path / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    assert "# width of the residual stream" in text  # commented for people who edit it
    data = yaml.safe_load(text)
    assert data["architecture"] == PRESETS[name].architecture
    assert data["config"] == PRESETS[name].config
    assert model_config(path).to_dict() == model_config(name).to_dict()
    assert model_config(str(path), vocab_size=6464).vocab_size == 6464


def test_edited_preset_yaml(tmp_path: Path) -> None:
    path = copy_preset("tiny", tmp_path / "mine.yaml")
    edited = path.read_text(encoding="utf-8").replace("num_hidden_layers: 4", "num_hidden_layers: 3")
    path.write_text(edited, encoding="utf-8")
    assert model_config(path).num_hidden_layers == 3
    assert model_config(path).rms_norm_eps == 1e-5  # floats read back as floats


def _train_step(config) -> float:
    torch.manual_seed(0)
    model = build_model(config)
    input_ids = torch.randint(3, config.vocab_size, (2, 16))
    loss = model(input_ids=input_ids, labels=input_ids).loss
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    return loss.item()


def test_tiny_forward_backward_on_cpu() -> None:
    loss = _train_step(model_config("tiny"))
    assert torch.isfinite(torch.tensor(loss))
    assert loss == pytest.approx(torch.log(torch.tensor(6400.0)).item(), rel=0.1)  # about uniform at init


@pytest.mark.parametrize("name", ["minimind3", "minimind2-moe"])
def test_other_architectures_train_when_shrunk(name: str) -> None:
    # The same config classes as the full presets, shrunk so a CPU step is instant.
    small = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128}
    if name == "minimind3":
        small["head_dim"] = 8
    else:
        small["moe_intermediate_size"] = 64
    assert torch.isfinite(torch.tensor(_train_step(model_config(name, **small))))


_LOAD_IN_FRESH_PROCESS = """
import json, sys, torch
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
input_ids = torch.tensor([[5, 6, 7, 8]])
with torch.no_grad():
    logits = model(input_ids=input_ids).logits
print(json.dumps({"class": type(model).__name__, "logits": logits[0, -1, :5].tolist()}))
"""


@pytest.mark.slow
def test_save_and_load_in_fresh_process(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(model_config("tiny")).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    with torch.no_grad():
        expected = model(input_ids=torch.tensor([[5, 6, 7, 8]])).logits[0, -1, :5].tolist()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_FRESH_PROCESS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["class"] == "LlamaForCausalLM"
    assert out["logits"] == pytest.approx(expected, abs=1e-5)
