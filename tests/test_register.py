"""The register: listings, corrections, removals and expiry, from which delivery; idempotent days."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongshi.ingest import read_delivery
from gongshi.paths import DEMO_INBOX
from gongshi.register import ACTIVE, EXPIRED, REMOVED, UNMATCHED_REMOVAL, Register, _hash_sql, record_id
from gongshi.validation import validate

from .conftest import DAY1, DAY2, deliver

BLACKLIST_HEADER = (
    "名单类型,市场主体名称,统一社会信用代码,列入原因,列入日期,作出决定机关,决定书文号,移出原因,移出日期,移出决定机关\n"
)


def _apply(register, catalog, name, day, inbox=DEMO_INBOX):
    return register.apply(validate(read_delivery(inbox, catalog[name], day), catalog[name]))


def _two_days(path, catalog) -> pa.Table:
    """A blacklist register at `path` with the demo's two days applied; its records."""
    with Register(path, catalog["blacklist_entries"]) as register:
        _apply(register, catalog, "blacklist_entries", DAY1)
        _apply(register, catalog, "blacklist_entries", DAY2)
        return register.records()


def _deliver_the_late_listing(inbox) -> None:
    """On 2026-11-29, the listing (decided 2026-06-01) that a removal delivered the day before closes."""
    deliver(
        inbox,
        "blacklist_entries",
        "2026-11-29",
        "局_补报列入.csv",
        BLACKLIST_HEADER + "经营异常名录,无名公司,91350100M000100Y43,未报年报,2026-06-01,某局,某局异列〔2026〕1号,,,\n",
    )


def deliver_a_year_later(inbox) -> str:
    """On 2027-12-01, one inspection: a year after the demo's, whose publicity periods then end."""
    deliver(
        inbox,
        "inspection_results",
        "2027-12-01",
        "局_x.csv",
        "任务编号,任务名称,检查实施机关,检查类型,检查日期,市场主体名称,统一社会信用代码,检查事项,检查结果\n"
        "JS0001,抽查,局,双随机抽查,2027-12-01,公司,91350100M000100Y43,登记事项检查,未发现问题\n",
    )
    return "2027-12-01"


@pytest.fixture
def blacklist(tmp_path, catalog):
    with Register(tmp_path / "blacklist.duckdb", catalog["blacklist_entries"]) as register:
        yield register


def test_removal_on_day_two_changes_status_not_duplicates(blacklist, catalog):
    first = _apply(blacklist, catalog, "blacklist_entries", DAY1)
    assert (first.new_records, first.by_status) == (16, {ACTIVE: 16})
    second = _apply(blacklist, catalog, "blacklist_entries", DAY2)
    assert (second.events, second.new_records, second.removed, second.unmatched_removals) == (2, 1, 1, 0)
    assert second.by_status == {ACTIVE: 16, REMOVED: 1}
    records = {r["entity_name"]: r for r in blacklist.records().to_pylist()}
    assert len(records) == 17
    removed = records["南京恒泰电子科技有限公司"]
    assert removed["status"] == REMOVED
    assert removed["listed_on"] == dt.date(2026, 11, 9) and removed["removed_on"] == dt.date(2026, 11, 27)
    assert removed["removal_reason"] == "依法补报了未报年份的年度报告并公示"
    assert removed["decision_number"] == "南京市监异列〔2026〕780号"  # kept from the listing
    assert (removed["first_delivery"], removed["removal_delivery"]) == (dt.date(2026, 11, 26), dt.date(2026, 11, 27))
    assert removed["first_source_file"].endswith(".xlsx") and removed["last_source_file"].endswith(".csv")
    assert removed["expires_on"] == dt.date(2029, 11, 9)  # three years from the decision
    history = blacklist.events(removed["record_id"]).to_pylist()
    assert [e["action"] for e in history] == ["upsert", "removal"]


def test_reapplying_a_day_changes_nothing(blacklist, catalog):
    _apply(blacklist, catalog, "blacklist_entries", DAY1)
    _apply(blacklist, catalog, "blacklist_entries", DAY2)
    before = blacklist.records()
    again = _apply(blacklist, catalog, "blacklist_entries", DAY2)
    assert (again.new_records, again.removed, again.corrected) == (0, 0, 0)
    assert blacklist.records().equals(before)
    assert blacklist.applied_days() == {DAY1: 16, DAY2: 2}


