"""Small helpers over Arrow columns that several stages share."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

DUCKDB_MEMORY = "1GB"  # beyond it DuckDB spills to disk: the pipeline's memory stays bounded


def connect(path: Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (a database file, or in memory) whose memory is bounded."""
    db = duckdb.connect(str(path) if path is not None else ":memory:", read_only=read_only)
    db.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
    if path is None:
        db.execute(f"SET temp_directory = '{tempfile.gettempdir()}/gongshi-duckdb'")
    db.execute("SET enable_progress_bar = false")
    return db


def row_digests(table: pa.Table) -> pa.Array:
    """md5 (32 hex characters) of each row's JSON (every column, in order): what the site and the
    download parts compare to know that a row did not change."""
    if not table.num_rows:
        return pa.array([], pa.string())
    with connect() as db:
        db.register("records", table)
        return db.sql("SELECT md5(to_json(r)) AS d FROM records r").to_arrow_table()["d"].combine_chunks()


def value_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """How often each value occurs in `column`."""
    if not len(column):
        return {}
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return {c["values"].as_py(): c["counts"].as_py() for c in pc.value_counts(column)}
