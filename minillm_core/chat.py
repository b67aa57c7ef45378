"""`minillm-skill chat`: talk to a trained model in the terminal, or ask it once.

Interactive: read a line, answer it (streamed token by token), keep the conversation; `/reset` clears
it, `/exit` or end of input quits. One-shot for scripts and agents: `--prompt TEXT`, with `--json` for
exactly one JSON document on stdout. The model's text goes to stdout; prompts and notes go to stderr.

A model whose tokenizer has a chat template is talked to through it (chat mode); a pretrain model
continues the raw text instead (completion mode). Exit code 2: no model, or not one we can load.

torch and transformers are imported only when the command runs, so that the rest of the CLI stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from minillm_core.outputs import trained_models

RESET, EXIT_COMMANDS = "/reset", ("/exit", "/quit")


@dataclass
class GenerationOptions:
    temperature: float = 0.7  # 0: greedy
    top_p: float = 0.9
    max_new_tokens: int = 256
    stops: tuple[str, ...] = ()  # stop strings, besides the model's end-of-turn tokens


@dataclass
class Reply:
    answer: str  # cut before the stop string, special tokens removed: exactly the text that was streamed
    new_tokens: int
    seconds: float
    stopped_by: str  # "eos", "stop_string" or "max_new_tokens"


@dataclass
class Bot:
    """A loaded model and how to talk to it."""

    path: Path
    model: Any
    tokenizer: Any
    mode: str  # "chat": through the chat template; "completion": the raw text is continued
    system: str | None = None
    thinking: bool | None = None  # the template's enable_thinking; None: the template's default (the model decides)

    def prompt_text(self, history: list[dict[str, str]]) -> str:
        """What the model sees: the conversation through the chat template, or the last text as is."""
        if self.mode == "completion":
            return history[-1]["content"]
        system = [{"role": "system", "content": self.system}] if self.system else []
        switch = {} if self.thinking is None else {"enable_thinking": self.thinking}
        return self.tokenizer.apply_chat_template(system + history, add_generation_prompt=True, tokenize=False,
                                                  **switch)


def split_reasoning(text: str) -> tuple[str | None, str]:
    """(thinking, answer) of a reply: what stands in <think>...</think> before the answer, and the rest.
    No </think> in the reply: no thinking (None), all answer."""
    if "</think>" not in text:
        return None, text
    thought, answer = text.split("</think>", 1)
    return thought.replace("<think>", "", 1).strip("\n"), answer.lstrip("\n")


# --- finding and loading the model ------------------------------------------------------------------


def default_model(workdir: Path) -> Path:
    """The model the last run handed over (the report's `final_model`, chosen by answer accuracy), else
    the newest model any training stage (a plugin's too) wrote under `workdir`/out."""
    from minillm_core.final_model import previous

    final = previous(workdir)
    if final and (workdir / final["path"] / "config.json").is_file():
        return workdir / final["path"]
    trained = trained_models(workdir)
    if trained:
        return trained[0]
    raise click.UsageError(f"no trained model in {(workdir / 'out').resolve()} (no folder there holds a model a "
                           f"training stage wrote); run `minillm-skill run bot-start` first, "
                           "or give --model a Hugging Face model folder")


def load_bot(path: Path, mode: str = "auto", system: str | None = None) -> Bot:
    """Load a local Hugging Face causal-LM folder (safetensors, never remote code) for chatting."""
    from minillm_core.models import ModelLoadError, load_model

    if not path.is_dir():
        raise click.UsageError(f"model folder {path} does not exist; run `minillm-skill run bot-start` to "
                               "train one, or give --model a Hugging Face model folder")
    if not (path / "config.json").is_file():
        raise click.UsageError(f"{path} is not a Hugging Face model folder (no config.json); give --model "
                               "a folder written by `minillm-skill run pretrain|sft|dpo` or `save_pretrained`")
    try:
        model, tokenizer = load_model(path)
    except ModelLoadError as exc:
        raise click.UsageError(f"{exc}; {exc.hint}") from None
    return Bot(path, model, tokenizer, choose_mode(path, tokenizer, mode), system)


def choose_mode(path: Path, tokenizer: Any, mode: str = "auto") -> str:
    """"chat" or "completion". Auto: chat when the tokenizer has a chat template (a base model's has none)."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if mode == "chat" and not has_template:
        raise click.UsageError(f"{path} has no chat template; use --mode completion (or auto)")
    if mode != "auto":
        return mode
    return "chat" if has_template else "completion"


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


def stop_token_ids(bot: Bot) -> list[int]:
    """End-of-turn ids (<|im_end|>, eos) plus whatever the model's generation config stops on."""
    from minillm_core.tokenizer import chat_stop_token_ids

    ids = chat_stop_token_ids(bot.tokenizer)
    configured = bot.model.generation_config.eos_token_id
    for token in configured if isinstance(configured, list) else [configured]:
        if token is not None and token not in ids:
            ids.append(token)
    return ids


def generate_reply(bot: Bot, text: str, options: GenerationOptions,
                   on_text: Callable[[str], None] = lambda _text: None) -> Reply:
    """Continue `text` (already templated), streaming the answer through `on_text` piece by piece."""
    import torch
    from transformers import StoppingCriteriaList

    tokenizer = bot.tokenizer
    # A chat template writes its own special tokens; a raw completion gets the tokenizer's (e.g. a bos).
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=bot.mode == "completion").to(bot.model.device)
    prompt_length = inputs["input_ids"].shape[1]
    stream = TextStream(tokenizer, options.stops, on_text)
    stop_ids = stop_token_ids(bot)
    sampling = {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p}
    started = time.perf_counter()
    with torch.inference_mode():
        output = bot.model.generate(
            **inputs, max_new_tokens=options.max_new_tokens, eos_token_id=stop_ids,
            pad_token_id=tokenizer.pad_token_id, streamer=stream,
            stopping_criteria=StoppingCriteriaList([StopAtText(tokenizer, options.stops, prompt_length)]),
            **(sampling if options.temperature > 0 else {"do_sample": False}))
    seconds = time.perf_counter() - started
    new_ids = output[0, prompt_length:].tolist()
    if stream.stopped:
        stopped_by = "stop_string"
    elif new_ids and new_ids[-1] in stop_ids:
        stopped_by = "eos"
    else:
        stopped_by = "max_new_tokens"
    return Reply(stream.text, len(new_ids), round(seconds, 3), stopped_by)


# --- the command -------------------------------------------------------------------------------------


def _note(message: str) -> None:
    click.echo(f"[minillm] {message}", err=True)


def _stream_to_stdout(text: str) -> None:
    """Where interactive and plain one-shot answers go, piece by piece (click.echo flushes each)."""
    click.echo(text, nl=False)


@click.command("chat")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A Hugging Face model folder (default: the last run's final model, else the newest one a "
                   "training stage wrote in out/).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=".",
              help="Where to look for out/<stage> (default: the current directory).")
@click.option("--prompt", help="Answer this prompt once and exit (for scripts and agents).")
@click.option("--json", "as_json", is_flag=True, help="With --prompt: stdout is exactly one JSON document.")
@click.option("--system", help="A system prompt (chat mode).")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, show_default=True,
              help="Sampling temperature; 0 is greedy (deterministic).")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=0.9, show_default=True,
              help="Nucleus sampling: sample from the smallest set of tokens with this much probability.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True,
              help="Longest answer, in tokens.")
