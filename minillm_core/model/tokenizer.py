"""The tokenizer: a byte-level BPE in the GPT-2 / MiniMind style, and the ChatML template chat models use.

Reserved tokens, ids fixed whatever the corpus (the first three as in MiniMind's own tokenizer, so either
tokenizer fits the presets' generation settings):

    0 <|endoftext|>   end of a pretraining document; also the pad and unk token
    1 <|im_start|>    opens a chat turn
    2 <|im_end|>      closes a chat turn: what a chat model emits to stop
    3-8               <think> </think> <tool_call> </tool_call> <tool_response> </tool_response>
    9-15              <|spare1|> ... <|spare7|>, for what comes later

All are single tokens that text never splits. The think and tool tokens are not "special" (as in Qwen3's
and MiniMind's tokenizers): decoding with skip_special_tokens keeps them, so a parser can find them.

The pre-tokenizer is GPT-2's ByteLevel step alone (no custom split), which llama.cpp's converter and other
tools know. A tokenizer folder holds no chat template: a base model has none, and the chat stages (sft, dpo)
add CHAT_TEMPLATE to a tokenizer that lacks one (`with_chat_template`).

`tokenizer_config.json` names `PreTrainedTokenizerFast`, which transformers 4.x loads too (transformers 5
would write its own alias, `TokenizersBackend`). minillm_core.train.tokenizer_training trains one on a corpus.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

if TYPE_CHECKING:  # transformers is imported where a tokenizer is made: `minillm-skill list` needs none
    from transformers import PreTrainedTokenizerFast

from minillm_core.model.response_template import RESPONSE_TEMPLATE
from minillm_core.util.resources import assets_dir

DEFAULT_VOCAB_SIZE = 6400
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
THINK_AND_TOOL_TOKENS = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
SPARE_TOKENS = [f"<|spare{i}|>" for i in range(1, 8)]
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END, *SPARE_TOKENS]  # "special": skip_special_tokens drops them
RESERVED_TOKENS = [ENDOFTEXT, IM_START, IM_END, *THINK_AND_TOOL_TOKENS, *SPARE_TOKENS]  # in id order
TOKENIZER_CLASS = "PreTrainedTokenizerFast"
# Qwen2's (and Qwen3's) pre-token regex: GPT-2's, except that each digit is a piece of its own, so a number is
# always its digits ("347" is 3 4 7) and is copied or worked on digit by digit. llama.cpp knows it as "qwen2".
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
TRAINED_TOKENIZER = "out/tokenizer"  # where the tokenizer skill writes, in the work directory
# RoPE has no learned positions, so this is only the longest input the tokenizer will not warn about.
MODEL_MAX_LENGTH = 32768

# ChatML in Qwen3's conventions, so that OpenAI-style messages and `apply_chat_template(messages, tools=...,
# enable_thinking=...)` work as with Qwen3: `tools` go into the system turn; an assistant's `tool_calls` become
# <tool_call>{json}</tool_call>; `tool` messages become <tool_response> blocks in a user turn; an assistant's
# `reasoning_content` becomes <think>...</think> in the turns after the last user query (earlier ones drop it,
# as Qwen3's do). One difference: an assistant message with no `reasoning_content` at all (and no </think> in
# its content) gets no empty think block, so plain chat data renders as plain ChatML; give
# `reasoning_content: ""` to train "thinking off". The {% generation %} block marks what the assistant writes
# (thinking and tool calls included, <|im_end|> too, so the model learns to stop; the newline after it and
# tool responses excluded): TRL's assistant_only_loss trains on exactly that.
CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- '# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with '
        'function signatures within <tools></tools> XML tags:\n<tools>' }}
    {%- for tool in tools %}
        {{- '\n' + tool | tojson }}
    {%- endfor %}
    {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within '
        '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
        '<args-json-object>}\n</tool_call><|im_end|>\n' }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- set ns = namespace(last_query_index=messages | length - 1, found=false) %}
{%- for message in messages[::-1] %}
    {%- if not ns.found and message.role == 'user' and message.content is string
          and not (message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.found = true %}
        {%- set ns.last_query_index = messages | length - 1 - loop.index0 %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- set content = message.content if message.content is string else '' %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>\n' }}
    {%- elif message.role == 'assistant' %}
        {%- set thinking = message.reasoning_content is string %}
        {%- set reasoning = message.reasoning_content if thinking else '' %}
        {%- if not thinking and '</think>' in content %}
            {%- set thinking = true %}
            {%- set reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
            {%- set content = content.split('</think>')[-1].lstrip('\n') %}
        {%- endif %}
        {{- '<|im_start|>assistant\n' }}
        {%- generation %}
            {%- if thinking and loop.index0 > ns.last_query_index and (loop.last or reasoning) %}
                {{- '<think>\n' + reasoning.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- content }}
            {%- endif %}
            {%- for call in message.tool_calls or [] %}
                {%- set call = call.function if call.function else call %}
                {%- if not loop.first or content %}
                    {{- '\n' }}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' + call.name + '", "arguments": ' }}
                {{- call.arguments if call.arguments is string else call.arguments | tojson }}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
            {{- '<|im_end|>' }}
        {%- endgeneration %}
        {{- '\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + content + '\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE,
                    max_token_length: int | None = None, split_digits: bool = False) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` and wrap it as a Hugging Face tokenizer (no chat template).

    The vocabulary holds the reserved tokens, the 256 byte symbols, then merges until `vocab_size`; a small
    corpus can run out of pairs to merge first, so ``len(tokenizer)`` may be below `vocab_size`. `texts`
    must not contain reserved tokens (the trainer would learn merges of their pieces): see
    tokenizer_training.split_reserved. `max_token_length` caps a token's length in byte-level characters (a
    Chinese character is 3): on a small, repetitive corpus it keeps whole phrases from becoming tokens.
    `split_digits`: Qwen2's pre-tokenizer (every digit a token) instead of GPT-2's.
    """
    backend = Tokenizer(models.BPE())
    if split_digits:  # as Qwen2's tokenizer.json: its own split, then the byte alphabet
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2's regex, then bytes
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[AddedToken(token, special=True, normalized=False) for token in RESERVED_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=max_token_length,
        show_progress=False,
    )
    # Equally frequent pairs are merged in a fixed order, so the same corpus gives the same files,
    # whatever the number of threads (tests/test_tokenizer.py checks it across processes).
    backend.train_from_iterator(texts, trainer=trainer)
    return _wrap(_mark_special(backend))


