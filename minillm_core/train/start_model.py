"""The model a training stage starts from: `init` (a folder or a hub id), the previous stage's folder, or a new
model built from the preset with the stage's tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minillm_core.contract.outputs import read_marker, workdir_relative
from minillm_core.contract.skill import SkillError, StageContext
from minillm_core.model.presets import build_model, model_config, resolve_preset, vocab_size_for
from minillm_core.model.tokenizer import load_tokenizer, tokenizer_for_new_model


def start_init(settings: dict[str, Any], ctx: StageContext, default_init: str | None) -> str | None:
    """The model a stage starts from: `init`, else the previous stage's folder (None: a new model)."""
    return settings.get("init") or (str(ctx.path(default_init)) if default_init else None)


def start_folder(settings: dict[str, Any], ctx: StageContext, default_init: str | None) -> Path | None:
    """The local model folder the stage started from (None: a new model, or a hub id)."""
    init = start_init(settings, ctx, default_init)
    return Path(init) if init and (Path(init) / "config.json").is_file() else None


def load_start_model(settings: dict[str, Any], ctx: StageContext, default_init: str | None):
    """The model a stage starts from: `init` (folder or hub id), the previous stage's, or a new one."""
    init = start_init(settings, ctx, default_init)
    if init is None:
        folder = tokenizer_for_new_model(settings.get("tokenizer"), ctx.workdir)
        tokenizer = load_tokenizer(folder)
        minimum = resolve_preset(settings["preset"]).min_vocab_size
        config = model_config(settings["preset"], vocab_size=vocab_size_for(tokenizer, minimum))
        ctx.log.info("building a new %s model (preset %s, %d embedding rows) with the tokenizer in %s",
                     config.model_type, settings["preset"], config.vocab_size, folder)
        return build_model(config), tokenizer
    from minillm_core.model.loading import ModelLoadError, load_model  # torch: here, the preflight reads the rest

    path = _local_model_path(init, ctx)
    ctx.log.info("starting from %s", path)
    try:
        return load_model(path, for_training=True)
    except ModelLoadError as exc:
        raise SkillError(str(exc), hint=exc.hint) from exc


def _local_model_path(init: str, ctx: StageContext) -> str:
    if Path(init).exists():
        return init
    if Path(init).is_absolute():
        raise SkillError(f"model folder {init} does not exist", hint="check `--set init=...`")
    from huggingface_hub import snapshot_download  # a hub id, e.g. Qwen/Qwen3-0.6B

    try:
        return snapshot_download(init, allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt"])
    except Exception as exc:
        raise SkillError(f"cannot fetch model '{init}' from the hub: {exc}",
                         hint="check the network (`minillm-skill run env-check`) or give a local folder") from exc


def provenance(stage: str, ctx: StageContext, init: str | None, start: Path | None, dataset: Any,
               seq_len: int) -> dict[str, Any]:
    """Where a model came from, for its marker: the model it started from and every dataset that trained it
    (with the sequence length it was trained at), the start model's first (read from its marker), then this
    stage's."""
    return {"start_model": workdir_relative(init, ctx.workdir) if init else None,
            "trained_on": [*trained_on(start), {"stage": stage, "dataset": dataset.name,
                                      "file": workdir_relative(dataset.path, ctx.workdir), "max_seq_len": seq_len}]}


def stage_sequence_length(settings: dict[str, Any], start: Path | None) -> int:
    """`max_seq_len`, else the longest the start model in `start` was trained at (its provenance), else the
    preset's: what a stage trains at, and what its preflight estimates with."""
    return settings["max_seq_len"] or trained_seq_len(start) or resolve_preset(settings["preset"]).max_seq_len


def trained_seq_len(folder: Path | None) -> int | None:
    """The longest sequence length the model in `folder` was trained at (None: its provenance does not say).
    A fine-tune trains at it by default: bot-start's chat model learned tool chats of about 260 tokens at 384,
    and the tiny preset's 128 would cut every one of them out of the replayed chats."""
    lengths = [step["max_seq_len"] for step in trained_on(folder) if step.get("max_seq_len")]
    return max(lengths) if lengths else None


def is_chat_model(folder: Path | None) -> bool:
    """Whether the model in `folder` was saved by a chat stage of this project (its marker's style says so)."""
    return folder is not None and (read_marker(folder) or {}).get("style") == "chat"


def trained_on(folder: Path | None) -> list[dict[str, Any]]:
    """The datasets that trained the model in `folder`, oldest first ([] for a model from elsewhere)."""
    return ((read_marker(folder) or {}).get("provenance") or {}).get("trained_on", []) if folder else []
