"""The tools `serve` runs for a client (its web chat): GET /v1/tools lists them, POST /v1/tools/run runs one.

    curl localhost:8000/v1/tools/run -d '{"name": "calculator", "arguments": "{\\"expression\\": \\"347 + 589\\"}"}'
    {"name": "calculator", "arguments": {"expression": "347 + 589"}, "result": "936", "ok": true}

The request is a tool call's `function` as a reply's `tool_calls` carry it (arguments as a JSON string or an
object); the answer has the shape of `chat --json`'s `tool_calls` entries. The result is what `chat --tools`
gives the model (inference.tools.run_tool_call), so a web chat's tool turns read as the terminal's do.

The built-in tools (calculator, lookup) are pure functions: no file but the shipped facts table, no network.
A plugin's tools (the register_chat_tools hook) run whatever code the plugin brings, so they are listed and
run only when `serve` is started with --plugin-tools; without it, asking for one is a 403 that names the flag.
A request the tool cannot take (unknown name, arguments that are no JSON object, a required one missing) is a
4xx in OpenAI's error shape; a tool that fails on its arguments (a division by zero) answers ok: false and the
"error: ..." text the model gets back, as in `chat --tools`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from minillm_core.inference.tools import BUILTIN_TOOLS, Tool, ToolCall, call_problem, run_tool_call
from minillm_core.serve.chat import MAX_TOOL_ROUNDS
from minillm_core.serve.openai_api import ApiError, validation_error


class ToolRunRequest(BaseModel):
    """POST /v1/tools/run: a tool call's `function`, as a reply's `tool_calls` carry it."""

    model_config = ConfigDict(strict=True)
    name: str
    arguments: str | dict[str, Any] = "{}"  # OpenAI sends a JSON string; an object is taken too

    def call(self) -> ToolCall:
        arguments = self.arguments
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError as exc:
                raise ApiError(400, f"arguments is not valid JSON ({exc})", "arguments", "invalid_arguments") from None
        if not isinstance(arguments, dict):
            raise ApiError(400, "arguments must be a JSON object, such as {\"expression\": \"2 + 3\"}", "arguments",
                           "invalid_arguments")
        return ToolCall(self.name, arguments)


@dataclass(frozen=True)
class ServedTools:
    """The tools a server offers (`offered`), and the plugins' tools it keeps back (`held_back`: no flag)."""

    offered: dict[str, Tool]
    held_back: frozenset[str] = frozenset()

    @classmethod
    def from_plugins(cls, all_tools: dict[str, Tool], plugin_tools: bool) -> ServedTools:
        """From every chat tool (plugins.host.chat_tools(): built-in first): all of them with `plugin_tools`,
        else the built-in ones only."""
        if plugin_tools:
            return cls(dict(all_tools))
        builtin = {tool.name for tool in BUILTIN_TOOLS}
        return cls({name: tool for name, tool in all_tools.items() if name in builtin},
                   frozenset(set(all_tools) - builtin))

    def listing(self) -> dict[str, Any]:
        """GET /v1/tools: the schemas, ready to send as a request's `tools`, and how many replies a user turn may
        take with tools (chat.MAX_TOOL_ROUNDS, as `chat --tools`)."""
        return {"object": "list", "data": [tool.schema() for tool in self.offered.values()],
                "max_rounds": MAX_TOOL_ROUNDS}

    def check(self, body: Any) -> ToolCall:
        """The call a POST /v1/tools/run body asks for; ApiError (4xx) when it cannot run."""
        try:
            request = ToolRunRequest.model_validate(body)
        except ValidationError as exc:
            raise validation_error(list(exc.errors())) from None
        call = request.call()
        if call.name in self.held_back:
            raise ApiError(403, f"the tool {call.name!r} comes from a plugin, and this server runs a plugin's tools "
                                f"only when started with `minillm-skill serve --plugin-tools`", "name",
                           "tool_not_enabled")
        if call.name not in self.offered:
            raise ApiError(404, f"no tool {call.name!r}; this server runs {', '.join(self.offered) or 'none'} "
                                "(GET /v1/tools lists them)", "name", "tool_not_found")
        problem = call_problem(call, self.offered)
        if problem:
            raise ApiError(400, problem, "arguments", "invalid_arguments")
        return call

    def run(self, call: ToolCall) -> dict[str, Any]:
        """A checked call run, as `chat --json` lists it: name, arguments, result, ok."""
        result, ok = run_tool_call(call, self.offered)
        return {"name": call.name, "arguments": call.arguments, "result": result, "ok": ok}
