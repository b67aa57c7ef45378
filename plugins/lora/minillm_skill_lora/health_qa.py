"""The `health-qa` data format: {"question", "answer"} records read as one-turn chats (extra fields ignored)."""

from __future__ import annotations

from minillm_core.api import RecordError

EXAMPLE = '{"question": "How long should I wash my hands?", "answer": "Wash with soap for at least 20 seconds."}'


def to_chat(record: dict) -> dict:
    """One record as the sft kind's normalized shape."""
    question, answer = record.get("question"), record.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise RecordError('"question" must be a non-empty string')
    if not isinstance(answer, str) or not answer.strip():
        raise RecordError('"answer" must be a non-empty string')
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def looks_like(record: dict) -> bool:
    return "question" in record and "answer" in record
