"""Running a trained model: generation (sampling, streaming, stop strings), replies (thinking apart from the
answer, tool turns), tools (the built-in calculator and lookup, reading and running calls), samples (greedy
answers to fixed prompts)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "BUILTIN_TOOLS": "minillm_core.inference.tools",
    "Tool": "minillm_core.inference.tools",
    "ToolCall": "minillm_core.inference.tools",
    "parse_tool_calls": "minillm_core.inference.tools",
    "run_tool_call": "minillm_core.inference.tools",
    "split_reasoning": "minillm_core.inference.replies",
    "greedy_answers": "minillm_core.inference.samples",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
