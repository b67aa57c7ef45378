"""The model behind `minillm-skill serve`: one worker thread does every tokenizer and model call, a request at
a time (generating on one model is not thread-safe), while the server's event loop keeps answering.

No request holds the others back for long: a reply is at most `Limits.max_tokens` tokens (a request asking
more is refused) and `Limits.request_timeout` seconds (then it is cut), and a reply whose client went away
stops at its next token (or never starts, when it was still waiting its turn).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from minillm_core.inference.generation import GeneratedReply, GenerationOptions, generate_reply
from minillm_core.serve.chat import Bot

if TYPE_CHECKING:
    from minillm_core.serve.openai_api import ChatCompletionRequest

FALLBACK_MAX_TOKENS = 2048  # the reply limit for a model whose folder does not say the length it was trained at


class GenerationCancelled(Exception):
    """The client went away, or the server is stopping: the reply is not wanted any more."""


@dataclass(frozen=True)
class Limits:
    """What one request may take of the server."""

    max_tokens: int  # the longest reply, in tokens: a request asking for more is refused (400)
    request_timeout: float  # seconds a reply may generate; then it is cut (finish_reason "length")


def context_length(bot: Bot) -> int:
    """The positions the model has (for our presets only the RoPE table's length: 32768)."""
    return getattr(bot.model.config, "max_position_embeddings", None) or 2048


def default_max_tokens(bot: Bot) -> int:
    """The sequence length the model was trained at (its folder's provenance), else FALLBACK_MAX_TOKENS: past
    the length it learned, a small model's text degrades while each token costs more."""
    from minillm_core.train.start_model import trained_seq_len  # imports transformers: not at CLI start

    return min(trained_seq_len(bot.path) or FALLBACK_MAX_TOKENS, context_length(bot))


@dataclass
class Prepared:
    """A request made ready to generate: the bot as the request configures it, and the templated prompt."""

    bot: Bot
    prompt: str
    prompt_tokens: int
    options: GenerationOptions
    seed: int | None
    with_tools: bool


class ModelWorker:
    """The model and the one thread that uses it. Every tokenizer and model call runs on that thread."""

    def __init__(self, bot: Bot, limits: Limits) -> None:
        self.bot = bot
        self.limits = limits
        self.model_id = bot.path.name
        self.context_length = context_length(bot)
        self.closing = threading.Event()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minillm-generate")

    async def call(self, job: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, job, *args)

    def check_limits(self, request: ChatCompletionRequest) -> None:
        """ApiError (400) for a request asking for a longer reply than the server gives: refused, as OpenAI and
        vLLM refuse it, rather than cut, so that the client knows. Needs no model: the event loop calls it."""
        from minillm_core.serve.openai_api import ApiError

        for name in ("max_completion_tokens", "max_tokens"):
            wanted = getattr(request, name)
            if wanted is not None and wanted > self.limits.max_tokens:
                raise ApiError(400, f"{name} is too large: {wanted}; this server gives at most "
                                    f"{self.limits.max_tokens} tokens a reply (`minillm-skill serve --max-tokens` "
                                    "sets it)", name, "invalid_value")

    def prepare(self, request: ChatCompletionRequest) -> Prepared:
        """The prompt and options for a request; ApiError (400) when the messages cannot make a prompt."""
        from jinja2 import TemplateError

        from minillm_core.serve.openai_api import ApiError

        tools = request.offered_tools() if self.bot.mode == "chat" else []
        bot = replace(self.bot, thinking=request.thinking(), tools={tool.function.name: tool for tool in tools})
        try:
            prompt = bot.prompt_text([message.for_template() for message in request.messages])
        except TemplateError as exc:
            raise ApiError(400, f"the chat template cannot render these messages: {exc}", "messages") from None
        if bot.mode == "completion" and not prompt:
            raise ApiError(400, "a completion model continues the last message's text, and it is empty", "messages")
        prompt_tokens = len(bot.tokenizer(prompt, add_special_tokens=bot.mode == "completion")["input_ids"])
        room = self.context_length - prompt_tokens
        if room < 1:
            raise ApiError(400, f"the prompt has {prompt_tokens} tokens; this model reads at most "
                                f"{self.context_length}", "messages", "context_length_exceeded")
        return Prepared(bot, prompt, prompt_tokens, _options(request, room, self.limits), request.seed, bool(tools))

    def generate(self, prepared: Prepared, on_text: Callable[[str], None],
                 cancelled: threading.Event) -> GeneratedReply:
        """The reply; GenerationCancelled when `cancelled` is set (its client went away) or the server is
        stopping, before it starts or at the next token."""

        def unwanted() -> bool:
            return cancelled.is_set() or self.closing.is_set()

        if unwanted():
            raise GenerationCancelled
        if prepared.seed is not None:
            import transformers

            transformers.set_seed(prepared.seed)
        reply = generate_reply(prepared.bot, prepared.prompt, prepared.options, on_text, unwanted)
        if reply.stopped_by == "interrupted":
            raise GenerationCancelled
        return reply

    def close(self) -> None:
        # Queued jobs still run, each ending at once on `closing`: a cancelled one would leave its request
        # waiting for a result (or a stream's end) that never comes.
        self.closing.set()
        self.executor.shutdown(wait=False)


def _options(request: ChatCompletionRequest, room: int, limits: Limits) -> GenerationOptions:
    """The request's sampling settings; absent ones are `minillm-skill chat`'s defaults, within the limits."""
    defaults = GenerationOptions()
    temperature = defaults.temperature if request.temperature is None else request.temperature
    top_p = defaults.top_p if request.top_p is None else request.top_p
    if top_p == 0:  # OpenAI allows it: only the likeliest token, which is greedy decoding
        temperature, top_p = 0.0, 1.0
    wanted = request.max_completion_tokens or request.max_tokens or min(defaults.max_new_tokens, limits.max_tokens)
    return GenerationOptions(temperature, top_p, min(wanted, room), request.stops(), limits.request_timeout)
