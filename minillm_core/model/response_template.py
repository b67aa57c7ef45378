"""How a reply of our chat template reads back: the response template transformers 5 keeps in a tokenizer's
config, so that plain `tokenizer.parse_response(reply, prefix=prompt)` gives `reasoning_content`, `content` and
OpenAI-style `tool_calls`, and servers that read it (`transformers serve`, and vLLM's kind of parser) return
those fields for a model trained here.

Every chat model this project saves carries it, beside CHAT_TEMPLATE (minillm_core/model/tokenizer.py).
The key is `response_template`: transformers 5.24 drops a legacy `response_schema` key on load. TRL's
`add_response_schema` recognises only the exact chat templates it ships, so ours is written here. Whitespace
sits inside the delimiters so that streamed and whole parsing give the same fields (checked through
`transformers serve`, docs/experiments.md 2026-12-07).

This project's own reading (minillm_core/inference/replies.py, tools.parse_tool_calls) stays hand-written, for
two measured reasons: `parse_response` raises ValueError on a call cut by `max_tokens` or written wrong by a
weak checkpoint, where a reply must still come back as text, and it reads calls in a reply whether or not tools
were offered.
"""

from __future__ import annotations

from typing import Any

RESPONSE_TEMPLATE: dict[str, Any] = {
    "version": 1,
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {"open_pattern": r"<think>\s*", "close_pattern": r"\s*</think>\s*", "content": "text"},
        "tool_calls": {"open_pattern": r"\s*<tool_call>", "close_pattern": r"</tool_call>\s*", "repeats": True,
                       "content": "json", "transform": {"type": "function", "function": "{content}"}},
        "content": {"close_pattern": r"\s*(?:<\|im_end\|>|<\|endoftext\|>)\s*", "content": "text"},
    },
}
