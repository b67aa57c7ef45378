"""Model presets: MiniMind-sized configurations of stock Hugging Face architectures.

No model code lives here: a preset is the keyword arguments of a transformers config class
(Llama, Qwen3, Qwen3-MoE), so every checkpoint is a plain ``AutoModelForCausalLM`` one.
All presets share MiniMind's choices: tied input/output embeddings, grouped-query attention,
RoPE with theta 1e6, RMSNorm, SwiGLU, and the special token ids 0/1/2 of ``minillm_core.model.tokenizer``.

``copy_preset`` writes a preset as an editable YAML file; ``model_config`` accepts that path
wherever it accepts a preset name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # transformers is imported where a model is made: a preset's figures (the preflight) need none
    from transformers import PretrainedConfig, PreTrainedModel

DEFAULT_VOCAB_SIZE = 6400

# Shared by every preset. max_position_embeddings is only the RoPE table length (no learned weights),
# 32768 like MiniMind; the sequence length actually trained on is Preset.max_seq_len.
_COMMON: dict[str, Any] = {
    "hidden_act": "silu",
    "max_position_embeddings": 32768,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
    "tie_word_embeddings": True,
    "attention_bias": False,
    "initializer_range": 0.02,
    # The ids of minillm_core.model.tokenizer (and of MiniMind's tokenizer): <|endoftext|> 0 pads and ends
    # documents, <|im_end|> 2 ends a chat turn. generate() stops on either.
    "pad_token_id": 0,
    "bos_token_id": None,
    "eos_token_id": [2, 0],
}


@dataclass(frozen=True)
class Preset:
    """A named model: the Hugging Face architecture (model_type) and its config keyword arguments."""

    name: str
    architecture: str  # transformers model_type: "llama", "qwen3", "qwen3_moe"
    description: str
    config: dict  # keyword arguments of the architecture's config class, vocab_size excluded
    max_seq_len: int = 512  # default training sequence length
    # Embedding rows at least; 0: the tokenizer's own size (rounded up to 64), so no row sits untrained.
    min_vocab_size: int = 0


def _preset(name: str, architecture: str, description: str, max_seq_len: int = 512,
            min_vocab_size: int = 0, **config: Any) -> Preset:
    # The preset's own keys first (what a reader of a copied YAML looks for), then the shared ones.
    shared = {key: value for key, value in _COMMON.items() if key not in config}
    return Preset(name, architecture, description, {**config, **shared}, max_seq_len, min_vocab_size)


# The Llama-architecture presets differ only in size: one row each.
_LLAMA_SIZES = {  # name: (description, hidden size, blocks, query heads, key/value heads, MLP size, max_seq_len)
    "tiny": ("~1.1M parameters: CPU smoke tests and first runs; learns a toy dataset in minutes.",
             128, 4, 4, 2, 384, 128),
    "minimind2-small": ("~26M parameters, MiniMind2-Small (512 x 8): trains in a few GPU hours.",
                        512, 8, 8, 2, 1408, 512),
    "minimind2": ("~104M parameters, MiniMind2 (768 x 16).", 768, 16, 8, 2, 2048, 512),
}


def _llama(name: str) -> Preset:
    description, hidden, blocks, heads, kv_heads, mlp, max_seq_len = _LLAMA_SIZES[name]
    return _preset(name, "llama", description, max_seq_len=max_seq_len, hidden_size=hidden,
                   num_hidden_layers=blocks, num_attention_heads=heads, num_key_value_heads=kv_heads,
                   intermediate_size=mlp, rms_norm_eps=1e-5)


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in [
        *map(_llama, _LLAMA_SIZES),
        _preset(
            "minimind3",
            "qwen3",
            "~64M parameters, MiniMind-3 (768 x 8, Qwen3 blocks with q/k RMSNorm).",
            hidden_size=768, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4,
            head_dim=96,  # Qwen3Config defaults to 128; MiniMind-3 uses hidden_size / heads
            intermediate_size=2432,
            rms_norm_eps=1e-6,
        ),
        _preset(
            "minimind2-moe",
            "qwen3_moe",
            "~118M parameters, ~65M active per token: Qwen3-MoE, 640 x 8, 4 experts, top-2.",
            hidden_size=640, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=2,
            intermediate_size=1728,  # only used by dense layers (mlp_only_layers); none by default
            moe_intermediate_size=1728,
            num_experts=4,
            num_experts_per_tok=2,
            norm_topk_prob=True,  # MiniMind renormalises the top-k gate weights
            # Adds the load-balancing loss to the training loss, so the 4 experts all get used.
            output_router_logits=True,
            router_aux_loss_coef=0.01,
            rms_norm_eps=1e-5,
        ),
    ]
}

# One line of explanation per config key, written beside it by copy_preset.
_KEY_COMMENTS = {
    "hidden_size": "width of the residual stream",
    "num_hidden_layers": "number of transformer blocks",
    "num_attention_heads": "query heads",
    "num_key_value_heads": "key/value heads (fewer than query heads: grouped-query attention)",
    "head_dim": "size of one attention head",
    "intermediate_size": "SwiGLU hidden size of the MLP",
    "moe_intermediate_size": "SwiGLU hidden size of each expert",
    "num_experts": "experts per MoE layer",
    "num_experts_per_tok": "experts each token is routed to",
    "norm_topk_prob": "renormalise the chosen experts' gate weights to sum to 1",
    "output_router_logits": "add the load-balancing loss to the training loss",
    "router_aux_loss_coef": "weight of the load-balancing loss",
    "hidden_act": "MLP activation",
    "max_position_embeddings": "longest position RoPE is set up for (no weights depend on it)",
    "rope_parameters": "rotary position embedding settings",
    "tie_word_embeddings": "share the input embedding and output head weights",
    "attention_bias": "bias terms in the attention projections",
    "initializer_range": "std of the random initial weights",
    "rms_norm_eps": "RMSNorm epsilon",
    "pad_token_id": "<|endoftext|>",
    "bos_token_id": "no beginning-of-sequence token",
    "eos_token_id": "generation stops on <|im_end|> (2) or <|endoftext|> (0)",
}


def list_presets() -> list[Preset]:
    """All presets, smallest first."""
    return list(PRESETS.values())


def get_preset(name: str) -> Preset:
    """The preset called `name`; ValueError listing the valid names otherwise."""
    if name not in PRESETS:
        raise ValueError(
            f"unknown model preset {name!r}; valid presets: {', '.join(PRESETS)} (or the path of a .yaml file)"
        )
    return PRESETS[name]


def _is_yaml_path(preset_or_yaml: str | Path) -> bool:
    return isinstance(preset_or_yaml, Path) or str(preset_or_yaml).endswith((".yaml", ".yml"))


def load_preset_yaml(path: str | Path) -> Preset:
    """Read a preset file written by `copy_preset` (and perhaps edited)."""
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = {"architecture", "config"} - set(data)
    if missing:
        raise ValueError(f"{path}: a model preset file needs the keys {sorted(missing)}")
    return Preset(
        name=path.stem,
        architecture=data["architecture"],
        description=data.get("description", ""),
        config=dict(data["config"]),
        max_seq_len=int(data.get("max_seq_len", 512)),
        min_vocab_size=int(data.get("min_vocab_size", 0)),
    )


def resolve_preset(preset_or_yaml: str | Path) -> Preset:
    """A preset by name, or read from a YAML path."""
    if _is_yaml_path(preset_or_yaml):
        return load_preset_yaml(preset_or_yaml)
    return get_preset(str(preset_or_yaml))


def model_config(
    preset_or_yaml: str | Path, vocab_size: int = DEFAULT_VOCAB_SIZE, **overrides: Any
) -> PretrainedConfig:
    """The transformers config of a preset (by name or YAML path), with `vocab_size` and any `overrides`.

    `vocab_size` should come from the tokenizer (see `vocab_size_for`); it wins over a vocab_size
    written in a YAML file. Unknown name: ValueError listing the valid ones.
    """
    from transformers import AutoConfig

    preset = resolve_preset(preset_or_yaml)
    kwargs = {**preset.config, "vocab_size": vocab_size, **overrides}
    return AutoConfig.for_model(preset.architecture, **kwargs)


def vocab_size_for(tokenizer: Any, minimum: int = 0) -> int:
    """Embedding rows for a tokenizer: its size, or `minimum` when larger (rows the tokenizer never uses stay
    untrained and cost time), rounded up to a multiple of 64 so the matrix shapes suit GPU kernels."""
    rows = max(minimum, len(tokenizer))
    return -(-rows // 64) * 64


def build_model(config: PretrainedConfig) -> PreTrainedModel:
    """A randomly initialised causal LM for `config` (seed torch first for a reproducible one)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(config)


