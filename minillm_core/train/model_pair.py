"""The start model and the trained one, for the checks after a stage: each loaded once, whatever asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ModelPair:
    """`pair["before"]` is the start model's (model, tokenizer), `pair["after"]` the trained model's; a model
    loads on first use. The held-out check and the answer check read the same two models."""

    def __init__(self, start: Path, trained: Path) -> None:
        self.paths = {"before": Path(start), "after": Path(trained)}
        self._loaded: dict[str, tuple[Any, Any]] = {}

    def __getitem__(self, name: str) -> tuple[Any, Any]:
        if name not in self._loaded:
            from minillm_core.eval.evaluate import load_model  # torch and transformers load only when a check runs

            self._loaded[name] = load_model(self.paths[name])
        return self._loaded[name]

    @property
    def start(self) -> Path:
        return self.paths["before"]

    @property
    def trained(self) -> Path:
        return self.paths["after"]
