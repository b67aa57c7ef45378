"""Helpers that know nothing of skills or models: atomic writes, quiet libraries, redacted secrets, shipped
files, stdout kept for JSON, which process am I, how many CPU threads to compute with.

The lowest layer: it imports no other package of minillm_core (tests/test_import_layers.py)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "write_text_atomic": "minillm_core.util.atomic",
    "shipped_path": "minillm_core.util.resources",
    "redact": "minillm_core.util.redact",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
