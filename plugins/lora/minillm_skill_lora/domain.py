"""How well a model knows the domain, and how much it kept of what it knew: measured before and after.

Domain: chat perplexity of the held-out answers, and the share of held-out questions whose greedy answer
holds the fact's key words. The rest: chat perplexity on minillm's own held-out conversations
(embedded-sft-eval), which LoRA should leave close to where it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from minillm_core.api import Reply, chat_perplexity, greedy_answers, held_out_chats, load_model


def read_questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(model_dir: Path, eval_file: Path, workdir: Path) -> dict[str, Any]:
    """Domain and general numbers for the model in `model_dir`."""
    model, tokenizer = load_model(model_dir)
    rows = read_questions(eval_file)
    replies = [Reply([{"role": "user", "content": row["question"]}], row["answer"]) for row in rows]
    answers = greedy_answers(model, tokenizer, [row["question"] for row in rows], "chat")
    hits = [row["key"].lower() in answer.lower() for row, answer in zip(rows, answers, strict=True)]
    general = chat_perplexity(model, tokenizer, held_out_chats(workdir))["chat_perplexity"]
    return {"domain_perplexity": round(chat_perplexity(model, tokenizer, replies)["chat_perplexity"], 3),
            "domain_answer_rate": round(sum(hits) / len(hits), 4),
            "general_perplexity": round(general, 3),
            "answers": [{"question": row["question"], "answer": answer, "has_key": hit}
                        for row, answer, hit in zip(rows, answers, hits, strict=True)]}
