"""A large dataset's downloads in parts: one file per format for the records first published on one
day (`datasets/<id>/parts/<id>-<YYYY-MM-DD>.<ext>`), so that a day that adds records writes one new
part, and a part is written again only when one of its records changes (a correction, a removal, the
end of its publicity period). Unchanged parts are hard links to the previous release: a year of
retained releases costs the changes, not a copy of the register per day.

A dataset is published in parts when it has more public records than `Settings.parts_above`; below
that, one file per format is handier and cheap to rewrite. Concatenating a dataset's parts of one
format (CSV: without the repeated header) gives the whole table; the README shows how.

What decides that a part did not change is its fingerprint: the xor of its rows' md5 digests
(`tables.row_digests`), its row count and the writers' version — computed in whole columns, so it
costs a pass over the digests, not a write of the part.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KEY = "first_published"
# Public records above which a dataset comes in parts. A whole table is rewritten, re-checked and
# re-scanned every day (its spreadsheet and the SQLite database cost a few microseconds a cell in
# Python): at 20,000 records that is a few seconds of a day; the two smaller datasets of a
# million-record register (48,000 and 38,000 records) cost 40 CPU-seconds a day whole.
ABOVE = 20_000
FORMATS = ("csv", "parquet", "jsonl")  # a spreadsheet and the SQLite database hold whole tables only
# Bump when what a part file holds changes for the same rows (a writer's output, column order):
# every part is then written again once.
VERSION = "1"


@dataclass(frozen=True)
class Part:
    """The records of a dataset first published on one day."""

    day: str  # the day its records were first published
    fingerprint: str
    table: pa.Table = field(repr=False)  # the whole table the part is of
    indices: pa.Array = field(repr=False)  # its rows in `table`, in the table's order

    @functools.cached_property
    def rows(self) -> pa.Table:
        """Its records, ordered by record_id: gathered (and their record_ids sorted) when asked for —
        a part whose fingerprint did not change is never written, and a day moves its few changed
        parts' rows, not the register's."""
        within = pc.sort_indices(self.table["record_id"].take(self.indices))
        return self.table.take(self.indices.take(within))

    def stem(self, dataset: str) -> str:
        """Its path without the format's suffix."""
        return f"datasets/{dataset}/parts/{dataset}-{self.day}"


def is_parted(table: pa.Table, parts_above: int) -> bool:
    return table.num_rows > parts_above and KEY in table.column_names


def split(table: pa.Table, digests: pa.Array, salt: str = "") -> list[Part]:
    """`table` divided by its records' first-published day, oldest first (a record without one
    last); `digests` are the rows' `tables.row_digests`, `salt` what else the files depend on (the
    published fields).

    The rows are grouped by the day's number among the distinct days, in whole arrays: sorting the
    register by day and record_id as text took 3–4 s a day for 663,000 records over a year of days.
    A part's fingerprint does not depend on its rows' order; its rows are put in record_id order
    only when they are written (`Part.rows`)."""
    if not table.num_rows:
        return []
    column = table[KEY]
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = pc.dictionary_encode(column)
    labels = pc.cast(encoded.dictionary, pa.string())  # each distinct day once, as the files name it
    by_label = np.asarray(pc.sort_indices(labels))
    rank = np.empty(len(labels) + 1, dtype=np.int64)
    rank[by_label] = np.arange(len(labels))
    rank[len(labels)] = len(labels)  # no day: after every day
    codes = np.asarray(encoded.indices.fill_null(len(labels)).to_numpy(zero_copy_only=False), dtype=np.int64)
    ranks = rank[codes]
    order = np.argsort(ranks, kind="stable")
    ranked = ranks[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(ranked)]
    xors = np.bitwise_xor.reduceat(_digest_words(digests)[order], starts, axis=0)
    days = [*labels.to_pylist(), None]
    parts = []
    for start, end, xor in zip(starts, ends, xors, strict=True):
        text = f"{VERSION}|{salt}|{end - start}|{int(xor[0]):016x}{int(xor[1]):016x}"
        parts.append(
            Part(
                day=days[int(by_label[ranked[start]]) if ranked[start] < len(labels) else -1],
                fingerprint=hashlib.sha256(text.encode()).hexdigest()[:32],
                table=table,
                indices=pa.array(order[start:end]),
            )
        )
    return parts


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def _digest_words(digests: pa.Array) -> np.ndarray:
    """md5 hex digests as two 64-bit words each (n × 2), in whole arrays."""
    if isinstance(digests, pa.ChunkedArray):
        digests = digests.combine_chunks()
    nibbles = _HEX[_hex_bytes(digests).reshape(-1, 32)]
    if (nibbles == 255).any():
        raise ValueError("row digests must be 32 lower-case hex characters")
    # two nibbles a byte, sixteen bytes two big-endian words: byte arithmetic, not 64-bit per nibble
    octets = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return octets.view(">u8").astype(np.uint64).reshape(-1, 2)


def _hex_bytes(digests: pa.Array) -> np.ndarray:
    """The characters of digests that are all 32 long, as one array of bytes: the column's own
    buffer where it holds them back to back (no nulls), else each digest converted (a wrong one, of
    another length, is then cut or padded and fails the check for hex)."""
    if pa.types.is_string(digests.type) and digests.null_count == 0 and len(digests):
        first = digests.offset
        offsets = np.frombuffer(digests.buffers()[1], dtype=np.int32)[first : first + len(digests) + 1]
        if offsets[-1] - offsets[0] == 32 * len(digests) and np.all(np.diff(offsets) == 32):
            return np.frombuffer(digests.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return np.asarray(digests.to_numpy(zero_copy_only=False), dtype="S32").view(np.uint8)