def test_days_out_of_order_give_the_same_state(tmp_path, catalog):
    dataset = catalog["blacklist_entries"]
    with Register(tmp_path / "a.duckdb", dataset) as in_order, Register(tmp_path / "b.duckdb", dataset) as late:
        for day in (DAY1, DAY2):
            _apply(in_order, catalog, "blacklist_entries", day)
        for day in (DAY2, DAY1, DAY2):
            _apply(late, catalog, "blacklist_entries", day)
        assert late.records().equals(in_order.records())


def test_removal_without_listing_is_kept_and_flagged(blacklist, catalog, inbox):
    deliver(
        inbox,
        "blacklist_entries",
        "2026-11-28",
        "局_移出.csv",
        BLACKLIST_HEADER + "经营异常名录,无名公司,91350100M000100Y43,,,,,补报年报,2026-11-28,某局\n",
    )
    update = _apply(blacklist, catalog, "blacklist_entries", "2026-11-28", inbox)
    assert (update.new_records, update.unmatched_removals) == (1, 1)
    (record,) = blacklist.records().to_pylist()
    assert record["status"] == REMOVED and record["flags"] == [UNMATCHED_REMOVAL]
    assert record["listed_on"] is None and record["removal_authority"] == "某局"
    assert record["record_id"].startswith("b") and len(record["record_id"]) == 17
    # the listing arrives later (on another day's delivery): the removal closes it, nothing is orphaned
    _deliver_the_late_listing(inbox)
    update = _apply(blacklist, catalog, "blacklist_entries", "2026-11-29", inbox)
    (record,) = blacklist.records().to_pylist()
    listing = record_id(catalog["blacklist_entries"], ["经营异常名录", "91350100M000100Y43", "2026-06-01"])
    assert (record["record_id"], record["status"], record["flags"]) == (listing, REMOVED, [])
    assert (record["listed_on"], record["removed_on"]) == (dt.date(2026, 6, 1), dt.date(2026, 11, 28))
    assert [e["action"] for e in blacklist.events(listing).to_pylist()] == ["removal", "upsert"]


def test_correction_is_counted_with_its_date(tmp_path, catalog, inbox):
    with Register(tmp_path / "i.duckdb", catalog["inspection_results"]) as register:
        _apply(register, catalog, "inspection_results", DAY1, inbox)
        source = inbox / "inspection_results" / DAY1 / "江苏省市场监管局_抽查结果_20261126.csv"
        text = source.read_bytes().decode("gb18030")
        lines = text.splitlines()
        # the corrected row, and another delivered again as it was (touched, not corrected)
        corrected = lines[0] + "\n" + lines[1].replace("拒绝配合", "已配合整改") + "\n" + lines[2] + "\n"
        deliver(inbox, "inspection_results", "2026-11-28", "江苏省市场监管局_更正.csv", corrected.encode("gb18030"))
        update = _apply(register, catalog, "inspection_results", "2026-11-28", inbox)
        assert (update.events, update.new_records, update.corrected) == (2, 0, 1)
        record = next(r for r in register.records().to_pylist() if r["task_id"] == "JS202611260000")
        assert record["corrections"] == 1 and record["corrected_on"] == dt.date(2026, 11, 28)
        assert "已配合整改" in record["handling"]
        assert record["first_delivery"] == dt.date(2026, 11, 26)
        assert record["first_source_file"] == source.name and record["first_source_row"] == 2
        assert record["last_delivery"] == dt.date(2026, 11, 28)
        assert (record["last_source_file"], record["last_source_row"]) == ("江苏省市场监管局_更正.csv", 2)


def test_expiry_after_the_publicity_period(tmp_path, catalog, inbox):
    deliver_a_year_later(inbox)
    with Register(tmp_path / "i.duckdb", catalog["inspection_results"]) as register:
        _apply(register, catalog, "inspection_results", DAY1, inbox)
        update = _apply(register, catalog, "inspection_results", "2027-12-01", inbox)
        assert update.expired == 21  # a year after 2026-11-25/26
        statuses = {r["task_id"]: (r["status"], r["expired_on"]) for r in register.records().to_pylist()}
        assert statuses["JS202611260000"] == (EXPIRED, dt.date(2027, 11, 26))
        assert statuses["JS0001"] == (ACTIVE, None)


