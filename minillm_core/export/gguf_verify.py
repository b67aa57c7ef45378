"""Does a GGUF file hold the model it came from? transformers' own GGUF loader reads it back, and both models
continue the same prompts greedily (English and Chinese, chat-formatted when the model has a chat template).
bench/gguf_llamacpp_check.py asks llama.cpp itself the same question."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ENGLISH_PROMPTS = ("Hello, who are you?", "What is 12 + 35?", "Tell me a short story about a cat.")
CHINESE_PROMPTS = ("你好，你是谁？", "中国的首都是哪里？", "请写一首关于春天的短诗。")
VERIFY_PROMPTS = ENGLISH_PROMPTS + CHINESE_PROMPTS


def verify_gguf(model_dir: Path, gguf_file: Path, prompts: tuple[str, ...] = VERIFY_PROMPTS,
                max_new_tokens: int = 24) -> dict[str, Any]:
    """Reload `gguf_file` with transformers' own GGUF loader and compare it with the safetensors model.

    Both models continue the same prompt tokens greedily (chat-formatted when the model has a chat template);
    `match_share` is the share of generated tokens before the first difference, `identical` the prompts whose
    continuations are the same. The GGUF tokenizer is compared too: same prompt tokens, same chat prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from minillm_core.model.tokenizer import chat_stop_token_ids

    folder, name = str(Path(gguf_file).parent), Path(gguf_file).name
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    gguf_tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    original = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    reloaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    stops = chat_stop_token_ids(tokenizer)
    rows = []
    for prompt in prompts:
        text = prompt_text(tokenizer, prompt)
        ids = tokenizer(text, add_special_tokens=False).input_ids
        same_tokens = gguf_tokenizer(text, add_special_tokens=False).input_ids == ids
        same_template = text == prompt_text(gguf_tokenizer, prompt) if tokenizer.chat_template else True
        expected = greedy_tokens(original, ids, max_new_tokens, stops)
        got = greedy_tokens(reloaded, ids, max_new_tokens, stops)
        rows.append({"prompt": prompt, "tokenizer_match": same_tokens, "template_match": same_template,
                     "original": expected, "gguf": got, "matching": common_prefix(expected, got),
                     "max_logit_diff": _logit_diff(original, reloaded, ids)})
    return _summary(rows)


def prompt_text(tokenizer: Any, prompt: str) -> str:
    if not getattr(tokenizer, "chat_template", None):
        return prompt  # a base model continues plain text
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


def greedy_tokens(model: Any, ids: list[int], max_new_tokens: int, stops: list[int]) -> list[int]:
    import torch

    inputs = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(inputs, attention_mask=torch.ones_like(inputs), do_sample=False,
                             max_new_tokens=max_new_tokens, eos_token_id=stops or None,
                             pad_token_id=stops[-1] if stops else 0)
    return out[0, len(ids):].tolist()


def _logit_diff(original: Any, reloaded: Any, ids: list[int]) -> float:
    import torch

    inputs = torch.tensor([ids])
    with torch.no_grad():
        return float((original(inputs).logits - reloaded(inputs).logits).abs().max())


def common_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(max(len(row["original"]), len(row["gguf"])) for row in rows)
    matching = sum(row["matching"] for row in rows)
    return {
        "prompts": len(rows),
        "identical": sum(row["original"] == row["gguf"] for row in rows),
        "tokens": total,
        "matching_tokens": matching,
        "match_share": round(matching / total, 4) if total else 1.0,
        "tokenizer_match": all(row["tokenizer_match"] for row in rows),
        "template_match": all(row["template_match"] for row in rows),
        "max_logit_diff": round(max((row["max_logit_diff"] for row in rows), default=0.0), 6),
        "rows": rows,
    }
