"""eval loads weights from safetensors only: a folder of pickled .bin weights is refused, with a hint."""

from __future__ import annotations

import pytest

from minillm_core.contract.skill import SkillError


def test_pickled_bin_weights_are_refused_with_a_hint(tmp_path):
    from minillm_core.eval.evaluate import load_model

    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"a pickle that must never be unpickled")
    with pytest.raises(SkillError) as error:
        load_model(tmp_path)
    assert "only pickled .bin weights" in str(error.value) and "safetensors only" in str(error.value)
    assert "use_safetensors=False" in error.value.hint and "save_pretrained" in error.value.hint


def test_safetensors_weights_load(tmp_path, one_torch_thread):
    import torch

    from minillm_core.eval.evaluate import load_model
    from minillm_core.model.presets import build_model, model_config, vocab_size_for
    from minillm_core.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer()
    build_model(model_config("tiny", vocab_size=vocab_size_for(tokenizer))).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"beside safetensors, a .bin is never read")
    assert (tmp_path / "model.safetensors").is_file()
    model, _ = load_model(tmp_path)
    assert isinstance(next(model.parameters()), torch.Tensor)
