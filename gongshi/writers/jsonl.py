"""JSON Lines: one record per line, UTF-8, keys in schema order, dates as YYYY-MM-DD."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from gongshi.catalog import SchemaField
from gongshi.storage import temporary_for
from gongshi.writers import Writer


class JsonLinesWriter(Writer):
    FORMAT = "jsonl"
    SUFFIX = ".jsonl"
    MEDIA_TYPE = "application/x-ndjson"

    def write(self, table: pa.Table, fields: list[SchemaField], path: Path) -> None:
        temporary = temporary_for(path)
        with temporary.open("w", encoding="utf-8", newline="\n") as handle:
            for batch in table.to_batches(max_chunksize=65536):
                for record in batch.to_pylist():
                    handle.write(json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")) + "\n")
        temporary.replace(path)
