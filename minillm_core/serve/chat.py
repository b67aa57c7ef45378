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
from collections.abc import Callable
from contextlib import nullcontext, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from minillm_core.contract.outputs import trained_models
from minillm_core.inference.generation import GeneratedReply, GenerationOptions, generate_reply
from minillm_core.inference.replies import split_reasoning, tool_turns
from minillm_core.util.stdout_guard import command_stdout

RESET, EXIT_COMMANDS = "/reset", ("/exit", "/quit")
MAX_TOOL_ROUNDS = 4  # model replies per user turn with --tools: calls, then an answer


@dataclass
class Bot:
    """A loaded model and how to talk to it."""

    path: Path
    model: Any
    tokenizer: Any
    mode: str  # "chat": through the chat template; "completion": the raw text is continued
    system: str | None = None
    thinking: bool | None = None  # the template's enable_thinking; None: the template's default (the model decides)
    tools: dict[str, Any] = field(default_factory=dict)  # name -> minillm_core.inference.tools.Tool the model may call

    def prompt_text(self, history: list[dict[str, Any]]) -> str:
        """What the model sees: the conversation through the chat template, or the last text as is."""
        if self.mode == "completion":
            return history[-1]["content"]
        system = [{"role": "system", "content": self.system}] if self.system else []
        switches: dict[str, Any] = {} if self.thinking is None else {"enable_thinking": self.thinking}
        if self.tools:
            switches["tools"] = [tool.schema() for tool in self.tools.values()]
        return self.tokenizer.apply_chat_template(system + history, add_generation_prompt=True, tokenize=False,
                                                  **switches)


# --- finding and loading the model ------------------------------------------------------------------


def default_model(workdir: Path) -> Path:
    """The model the last run handed over (the report's `final_model`, chosen by answer accuracy), else
    the newest model any training stage (a plugin's too) wrote under `workdir`/out."""
    from minillm_core.runner.final_model import previous

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
    from minillm_core.model.loading import ModelLoadError, load_model

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


@dataclass
class Exchange:
    """One user turn answered: the last reply, every tool call made on the way, and the messages to keep."""

    reply: GeneratedReply
    calls: list[dict[str, Any]]
    messages: list[dict[str, Any]]  # what the conversation gains: tool turns, then the final answer


def answer_turn(bot: Bot, history: list[dict[str, Any]], options: GenerationOptions,
                on_text: Callable[[str], None] = lambda _text: None,
                on_call: Callable[[dict[str, Any]], None] = lambda _call: None) -> Exchange:
    """Answer the conversation's last user turn. With tools, a reply that calls some gets their results and
    the model goes on, up to MAX_TOOL_ROUNDS replies; each call is passed to `on_call` as it is made."""
    gained: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for round_number in range(MAX_TOOL_ROUNDS):
        reply = generate_reply(bot, bot.prompt_text(history + gained), options, on_text)
        messages, made = tool_turns(reply.answer, bot.tools) if bot.tools and bot.mode == "chat" else ([], [])
        if not made or round_number == MAX_TOOL_ROUNDS - 1:
            break
        for call in made:
            on_call(call)
        gained += messages
        calls += made
    reasoning, answer = split_reasoning(reply.answer)
    final = {"role": "assistant", "content": answer, **({"reasoning_content": reasoning} if reasoning else {})}
    return Exchange(reply, calls, gained + [final])


# --- the command -------------------------------------------------------------------------------------


def note(message: str) -> None:
    """A line for the person at the terminal (stderr: stdout carries the answers or the JSON)."""
    click.echo(f"[minillm] {message}", err=True)


def _stream_to_stdout(text: str) -> None:
    """Where interactive and plain one-shot answers go, piece by piece (click.echo flushes each)."""
    click.echo(text, nl=False)


# Which model to talk to: chat and serve take the same two options.
MODEL_OPTION = click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path),
                            help="A Hugging Face model folder (default: the last run's final model, else the newest "
                                 "one a training stage wrote in out/).")
WORKDIR_OPTION = click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=".",
                              help="Where to look for out/<stage> (default: the current directory).")


@click.command("chat")
@MODEL_OPTION
@WORKDIR_OPTION
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
@click.option("--tools", "use_tools", is_flag=True,
              help="Let the model call tools: the built-in calculator and facts lookup, and any a plugin adds. "
                   "Each call and its result are shown (stderr); --json lists them in `tool_calls`.")
