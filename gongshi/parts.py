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
    day: str  # the day its records were first published
    fingerprint: str
    table: pa.Table = field(repr=False)  # the whole table the part is of
    indices: pa.Array = field(repr=False)  # its rows in `table`, in record_id order

    @functools.cached_property
    def rows(self) -> pa.Table:
        """Its records, ordered by record_id: gathered when asked for (a part whose fingerprint did not
        change is never written, and a day moves its few changed parts' rows, not the register's)."""
        return self.table.take(self.indices)

    def stem(self, dataset: str) -> str:
        """Its path without the format's suffix."""
        return f"datasets/{dataset}/parts/{dataset}-{self.day}"


def is_parted(table: pa.Table, parts_above: int) -> bool:
    return table.num_rows > parts_above and KEY in table.column_names


def split(table: pa.Table, digests: pa.Array, salt: str = "") -> list[Part]:
    """`table` divided by its records' first-published day, oldest first, each part's rows in
    record_id order; `digests` are the rows' `tables.row_digests`, `salt` what else the files
    depend on (the published fields)."""
    if not table.num_rows:
        return []
    keys = pc.cast(table[KEY], pa.string()).combine_chunks()
    order = pc.sort_indices(
        pa.table({"k": keys, "r": table["record_id"]}), sort_keys=[("k", "ascending"), ("r", "ascending")]
    )
    days = keys.take(order)
    changed = pc.not_equal(days.slice(1), days.slice(0, len(days) - 1)).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, changed])
    ends = np.r_[starts[1:], len(days)]
    words = _digest_words(digests.take(order))
    xors = np.bitwise_xor.reduceat(words, starts, axis=0)
    parts = []
    for start, end, xor in zip(starts, ends, xors, strict=True):
        text = f"{VERSION}|{salt}|{end - start}|{int(xor[0]):016x}{int(xor[1]):016x}"
        parts.append(
            Part(
                day=days[int(start)].as_py(),
                fingerprint=hashlib.sha256(text.encode()).hexdigest()[:32],
                table=table,
                indices=order.slice(start, end - start),
            )
        )
    return parts


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def _digest_words(digests: pa.Array) -> np.ndarray:
    """md5 hex digests as two 64-bit words each (n × 2), in whole arrays."""
    if isinstance(digests, pa.ChunkedArray):
        digests = digests.combine_chunks()
    text = np.asarray(digests.to_numpy(zero_copy_only=False), dtype="S32")
    nibbles = _HEX[text.view(np.uint8).reshape(-1, 32)]
    if (nibbles == 255).any():
        raise ValueError("row digests must be 32 lower-case hex characters")
    # two nibbles a byte, sixteen bytes two big-endian words: byte arithmetic, not 64-bit per nibble
    octets = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return octets.view(">u8").astype(np.uint64).reshape(-1, 2)
