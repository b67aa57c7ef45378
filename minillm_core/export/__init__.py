"""Export: a model folder as one GGUF file for llama.cpp and Ollama (gguf), and the check that the file holds
the same model (gguf_verify)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "export_gguf": "minillm_core.export.gguf",
    "ExportError": "minillm_core.export.gguf",
    "chat_template_of": "minillm_core.export.gguf",
    "ollama_modelfile": "minillm_core.export.gguf",
    "verify_gguf": "minillm_core.export.gguf_verify",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
