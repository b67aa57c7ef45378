"""The built-in tools as the Python functions TRL's GRPOTrainer calls in its multi-turn tool loop (task=tools).

TRL takes tools as plain functions: it renders each into the prompt with transformers' `get_json_schema` (the
function's name, its docstring's first line, and a description for each argument, which that function requires),
and calls it with the arguments the model wrote. Each function here runs the built-in tool through
`run_tool_call`, so the model reads back exactly the text chat and eval give it, errors included ("error: ...").

The rendered schema is the built-in tool's `schema()` plus one argument description, which the tool chats the
model learned from lack (`schema()` has none); tests/test_grpo_episodes.py pins that difference.
"""

from __future__ import annotations

from minillm_core.api import BUILTIN_TOOLS, ToolCall, run_tool_call

BUILTIN = {tool.name: tool for tool in BUILTIN_TOOLS}


# No return annotation: get_json_schema would add a "return" entry that the tool chats never show.
def calculator(expression: str):
    """Evaluate an arithmetic expression.

    Args:
        expression: the expression
    """
    return run_tool_call(ToolCall("calculator", {"expression": expression}), BUILTIN)[0]


def lookup(query: str):
    """Look up a fact.

    Args:
        query: the fact
    """
    return run_tool_call(ToolCall("lookup", {"query": query}), BUILTIN)[0]


TOOL_FUNCTIONS = (calculator, lookup)  # in BUILTIN_TOOLS' order, as the tool chats offer them
