"""The sync feed's comparison of a day's rows with the previous release's digests (`sync.compare`,
`sync.sync_rows`): the same feed as comparing record ids and digests each against each, whatever
the rows, and today's rows kept in their order at a size DuckDB splits across threads."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshi import sync
from gongshi.tables import row_digests


def _feed_by_each_against_each(before: pa.Table, current: pa.Table, digests: pa.Array, withdrawn: list[str]):
    """The feed as it was first written: ids and digests each looked up in the other day's."""
    known = pc.is_in(current["record_id"], value_set=before["record_id"].combine_chunks())
    same = pc.is_in(digests, value_set=before["digest"].combine_chunks())
    upsert = pc.invert(pc.and_(known, same))
    gone = before.filter(pc.invert(pc.is_in(before["record_id"], value_set=current["record_id"].combine_chunks())))
    deleted = sorted(set(gone["record_id"].to_pylist()) | set(withdrawn))
    changed = current.filter(upsert).sort_by([("record_id", "ascending")])
    return deleted, changed


def _table(rows: dict[str, str]) -> pa.Table:
    return pa.table({"record_id": pa.array(list(rows), pa.string()), "name": pa.array(list(rows.values()))})


ids = st.text(alphabet="abcde", min_size=1, max_size=3)
days = st.dictionaries(ids, st.sampled_from(["甲", "乙", "丙"]), max_size=25)


@settings(max_examples=60, deadline=None)
@given(days, days, st.lists(ids, max_size=3))
def test_the_feed_is_what_comparing_each_against_each_gives(yesterday, today, withdrawn):
    before_table, current = _table(yesterday), _table(today)
    before = sync.digests_table(before_table, row_digests(before_table))
    digests = row_digests(current)
    feed = sync.sync_rows(before, current, digests, withdrawn)
    deleted, changed = _feed_by_each_against_each(before, current, digests, withdrawn)
    deletes = feed.filter(pc.equal(feed["op"], sync.DELETE))
    upserts = feed.filter(pc.equal(feed["op"], sync.UPSERT)).drop_columns(["op"])
    assert deletes["record_id"].to_pylist() == deleted
    assert upserts.equals(changed.cast(upserts.schema))
    # what `compare` says, record by record
    compared = sync.compare(before, digests)
    unchanged = {k for k, v in today.items() if yesterday.get(k) == v}
    assert {i for i, s in zip(today, compared.same.to_pylist(), strict=True) if s} == unchanged
    assert set(compared.left.to_pylist()) == {k for k, v in yesterday.items() if today.get(k) != v}


def test_compare_keeps_todays_rows_in_order_across_threads():
    """Half a million digests — DuckDB splits them between threads — each said to be the same or
    not at its own position, as Arrow's `is_in` says."""
    generator = np.random.default_rng(7)
    count = 500_000
    before_digests = pa.array([f"{n:032x}" for n in generator.choice(10 * count, count, replace=False)])
    before = pa.table({"record_id": pa.array([f"r{n}" for n in range(count)]), "digest": before_digests})
    today = pc.take(before_digests, pa.array(generator.permutation(count)[: count // 2]))
    fresh = pa.array([f"{n:032x}" for n in range(10 * count, 10 * count + count // 2)])
    mixed = pc.take(pa.concat_arrays([today, fresh]), pa.array(generator.permutation(count)))
    compared = sync.compare(before, mixed)
    assert compared.same.equals(pc.is_in(mixed, value_set=before_digests))
    assert len(compared.left) == count // 2
