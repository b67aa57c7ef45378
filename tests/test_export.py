"""The export skill: a Llama model as GGUF (llama.cpp's gguf package), read back by transformers' GGUF loader
with the same greedy answers, its Ollama Modelfile, and clear errors for what it cannot export."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("gguf")

from minillm_core.export.gguf import (  # noqa: E402 (after the skip: the module needs gguf to run)
    OLLAMA_CHATML_TEMPLATE,
    ExportError,
    chat_template_of,
    export_gguf,
    ollama_modelfile,
    pre_tokenizer_name,
)
from minillm_core.export.gguf_verify import verify_gguf  # noqa: E402
from tests.helpers import invoke  # noqa: E402


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory) -> Path:
    """A random tiny Llama chat model whose weights are exact in float16, so that an f16 export loses nothing
    and any difference in greedy tokens is a conversion fault. initializer_range 0.1 (not 0.02) gives varied,
    non-degenerate greedy continuations instead of one token repeated."""
    import torch

    from minillm_core.model.presets import build_model, model_config, vocab_size_for
    from minillm_core.model.tokenizer import load_tokenizer, with_chat_template

    torch.manual_seed(3)
    tokenizer = with_chat_template(load_tokenizer())
    model = build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer), initializer_range=0.1))
    model.half().float()
    folder = tmp_path_factory.mktemp("export") / "sft"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_export(workdir: Path, *sets: str):
    args = ["run", "export", "--workdir", str(workdir), "--json"]
    for item in sets:
        args += ["--set", item]
    return invoke(*args)


@pytest.mark.slow  # seconds of training or exporting: the fast suite stays under 3 minutes
def test_f16_export_through_the_skill_matches_the_original(chat_model, tmp_path):
    result = run_export(tmp_path, "format=gguf", f"model={chat_model}")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["stages"][0]["metrics"]
    assert metrics["path"] == "out/export/sft-f16.gguf" and metrics["quant"] == "f16"
    assert metrics["size_bytes"] == (tmp_path / metrics["path"]).stat().st_size
    assert metrics["tensors"] == 2 + 4 * 9  # embeddings, final norm, and 9 per block (the head is tied)
    assert metrics["pre_tokenizer"] == "gpt-2"
    verify = metrics["verify"]
    assert verify["prompts"] >= 5 and verify["tokenizer_match"] and verify["template_match"]
    assert verify["identical"] == verify["prompts"] and verify["match_share"] == 1.0
    assert verify["max_logit_diff"] < 1e-3
    assert all(len(set(row["original"])) > 3 for row in verify["rows"])  # not one token repeated
    assert not list((tmp_path / "out/export").glob(".*.tmp"))  # the temporary file was renamed into place


def test_modelfile_points_at_the_file_with_template_and_stops(chat_model, tmp_path):
    assert run_export(tmp_path, f"model={chat_model}", "verify=false").exit_code == 0
    text = (tmp_path / "out/export/Modelfile").read_text()
    assert "FROM ./sft-f16.gguf\n" in text
    assert 'TEMPLATE """' in text and "<|im_start|>assistant" in text
    assert 'PARAMETER stop "<|im_end|>"' in text and 'PARAMETER stop "<|endoftext|>"' in text
    assert "PARAMETER temperature 0.7" in text


@pytest.mark.slow  # seconds of training or exporting: the fast suite stays under 3 minutes
def test_q8_0_is_smaller_and_mostly_agrees(chat_model, tmp_path):
    f16 = export_gguf(chat_model, tmp_path / "sft-f16.gguf", quant="f16")
    q8 = export_gguf(chat_model, tmp_path / "sft-q8_0.gguf", quant="q8_0")
    assert q8.size_bytes < 0.7 * f16.size_bytes
    figures = verify_gguf(chat_model, q8.path, max_new_tokens=12)
    assert figures["tokenizer_match"] and 0.0 <= figures["match_share"] <= 1.0
    assert figures["max_logit_diff"] < 1.0  # 8-bit blocks: close, not exact


