"""A package's public names, each loaded from its module when first used (PEP 562).

Every package of minillm_core names what it offers in its `__init__`; importing the package loads none
of it, so `minillm-skill list` never waits for torch, and the skills and plugins that import these names
are not touched when a module moves inside its package.

    PUBLIC = {...}  # a public name -> the dotted name of the module it lives in
    __getattr__ = lazy_exports(__name__, PUBLIC)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package` that imports each name in `names` from its module."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            public = getattr(sys.modules[package], "__all__", names)
            raise AttributeError(f"module {package!r} has no attribute {name!r}; its public names are: "
                                 f"{', '.join(public)}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)  # once imported, a plain attribute
        return value

    return __getattr__
