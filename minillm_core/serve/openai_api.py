"""OpenAI's chat-completions shapes for `minillm-skill serve`: the request as pydantic models, the response and
stream chunk bodies, the error body, and how a reply's text becomes a message (thinking, answer, tool calls).

Only what a small local model can honour is accepted: text content (no images), one choice (n=1). Fields the
server does not use (presence_penalty, user, logit_bias, ...) are ignored, as other OpenAI-compatible servers
ignore them. pydantic comes with FastAPI (the `serve` extra): serve.py imports this module when it runs.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from minillm_core.inference.replies import split_reasoning
from minillm_core.inference.tools import ToolCall, parse_tool_calls

MAX_STOPS = 4  # as OpenAI's API
MAX_STOP_LENGTH = 256  # characters: the streamer compares each prefix of a stop string with the text, every token
MAX_DEPTH = 64  # how deeply a request body may nest: a tool's JSON schema takes a few levels
SEED_RANGE = (0, 2**32 - 1)  # transformers.set_seed seeds numpy too, which takes no other seed
THINK_OPEN, THINK_CLOSE, CALL_OPEN = "<think>", "</think>", "<tool_call>"


class ApiError(Exception):
    """A request the server answers with an OpenAI-shaped error instead of a completion."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, which its clients read into their exceptions."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# --- the request ---------------------------------------------------------------------------------------

# strict: a string where a number or a boolean belongs is an error, not quietly converted ("yes" is no bool).
_STRICT = ConfigDict(strict=True)


class TextPart(BaseModel):
    model_config = _STRICT
    type: Literal["text"]
    text: str


class FunctionCall(BaseModel):
    model_config = _STRICT
    name: str
    arguments: str | dict[str, Any] = "{}"  # OpenAI sends a JSON string; the template takes either


class MessageToolCall(BaseModel):
    model_config = _STRICT
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    model_config = _STRICT
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    reasoning_content: str | None = None
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _has_content(self) -> Message:
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content")
        return self

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""

    def for_template(self) -> dict[str, Any]:
        """The message as the chat template reads it: plain text content ("developer" is OpenAI's new
        name for system)."""
        message: dict[str, Any] = {"role": "system" if self.role == "developer" else self.role,
                                   "content": self.text()}
        if self.reasoning_content is not None:
            message["reasoning_content"] = self.reasoning_content
        if self.tool_calls:
            message["tool_calls"] = [call.model_dump() for call in self.tool_calls]
        return message


class FunctionDefinition(BaseModel):
    model_config = _STRICT
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(BaseModel):
    model_config = _STRICT
    type: Literal["function"]
    function: FunctionDefinition

    def schema(self) -> dict[str, Any]:
        """What the chat template renders, as minillm_core.inference.tools.Tool.schema() gives it."""
        return {"type": "function", "function": self.function.model_dump(exclude_none=True)}


class StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions. None (or absent) means the server's default, as `minillm-skill chat` has it."""

    model_config = _STRICT
    model: str | None = None  # any name is accepted: the server has one model
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)  # newer clients' name for max_tokens
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: str | dict[str, Any] | None = None  # "none" hides the tools; anything else offers them
    n: int = Field(1, ge=1, le=1)
    seed: int | None = Field(None, ge=SEED_RANGE[0], le=SEED_RANGE[1])
    chat_template_kwargs: dict[str, Any] | None = None  # vLLM's extension; enable_thinking is read

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > MAX_STOPS or any(not 0 < len(stop) <= MAX_STOP_LENGTH for stop in stops):
            raise ValueError(f"give up to {MAX_STOPS} non-empty stop strings of at most {MAX_STOP_LENGTH} characters")
        return value

    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def offered_tools(self) -> list[ToolDefinition]:
        return [] if self.tool_choice == "none" else list(self.tools or [])

    def thinking(self) -> bool | None:
        value = (self.chat_template_kwargs or {}).get("enable_thinking")
        return value if isinstance(value, bool) else None


def parse_request(body: bytes) -> ChatCompletionRequest:
    """The request in a body; ApiError (400) for anything that is not a valid chat-completions request."""
    try:
        data = json.loads(body)
    except RecursionError:  # thousands of nested brackets: the parser recurses once per level
        raise _too_deep() from None
    except ValueError as exc:  # not JSON, not UTF-8 (UnicodeDecodeError), an integer of over 4,300 digits
        raise ApiError(400, f"the request body is not valid JSON ({exc})") from None
    _check_values(data)
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from None


def _check_values(data: Any) -> None:
    """ApiError (400) for JSON that parses but that the server cannot take: nested deeper than MAX_DEPTH (the
    chat template and the validators recurse into it), or a string holding a lone surrogate ("\\ud800" is
    valid JSON but no text: the tokenizer fails on it)."""
    pending = [(data, 1)]
    while pending:  # a loop rather than recursion: the depth is what is being checked
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            pending += [(item, depth + 1) for item in (*value, *value.values())]
        elif isinstance(value, list):
            pending += [(item, depth + 1) for item in value]
        elif isinstance(value, str) and not _is_text(value):
            raise ApiError(400, "the request body holds a string with a lone surrogate (such as \\ud800), "
                                "which is no text; send valid UTF-16 pairs or the characters themselves")


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep() -> ApiError:
    return ApiError(400, f"the request body is nested more than {MAX_DEPTH} levels deep")


def validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """pydantic's (or FastAPI's) validation errors, said as OpenAI says a bad parameter: `param` is the first
    one's place; the message names up to three (a value that fits no form of a field fails each form)."""
    if not errors:
        return ApiError(400, "invalid request")
    if errors[0].get("type") == "json_invalid":
        return ApiError(400, f"the request body is not valid JSON ({errors[0].get('ctx', {}).get('error', '')})")
    said = [f"{_param(error) or 'the request body'}: {error.get('msg', 'invalid value')}" for error in errors]
    return ApiError(400, "; ".join(dict.fromkeys(said[:3])), _param(errors[0]))


def _param(error: dict[str, Any]) -> str | None:
    """`messages.0.content` from a location such as ("body", "messages", 0, "content", "str"): the body and the
    union member pydantic tried ("str", "list[TextPart]") are no parameter's name."""
    kept = [str(part) for part in error.get("loc", ())
            if part != "body" and not (isinstance(part, str) and ("[" in part or part in _TYPE_TAGS))]
    return ".".join(kept) or None


_TYPE_TAGS = {"str", "int", "float", "bool", "none"}


# --- the response -------------------------------------------------------------------------------------

# A reply cut by --request-timeout ends as one cut by max_tokens: it was cut short by a limit.
FINISH_REASONS = {"eos": "stop", "stop_string": "stop", "max_new_tokens": "length", "time_limit": "length"}


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def openai_tool_call(call: ToolCall) -> dict[str, Any]:
    """A parsed <tool_call> block as OpenAI returns one: arguments are a JSON string."""
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": call.name or "", "arguments": json.dumps(call.arguments, ensure_ascii=False)}}


def reply_message(answer: str, with_tools: bool) -> dict[str, Any]:
    """The assistant message for a reply's text: thinking apart (`reasoning_content`), and, when tools were
    offered, its well-formed <tool_call> blocks as `tool_calls` with the text before them as content. A block
    that does not parse stays in the content as text: no client could run it."""
    calls = [call for call in parse_tool_calls(answer) if call.error is None] if with_tools else []
    reasoning, content = split_reasoning(answer.split(CALL_OPEN, 1)[0] if calls else answer)
    message: dict[str, Any] = {"role": "assistant", "content": content.rstrip() if calls else content}
    if calls and not message["content"]:
        message["content"] = None  # as OpenAI: a message that only calls tools has null content
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [openai_tool_call(call) for call in calls]
    return message


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_body(completion_id: str, model: str, message: dict[str, Any], finish_reason: str,
                    counts: dict[str, int]) -> dict[str, Any]:
    return {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": counts}


def chunk_body(completion_id: str, model: str, delta: dict[str, Any] | None, finish_reason: str | None = None,
               counts: dict[str, int] | None = None) -> dict[str, Any]:
    """One chat.completion.chunk; `delta` None: the usage chunk, which has no choices."""
    body: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": model, "choices": []}
    if delta is not None:
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
    if counts is not None:
        body["usage"] = counts
    return body


class StreamSplitter:
    """Turns the streamed text of a reply into `reasoning_content` and `content` deltas whose concatenation is
    what reply_message gives for the whole text (the non-streamed answer).

    Text that may still change meaning is held back: a tail that may begin a <think>, </think> or <tool_call>
    marker, newlines that split_reasoning would strip, and (with tools) trailing whitespace a call would cut.
    """

    def __init__(self, with_tools: bool) -> None:
        self.with_tools = with_tools
        self.text = ""
        self.sent = {"reasoning_content": "", "content": ""}

    def feed(self, piece: str) -> list[dict[str, str]]:
        self.text += piece
        return self._deltas(self._provisional(self._settled()))

    def finish(self, message: dict[str, Any]) -> list[dict[str, str]]:
        """The rest of the final message, once the whole reply is known."""
        return self._deltas({"reasoning_content": message.get("reasoning_content") or "",
                             "content": message.get("content") or ""})

    def _settled(self) -> str:
        markers = (THINK_OPEN, THINK_CLOSE, CALL_OPEN)
        held = max((n for marker in markers for n in range(1, len(marker)) if self.text.endswith(marker[:n])),
                   default=0)
        return self.text[:len(self.text) - held]

    def _provisional(self, text: str) -> dict[str, str]:
        if self.with_tools and CALL_OPEN in text:
            text = text.split(CALL_OPEN, 1)[0]
        if THINK_CLOSE in text:
            reasoning, content = split_reasoning(text)
        elif text.startswith(THINK_OPEN):
            reasoning, content = text[len(THINK_OPEN):].strip("\n"), ""  # still thinking
        else:
            reasoning, content = None, text
        return {"reasoning_content": reasoning or "", "content": content.rstrip() if self.with_tools else content}

    def _deltas(self, parts: dict[str, str]) -> list[dict[str, str]]:
        deltas = []
        for key, value in parts.items():
            sent = self.sent[key]
            # A part that no longer extends what was sent (a model writing </think> late) sends nothing more.
            if len(value) > len(sent) and value.startswith(sent):
                deltas.append({key: value[len(sent):]})
                self.sent[key] = value
        return deltas
