"""Load a model folder: one place for what is trusted, which dtype and which device.

Every reader of a model (a training stage's start model, eval, chat, the answer check) comes through here:
- weights from safetensors only, never remote code: a pickled `.bin` can run code when it is loaded;
- training keeps float32 master weights (autocast decides the compute precision);
- inference runs in float32 on a CPU (half-precision matmuls are slow or missing there) and in the dtype the
  model was saved in on a GPU, on the GPU when there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from minillm_core.model.tokenizer import load_tokenizer

UNTRAINED_SEED = 0  # an untrained model's weights: the same every time


class ModelLoadError(ValueError):
    """A folder that cannot be loaded as a model: `str()` says why, `hint` what to do."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def load_model(path: str | Path, for_training: bool = False, untrained: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) from a Hugging Face model folder. `for_training`: float32 on the CPU, for a Trainer
    to place; else ready for inference. `untrained`: the folder's architecture with fresh (seeded) weights."""
    folder = Path(path)
    if not untrained and folder.is_dir() and not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
        raise ModelLoadError(
            f"the model in {folder} has only pickled .bin weights, and models load from safetensors only (a .bin "
            f"file can run code when it is loaded)",
            hint=f"if you trust that file, convert it once: `python -c \"from transformers import "
                 f"AutoModelForCausalLM as M; M.from_pretrained('{folder}', use_safetensors=False)"
                 f".save_pretrained('{folder}')\"` writes model.safetensors beside it")
    cuda = torch.cuda.is_available() and not for_training
    dtype = "auto" if cuda else torch.float32
    try:
        tokenizer = load_tokenizer(folder)
        if untrained:
            config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(UNTRAINED_SEED)
                model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        else:
            model = AutoModelForCausalLM.from_pretrained(str(folder), trust_remote_code=False, use_safetensors=True,
                                                         dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load {folder} as a causal language model: {exc}",
                             hint="give a Hugging Face model folder, e.g. one that pretrain, sft or dpo wrote") from exc
    if not for_training:
        model.to("cuda" if cuda else "cpu").eval()
    return model, tokenizer