def test_sql_record_id_equals_python(catalog):
    blacklist = catalog["blacklist_entries"]
    sql = _hash_sql(blacklist, ["'经营异常名录'", "'91350100M000100Y43'", "DATE '2026-11-09'"])
    (from_sql,) = duckdb.execute(f"SELECT {sql}").fetchone()
    assert from_sql == record_id(blacklist, ["经营异常名录", "91350100M000100Y43", "2026-11-09"])


@pytest.fixture(scope="module")
def generated_inbox(tmp_path_factory):
    from gongshi.sampledata import write_sample_inbox

    root = tmp_path_factory.mktemp("generated")
    write_sample_inbox(root, records=1500, days=4, seed=21, start=dt.date(2026, 11, 2))
    return root


@pytest.fixture(scope="module")
def validated_days(generated_inbox, catalog):
    days = sorted(p.name for p in (generated_inbox / "blacklist_entries").iterdir())
    return {
        (name, day): validate(read_delivery(generated_inbox, catalog[name], day), catalog[name])
        for name in ("blacklist_entries", "inspection_results")
        for day in days
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_of_the_days_gives_the_same_register(tmp_path_factory, catalog, validated_days, data):
    """Days processed in any order (some twice) give the same records, byte for byte, as in order."""
    folder = tmp_path_factory.mktemp("orders")
    for name in ("blacklist_entries", "inspection_results"):
        days = sorted(day for (n, day) in validated_days if n == name)
        order = data.draw(st.permutations(days), label=name)
        order += data.draw(st.lists(st.sampled_from(days), max_size=2), label=f"{name} again")
        with (
            Register(folder / f"{name}-in-order.duckdb", catalog[name]) as in_order,
            Register(folder / f"{name}-shuffled.duckdb", catalog[name]) as shuffled,
        ):
            for day in days:
                in_order.apply(validated_days[(name, day)])
            for day in order:
                shuffled.apply(validated_days[(name, day)])
            assert shuffled.records().equals(in_order.records())
            [(ids, distinct)] = shuffled.db.execute(
                "SELECT count(*), count(DISTINCT record_id) FROM records"
            ).fetchall()
            assert ids == distinct  # each record once: no index holds the register to it, the fold does
            for day in days:
                assert shuffled.records_as_of(day).equals(in_order.records_as_of(day))


def _folds(register: Register, as_of: str) -> tuple[pa.Table, ...]:
    """The register's records as of `as_of` folded both ways: a record of one event taken as that
    event (the fold's shortcut), and every record through the general fold."""
    day = dt.date.fromisoformat(as_of)
    return tuple(
        register.db.sql(
            f"SELECT * FROM ({register._fold_sql('delivery_date <= ?::DATE', single=single)}) ORDER BY record_id",
            params=[day, day, day],
        ).to_arrow_table()
        for single in (True, False)
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_record_of_one_event_folds_as_in_the_general_fold(tmp_path_factory, catalog, validated_days, data):
    """The fold's shortcut for records of a single event (most of a day) gives what the general fold
    gives, column for column, type for type: listings, corrections, removals, as of any day."""
    folder = tmp_path_factory.mktemp("single")
    for name in ("blacklist_entries", "inspection_results"):
        days = sorted(day for (n, day) in validated_days if n == name)
        chosen = data.draw(st.lists(st.sampled_from(days), min_size=1, max_size=4, unique=True), label=name)
        with Register(folder / f"{name}-{'-'.join(chosen)}.duckdb", catalog[name]) as register:
            for day in chosen:
                register.apply(validated_days[(name, day)])
            for as_of in days:
                shortcut, general = _folds(register, as_of)
                assert shortcut.schema == general.schema
                assert shortcut.equals(general), (name, chosen, as_of)
            counts = register.db.execute("SELECT count(*) FROM events GROUP BY record_id").fetchall()
            assert any(c == 1 for (c,) in counts)  # the shortcut was taken


def test_one_event_shortcut_with_removals_alone_and_together(blacklist, catalog, inbox):
    """A removal whose listing never came (one event, flagged), then its listing (two events), and a
    row carrying a listing and its removal (two events of one row): the shortcut and the general
    fold agree at each step."""
    deliver(
        inbox,
        "blacklist_entries",
        "2026-11-28",
        "局_移出.csv",
        BLACKLIST_HEADER
        + "经营异常名录,无名公司,91350100M000100Y43,,,,,补报年报,2026-11-28,某局\n"
        + "严重违法失信名单,某某公司,91350100M00020001J,虚假登记,2026-01-05,某局,某局列〔2026〕2号,"
        + "信用修复,2026-11-20,某局\n"
        + "经营异常名录,另一公司,91350100M00030007W,未报年报,2026-03-01,某局,某局异列〔2026〕3号,,,\n",
    )
    _apply(blacklist, catalog, "blacklist_entries", "2026-11-28", inbox)
    shortcut, general = _folds(blacklist, "2026-11-28")
    assert shortcut.equals(general)
    statuses = dict(zip(shortcut["entity_name"].to_pylist(), shortcut["status"].to_pylist(), strict=True))
    assert statuses == {"无名公司": REMOVED, "某某公司": REMOVED, "另一公司": ACTIVE}
    _deliver_the_late_listing(inbox)
    _apply(blacklist, catalog, "blacklist_entries", "2026-11-29", inbox)
    for as_of in ("2026-11-28", "2026-11-29", "2029-06-02"):
        shortcut, general = _folds(blacklist, as_of)
        assert shortcut.equals(general), as_of
    assert blacklist.records().num_rows == 3


def test_a_register_made_with_an_index_on_its_records_is_moved_to_the_table_without(tmp_path, catalog):
    """Registers made before 2026-12-01 had a primary key on the records' ids (and no digest of
    their fields, which came a day later): opened for writing, their records move once into the table
    as it is now, every row and column kept, each record's digest made."""
    dataset = catalog["blacklist_entries"]
    path = tmp_path / "old.duckdb"
    expected = _two_days(path, catalog)
    with Register(path, dataset) as register:
        # the table as it was made before: the same columns, the id a primary key
        columns = register.db.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'records' AND column_name <> 'fields_digest' ORDER BY ordinal_position"
        ).fetchall()
        ddl = ", ".join(
            f'"{name}" {kind}' + (" PRIMARY KEY" if name == "record_id" else "" if nullable == "YES" else " NOT NULL")
            for name, kind, nullable in columns
        )
        register.db.execute(f"CREATE TABLE indexed ({ddl})")
        register.db.execute("INSERT INTO indexed SELECT * EXCLUDE (fields_digest) FROM records")
        register.db.execute("DROP TABLE records")
        register.db.execute("ALTER TABLE indexed RENAME TO records")
    constraints = (
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'records' AND constraint_type = 'PRIMARY KEY'"
    )
    with duckdb.connect(str(path)) as db:
        assert db.execute(constraints).fetchall() == [(1,)]
    with Register(path, dataset, read_only=True) as register:  # a reader changes nothing
        assert register.records().equals(expected.drop_columns(["fields_digest"]))
    with duckdb.connect(str(path)) as db:
        assert db.execute(constraints).fetchall() == [(1,)]
    with Register(path, dataset) as register:
        assert register.db.execute(constraints).fetchall() == [(0,)]
        assert register.records().equals(expected)
        again = _apply(register, catalog, "blacklist_entries", DAY2)  # and it folds as before
        assert again.new_records == 0 and register.records().equals(expected)


def test_each_record_keeps_the_digest_of_its_fields(tmp_path, catalog):
    """`fields_digest` is `tables.row_digests` of a record's fields in schema order — what the
    redaction would make of them — made by the fold (new, corrected and removed records, and records
    as they stood on an earlier day) and, once, for every record of a register made before it was."""
    from gongshi.tables import row_digests

    dataset = catalog["blacklist_entries"]
    path = tmp_path / "blacklist.duckdb"
    records = _two_days(path, catalog)
    with Register(path, dataset, read_only=True) as register:
        earlier = register.records_as_of(DAY1)
    assert not records.equals(earlier)  # a removal on day two changed a record's fields
    for table in (records, earlier):
        digests = table["fields_digest"].combine_chunks()
        assert digests.null_count == 0 and len(set(digests.to_pylist())) == table.num_rows
        assert digests.equals(row_digests(table.select(dataset.field_names)))
    with duckdb.connect(str(path)) as db:  # as a register made before 2026-12-02 is
        db.execute("ALTER TABLE records DROP COLUMN fields_digest")
    with Register(path, dataset) as register:
        assert register.records().equals(records)


def _replaced(register: Register) -> int:
    return register.db.execute("SELECT rows_replaced FROM upkeep").fetchall()[0][0]


def _stored(register: Register, table: str) -> tuple[int, int]:
    """(rows the file holds for `table`, deleted ones included; rows the table has)."""
    stored = register.db.execute(
        f"SELECT sum(count) FROM pragma_storage_info('{table}') WHERE column_id = 0 AND segment_type = 'VARCHAR'"
    ).fetchall()[0][0]
    return int(stored), register.db.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def test_the_register_is_compacted_only_once_enough_of_its_rows_were_replaced(tmp_path, catalog, monkeypatch):
    """A day's close does not compact the register (DuckDB's vacuum cost a million-record register
    about a second whatever the day's size): the rows a day deletes (records folded again, events
    delivered again) stay in the file and are counted, and the register's tables are made again at
    the close after they reach COMPACT_AFTER of its rows — then the count starts again."""
    import gongshi.register as register_module

    dataset = catalog["blacklist_entries"]
    path = tmp_path / "blacklist.duckdb"
    compactions = []
    compact = Register._compact
    monkeypatch.setattr(Register, "_compact", lambda self: (compactions.append(self.path), compact(self)))
    with Register(path, dataset) as register:
        _apply(register, catalog, "blacklist_entries", DAY1)
        assert _replaced(register) == 0  # a first day adds, it replaces nothing
        _apply(register, catalog, "blacklist_entries", DAY2)
        assert _replaced(register) == 1  # the listing a removal closed
        _apply(register, catalog, "blacklist_entries", DAY2)  # again: its 2 events and 2 records replaced
        assert _replaced(register) == 5
        assert not register.compact_due()
        expected, events = register.records(), register.events()
    assert compactions == []
    with Register(path, dataset, read_only=True) as register:  # the deleted rows are still in the file
        assert _stored(register, "records") == (17 + 3, 17)
        assert _stored(register, "events") == (18 + 2, 18)
    monkeypatch.setattr(register_module, "COMPACT_AFTER", 0.1)  # 5 rows replaced of 17 records and 18 events
    with Register(path, dataset, read_only=True) as register:  # a reader never compacts
        assert register.compact_due()
    assert compactions == []
    with Register(path, dataset) as register:
        assert register.compact_due()
    assert compactions == [path]
    with Register(path, dataset, read_only=True) as register:
        assert _replaced(register) == 0 and not register.compact_due()
        assert _stored(register, "records") == (17, 17) and _stored(register, "events") == (18, 18)
        assert register.records().equals(expected) and register.events().equals(events)
    with Register(path, dataset) as register:  # and it folds as before
        _apply(register, catalog, "blacklist_entries", DAY2)
        assert register.records().equals(expected) and _replaced(register) == 4
    assert compactions == [path, path]  # 4 of 35 rows: due again
    with pytest.raises(RuntimeError), Register(path, dataset) as register:  # a failed use does not compact
        register.db.execute("UPDATE upkeep SET rows_replaced = 100")
        raise RuntimeError("a failure while the register is open")
    assert compactions == [path, path]


def test_a_compaction_that_fails_leaves_the_register_as_it_was(tmp_path, catalog, monkeypatch, caplog):
    """Compacting can wait: a failure is said in the log, the register is as it was (the records
    table made again first is not left half done) and the count stays, for the next close to try."""
    import gongshi.register as register_module

    dataset = catalog["blacklist_entries"]
    path = tmp_path / "blacklist.duckdb"
    expected = _two_days(path, catalog)
    monkeypatch.setattr(register_module, "COMPACT_AFTER", 0.01)
    events_sql = Register._events_sql  # the compacted events table cannot be made (as a full disk would fail)
    monkeypatch.setattr(
        Register,
        "_events_sql",
        lambda self, name: (
            f"CREATE TABLE {name} (a no_such_type)" if name.endswith("_remade") else events_sql(self, name)
        ),
    )
    with Register(path, dataset) as register:
        assert register.compact_due()
    assert "未能压缩" in caplog.text
    monkeypatch.undo()
    with Register(path, dataset, read_only=True) as register:
        assert register.records().equals(expected) and _replaced(register) == 1


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_record_no_fold_since_listed_is_as_it_was(tmp_path_factory, catalog, validated_days, data, monkeypatch):
    """`touched_since(mark)` lists every record the folds after `mark` made, changed or deleted: the
    records it does not list are, byte for byte, the records of the register at `mark` — whatever
    order the days come in, some again (a day delivered again with other rows deletes records)."""
    import gongshi.register as register_module

    monkeypatch.setattr(register_module, "LOG_SHARE", 1.0)  # the generated days are each much of the register
    name = data.draw(st.sampled_from(["blacklist_entries", "inspection_results"]), label="dataset")
    days = sorted(day for (n, day) in validated_days if n == name)
    order = data.draw(st.lists(st.sampled_from(days), min_size=2, max_size=6), label="days")
    smaller = validated_days[(name, days[0])]
    shrunk = dataclasses.replace(smaller, accepted=smaller.accepted.slice(0, smaller.accepted.num_rows // 2))
    with Register(tmp_path_factory.mktemp("folds") / "r.duckdb", catalog[name]) as register:
        marks: list[tuple[tuple[int, str], pa.Table]] = []
        for day in order:
            register.apply(validated_days[(name, day)] if data.draw(st.booleans(), label="whole") else shrunk)
            now = register.records()
            for mark, then in marks:
                touched = register.touched_since(mark)
                assert touched is not None
                assert touched.to_pylist() == sorted(set(touched.to_pylist()))
                untouched_then = then.filter(pc.invert(pc.is_in(then["record_id"], value_set=touched)))
                untouched_now = now.filter(pc.invert(pc.is_in(now["record_id"], value_set=touched)))
                assert untouched_now.equals(untouched_then)
            marks.append((register.fold_mark(), now))


def test_the_fold_log_says_when_it_cannot_tell(tmp_path, catalog, inbox, monkeypatch):
    """No list for a fold that touched much of the register, for folds past LOG_FOLDS, nor for a
    mark that is not this register's; a period's end is listed like a fold."""
    import gongshi.register as register_module

    dataset = catalog["inspection_results"]
    deliver_a_year_later(inbox)
    with Register(tmp_path / "i.duckdb", dataset) as register:
        assert register.fold_mark() is None
        _apply(register, catalog, "inspection_results", DAY1, inbox)
        first = register.fold_mark()
        assert first[0] == 1 and len(first[1]) == 16
        _apply(register, catalog, "inspection_results", DAY2, inbox)
        assert register.touched_since(first) is None  # day 2 is more than LOG_SHARE of the register
        monkeypatch.setattr(register_module, "LOG_SHARE", 1.0)
        _apply(register, catalog, "inspection_results", DAY2, inbox)
        again = register.fold_mark()
        assert register.touched_since(again).to_pylist() == []
        assert register.touched_since((again[0], "0" * 16)) is None  # a mark of another register
        assert register.touched_since((again[0] + 1, again[1])) is None
        update = _apply(register, catalog, "inspection_results", "2027-12-01", inbox)
        touched = set(register.touched_since(again).to_pylist())
        expired = {r["record_id"] for r in register.records().to_pylist() if r["status"] == EXPIRED}
        assert update.expired == len(expired) > 21 and expired <= touched  # both days a year before
        monkeypatch.setattr(register_module, "LOG_FOLDS", 2)
        for _ in range(2):
            _apply(register, catalog, "inspection_results", "2027-12-01", inbox)
        assert register.touched_since(again) is None  # older than the last two folds
        latest = register.fold_mark()
        assert register.touched_since(latest).to_pylist() == []
        assert register.db.execute("SELECT min(fold) FROM touched").fetchall()[0][0] in (None, latest[0] - 1, latest[0])
