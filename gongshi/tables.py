"""Small helpers over Arrow columns that several stages share."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def value_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """How often each value occurs in `column`."""
    if not len(column):
        return {}
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return {c["values"].as_py(): c["counts"].as_py() for c in pc.value_counts(column)}
