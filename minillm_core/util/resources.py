"""Where the files shipped with the project live: in a clone, or inside an installed wheel.

In a clone, skills/ and dataset/ sit at the top of the repository, beside minillm_core/.
A wheel carries them inside the package under minillm_core/_bundled/ (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # minillm_core/
_BUNDLED = _PACKAGE_DIR / "_bundled"
_REPO_ROOT = _PACKAGE_DIR.parent


def shipped_path(relative: str) -> Path:
    """Path of a shipped file or folder (e.g. "skills", "dataset/registry.yaml"), wheel or clone."""
    bundled = _BUNDLED / relative
    if bundled.exists():
        return bundled
    return _REPO_ROOT / relative


def skills_dir() -> Path:
    return shipped_path("skills")


def dataset_dir() -> Path:
    return shipped_path("dataset")


def assets_dir() -> Path:
    """Files that live inside the package itself (the default tokenizer, lm_eval tasks)."""
    return _PACKAGE_DIR / "assets"
