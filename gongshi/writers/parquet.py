"""Parquet: typed columns, each field's Chinese title and description kept as field metadata, and
the Table Schema of the resource in the file's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gongshi.catalog import SchemaField
from gongshi.storage import temporary_for
from gongshi.writers import Writer


class ParquetWriter(Writer):
    FORMAT = "parquet"
    SUFFIX = ".parquet"
    MEDIA_TYPE = "application/vnd.apache.parquet"

    def write(self, table: pa.Table, fields: list[SchemaField], path: Path) -> None:
        by_name = {f.name: f for f in fields}
        schema = pa.schema(
            [
                table.schema.field(name).with_metadata(
                    {
                        "title": by_name[name].title,
                        "description": by_name[name].description,
                    }
                )
                for name in table.column_names
            ]
        ).with_metadata(
            {
                "table_schema": json.dumps(
                    {"fields": [f.model_dump(exclude_none=True) for f in fields]}, ensure_ascii=False
                )
            }
        )
        temporary = temporary_for(path)
        pq.write_table(table.cast(schema), temporary, compression="zstd")
        temporary.replace(path)
