"""JSON Lines: one record per line, UTF-8, keys in schema order, dates as YYYY-MM-DD."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from gongshi.catalog import SchemaField
from gongshi.storage import temporary_for
from gongshi.writers import Writer

BATCH_ROWS = 50_000


class JsonLinesWriter(Writer):
    FORMAT = "jsonl"
    SUFFIX = ".jsonl"
    MEDIA_TYPE = "application/x-ndjson"

    def write(self, table: pa.Table, fields: list[SchemaField], path: Path) -> None:
        # Dates as text first, so pandas' fast C serialiser writes 2026-11-26, not a timestamp.
        as_text = pa.table(
            {
                name: pc.cast(col, pa.string()) if pa.types.is_date(col.type) else col
                for name, col in zip(table.column_names, table.columns, strict=True)
            }
        )
        temporary = temporary_for(path)
        with temporary.open("w", encoding="utf-8") as out:
            # In slices: pandas' serialiser holds a whole slice's text (a million rows at once took GBs).
            for start in range(0, as_text.num_rows, BATCH_ROWS):
                frame = as_text.slice(start, BATCH_ROWS).to_pandas()
                frame = frame.astype(object).where(frame.notna(), None)
                text = frame.to_json(orient="records", lines=True, force_ascii=False)
                out.write(text if text.endswith("\n") else text + "\n")
        temporary.replace(path)
