"""`--set push_to_hub=ORG/NAME`: a training stage uploads the model folder it saved (weights, tokenizer,
model card, trainer_state.json) to a Hugging Face Hub model repository, made when missing, through
huggingface_hub (token: HF_TOKEN or `huggingface-cli login`; address: HF_ENDPOINT, as for downloads)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from minillm_core.hub.reach import hub_endpoint, offline_requested

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def push_problem(repo_id: str | None) -> str | None:
    """Why a push to `repo_id` cannot work, checked before any training (an option error), or None."""
    if not repo_id:
        return None
    if not _REPO_ID.match(repo_id) or not _valid_on_the_hub(repo_id):
        return "must be a hub repository id, ORG/NAME (e.g. my-name/minillm-sft)"
    if offline_requested():
        return "HF_HUB_OFFLINE is set: unset it to push"
    from huggingface_hub import get_token

    if not get_token():
        return "no Hugging Face token: set HF_TOKEN to a write token (huggingface.co/settings/tokens)"
    return None


def _valid_on_the_hub(repo_id: str) -> bool:
    """The hub's own rules too: no name starting or ending with '.' or '-', no '..' or '--' (`../evil`)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return False
    return True


def push_model(folder: Path, repo_id: str, stage: str, ignore: list[str] | None = None) -> dict[str, Any]:
    """Upload `folder` (but the files matching `ignore`) as one commit to model repository `repo_id`; what it
    made (url, commit)."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint())
    url = api.create_repo(repo_id, exist_ok=True, repo_type="model")
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                               commit_message=f"minillm-skill {stage}: {folder.name}", ignore_patterns=ignore)
    return {"repo": repo_id, "url": str(url), "commit": commit.oid, "commit_url": str(commit)}
