"""One SQLite database of all datasets, one table each, that opens in Datasette or DB Browser:
typed columns, the primary key, a `_fields` table with every column's title and description, and a
full-text index on each table's names (`<table>_fts`, FTS5 with the trigram tokenizer, which finds
any fragment of three or more characters; Datasette uses it for `_search`). Two-character fragments
are below what a trigram index holds: `LIKE '%金陵%'` (Datasette: `?entity_name__contains=金陵`) finds
them, and the README says so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from gongshi.catalog import SchemaField
from gongshi.storage import temporary_for

FILE_NAME = "gongshi.sqlite"
MEDIA_TYPE = "application/vnd.sqlite3"
_TYPES = {"string": "TEXT", "date": "TEXT", "integer": "INTEGER", "number": "REAL", "boolean": "INTEGER"}


def write_database(
    tables: dict[str, tuple[pa.Table, list[SchemaField]]], path: Path, search: dict[str, list[str]] | None = None
) -> None:
    """`tables` (dataset -> its public table and published fields) into one database at `path`;
    `search` names, per dataset, the columns of its full-text index."""
    search = search or {}
    temporary = temporary_for(path)
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary)
    try:
        connection.execute(
            "CREATE TABLE _fields (dataset TEXT, name TEXT, title TEXT, description TEXT, type TEXT, "
            "PRIMARY KEY (dataset, name))"
        )
        for dataset, (table, fields) in tables.items():
            by_name = {f.name: f for f in fields}
            columns = ", ".join(
                f'"{name}" {_TYPES[by_name[name].type]}' + (" PRIMARY KEY" if name == "record_id" else "")
                for name in table.column_names
            )
            connection.execute(f'CREATE TABLE "{dataset}" ({columns})')
            connection.executemany(
                "INSERT INTO _fields VALUES (?, ?, ?, ?, ?)",
                [(dataset, n, by_name[n].title, by_name[n].description, by_name[n].type) for n in table.column_names],
            )
            as_text = [pc.cast(c, pa.string()) if pa.types.is_date(c.type) else c for c in table.columns]
            placeholders = ", ".join("?" * len(as_text))
            for batch in pa.table(as_text, names=table.column_names).to_batches(max_chunksize=50_000):
                connection.executemany(
                    f'INSERT INTO "{dataset}" VALUES ({placeholders})',
                    zip(*[c.to_pylist() for c in batch.columns], strict=True),
                )
            columns = [c for c in search.get(dataset, []) if c in table.column_names]
            if columns:
                names = ", ".join(f'"{c}"' for c in columns)
                connection.execute(
                    f'CREATE VIRTUAL TABLE "{dataset}_fts" USING fts5({names}, '
                    f"content='{dataset}', content_rowid='rowid', tokenize='trigram')"
                )
                connection.execute(f'INSERT INTO "{dataset}_fts"("{dataset}_fts") VALUES (\'rebuild\')')
        connection.commit()
    finally:
        connection.close()
    temporary.replace(path)