def _mark_special(backend: Tokenizer) -> Tokenizer:
    """The trainer adds every reserved token as special; the think and tool tokens are plain added tokens."""
    config = json.loads(backend.to_str())
    for token in config["added_tokens"]:
        token["special"] = token["content"] in SPECIAL_TOKENS
    return Tokenizer.from_str(json.dumps(config))


def _wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=None,  # nothing is prepended: documents end with eos, chat turns open with <|im_start|>
        eos_token=ENDOFTEXT,
        pad_token=ENDOFTEXT,  # TRL pads labels with -100, so padding with eos never hides a real eos
        unk_token=ENDOFTEXT,  # never produced (byte-level), but some tools expect one
        model_max_length=MODEL_MAX_LENGTH,
        clean_up_tokenization_spaces=False,  # decode must give back the exact text
    )


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir: Path) -> None:
    """Write `tokenizer` as a Hugging Face tokenizer folder that ``AutoTokenizer.from_pretrained`` loads, in
    transformers 4.x too: tokenizer.json, tokenizer_config.json (class PreTrainedTokenizerFast) and, when
    the tokenizer has one, chat_template.jinja."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") in ("TokenizersBackend", None):  # transformers 5's name for the same class
        config["tokenizer_class"] = TOKENIZER_CLASS
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def with_chat_template(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    """`tokenizer`, given our ChatML template when it has none (a base model's): for chat training and chat.
    With our template goes its response template (minillm_core/model/response_template.py); a downloaded
    model's own chat template keeps whatever its tokenizer config says."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHAT_TEMPLATE
    if tokenizer.chat_template == CHAT_TEMPLATE and not getattr(tokenizer, "response_template", None):
        tokenizer.response_template = RESPONSE_TEMPLATE
    return tokenizer


def default_tokenizer_dir() -> Path:
    """The folder of the tokenizer shipped inside the package."""
    return assets_dir() / "tokenizer"


def tokenizer_for_new_model(setting: str | Path | None, workdir: Path) -> Path:
    """The tokenizer folder a new model is built with: the `tokenizer` option when set, else the one the
    tokenizer skill trained (out/tokenizer) when it exists, else the shipped default."""
    if setting:
        return Path(setting)
    trained = Path(workdir) / TRAINED_TOKENIZER
    return trained if (trained / "tokenizer.json").is_file() else default_tokenizer_dir()


def tokenizer_folder_problem(folder: str | Path) -> str | None:
    """Why `folder` cannot be loaded as a tokenizer (missing, or holding none), or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"missing: {folder} is not a folder"
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        return f"{folder} holds no tokenizer (no tokenizer.json or tokenizer_config.json)"
    return None


def load_tokenizer(path: str | Path | None = None) -> PreTrainedTokenizerFast:
    """Load a tokenizer folder: ours, a checkpoint's, or any user one (e.g. MiniMind's own files).

    None loads the shipped default. Remote code is never run: a folder that needs it fails to load.
    """
    path = Path(path) if path is not None else default_tokenizer_dir()
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise FileNotFoundError(f"no tokenizer in {path} (expected tokenizer.json / tokenizer_config.json)")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # batching needs a pad token; eos is the usual stand-in
    return tokenizer


def tokenizer_sha256(tokenizer: PreTrainedTokenizerFast) -> str:
    """A fingerprint of what the tokenizer does (its tokenizer.json content), for reports: two models with
    the same fingerprint read text the same way."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chat_stop_token_ids(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """Token ids that end a chat reply: <|im_end|> (when the vocabulary has it) and the eos token.

    Use it as the generation config's ``eos_token_id`` so ``model.generate`` stops at the end of a turn.
    """
    ids = []
    vocab = tokenizer.get_vocab()
    if IM_END in vocab:
        ids.append(vocab[IM_END])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
