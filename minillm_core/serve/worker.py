"""The model behind `minillm-skill serve`: one worker thread does every tokenizer and model call, a request at
a time (generating on one model is not thread-safe), while the server's event loop keeps answering."""

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


class GenerationCancelled(Exception):
    """The client went away, or the server is stopping: the reply is not wanted any more."""


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

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.model_id = bot.path.name
        self.context_length: int = getattr(bot.model.config, "max_position_embeddings", None) or 2048
        self.closing = threading.Event()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minillm-generate")

    async def call(self, job: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, job, *args)

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
        return Prepared(bot, prompt, prompt_tokens, _options(request, room), request.seed, bool(tools))

    def generate(self, prepared: Prepared, on_text: Callable[[str], None],
                 cancelled: threading.Event) -> GeneratedReply:
        def checked(text: str) -> None:
            # Raised inside model.generate (the streamer calls this), which ends the generation there.
            if cancelled.is_set() or self.closing.is_set():
                raise GenerationCancelled
            on_text(text)

        if self.closing.is_set():
            raise GenerationCancelled
        if prepared.seed is not None:
            import transformers

            transformers.set_seed(prepared.seed)
        return generate_reply(prepared.bot, prepared.prompt, prepared.options, checked)

    def close(self) -> None:
        # Queued jobs still run, each ending at once on `closing`: a cancelled one would leave its request
        # waiting for a result (or a stream's end) that never comes.
        self.closing.set()
        self.executor.shutdown(wait=False)


def _options(request: ChatCompletionRequest, room: int) -> GenerationOptions:
    """The request's sampling settings; absent ones are `minillm-skill chat`'s defaults."""
    defaults = GenerationOptions()
    temperature = defaults.temperature if request.temperature is None else request.temperature
    top_p = defaults.top_p if request.top_p is None else request.top_p
    if top_p == 0:  # OpenAI allows it: only the likeliest token, which is greedy decoding
        temperature, top_p = 0.0, 1.0
    wanted = request.max_completion_tokens or request.max_tokens or defaults.max_new_tokens
    return GenerationOptions(temperature, top_p, min(wanted, room), request.stops())
