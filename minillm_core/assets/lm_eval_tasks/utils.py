"""Helpers for the minillm_* lm_eval tasks (loaded by lm_eval through `!function utils.NAME`)."""


def _pair(record: dict) -> dict:
    prompt = record["chosen"][-2]["content"]  # the user turn both answers reply to
    return {"question": prompt, "choices": [record["chosen"][-1]["content"], record["rejected"][-1]["content"]],
            "answer": 0}


def preference_docs(dataset):
    """DPO records ({"chosen": [user, assistant], "rejected": [...]}) as 2-choice questions, chosen first."""
    return dataset.map(_pair, remove_columns=dataset.column_names)
