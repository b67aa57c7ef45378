"""Tools a chat model can call: the built-in calculator and facts lookup, and how a call is read and run.

A model calls a tool by writing, in Qwen3's convention (see tokenizer.CHAT_TEMPLATE):

    <tool_call>
    {"name": "calculator", "arguments": {"expression": "347 + 589"}}
    </tool_call>

`parse_tool_calls` reads such blocks from a reply; `run_tool_call` runs one against a set of tools and
returns the text that goes back to the model as a `tool` message. A tool never raises into the caller:
a bad call (unknown tool, bad JSON, bad arguments) comes back as an "error: ..." text the model sees, and
is counted as invalid by the eval. Plugins add tools through the `register_chat_tools` hook.

The same definitions (`schema()`) are rendered into training data by dataset/generate.py, so what the
model learned to call is exactly what chat and eval offer it.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from minillm_core.util.resources import shipped_path

FACTS_FILE = "dataset/embedded/facts.jsonl"
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name, what it does, its JSON-schema parameters, and the code."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    function: Callable[..., str] = field(compare=False)

    def schema(self) -> dict[str, Any]:
        """The OpenAI-style definition that `apply_chat_template(tools=...)` renders."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


@dataclass(frozen=True)
class ToolCall:
    """One call read from a reply. `error` says why it cannot run (None: it parsed)."""

    name: str | None
    arguments: dict[str, Any]
    error: str | None = None

    def as_message_call(self) -> dict[str, Any]:
        """The call as an assistant message's `tool_calls` entry (OpenAI shape)."""
        return {"type": "function", "function": {"name": self.name or "", "arguments": self.arguments}}


# -- the calculator -------------------------------------------------------------------------------------

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_MAX_EXPRESSION = 200
_MAX_POWER = 100  # 10 ** 1000 ** 1000 would hang the process


def calculate(expression: str) -> str:
    """The value of an arithmetic expression (numbers, + - * / // % **, brackets; × and ÷ too), as text.
    It parses the expression itself: nothing the model writes is ever executed as Python."""
    text = str(expression).replace("×", "*").replace("÷", "/").replace("−", "-").strip()
    if not text or len(text) > _MAX_EXPRESSION:
        raise ValueError(f"give an arithmetic expression of 1 to {_MAX_EXPRESSION} characters")
    try:
        value = _evaluate(ast.parse(text, mode="eval").body)
    except SyntaxError:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from None
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(round(value, 6) if isinstance(value, float) else value)


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER:
            raise ValueError(f"exponents above {_MAX_POWER} are not supported")
        return _OPERATORS[type(node.op)](left, right)
    raise ValueError("only numbers, + - * / // % ** and brackets are allowed")


CALCULATOR = Tool(
    "calculator", "Evaluate an arithmetic expression.",
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    calculate)


# -- the facts lookup -----------------------------------------------------------------------------------


@cache
def _facts(path: str) -> dict[str, str]:
    """query -> answer sentence, both languages, from the facts table the dataset generator writes."""
    table = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            table[_normal(row["query"])] = row["answer"]
    return table


def _normal(text: str) -> str:
    return re.sub(r"[\s\"'“”‘’?？.。!！,，]+", " ", str(text).lower()).strip()


def lookup(query: str, facts_file: str | Path | None = None) -> str:
    """The fact the table holds for `query` ("capital of France", "法国的首都"), else the closest query's."""
    import difflib

    table = _facts(str(facts_file or shipped_path(FACTS_FILE)))
    key = _normal(query)
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1, cutoff=0.75)
    if close:
        return table[close[0]]
    raise ValueError(f"no fact found for {query!r}")


LOOKUP = Tool(
    "lookup", "Look up a fact.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    lookup)

BUILTIN_TOOLS = (CALCULATOR, LOOKUP)


# -- reading and running calls --------------------------------------------------------------------------


def parse_tool_calls(text: str) -> list[ToolCall]:
    """The tool calls in a reply, in order; a block that is not {"name": ..., "arguments": {...}} JSON comes
    back with its `error` set (an unclosed last block is read too: generation may stop inside it)."""
    calls = []
    for block in _TOOL_CALL.findall(text):
        try:
            data = json.loads(block.strip())
        except json.JSONDecodeError as exc:
            calls.append(ToolCall(None, {}, f"the tool call is not valid JSON ({exc.msg})"))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            calls.append(ToolCall(None, {}, 'a tool call needs {"name": ..., "arguments": {...}}'))
            continue
        arguments = data.get("arguments", {})
        if isinstance(arguments, str):  # some models write the arguments as JSON text
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                pass
        if not isinstance(arguments, dict):
            calls.append(ToolCall(data["name"], {}, "the arguments must be a JSON object"))
            continue
        calls.append(ToolCall(data["name"], arguments))
    return calls


def tool_problem(tool: Tool) -> str | None:
    """Why `tool` cannot be offered or called (None: it can). A plugin builds its own Tools: check, don't trust."""
    parameters = tool.parameters
    if not isinstance(tool.name, str) or not tool.name:
        return "its name must be a non-empty string"
    if not callable(tool.function):
        return f"its function must be callable, got {type(tool.function).__name__}"
    if not _is_object_schema(parameters):
        return ('its parameters must be a JSON schema object: {"type": "object", "properties": {...}, '
                f'"required": [names]}}, got {parameters!r:.80}')
    return None


def _is_object_schema(parameters: Any) -> bool:
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        return False
    required = parameters.get("required", [])
    return (isinstance(parameters.get("properties", {}), dict) and isinstance(required, list)
            and all(isinstance(name, str) for name in required))


def call_problem(call: ToolCall, tools: dict[str, Tool]) -> str | None:
    """Why `call` cannot be run against `tools` (None: it can): unreadable, an unknown tool, a tool that cannot
    be called, or a required argument missing. run_tool_call gives the model this text after "error: "."""
    if call.error:
        return call.error
    tool = tools.get(call.name or "")
    if tool is None:
        return f"unknown tool {call.name!r}; the tools are {', '.join(sorted(tools))}"
    problem = tool_problem(tool)
    if problem:
        return f"the tool {tool.name} cannot be called: {problem}"
    required = tool.parameters.get("required", [])
    missing = [name for name in required if name not in call.arguments]
    if missing:
        return f"{tool.name} needs the argument(s) {', '.join(missing)}"
    return None


def run_tool_call(call: ToolCall, tools: dict[str, Tool]) -> tuple[str, bool]:
    """(the text the model gets back, whether the call ran). Errors are texts, never exceptions."""
    problem = call_problem(call, tools)
    if problem:
        return f"error: {problem}", False
    tool = tools[call.name or ""]
    known = set(tool.parameters.get("properties", {}))
    try:
        return str(tool.function(**{k: v for k, v in call.arguments.items() if k in known})), True
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:  # a plugin's tool that calls sys.exit() must not end chat, serve or the eval
        return f"error: the tool {tool.name} called sys.exit({exc.code!r})", False
    except Exception as exc:  # a tool's failure is the model's information, not the caller's crash
        return f"error: {exc}", False