@click.option("--stop", "stops", multiple=True, metavar="TEXT",
              help="Stop when the answer contains TEXT, and cut it there (repeatable).")
@click.option("--seed", type=int, help="Seed for sampling, for repeatable answers.")
@click.option("--think/--no-think", "thinking", default=None,
              help="Ask the model to think first, or to answer directly (the template's enable_thinking); "
                   "default: the model decides. Its thinking shows between <think> tags; --json puts it in "
                   "`reasoning`.")
@click.option("--mode", type=click.Choice(["auto", "chat", "completion"]), default="auto", show_default=True,
              help="chat: through the chat template; completion: continue the raw text; auto: chat when the "
                   "tokenizer has a template and the model is not a pretrain one.")
def chat_command(model_dir: Path | None, workdir: Path, prompt: str | None, as_json: bool, system: str | None,
                 temperature: float, top_p: float, max_new_tokens: int, stops: tuple[str, ...], seed: int | None,
                 thinking: bool | None, mode: str) -> None:
    """Talk to a trained model in the terminal, or answer one --prompt (--json for agents).

    Interactive commands: /reset clears the conversation, /exit (or Ctrl-D) quits.
    """
    options = GenerationOptions(temperature, top_p, max_new_tokens, stops)
    try:
        # Under --json nothing a library prints may reach stdout: it carries the one JSON document.
        with redirect_stdout(sys.stderr) if as_json else nullcontext():
            bot = _start(model_dir, workdir, prompt, as_json, system, stops, seed, mode)
            bot.thinking = thinking
    except click.UsageError as exc:
        if as_json:
            click.echo(json.dumps({"status": "usage_error", "error": exc.message, "prompt": prompt,
                                   "model": str(model_dir) if model_dir else None}, ensure_ascii=False))
        raise
    if prompt is None:
        _interactive(bot, options)
    elif as_json:
        with redirect_stdout(sys.stderr):
            reply = generate_reply(bot, bot.prompt_text([{"role": "user", "content": prompt}]), options)
        reasoning, answer = split_reasoning(reply.answer)
        click.echo(json.dumps({"status": "ok", "model": str(bot.path), "mode": bot.mode, "prompt": prompt,
                               "answer": answer, "reasoning": reasoning, "new_tokens": reply.new_tokens,
                               "seconds": reply.seconds, "stopped_by": reply.stopped_by}, ensure_ascii=False))
    else:
        reply = generate_reply(bot, bot.prompt_text([{"role": "user", "content": prompt}]), options,
                               on_text=_stream_to_stdout)
        click.echo()
        _note(f"{reply.new_tokens} new tokens in {reply.seconds:.2f} s, stopped by {reply.stopped_by}")


