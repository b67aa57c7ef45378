"""Generating a reply: sampling options, streaming text as it settles, stop strings and end-of-turn tokens.

`generate_reply(bot, text, options, on_text)` continues an already templated text and streams the answer
piece by piece. `bot` is anything with `model`, `tokenizer` and `mode` (chat.Bot). torch and transformers are
imported when a reply is generated, so that importing this module stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A temperature below this is greedy, as vLLM has it: dividing the logits by less (1e-300) overflows them to inf,
# and sampling from them fails.
GREEDY_BELOW = 1e-5


@dataclass
class GenerationOptions:
    temperature: float = 0.7  # 0 (or below GREEDY_BELOW): greedy
    top_p: float = 0.9
    max_new_tokens: int = 256
    stops: tuple[str, ...] = ()  # stop strings, besides the model's end-of-turn tokens
    time_limit: float | None = None  # seconds; the reply is cut once they pass (stopped_by "time_limit")


@dataclass
class GeneratedReply:
    """What generate_reply produced (eval's replies to score are likelihood.Reply)."""

    answer: str  # cut before the stop string, special tokens removed: exactly the text that was streamed
    new_tokens: int
    seconds: float
    stopped_by: str  # "eos", "stop_string", "max_new_tokens", "time_limit" or "interrupted"


# --- generating --------------------------------------------------------------------------------------


def find_stop(text: str, stops: tuple[str, ...] | list[str]) -> int | None:
    """Where the earliest stop string starts in `text`, or None."""
    found = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return min(found) if found else None


def _unsettled_length(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of `text` must not be shown yet: an incomplete UTF-8 character
    (decoded as U+FFFD until its last byte arrives), and a tail that may be the start of a stop string."""
    settled = text.rstrip("\ufffd")
    held = max((n for stop in stops for n in range(1, len(stop)) if settled.endswith(stop[:n])), default=0)
    return len(text) - len(settled) + held


class TextStream:
    """Receives the tokens that generate() produces and passes on the new text as soon as it is certain.

    It implements transformers' streamer interface (put, end) without subclassing BaseStreamer, which
    would import transformers with this module. generate() first puts the prompt, then each new token.
    """

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], on_text: Callable[[str], None]) -> None:
        self.tokenizer, self.stops, self.on_text = tokenizer, stops, on_text
        self.ids: list[int] = []
        self.text = ""  # the answer so far, cut before a stop string
        self.shown = 0  # characters of it already passed to on_text
        self.stopped = False  # a stop string was found
        self._prompt_skipped = False

    def put(self, value: Any) -> None:
        if not self._prompt_skipped:
            self._prompt_skipped = True
            return
        if not self.stopped:
            self.ids.extend(value.reshape(-1).tolist())
            self._update(final=False)

    def end(self) -> None:
        self._update(final=True)

    def _update(self, final: bool) -> None:
        # Decode the whole answer each time: a token may hold half a character, and stop strings span tokens.
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        cut = find_stop(text, self.stops)
        if cut is not None:
            text, self.stopped, final = text[:cut], True, True
        self.text = text
        ready = len(text) if final else len(text) - _unsettled_length(text, self.stops)
        if ready > self.shown:
            self.on_text(text[self.shown:ready])
            self.shown = ready


class StopAtText:
    """Stopping criterion: the answer (the tokens after the prompt) contains a stop string.

    It decodes the answer itself instead of asking the TextStream, because generate() checks its
    stopping criteria before it hands the new token to the streamer.
    """

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], prompt_length: int) -> None:
        self.tokenizer, self.stops, self.prompt_length = tokenizer, stops, prompt_length

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        text = self.tokenizer.decode(input_ids[0, self.prompt_length:], skip_special_tokens=True)
        done = find_stop(text, self.stops) is not None
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class StopEarly:
    """Stopping criterion: the time limit has passed, or `interrupted()` says the reply is not wanted any more
    (its client went away). generate() asks after every token, so either ends the reply within one step;
    `reason` says which ("time_limit" or "interrupted")."""

    def __init__(self, time_limit: float | None, interrupted: Callable[[], bool]) -> None:
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        self.interrupted = interrupted
        self.reason: str | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self.interrupted():
            self.reason = "interrupted"
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            self.reason = "time_limit"
        return torch.full((input_ids.shape[0],), self.reason is not None, dtype=torch.bool, device=input_ids.device)


def stop_token_ids(bot: Any) -> list[int]:
    """End-of-turn ids (<|im_end|>, eos) plus whatever the model's generation config stops on."""
    from minillm_core.model.tokenizer import chat_stop_token_ids

    ids = chat_stop_token_ids(bot.tokenizer)
    configured = bot.model.generation_config.eos_token_id
    for token in configured if isinstance(configured, list) else [configured]:
        if token is not None and token not in ids:
            ids.append(token)
    return ids


def generate_reply(bot: Any, text: str, options: GenerationOptions,
                   on_text: Callable[[str], None] = lambda _text: None,
                   interrupted: Callable[[], bool] = lambda: False) -> GeneratedReply:
    """Continue `text` (already templated), streaming the answer through `on_text` piece by piece. The reply
    ends early (stopped_by "interrupted") as soon as `interrupted()` is true, checked after each token."""
    import torch
    from transformers import StoppingCriteriaList

    tokenizer = bot.tokenizer
    # A chat template writes its own special tokens; a raw completion gets the tokenizer's (e.g. a bos).
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=bot.mode == "completion").to(bot.model.device)
    prompt_length = inputs["input_ids"].shape[1]
    stream = TextStream(tokenizer, options.stops, on_text)
    stop_ids = stop_token_ids(bot)
    early = StopEarly(options.time_limit, interrupted)
    sampling = {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p}
    started = time.perf_counter()
    with torch.inference_mode():
        output = bot.model.generate(
            **inputs, max_new_tokens=options.max_new_tokens, eos_token_id=stop_ids,
            pad_token_id=tokenizer.pad_token_id, streamer=stream,
            stopping_criteria=StoppingCriteriaList([StopAtText(tokenizer, options.stops, prompt_length), early]),
            **(sampling if options.temperature >= GREEDY_BELOW else {"do_sample": False}))
    seconds = time.perf_counter() - started
    new_ids = output[0, prompt_length:].tolist()
    if stream.stopped:
        stopped_by = "stop_string"
    elif new_ids and new_ids[-1] in stop_ids:
        stopped_by = "eos"
    elif early.reason:
        stopped_by = early.reason
    else:
        stopped_by = "max_new_tokens"
    return GeneratedReply(stream.text, len(new_ids), round(seconds, 3), stopped_by)
