"""How far a model got: answer accuracy on held-out prompts first, then perplexity and lm_eval scores.

evaluate (the eval stage), answers (held-out answers and their rules), arithmetic (multi-digit problems four
ways), likelihood (perplexity of documents, replies and preference pairs), table (eval's Markdown),
lm_eval_tasks (the local multiple-choice tasks)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "run_eval": "minillm_core.eval.evaluate",
    "best_model": "minillm_core.eval.evaluate",
    "load_model": "minillm_core.eval.evaluate",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
