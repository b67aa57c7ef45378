"""What env-check measures: Python and packages, CPU, memory, disk, GPU, hub, git ignores."""

from __future__ import annotations

import platform
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from minillm_core.hub.reach import probe_hub
from minillm_core.runner.gitcheck import git_state, ignores

# Hard requirements: without these no training skill can run.
REQUIRED_PACKAGES = ["torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
                     "huggingface_hub", "safetensors"]
OPTIONAL_PACKAGES = ["lm_eval", "matplotlib", "modelscope", "deepspeed"]
WORKDIR_FOLDERS = ["dataset", "out", "logs", "reports"]
MIN_PYTHON = (3, 10)
MIN_FREE_DISK_GB = 1.0


def package_versions(names: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def gpu_info() -> dict[str, Any]:
    """CUDA devices (name, memory, bf16) or Apple MPS, or none."""
    import torch  # imported here: env-check is the only caller that pays for it

    if torch.cuda.is_available():
        devices = [{"name": torch.cuda.get_device_name(i),
                    "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
                   for i in range(torch.cuda.device_count())]
        return {"kind": "cuda", "count": len(devices), "devices": devices,
                "bf16": torch.cuda.is_bf16_supported()}
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return {"kind": "mps", "count": 1, "devices": [{"name": "Apple MPS"}]}
    return {"kind": "none", "count": 0, "devices": []}


def collect(workdir: Path, hub_timeout_s: float = 2.0) -> dict[str, Any]:
    """Everything env-check reports, as plain data."""
    memory = psutil.virtual_memory()
    workdir.mkdir(parents=True, exist_ok=True)
    git = git_state(workdir)
    reachable, hub_detail = probe_hub(hub_timeout_s)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(REQUIRED_PACKAGES + OPTIONAL_PACKAGES),
        "cpu_cores": psutil.cpu_count(logical=True),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": round(memory.total / 2**30, 1),
        "ram_available_gb": round(memory.available / 2**30, 1),
        "disk_free_gb": round(shutil.disk_usage(workdir).free / 2**30, 1),
        "gpu": gpu_info(),
        "hub_reachable": reachable,
        "hub_detail": hub_detail,
        "git_repository": git["checked"],
        "git_ignores": ignores(workdir, [f"{d}/.probe" for d in WORKDIR_FOLDERS]) if git["checked"] else {},
    }


def problems(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """Missing hard requirements, each as (what is wrong, what to run)."""
    found = []
    if sys.version_info < MIN_PYTHON:
        found.append((f"Python {facts['python']} is too old", "install Python 3.10 or newer"))
    missing = [name for name in REQUIRED_PACKAGES if facts["packages"].get(name) is None]
    if missing:
        found.append((f"missing packages: {', '.join(missing)}",
                      "pip install torch==2.13.0 && pip install -e .  (from the repository)"))
    if facts["disk_free_gb"] < MIN_FREE_DISK_GB:
        found.append((f"only {facts['disk_free_gb']} GB free in the work directory",
                      "free some disk space or pass --workdir on a larger disk"))
    return found


def warnings(facts: dict[str, Any]) -> list[str]:
    """Things that do not stop a run but that a user should know."""
    not_ignored = [path.split("/")[0] + "/" for path, ok in facts["git_ignores"].items() if not ok]
    found = []
    if not_ignored:
        found.append(f"git does not ignore {', '.join(not_ignored)}: add them to .gitignore or the git check "
                     "at the end of each run will report untracked files")
    if not facts["hub_reachable"]:
        found.append(f"model hub not reachable ({facts['hub_detail']}): the embedded dataset will be used")
    return found