@click.option("--mode", type=click.Choice(["auto", "chat", "completion"]), default="auto", show_default=True,
              help="chat: through the chat template; completion: continue the raw text; auto: chat when the "
                   "tokenizer has a template and the model is not a pretrain one.")
def chat_command(model_dir: Path | None, workdir: Path, prompt: str | None, as_json: bool, system: str | None,
                 temperature: float, top_p: float, max_new_tokens: int, stops: tuple[str, ...], seed: int | None,
                 thinking: bool | None, use_tools: bool, mode: str) -> None:
    """Talk to a trained model in the terminal, or answer one --prompt (--json for agents).

    Interactive commands: /reset clears the conversation, /exit (or Ctrl-D) quits.
    """
    options = GenerationOptions(temperature, top_p, max_new_tokens, stops)
    # Under --json nothing a library prints may reach stdout: it carries the one JSON document (a usage error's
    # too, which the command group prints).
    with redirect_stdout(sys.stderr) if as_json else nullcontext():
        bot = _start(model_dir, workdir, prompt, as_json, system, stops, seed, mode)
        bot.thinking = thinking
        if use_tools:
            bot.tools = _tools_for(bot)
    if prompt is None:
        _interactive(bot, options)
    elif as_json:
        with redirect_stdout(sys.stderr):
            exchange = answer_turn(bot, [{"role": "user", "content": prompt}], options)
        reply, said = exchange.reply, exchange.messages[-1]
        click.echo(json.dumps({"status": "ok", "model": str(bot.path), "mode": bot.mode, "prompt": prompt,
                               "answer": said["content"], "reasoning": said.get("reasoning_content"),
                               "tool_calls": exchange.calls, "new_tokens": reply.new_tokens,
                               "seconds": reply.seconds, "stopped_by": reply.stopped_by}, ensure_ascii=False),
                   file=command_stdout())
    else:
        exchange = answer_turn(bot, [{"role": "user", "content": prompt}], options, on_text=_stream_to_stdout,
                               on_call=_show_call)
        click.echo()
        note(f"{exchange.reply.new_tokens} new tokens in {exchange.reply.seconds:.2f} s, "
              f"stopped by {exchange.reply.stopped_by}")


def _tools_for(bot: Bot) -> dict[str, Any]:
    from minillm_core.plugins.host import get_host

    if bot.mode != "chat":
        raise click.UsageError("--tools needs a chat model (this one is used in completion mode)")
    tools = get_host().chat_tools()
    note(f"tools: {', '.join(tools)}")
    return tools


def _show_call(call: dict[str, Any]) -> None:
    """A tool call made during an answer, on its own line after the streamed call text."""
    click.echo()
    note(f"tool {call['name']}({json.dumps(call['arguments'], ensure_ascii=False)}) -> {call['result']}")


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
    note(f"model {path}" + ("" if model_dir else " (the last run's final model, else the newest trained one "
                                                   "in out/; --model picks another)"))
    if bot.mode == "completion":
        note("completion mode: the model continues your text as written (no chat template, no history)")
        if system:
            note("--system is ignored in completion mode")
    if seed is not None:
        import transformers

        transformers.set_seed(seed)
    return bot


def _interactive(bot: Bot, options: GenerationOptions) -> None:
    _enable_line_editing()
    note(f"{RESET} clears the conversation, {EXIT_COMMANDS[0]} or Ctrl-D quits")
    history: list[dict[str, str]] = []
    while True:
        line = _read_line()
        if line is None or line.strip() in EXIT_COMMANDS:
            return
        if line.strip() == RESET:
            history.clear()
            note("conversation cleared")
            continue
        if not line.strip():
            continue
        turn = history + [{"role": "user", "content": line}]
        click.echo("bot> ", err=True, nl=False)
        try:
            exchange = answer_turn(bot, turn, options, on_text=_stream_to_stdout, on_call=_show_call)
        except KeyboardInterrupt:  # Ctrl-C stops this answer, not the conversation; the turn is dropped
            click.echo()
            note("interrupted")
            continue
        click.echo()
        if exchange.reply.stopped_by == "max_new_tokens":
            note(f"cut at --max-new-tokens {options.max_new_tokens}")
        # Completion mode continues each line on its own: there is no conversation to keep.
        history = turn + exchange.messages if bot.mode == "chat" else []


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
