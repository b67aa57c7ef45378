"""Talking to a trained model: chat (the `chat` command), server (`serve`: an OpenAI-compatible API and a web
chat), worker (the one thread that runs the model), openai_api (request and response shapes)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "default_model": "minillm_core.serve.chat",
    "load_bot": "minillm_core.serve.chat",
    "create_app": "minillm_core.serve.server",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
