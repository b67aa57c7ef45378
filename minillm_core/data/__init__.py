"""Training data: readers for the supported file formats, the dataset registry, pretraining packing.

formats (read any supported file into one normalized record shape), convert (one parsed record into that
shape), messages (checks on chat messages), registry (dataset names), packing (tokenize and pack documents
into full sequences, cached), piece_cache (fast tokenizing for packing), prompts_file (a file of prompts)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "DataError": "minillm_core.data.formats",
    "RecordReader": "minillm_core.data.formats",
    "RecordError": "minillm_core.data.messages",
    "DatasetSpec": "minillm_core.data.registry",
    "resolve_dataset": "minillm_core.data.registry",
    "prompts_problem": "minillm_core.data.prompts_file",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
