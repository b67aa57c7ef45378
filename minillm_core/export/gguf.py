"""GGUF export: a Hugging Face Llama model folder as one GGUF file for llama.cpp and Ollama, and its check.

The file is written with llama.cpp's own Python package (`gguf`, its gguf-py): GGUFWriter, the Llama tensor
name map and its Q8_0 quantizer, following what llama.cpp's convert_hf_to_gguf.py writes for a Llama model:

- metadata under `llama.*` (sizes, head counts, RoPE base, RMSNorm epsilon, vocabulary size);
- the tokenizer as `tokenizer.ggml.*`: model "gpt2" (byte-level BPE), the tokens (padded with [PADn] up to
  the embedding rows), their types (special added tokens CONTROL, other added tokens such as <think>
  USER_DEFINED), the merges, the special ids and the chat template, via gguf's SpecialVocab;
- `tokenizer.ggml.pre`, the pre-tokenizer's name in llama.cpp ("gpt-2" or "qwen2"), read from tokenizer.json;
- the q and k projections permuted as llama.cpp's LlamaModel.permute does (its RoPE pairs neighbouring
  dimensions, Hugging Face's pairs the two halves), so the attention stays the same;
- 1-D tensors (the norms) in F32 whatever the quant, as llama.cpp does.

    info = export_gguf(Path("out/sft"), Path("out/export/sft-f16.gguf"), quant="f16")
    figures = verify_gguf(Path("out/sft"), info.path)    # minillm_core/export/gguf_verify.py

Only the Llama architecture is supported; Qwen3 and Qwen3-MoE models get an ExportError naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_ARCHITECTURES = {"llama": "LlamaForCausalLM"}  # transformers model_type: class
QUANTS = ("f16", "q8_0", "f32")


class ExportError(ValueError):
    """A model this export cannot write as GGUF, with what is supported instead."""


@dataclass
class GGUFExport:
    """What export_gguf wrote."""

    path: Path
    quant: str
    tensors: int
    size_bytes: int
    pre_tokenizer: str
    vocab_size: int


def export_gguf(model_dir: Path, out_file: Path, quant: str = "f16", name: str | None = None) -> GGUFExport:
    """Write the model in `model_dir` as the GGUF file `out_file` (through a temporary file beside it, renamed
    into place when complete). `quant`: f16 (2-D weights in half precision), q8_0 or f32."""
    import gguf

    if quant not in QUANTS:
        raise ExportError(f"quant {quant!r} is not supported; choose one of {', '.join(QUANTS)}")
    model_dir, out_file = Path(model_dir), Path(out_file)
    config = read_model_config(model_dir)
    tokenizer_json = _read_json(model_dir / "tokenizer.json", "the model folder has no tokenizer.json")
    pre = pre_tokenizer_name(tokenizer_json)
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    try:
        _add_model_metadata(writer, config, name or model_dir.name, quant)
        _add_tokenizer(writer, model_dir, tokenizer_json, config["vocab_size"], pre)
        count = _add_tensors(writer, model_dir, config, quant)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, out_file)
    return GGUFExport(out_file, quant, count, out_file.stat().st_size, pre, config["vocab_size"])


def read_model_config(model_dir: Path) -> dict[str, Any]:
    """config.json of a Llama model this export can write; ExportError otherwise, naming what is supported."""
    config = _read_json(Path(model_dir) / "config.json", "not a Hugging Face model folder (no config.json)")
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_ARCHITECTURES:
        supported = ", ".join(f"{kind} ({cls})" for kind, cls in SUPPORTED_ARCHITECTURES.items())
        raise ExportError(f"GGUF export supports only the {supported} architecture so far; {model_dir} is a "
                          f"{model_type!r} model ({', '.join(config.get('architectures') or ['?'])})")
    rope = _rope(config)
    if rope.get("rope_type", "default") != "default":
        raise ExportError(f"GGUF export supports only plain RoPE; {model_dir} uses rope_type {rope['rope_type']!r}")
    if config.get("hidden_act", "silu") != "silu":
        raise ExportError(f"GGUF export of a Llama model needs hidden_act silu, not {config['hidden_act']!r}")
    return config


def pre_tokenizer_name(tokenizer_json: dict[str, Any]) -> str:
    """llama.cpp's name for the pre-tokenizer of this tokenizer.json: "gpt-2" (GPT-2's ByteLevel regex, this
    project's default; with the hyphen: llama.cpp refuses "gpt2", as llama-cpp-python 0.3.36 showed) or
    "qwen2" (Qwen2's split, the tokenizer option `split_digits`). llama.cpp splits text by this name, not by
    the regex in the file, so any other pre-tokenizer cannot be exported."""
    from minillm_core.model.tokenizer import QWEN2_PATTERN

    model = tokenizer_json.get("model") or {}
    if model.get("type") != "BPE" or tokenizer_json.get("normalizer") is not None:
        raise ExportError("GGUF export needs a byte-level BPE tokenizer without a normalizer (as this project "
                          f"trains); this one is {model.get('type')!r} with normalizer "
                          f"{(tokenizer_json.get('normalizer') or {}).get('type')!r}")
    pre = tokenizer_json.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space"):
        return "gpt-2"
    steps = pre.get("pretokenizers") or []
    if (pre.get("type") == "Sequence" and len(steps) == 2 and steps[0].get("type") == "Split"
            and steps[0].get("pattern") == {"Regex": QWEN2_PATTERN} and steps[0].get("behavior") == "Isolated"
            and not steps[0].get("invert") and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True)):
        return "qwen2"
    raise ExportError("the export cannot name this tokenizer's pre-tokenizer for llama.cpp (it knows pre-tokenizers "
                      "by name, and only GPT-2's ByteLevel regex, 'gpt-2', and Qwen2's digit split, 'qwen2', are "
                      f"recognised here): {json.dumps(pre)[:300]}")


def _read_json(path: Path, missing: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path.parent}: {missing}") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read {path}: {exc}") from None


def _rope(config: dict[str, Any]) -> dict[str, Any]:
    # transformers 5 writes `rope_parameters`; older configs `rope_theta` and `rope_scaling`.
    return config.get("rope_parameters") or config.get("rope_scaling") or {"rope_theta": config.get("rope_theta")}


def _head_dim(config: dict[str, Any]) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def _add_model_metadata(writer: Any, config: dict[str, Any], name: str, quant: str) -> None:
    import gguf

    file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                  "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    writer.add_name(name)
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config.get("num_key_value_heads") or config["num_attention_heads"])
    writer.add_rope_freq_base(float(_rope(config).get("rope_theta") or 10000.0))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_vocab_size(config["vocab_size"])
    head_dim = _head_dim(config)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config["hidden_size"] // config["num_attention_heads"]:  # llama.cpp assumes hidden / heads
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(file_types[quant])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_tokenizer(writer: Any, model_dir: Path, tokenizer_json: dict[str, Any], n_vocab: int, pre: str) -> None:
    import gguf

    tokens, types = _vocabulary(tokenizer_json, n_vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    # Nothing is prepended to a prompt (chat turns open with <|im_start|>): llama.cpp would otherwise add a
    # BOS to BPE vocabularies by default.
    special.add_special_token.update(bos=False, eos=False)
    special.add_to_gguf(writer, quiet=True)
    im_end = next((i for i, token in enumerate(tokens) if token == "<|im_end|>"), None)
    if im_end is not None:  # end of a chat turn: llama.cpp stops on it (end-of-generation) as on eos
        writer.add_eot_token_id(im_end)


def _vocabulary(tokenizer_json: dict[str, Any], n_vocab: int) -> tuple[list[str], list[int]]:
    """Tokens in id order and their llama.cpp types, padded with unused [PADn] tokens up to the embedding rows
    (presets round them up to a multiple of 64), as convert_hf_to_gguf.py does."""
    from gguf import TokenType

    by_id: dict[int, tuple[str, int]] = {i: (token, TokenType.NORMAL)
                                         for token, i in tokenizer_json["model"]["vocab"].items()}
    for added in tokenizer_json.get("added_tokens", []):
        by_id[added["id"]] = (added["content"], TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED)
    if by_id and max(by_id) >= n_vocab:
        raise ExportError(f"the tokenizer has token id {max(by_id)}, beyond the model's {n_vocab} embedding rows")
    padded = [by_id.get(i, (f"[PAD{i}]", TokenType.UNUSED)) for i in range(n_vocab)]
    return [token for token, _ in padded], [int(kind) for _, kind in padded]


def _add_tensors(writer: Any, model_dir: Path, config: dict[str, Any], quant: str) -> int:
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    count = 0
    for hf_name, data in _safetensors(model_dir):
        if hf_name.endswith(".rotary_emb.inv_freq"):
            continue  # recomputed from the RoPE base
        if hf_name == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue  # llama.cpp uses token_embd when output.weight is absent
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ExportError(f"no GGUF name for the tensor {hf_name!r} of a Llama model")
        if ".self_attn.q_proj." in hf_name:
            data = _permute(data, heads, heads)
        elif ".self_attn.k_proj." in hf_name:
            data = _permute(data, heads, kv_heads)
        _add_tensor(writer, name, data, quant)
        count += 1
    return count


def _safetensors(model_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor of the model's safetensors files (one or sharded), as float32 numpy arrays."""
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise ExportError(f"{model_dir}: no .safetensors weights to export")
    for file in files:
        with safe_open(str(file), framework="pt") as weights:
            for key in weights.keys():  # noqa: SIM118 (safe_open is not a mapping)
                yield key, weights.get_tensor(key).float().numpy()


def _permute(weights: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """llama.cpp's LlamaModel.permute: rows of each head reordered from HF's rotate-half RoPE layout to the
    interleaved pairs llama.cpp rotates (transformers' GGUF loader undoes exactly this)."""
    if n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _add_tensor(writer: Any, name: str, data: np.ndarray, quant: str) -> None:
    from gguf import GGMLQuantizationType, quants

    if data.ndim == 1 or quant == "f32":
        writer.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
        return
    if quant == "q8_0" and data.shape[-1] % quants.GGML_QUANT_SIZES[GGMLQuantizationType.Q8_0][0] == 0:
        packed = quants.quantize(np.ascontiguousarray(data, dtype=np.float32), GGMLQuantizationType.Q8_0)
        writer.add_tensor(name, packed, raw_dtype=GGMLQuantizationType.Q8_0)
        return
    # f16, and q8_0's fallback for rows that are not whole Q8_0 blocks of 32 (llama.cpp falls back the same way)
    writer.add_tensor(name, np.ascontiguousarray(data, dtype=np.float16))


# -- Ollama ---------------------------------------------------------------------------------------------------

# Ollama's Go-template version of the model's ChatML template (minillm_core.model.tokenizer.CHAT_TEMPLATE) for system,
# user and assistant turns: the same prompt text, ending with the opened assistant turn. Ollama passes every
# system message as .System (joined) and keeps them in .Messages, so the range skips them. A last assistant
# message is left open (no <|im_end|>): Ollama continues it, as a prefill.
OLLAMA_CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}"""
OLLAMA_COMPLETION_TEMPLATE = "{{ .Prompt }}"  # a base model continues the text as it is


def chat_template_of(model_dir: Path) -> str | None:
    """The model's chat template (chat_template.jinja, or the tokenizer_config.json entry), None for a base model."""
    jinja = Path(model_dir) / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config_file = Path(model_dir) / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    template = config.get("chat_template")
    return template if isinstance(template, str) else None


def ollama_modelfile(gguf_name: str, chat_template: str | None, temperature: float = 0.7,
                     top_p: float = 0.9) -> str:
    """An Ollama Modelfile for the GGUF file `gguf_name` beside it: `ollama create NAME -f Modelfile`.
    A ChatML chat model stops at <|im_end|> or <|endoftext|>, a base model at <|endoftext|>. The sampling
    settings are `minillm-skill chat`'s defaults."""
    chat = bool(chat_template) and "<|im_start|>" in chat_template
    stops = ["<|im_end|>", "<|endoftext|>"] if chat else ["<|endoftext|>"]
    lines = [
        "# Ollama model written by `minillm-skill run export`: ollama create NAME -f Modelfile",
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{OLLAMA_CHATML_TEMPLATE if chat else OLLAMA_COMPLETION_TEMPLATE}"""',
        *(f'PARAMETER stop "{stop}"' for stop in stops),
        f"PARAMETER temperature {temperature}",
        f"PARAMETER top_p {top_p}",
    ]
    return "\n".join(lines) + "\n"