def test_a_qwen3_model_is_refused_naming_llama(tmp_path):
    from minillm_core.model.presets import model_config

    folder = tmp_path / "qwen"
    model_config("minimind3", vocab_size=128).save_pretrained(folder)  # the config alone decides
    result = run_export(tmp_path, f"model={folder}")
    assert result.exit_code != 0
    assert "supports only the llama (LlamaForCausalLM) architecture" in result.output and "qwen3" in result.output
    with pytest.raises(ExportError, match="qwen3"):
        export_gguf(folder, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_pre_tokenizer_names():
    from minillm_core.model.tokenizer import default_tokenizer_dir, train_tokenizer

    shipped = json.loads((default_tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    assert pre_tokenizer_name(shipped) == "gpt-2"
    digits = train_tokenizer(["a 123 b", "你好 45"] * 20, vocab_size=300, split_digits=True)
    assert pre_tokenizer_name(json.loads(digits.backend_tokenizer.to_str())) == "qwen2"
    other = dict(shipped, pre_tokenizer={"type": "Whitespace"})
    with pytest.raises(ExportError, match="cannot name this tokenizer's pre-tokenizer for llama.cpp"):
        pre_tokenizer_name(other)


def test_a_split_digits_tokenizer_reads_back_the_same(tmp_path):
    """A tokenizer trained with split_digits is exported as "qwen2" and splits text as before, added tokens too."""
    import torch
    from transformers import AutoTokenizer

    from minillm_core.model.presets import build_model, model_config, vocab_size_for
    from minillm_core.model.tokenizer import save_tokenizer, train_tokenizer, with_chat_template

    tokenizer = with_chat_template(train_tokenizer(["The answer is 12345.", "你好，世界！2024"] * 30, vocab_size=400,
                                                   split_digits=True))
    torch.manual_seed(0)
    folder = tmp_path / "digits"
    build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer), hidden_size=64, num_hidden_layers=1,
                             intermediate_size=128)).save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
    assert export_gguf(folder, tmp_path / "digits.gguf").pre_tokenizer == "qwen2"
    reloaded = AutoTokenizer.from_pretrained(tmp_path, gguf_file="digits.gguf")
    for text in ("The answer is 12345.", "<|im_start|>user\n<think>你好 2024</think><|im_end|>\n", " a  b\n\n7"):
        assert reloaded(text, add_special_tokens=False).input_ids == tokenizer(text, add_special_tokens=False).input_ids


def test_a_base_model_continues_the_prompt():
    text = ollama_modelfile("pretrain-f16.gguf", None)
    assert 'TEMPLATE """{{ .Prompt }}"""' in text and "<|im_end|>" not in text


CONVERSATIONS = [
    [{"role": "user", "content": "Hello"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
     {"role": "user", "content": "c\nd"}],
]

# Renders a Go template as Ollama does for chat: .System (the system messages joined) and .Messages.
GO_RENDER = """package main
import ("encoding/json"; "os"; "strings"; "text/template")
func main() {
    var in struct { Template string; Messages []map[string]string }
    json.NewDecoder(os.Stdin).Decode(&in)
    var system []string
    for _, m := range in.Messages { if m["Role"] == "system" { system = append(system, m["Content"]) } }
    t := template.Must(template.New("t").Parse(in.Template))
    t.Execute(os.Stdout, map[string]any{"System": strings.Join(system, "\\n\\n"), "Messages": in.Messages})
}
"""


@pytest.mark.skipif(shutil.which("go") is None, reason="needs Go to run Ollama's template language")
def test_ollama_template_renders_the_chat_template(chat_model, tmp_path):
    from transformers import AutoTokenizer

    assert "<|im_start|>" in chat_template_of(chat_model)
    tokenizer = AutoTokenizer.from_pretrained(chat_model)
    source = tmp_path / "render.go"
    source.write_text(GO_RENDER)
    for messages in CONVERSATIONS:
        go_messages = [{"Role": m["role"], "Content": m["content"]} for m in messages]
        rendered = subprocess.run(["go", "run", str(source)], input=json.dumps(
            {"Template": OLLAMA_CHATML_TEMPLATE, "Messages": go_messages}), capture_output=True, text=True,
            check=True, timeout=120).stdout
        assert rendered == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
