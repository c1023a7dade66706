"""The sync feed another agency's system follows (联合惩戒、信用联动): per dataset and published day, the
public records that were added or changed — whole, as published — and the identifiers of those that
left the public data (`changes/<day>/<dataset>.sync.jsonl`); and `changes/index.json`, which lists
every retained day's files with their counts and sha256 and names the release to start from.
Starting from that release's tables and applying the days in order gives the current tables exactly.

A record is "changed" when its published row differs in any column (by the rows' md5 digests,
`tables.row_digests`), so the feed carries every difference, not only those the change files
describe field by field. A record taken down by a decision is deleted on the day the takedown goes
out, and its rows are removed from every earlier day's feed, as from the change files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi.tables import DIGEST_VERSION, connect, found_at

SUFFIX = ".sync.jsonl"
INDEX = "changes/index.json"
FORMAT = "gongshi-sync/1"
UPSERT, DELETE = "upsert", "delete"


def digests_table(table: pa.Table, digests: pa.Array) -> pa.Table:
    """What the next day's feed is computed against: each record's id and row digest (the digests'
    version in the schema's metadata, `kept_version`)."""
    kept = pa.table({"record_id": table["record_id"], "digest": digests})
    return kept.replace_schema_metadata({DIGEST_KEY: DIGEST_VERSION})


DIGEST_KEY = "gongshi.digest"


def kept_version(kept: pa.Table) -> str | None:
    """The `row_digests` version a `digests_table` was made with (None: before versions were kept)."""
    value = (kept.schema.metadata or {}).get(DIGEST_KEY.encode())
    return value.decode() if value is not None else None


@dataclass(frozen=True)
class Compared:
    """Today's rows against the previous release's `digests_table`, worked out once for the change
    table (`release.unchanged_apart`) and the feed (`sync_rows`)."""

    same: pa.BooleanArray  # per row of today's table: its digest is one the previous release kept
    left: pa.Array  # record ids of the previous release's rows whose digest is not one of today's


def compare(before: pa.Table, digests: pa.Array) -> Compared:
    """Which of today's rows (their `row_digests`) the previous release had as they are, and which
    of its records have no row of today's as it was (changed or gone). A digest covers every
    column, the record id included: the same digest is the same record, unchanged. In DuckDB,
    whose joins run on every core: both answers for 670,000 rows against 663,000 in 0.26–0.41 s,
    where the five whole-table `is_in` lookups this replaced (each a hash set built on one core)
    took 0.2–0.5 s each."""
    with connect() as db:  # its own database: what the join held goes with it
        db.register("now", pa.table({"digest": digests, "position": np.arange(len(digests), dtype=np.int64)}))
        db.register("before", before.select(["record_id", "digest"]))
        found = db.sql("SELECT position FROM now SEMI JOIN before USING (digest)").to_arrow_table()["position"]
        left = db.sql("SELECT record_id FROM before ANTI JOIN now USING (digest)").to_arrow_table()["record_id"]
    return Compared(found_at(found, len(digests)), left.combine_chunks())


def sync_rows(
    before: pa.Table | None,
    current: pa.Table,
    digests: pa.Array,
    withdrawn_today: list[str] = (),
    compared: Compared | None = None,
) -> pa.Table:
    """The feed of one day: `op` (delete or upsert) and every published column (empty for a
    delete); deletes first, then upserts, each in record_id order. `before` is the previous published
    day's `digests_table`; None for the first release, whose feed is empty: a consumer starts from
    its tables (it is the base of every later index until it is no longer retained). `compared`:
    `compare(before, digests)`, when it was made already."""
    if before is None:
        empty = current.schema.empty_table()
        return empty.add_column(0, "op", pa.array([], pa.string()))
    compared = compared if compared is not None else compare(before, digests)
    # a record whose row is not one of today's is gone unless today has it (changed): only those
    # few ids are looked for among today's
    ids = current["record_id"]
    still_here = ids.filter(pc.is_in(ids, value_set=compared.left)) if len(compared.left) else ids.slice(0, 0)
    gone = set(compared.left.to_pylist()) - set(still_here.to_pylist())
    deleted = sorted(gone | set(withdrawn_today))
    # a row the previous release did not have is new or changed: an upsert
    changed = current.filter(pc.invert(compared.same)).sort_by([("record_id", "ascending")])
    deletes = pa.table(
        {
            name: pa.array(deleted, pa.string()) if name == "record_id" else pa.nulls(len(deleted), field.type)
            for name, field in zip(current.column_names, current.schema, strict=True)
        }
    )
    both = pa.concat_tables([deletes.cast(current.schema), changed])
    ops = [DELETE] * len(deleted) + [UPSERT] * changed.num_rows
    return both.add_column(0, "op", pa.array(ops, pa.string()))


def scrub(table: pa.Table, withdrawn_ids: dict[str, str]) -> pa.Table:
    """A past day's feed without the rows of records taken down since (their deletes stay)."""
    if not withdrawn_ids or not table.num_rows:
        return table
    gone = pc.is_in(table["record_id"], value_set=pa.array(sorted(withdrawn_ids), pa.string()))
    return table.filter(pc.or_(pc.invert(gone), pc.equal(table["op"], DELETE)))


def apply(tables: dict[str, dict[str, dict]], dataset: str, rows: list[dict]) -> None:
    """What a consumer does with one day's feed of one dataset (the README's client does the same):
    `tables[dataset]` maps record_id -> record."""
    current = tables.setdefault(dataset, {})
    for row in rows:
        if row["op"] == DELETE:
            current.pop(row["record_id"], None)
        else:
            current[row["record_id"]] = {k: v for k, v in row.items() if k != "op"}
