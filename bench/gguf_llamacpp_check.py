"""Does llama.cpp itself read our GGUF as the model it came from? (`run export` checks with transformers' loader.)

    pip install llama-cpp-python            # builds llama.cpp from source where no wheel fits (minutes)
    minillm-skill run export --set quant=f16
    python bench/gguf_llamacpp_check.py --model out/sft --gguf out/export/sft-f16.gguf

Both continue the same prompt tokens greedily (chat-formatted, as the export's check does): the
transformers model on the safetensors folder, llama.cpp (through llama-cpp-python) on the GGUF file. It
prints the tokens side by side and the share that match; exit 1 when llama.cpp's tokenizer reads a prompt
differently or fewer than `--min-match` of the tokens match (default 0.9: f16 rounding may flip a near tie).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from minillm_core.export.gguf_verify import VERIFY_PROMPTS, common_prefix, greedy_tokens, prompt_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the Hugging Face model folder exported")
    parser.add_argument("--gguf", type=Path, required=True, help="the GGUF file `run export` wrote from it")
    parser.add_argument("--tokens", type=int, default=24, help="greedy tokens per prompt")
    parser.add_argument("--min-match", type=float, default=0.9)
    args = parser.parse_args()

    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from minillm_core.model.tokenizer import chat_stop_token_ids

    tokenizer = AutoTokenizer.from_pretrained(str(args.model))
    original = AutoModelForCausalLM.from_pretrained(str(args.model), dtype=torch.float32).eval()
    llama = Llama(model_path=str(args.gguf), n_ctx=512, n_threads=2, verbose=False)
    stops = chat_stop_token_ids(tokenizer)
    matched = total = 0
    tokenizer_ok = True
    for prompt in VERIFY_PROMPTS:
        text = prompt_text(tokenizer, prompt)
        ids = tokenizer(text, add_special_tokens=False).input_ids
        theirs_ids = llama.tokenize(text.encode(), add_bos=False, special=True)
        tokenizer_ok &= theirs_ids == ids
        expected = greedy_tokens(original, ids, args.tokens, stops)
        got = _llama_greedy(llama, ids, args.tokens, stops)
        same = common_prefix(expected, got)
        matched, total = matched + same, total + max(len(expected), 1)
        print(f"{prompt!r}: tokenizer {'same' if theirs_ids == ids else 'DIFFERENT'}, {same}/{len(expected)} "
              f"tokens match\n  transformers: {tokenizer.decode(expected)!r}\n"
              f"  llama.cpp:    {tokenizer.decode(got)!r}")
    share = matched / total
    print(f"llama.cpp {args.gguf.name}: tokenizer {'same' if tokenizer_ok else 'DIFFERENT'} on every prompt, "
          f"{share:.3f} of the greedy tokens match")
    return 0 if tokenizer_ok and share >= args.min_match else 1


def _llama_greedy(llama, ids: list[int], max_new_tokens: int, stops: list[int]) -> list[int]:
    """llama.cpp's greedy continuation of `ids` (top-k 1: the argmax, as transformers' greedy decoding)."""
    out: list[int] = []
    for token in llama.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
        out.append(token)  # the stop token too, as transformers' generate returns it
        if token in stops or len(out) == max_new_tokens:
            break
    return out


if __name__ == "__main__":
    sys.exit(main())
