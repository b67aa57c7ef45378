"""A prompts file (`eval --set prompts=FILE`): UTF-8 text, one prompt per non-empty line."""

from __future__ import annotations

from pathlib import Path


class PromptsFileError(ValueError):
    """The file cannot be read as prompts; str() names it and says what is wrong."""


def read_prompts(path: Path) -> list[str]:
    """One prompt per non-empty line, stripped."""
    path = Path(path)
    if path.is_dir():
        raise PromptsFileError(f"{path} is a folder, not a text file of prompts")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PromptsFileError(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise PromptsFileError(f"cannot read the prompts file {path}: {exc.strerror or exc}") from exc
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise PromptsFileError(f"the prompts file {path} holds no prompt")
    return prompts


def prompts_problem(value: str) -> str | None:
    """The `prompts` option's check, before any work: why the file cannot be used, or None."""
    try:
        read_prompts(Path(value))
    except PromptsFileError as exc:
        return f"{exc}; give a UTF-8 text file, one prompt per line"
    return None
