"""A reader's records as a datasets.Dataset, cached on disk (memory-mapped) and rebuilt when the file changes.

    records = cached_records(RecordReader(path, "sft"), cache_dir, features)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from minillm_core.data.formats import DataError, RecordReader


def cached_records(reader: RecordReader, cache_dir: Path, features: Any = None) -> datasets.Dataset:
    """The records `reader` yields; a bad record fails with its file and line, not as a datasets error."""
    stat = Path(reader.path).stat()
    try:
        return datasets.Dataset.from_generator(
            _yield_records, cache_dir=str(cache_dir), features=features,
            # A string, not a list: datasets splits list-valued gen_kwargs into shards, one generator run each.
            gen_kwargs={"reader": reader, "file_identity": f"{stat.st_size}-{stat.st_mtime_ns}"})
    except datasets.exceptions.DatasetGenerationError as exc:
        if isinstance(exc.__cause__, DataError):  # say which record is bad, not that datasets failed
            raise exc.__cause__ from None
        raise


def _yield_records(reader: RecordReader, file_identity: str):
    """Generator for datasets; `file_identity` only makes the cache key change when the file does."""
    yield from reader
