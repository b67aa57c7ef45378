"""The `optimizer=muon` setting (minillm_core/train/muon.py): Muon for the hidden matrices, AdamW for the rest,
computing what torch's own optimizers compute, built by the Trainer, resumable from a checkpoint."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

from minillm_core.train.muon import MuonWithAdamW, muon_groups, orthogonalise, use_optimizer


def test_the_updates_are_torchs_muon_and_adamw():
    torch.manual_seed(0)
    matrix, vector = torch.nn.Parameter(torch.randn(64, 128)), torch.nn.Parameter(torch.randn(128))
    ref_matrix, ref_vector = copy.deepcopy(matrix), copy.deepcopy(vector)
    ours = MuonWithAdamW([{"params": [matrix], "muon": True}, {"params": [vector], "muon": False}], lr=1e-2,
                         weight_decay=0.1)
    muon = torch.optim.Muon([ref_matrix], lr=1e-2, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
    adamw = torch.optim.AdamW([ref_vector], lr=1e-2, weight_decay=0.1)
    start = matrix.detach().clone()
    for _ in range(3):
        grad_matrix, grad_vector = torch.randn(64, 128), torch.randn(128)
        matrix.grad, ref_matrix.grad = grad_matrix.clone(), grad_matrix.clone()
        vector.grad, ref_vector.grad = grad_vector.clone(), grad_vector.clone()
        for optimizer in (ours, muon, adamw):
            optimizer.step()
    # torch's Muon orthogonalises in bfloat16, ours in float32 on a CPU: the same to bfloat16's precision
    moved, off = (ref_matrix - start).norm(), (matrix - ref_matrix).norm()
    assert off < 0.01 * moved, (off, moved)
    torch.testing.assert_close(vector, ref_vector)


def test_orthogonalised_matrices_have_singular_values_near_one():
    stack = torch.randn(3, 96, 32) * torch.tensor([1e-3, 1.0, 1e3]).view(3, 1, 1)  # tall, of any scale
    singular = torch.linalg.svdvals(orthogonalise(stack))
    assert orthogonalise(stack).shape == stack.shape
    assert singular.min() > 0.5 and singular.max() < 1.5, singular


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16)
    return LlamaForCausalLM(config)


def test_block_matrices_get_muon_and_embeddings_head_and_norms_adamw():
    model = tiny_llama()
    muon, adamw = muon_groups(model)
    names = {id(p): name for name, p in model.named_parameters()}
    assert muon["muon"] and not adamw["muon"]
    muon_names, adamw_names = {names[id(p)] for p in muon["params"]}, {names[id(p)] for p in adamw["params"]}
    assert "model.layers.0.self_attn.q_proj.weight" in muon_names
    assert "model.layers.1.mlp.down_proj.weight" in muon_names
    assert "model.embed_tokens.weight" in adamw_names and "model.norm.weight" in adamw_names
    assert all(name.endswith("norm.weight") or "embed" in name or "lm_head" in name for name in adamw_names)
    assert len(muon_names) + len(adamw_names) == len(names)


def test_the_trainer_builds_it_and_a_resumed_run_ends_where_an_unbroken_one_does(tmp_path: Path):
    ids = torch.arange(8).repeat(16, 1) % 32
    data = [{"input_ids": row, "labels": row} for row in ids]

    def trainer(folder: str) -> Trainer:
        args = TrainingArguments(str(tmp_path / folder), max_steps=4, save_steps=2, learning_rate=1e-2,
                                 per_device_train_batch_size=4, use_cpu=True, report_to="none", disable_tqdm=True,
                                 seed=0, lr_scheduler_type="cosine", warmup_steps=1)
        built = Trainer(model=tiny_llama(), args=args, train_dataset=data)
        use_optimizer(built, "muon")
        return built

    unbroken = trainer("unbroken")
    unbroken.train()
    assert isinstance(unbroken.optimizer.optimizer, MuonWithAdamW)  # inside accelerate's wrapper
    assert unbroken.optimizer.param_groups[0]["lr"] == pytest.approx(unbroken.lr_scheduler.get_last_lr()[0])
    resumed = trainer("resumed")  # from step 2: its momentum buffers and Adam moments come from the checkpoint
    resumed.train(resume_from_checkpoint=str(tmp_path / "unbroken" / "checkpoint-2"))
    assert resumed.state.global_step == 4
    for (name, theirs), ours in zip(unbroken.model.named_parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, msg=name)
