"""The model: presets (MiniMind-sized configurations of stock transformers architectures), the tokenizer and
its chat template, and loading a model folder for training or inference."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "DEFAULT_VOCAB_SIZE": "minillm_core.model.tokenizer",
    "RESERVED_TOKENS": "minillm_core.model.tokenizer",
    "CHAT_TEMPLATE": "minillm_core.model.tokenizer",
    "load_tokenizer": "minillm_core.model.tokenizer",
    "tokenizer_folder_problem": "minillm_core.model.tokenizer",
    "resolve_preset": "minillm_core.model.presets",
    "build_model": "minillm_core.model.presets",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
