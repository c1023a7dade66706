"""Small helpers over Arrow columns that several stages share."""

from __future__ import annotations

import concurrent.futures
import os
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import parallel

DUCKDB_MEMORY = "1GB"  # beyond it DuckDB spills to disk: the pipeline's memory stays bounded
# The site's queries (search index, check index) run in one of two processes that render pages at
# once, beside the leak gate's early work: a first day's search index (50,000 names) took DuckDB 600
# MiB with the limit above and 360 with this one, in the same time (2.5–3.0 s); 256 MB cost 4 s.
BESIDE_MEMORY = "512MB"


def connect(
    path: Path | None = None, read_only: bool = False, memory: str = DUCKDB_MEMORY
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (a database file, or in memory) whose memory is bounded (`memory`)."""
    db = duckdb.connect(str(path) if path is not None else ":memory:", read_only=read_only)
    db.execute(f"SET memory_limit = '{memory}'")
    if path is None:
        db.execute(f"SET temp_directory = '{tempfile.gettempdir()}/gongshi-duckdb'")
    db.execute("SET enable_progress_bar = false")
    return db


_SHARED: list = []  # [(pid, database)]: this process's in-memory database for `query`
_INHERITED: list = []  # a forked child's copy of its parent's: never used, never closed (its threads are not here)


def query() -> duckdb.DuckDBPyConnection:
    """A connection to this process's in-memory DuckDB database, for a small query over Arrow tables
    it is given (`register`): a new database costs 27 ms, a connection to an open one microseconds,
    and a day makes dozens of small queries (the redaction's known-value test, the 公开时效
    summaries). A query over a whole table opens its own (`connect`): what the shared one held after
    it stayed in the process (a first day's release peaked 120–160 MiB higher). What a connection
    registers or creates as TEMP is its own and goes with it; settings (`SET threads`) and tables
    are the database's — a caller that needs them opens its own (`connect`)."""
    if not _SHARED or _SHARED[0][0] != os.getpid():
        _INHERITED.extend(_SHARED)
        shared = connect()
        shared.execute("SET allocator_flush_threshold = '64MB'")  # what a query freed goes back to the system
        _SHARED[:] = [(os.getpid(), shared)]
    return _SHARED[0][1].cursor()


def found_at(positions: pa.ChunkedArray | pa.Array, length: int) -> pa.BooleanArray:
    """A mask of `length` rows, true at `positions`: what a DuckDB join found among rows it was
    given with their positions. A join on more than one thread does not keep its input's order
    (beyond the first row group), so rows carry their positions and the answer is scattered back."""
    mask = np.zeros(length, dtype=bool)
    mask[np.asarray(positions, dtype=np.int64)] = True
    return pa.array(mask)


# The version of `row_digests`: digests kept by another version (`sync.digests_table`) are computed
# again from the table they were kept for, never compared with today's.
DIGEST_VERSION = "2"


GATHER_IN_TWO_ABOVE = 100_000  # rows: a larger table's columns are gathered in two threads


def gather(table: pa.Table, indices: np.ndarray) -> pa.Table:
    """`table.take(indices)`, one chunk per column. A large table's columns are gathered in two
    halves (by bytes) at once: Arrow gathers without the GIL, and the new memory a gather fills is
    most of its cost (a normal day's inspections, 670,000 rows of 312 MiB: 0.33–0.68 s in one
    thread with fresh memory, 0.12–0.15 in two)."""
    positions = pa.array(indices, pa.int64())
    if table.num_rows < GATHER_IN_TWO_ABOVE or table.num_columns < 2 or parallel.cores() < 2:
        return table.take(positions).combine_chunks()
    sizes = np.cumsum([column.nbytes for column in table.columns])
    cut = min(max(1, int(np.searchsorted(sizes, sizes[-1] / 2)) + 1), table.num_columns - 1)
    halves = [table.column_names[:cut], table.column_names[cut:]]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        gathered = list(pool.map(lambda names: table.select(names).take(positions).combine_chunks(), halves))
    return pa.Table.from_arrays([c for half in gathered for c in half.columns], schema=table.schema)


def row_digests(table: pa.Table) -> pa.Array:
    """md5 (32 hex characters) of each row — its cells as text in column order (a nested value as
    JSON, NULL as a record separator, which no text holds) joined by unit separators: what the site,
    the download parts, the change table, the sync feed and the redaction compare to know that a row
    did not change. Cells reach the tables without control characters (`validation` removes them or
    holds the row back), so two rows with the same text are the same row. Half the cost of the JSON
    of each row it replaced (version 1): a million rows are digested more than once a day."""
    if not table.num_rows:
        return pa.array([], pa.string())
    nested = {field.name for field in table.schema if pa.types.is_nested(field.type)}
    with connect() as db:  # its own database: what a million rows' digests held goes with it
        db.register("records", table)
        digests = f"SELECT {digest_sql(table.column_names, nested)} AS d FROM records"
        return db.sql(digests).to_arrow_table()["d"].combine_chunks()


def digest_sql(columns: Sequence[str], nested: Collection[str] = ()) -> str:
    """The DuckDB expression of `row_digests` over `columns` (those in `nested` hold lists or
    structs): where rows are in a database already, their digests are made there (the register keeps
    each record's, made when the record is folded)."""
    cells = []
    for column in columns:
        name = '"' + column.replace('"', '""') + '"'
        text = f"to_json({name})::VARCHAR" if column in nested else f"{name}::VARCHAR"
        cells.append(f"coalesce({text}, chr(30))")
    return f"md5(concat_ws(chr(31), {', '.join(cells)}))"


def value_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """How often each value occurs in `column`."""
    if not len(column):
        return {}
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return {c["values"].as_py(): c["counts"].as_py() for c in pc.value_counts(column)}