def _start(model_dir: Path | None, workdir: Path, prompt: str | None, as_json: bool, system: str | None,
           stops: tuple[str, ...], seed: int | None, mode: str) -> Bot:
    """Check the arguments, find and load the model; click.UsageError (exit code 2) says what is wrong."""
    if as_json and prompt is None:
        raise click.UsageError("--json needs --prompt (interactive answers are streamed as text)")
    if prompt is not None and not prompt.strip():
        raise click.UsageError("--prompt is empty")
    if any(stop == "" for stop in stops):
        raise click.UsageError("--stop needs a non-empty text")
    path = (model_dir or default_model(workdir)).resolve()
    bot = load_bot(path, mode, system)
    _note(f"model {path}" + ("" if model_dir else " (the last run's final model, else the newest trained one "
                                                   "in out/; --model picks another)"))
    if bot.mode == "completion":
        _note("completion mode: the model continues your text as written (no chat template, no history)")
        if system:
            _note("--system is ignored in completion mode")
    if seed is not None:
        import transformers

        transformers.set_seed(seed)
    return bot


def _interactive(bot: Bot, options: GenerationOptions) -> None:
    _enable_line_editing()
    _note(f"{RESET} clears the conversation, {EXIT_COMMANDS[0]} or Ctrl-D quits")
    history: list[dict[str, str]] = []
    while True:
        line = _read_line()
        if line is None or line.strip() in EXIT_COMMANDS:
            return
        if line.strip() == RESET:
            history.clear()
            _note("conversation cleared")
            continue
        if not line.strip():
            continue
        turn = history + [{"role": "user", "content": line}]
        click.echo("bot> ", err=True, nl=False)
        try:
            reply = generate_reply(bot, bot.prompt_text(turn), options, on_text=_stream_to_stdout)
        except KeyboardInterrupt:  # Ctrl-C stops this answer, not the conversation; the turn is dropped
            click.echo()
            _note("interrupted")
            continue
        click.echo()
        if reply.stopped_by == "max_new_tokens":
            _note(f"cut at --max-new-tokens {options.max_new_tokens}")
        # Completion mode continues each line on its own: there is no conversation to keep.
        reasoning, answer = split_reasoning(reply.answer)
        said = {"role": "assistant", "content": answer, **({"reasoning_content": reasoning} if reasoning else {})}
        history = turn + [said] if bot.mode == "chat" else []


def _enable_line_editing() -> None:
    """In a terminal, importing readline gives input() arrow keys and a history of lines."""
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401
        except ImportError:  # not on every platform (e.g. Windows); plain input() still works
            pass


def _read_line() -> str | None:
    """The next line typed (None at end of input or Ctrl-C). The prompt goes to stderr with the notes."""
    click.echo("you> ", err=True, nl=False)
    try:
        return input()
    except (EOFError, KeyboardInterrupt):
        click.echo(err=True)
        return None
