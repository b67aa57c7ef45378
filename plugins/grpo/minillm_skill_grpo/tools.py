"""The built-in tools as TRL's GRPOTrainer takes them for its multi-turn tool loop (task=tools).

TRL renders its `tools` into every prompt and calls the one a sampled reply names, by the tool's `__name__`.
Given plain functions, transformers renders `get_json_schema(function)`, which requires a description of each
argument; the built-in tools' schemas, which the tool chats show and chat and eval offer, have none. That one
difference in the prompt cost bot-start's model an eighth of its calls (held-out problems asked with the
calculator: called 100% -> 87.5%; plugin README). So each tool goes to TRL as its schema itself, a dict, which
transformers renders as given, and which can also be called: the prompt is the one the model learned, token for
token. A call runs through `run_tool_call`, so the model reads back what chat and eval give it, errors included.
"""

from __future__ import annotations

from minillm_core.api import BUILTIN_TOOLS, Tool, ToolCall, run_tool_call

BUILTIN = {tool.name: tool for tool in BUILTIN_TOOLS}


class CallableSchema(dict):
    """A tool's OpenAI-style schema (what `apply_chat_template(tools=...)` renders) that TRL can call by name."""

    def __init__(self, tool: Tool):
        super().__init__(tool.schema())
        self.__name__ = tool.name

    def __call__(self, **arguments) -> str:
        return run_tool_call(ToolCall(self.__name__, arguments), BUILTIN)[0]


TOOL_SCHEMAS = tuple(CallableSchema(tool) for tool in BUILTIN_TOOLS)  # in the order the tool chats offer them
