"""The plugin API: the one module a minillm-skill plugin imports. Everything else in minillm_core may change.

    from minillm_core.api import Skill, StageContext, StageResult, hookimpl

PLUGIN_API_VERSION follows semantic versioning: a minor release adds names; only a major release removes or
changes one, and docs/plugins.md says what changed. A plugin can check it:

    from minillm_core import api
    assert api.PLUGIN_API_VERSION.split(".")[0] == "1"

The names behind torch, transformers or TRL (`train`, `load_model`, `sft_trainer`, ...) load when first used,
not when the plugin is imported, so that `minillm-skill list` stays quick with any number of plugins.
"""

from __future__ import annotations

from minillm_core.contract.options import Option
from minillm_core.contract.skill import Check, Skill, SkillError, StageContext, StageResult
from minillm_core.data.formats import DataError, RecordReader
from minillm_core.data.messages import RecordError
from minillm_core.data.registry import DatasetSpec, resolve_dataset
from minillm_core.inference.tools import BUILTIN_TOOLS, Tool, ToolCall, parse_tool_calls, run_tool_call
from minillm_core.plugins.hookspecs import hookimpl
from minillm_core.train.methods import TrainingMethod
from minillm_core.train.options import training_options
from minillm_core.util.lazy import lazy_exports

PLUGIN_API_VERSION = "1.2.0"  # 1.1: Tool, ToolCall, the register_chat_tools and register_eval_tasks hooks;
# 1.2: BUILTIN_TOOLS, parse_tool_calls, run_tool_call (reading and running the calls a model writes)

# name -> module that defines it, imported on first use (these pull in torch, transformers, TRL or peft)
_HEAVY = {
    "TrainingRun": "minillm_core.train.training",  # what a TrainingMethod's trainer builder receives
    "train": "minillm_core.train.training",  # the shared training path, for a skill with its own run
    "output_dir": "minillm_core.train.training",  # where a stage saves its model
    "sft_trainer": "minillm_core.train.stages.sft",  # the SFT trainer, for methods that train on chats
    "load_model": "minillm_core.eval.evaluate",  # (model, tokenizer) from a model folder, ready for inference
    "Reply": "minillm_core.eval.likelihood",  # a prompt and a reply to score
    "chat_perplexity": "minillm_core.eval.likelihood",  # perplexity of replies, given their prompts
    "held_out_chats": "minillm_core.eval.evaluate",  # the held-out conversations eval scores
    "greedy_answers": "minillm_core.inference.samples",  # greedy answers to prompts, "chat" or "completion" style
    "CHAT_TEMPLATE": "minillm_core.model.tokenizer",  # the ChatML template chat stages give a base model
    "with_chat_template": "minillm_core.model.tokenizer",  # a tokenizer, given CHAT_TEMPLATE when it has none
    "chat_stop_token_ids": "minillm_core.model.tokenizer",  # the ids that end a chat reply
}

__all__ = [
    "PLUGIN_API_VERSION",
    # hooks and skills
    "hookimpl", "Skill", "Check", "StageContext", "StageResult", "SkillError",
    # chat tools (the register_chat_tools hook), and reading and running the calls a model writes
    "Tool", "ToolCall", "BUILTIN_TOOLS", "parse_tool_calls", "run_tool_call",
    # options and training methods
    "Option", "training_options", "TrainingMethod",
    # data: formats (the register_formats hook) and datasets
    "RecordError", "DataError", "RecordReader", "DatasetSpec", "resolve_dataset",
    # training, models and held-out evaluation (loaded on first use)
    *_HEAVY,
]

__getattr__ = lazy_exports(__name__, _HEAVY)