def count_parameters(model: PreTrainedModel) -> int:
    """Number of distinct parameters: tied embedding/head weights count once."""
    # model.parameters() already yields a shared tensor once; dedup by identity to be explicit about it.
    unique = {id(p): p.numel() for p in model.parameters()}
    return sum(unique.values())


def copy_preset(name: str, dest: Path) -> Path:
    """Write preset `name` as an editable, commented YAML file at `dest` (a file, or a folder to put
    `<name>.yaml` in) and return its path; `model_config(path)` reads it back."""
    preset = get_preset(name)
    dest = Path(dest)
    if dest.is_dir() or dest.suffix not in (".yaml", ".yml"):
        dest = dest / f"{name}.yaml"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(_preset_yaml(preset), encoding="utf-8")
    return dest


def _yaml_line(key: str, value: Any) -> str:
    # safe_dump writes floats so that they read back as floats (1.0e-06, never 1e-06, a string in YAML 1.1);
    # flow style keeps a nested mapping on one line, beside its comment.
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000, allow_unicode=True)
    text = text.removesuffix("...\n").strip()  # the end-of-document marker safe_dump adds after a scalar
    return f"{key}: {text}"


def _preset_yaml(preset: Preset) -> str:
    lines = [
        f"# Model preset copied from {preset.name!r}. Edit it, then use this file's path wherever a preset",
        "# name is accepted. `config` holds the keyword arguments of the transformers config class of",
        "# `architecture` (a transformers model_type: llama, qwen3, qwen3_moe, ...). vocab_size is not set",
        "# here: it comes from the tokenizer.",
        _yaml_line("architecture", preset.architecture),
        _yaml_line("description", preset.description),
        _yaml_line("max_seq_len", preset.max_seq_len) + "  # default training sequence length",
        _yaml_line("min_vocab_size", preset.min_vocab_size) + "  # embedding rows at least (0: the tokenizer's size)",
        "config:",
    ]
    for key, value in preset.config.items():
        comment = _KEY_COMMENTS.get(key)
        lines.append("  " + _yaml_line(key, value) + (f"  # {comment}" if comment else ""))
    return "\n".join(lines) + "\n"
