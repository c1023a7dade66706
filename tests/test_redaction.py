"""Column policies: every class applied, nothing unclassified passes, and it is all accounted."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gongshi.catalog import FieldPolicy, Generalisation
from gongshi.redaction import (
    UnclassifiedColumn,
    check_classified,
    generalise_rows,
    pseudonym_key,
    public_fields,
    redact,
)

from .conftest import DAY2

KEY = b"test-key"


def _blacklist_rows():
    return pa.table(
        {
            "record_id": ["a", "b"],
            "list_type": ["经营异常名录", "经营异常名录"],
            "entity_name": ["苏州市姑苏区老陈面馆", "南京恒泰电子科技有限公司"],
            "credit_code": ["923205009232T5707K", "913201007079003CXE"],
            "legal_representative": ["陈桂兰", "杨国平"],
            "legal_representative_id_number": ["320107199301267012", None],
            "listing_reason": ["联系人陈桂兰电话13951234567", "杨国平称已整改"],
            "listed_on": pa.array([dt.date(2026, 11, 1), dt.date(2026, 11, 9)]),
            "listing_authority": ["局", "局"],
            "decision_number": ["文号", "文号"],
            "removal_reason": [None, None],
            "removed_on": pa.array([None, None], pa.date32()),
            "removal_authority": [None, None],
        }
    )


def test_blacklist_policies(catalog):
    table, report = redact(_blacklist_rows(), catalog["blacklist_entries"], KEY)
    rows = table.to_pylist()
    # the operator of an individual business (type 92) is a natural person; a company's representative is public
    assert [r["legal_representative"] for r in rows] == ["陈某", "杨国平"]
    # the ID number never leaves; its keyed pseudonym links the person across records
    assert "legal_representative_id_number" not in table.column_names
    digest = hmac.new(KEY, b"320107199301267012", hashlib.sha256).hexdigest()[:16]
    expected = "p" + digest.translate(str.maketrans("0123456789", "ghijklmnop"))  # letters only: no digits
    assert [r["legal_representative_id_number_pseudonym"] for r in rows] == [expected, None]
    # the operator's name, known from the record, is generalised in its text; a company's representative is not
    assert rows[0]["listing_reason"] == "联系人陈某电话[手机号已隐藏]"
    assert rows[1]["listing_reason"] == "杨国平称已整改"
    assert rows[0]["credit_code"] == "923205009232T5707K" and rows[0]["record_id"] == "a"
    assert report.columns == {
        "legal_representative": {"generalised": 1},
        "legal_representative_id_number": {"pseudonymised": 1},
        "listing_reason": {"names_generalised_in_text": 1},
    }
    assert report.free_text == {"listing_reason": {"mobile": 1}}
    assert report.totals() == {
        "generalised": 1,
        "masked_in_text:mobile": 1,
        "names_generalised_in_text": 1,
        "pseudonymised": 1,
    }


def test_dropped_columns_are_counted(catalog):
    names = catalog["inspection_results"].field_names
    table = pa.table({n: ["x", None] for n in names} | {"contact_phone": ["13951234567", "025-8345678"]})
    table = table.set_column(names.index("inspection_date"), "inspection_date", pa.array([None, None], pa.date32()))
    redacted, report = redact(table, catalog["inspection_results"], KEY)
    assert "contact_phone" not in redacted.column_names and "inspectors" not in redacted.column_names
    assert report.columns["contact_phone"] == {"dropped": 2}
    assert report.columns["inspectors"] == {"dropped": 1}


def test_public_fields_follow_the_policies(catalog):
    fields = {f.name: f for f in public_fields(catalog["blacklist_entries"])}
    assert "legal_representative_id_number" not in fields
    pseudonym = fields["legal_representative_id_number_pseudonym"]
    assert pseudonym.title == "法定代表人身份证号码（化名）" and "HMAC" in pseudonym.description
    assert "姓氏" in fields["legal_representative"].description
    inspection = [f.name for f in public_fields(catalog["inspection_results"])]
    assert "contact_phone" not in inspection and "inspectors" not in inspection


def test_mask_class_and_date_generalisation(catalog):
    dataset = catalog["inspection_results"]
    fields = dict(dataset.fields)
    fields["inspectors"] = fields["inspectors"].model_copy(update={"privacy": "mask"})
    fields["inspection_date"] = FieldPolicy(
        aliases=["检查日期"], privacy="generalise", kind="date", generalise=Generalisation(to="month")
    )
    changed = dataset.model_copy(update={"fields": fields})
    table = pa.table({"inspectors": ["杨敏、孙建国"], "inspection_date": pa.array([dt.date(2026, 11, 3)])})
    redacted, report = redact(table, changed, KEY)
    assert redacted.to_pylist() == [{"inspectors": "杨****国", "inspection_date": "2026-11"}]
    assert report.columns == {"inspectors": {"masked": 1}, "inspection_date": {"generalised": 1}}


def test_surname_generalisation_handles_compound_surnames():
    policy = FieldPolicy(
        aliases=["x"], privacy="generalise", kind="person_name", generalise=Generalisation(to="surname")
    )
    values, changed = generalise_rows(
        pa.array(["欧阳修", "王", None, "司马 光"]), policy, pa.table({"x": [1, 2, 3, 4]})
    )
    assert values.to_pylist() == ["欧阳某", "王某", None, "司马某"] and changed.sum() == 3


def test_a_policy_without_its_rule_fails_at_load():
    with pytest.raises(ValueError, match="generalise"):
        FieldPolicy(aliases=["x"], privacy="generalise")


def test_unclassified_columns_stop_publication(catalog):
    dataset = catalog["inspection_results"]
    fields = {k: v for k, v in dataset.fields.items() if k != "handling"}
    broken = dataset.model_construct(**{**dataset.__dict__, "fields": fields})
    with pytest.raises(UnclassifiedColumn, match="handling"):
        check_classified(broken, ["task_id", "handling"])


def test_pseudonym_key_from_state_or_environment(tmp_path, monkeypatch):
    from gongshi.paths import StateLayout

    monkeypatch.delenv("GONGSHI_PSEUDONYM_KEY", raising=False)
    layout = StateLayout(tmp_path)
    key = pseudonym_key(layout)
    assert len(key) == 64 and pseudonym_key(layout) == key
    assert (tmp_path / "secrets" / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("GONGSHI_PSEUDONYM_KEY", "from-the-vault")
    assert pseudonym_key(layout) == b"from-the-vault"


def _more_blacklist_rows(n: int) -> pa.Table:
    """`_blacklist_rows` grown to n rows, each different, free text with personal data in some."""
    base = _blacklist_rows().to_pylist()
    rows = []
    for i in range(n):
        row = dict(base[i % 2])
        row["record_id"] = f"r{i}"
        row["entity_name"] = f"{row['entity_name']}{i}"
        if i % 3 == 0:
            row["listing_reason"] = f"{row['legal_representative']}称第{i}次已整改，电话1395123{i:04d}"
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=_blacklist_rows().schema)


def test_redacting_again_reuses_unchanged_rows_and_gives_what_redacting_all_gives(catalog):
    from gongshi.redaction import redact_rows

    dataset = catalog["blacklist_entries"]
    every = _more_blacklist_rows(40)
    whole, report = redact(every, dataset, KEY)
    yesterday = redact_rows(every.slice(5, 20), dataset, KEY)  # 20 of today's rows, unchanged
    changed = every.to_pylist()
    changed[10]["listing_reason"] = "改正后的原因，联系人13951230000"  # one row changed since
    changed = pa.Table.from_pylist(changed, schema=every.schema)
    today = redact_rows(changed, dataset, KEY, yesterday.kept)
    assert today.reused == 19
    expected, expected_report = redact(changed, dataset, KEY)
    assert today.table.equals(expected) and today.report.to_dict() == expected_report.to_dict()
    assert redact_rows(every, dataset, KEY, today.kept).table.equals(whole)
    assert redact_rows(every, dataset, KEY, today.kept).report.to_dict() == report.to_dict()
    assert report.free_text["listing_reason"]["mobile"] == 27  # 14 written in, 13 in the base row
    # another key (or other policies, or other code) redacts every row again
    assert redact_rows(every, dataset, b"another key", today.kept).reused == 0
    # the row order is the table's, whatever was reused
    shuffled = every.take(pa.array(list(range(39, -1, -1))))
    assert redact_rows(shuffled, dataset, KEY, today.kept).table.equals(redact(shuffled, dataset, KEY)[0])


def test_digests_the_register_kept_stand_for_the_rows_own_and_missing_ones_do_not(catalog):
    """The register's digest of each record's fields (`fields_digest`) is what `redact_rows` would
    make of the same rows: given, it is used as theirs. A digest that is missing (null) would match
    another missing one, so the rows are digested here instead; so are digests that do not fit."""
    from gongshi.redaction import redact_rows
    from gongshi.tables import row_digests

    dataset = catalog["blacklist_entries"]
    every = _more_blacklist_rows(40)
    own = row_digests(every.select(dataset.field_names))
    yesterday = redact_rows(every.slice(0, 30), dataset, KEY)
    given = redact_rows(every, dataset, KEY, yesterday.kept, own)
    made = redact_rows(every, dataset, KEY, yesterday.kept)
    assert given.reused == made.reused == 30
    assert given.table.equals(made.table) and given.kept.equals(made.kept)
    # digests that are not the rows': every row whose digest matches a kept one takes its fields
    wrong = pa.array([own[0].as_py()] * 40)
    assert redact_rows(every, dataset, KEY, yesterday.kept, wrong).reused == 40
    # missing or of another length: not used
    holes = pa.array([None] * 40, pa.string())
    for unusable in (holes, own.slice(0, 39)):
        again = redact_rows(every, dataset, KEY, yesterday.kept, unusable)
        assert again.reused == 30 and again.table.equals(made.table)


def test_the_redaction_stage_keeps_rows_for_the_next_day(published_demo):
    import pyarrow.parquet as pq

    from gongshi.storage import read_arrow

    kept = read_arrow(published_demo.layout.redacted_rows("blacklist_entries"))
    public = pq.read_table(
        published_demo.public / "latest" / "datasets" / "blacklist_entries" / "blacklist_entries.parquet"
    )
    assert kept.num_rows == public.num_rows and "_source" in kept.column_names
    assert "legal_representative_id_number" not in kept.column_names  # never published, never kept


def test_a_damaged_or_missing_kept_file_means_redacting_every_row(tmp_path):
    from gongshi.stages.redact import _kept

    assert _kept(tmp_path / "missing.arrow") is None
    (tmp_path / "damaged.arrow").write_bytes(b"ARROW1 not really")
    assert _kept(tmp_path / "damaged.arrow") is None
    (tmp_path / "cut.arrow").write_bytes(b"ARROW1\0\0" + b"\xff" * 100 + b"ARROW1")
    assert _kept(tmp_path / "cut.arrow") is None


def test_the_public_view_is_in_its_own_order_whatever_order_the_register_gives(published_demo, catalog):
    """The register orders its records the way the public view does (DuckDB sorts faster than Arrow
    moves rows); records in any other order give the same view."""
    from gongshi.register import Register
    from gongshi.stages.redact import public_order, public_view

    for dataset in catalog.values():
        with Register(published_demo.layout.register_path(dataset.id), dataset) as register:
            ordered = register.records_as_of(DAY2, public_order(dataset))
            by_id = register.records_as_of(DAY2)
        assert ordered.num_rows == by_id.num_rows > 0
        assert not ordered.equals(by_id)  # two different orders to begin with
        view = public_view(ordered, dataset)
        assert view.equals(public_view(by_id, dataset))
        assert view.equals(public_view(by_id.take(pa.array(range(by_id.num_rows - 1, -1, -1))), dataset))
        keys = list(zip(*(view[c].to_pylist() for c in public_order(dataset)), strict=True))
        assert keys == sorted(keys, key=lambda key: [(v is None, v) for v in key])


def test_a_large_table_redacted_in_two_halves_at_once_is_redacted_as_in_one(catalog, monkeypatch):
    """Past `HALVES_ABOVE` rows a forked process redacts the second half: the table, what is kept for
    the next day and the report are those of redacting every row in one — a kind of value found in
    one half only (the ID number typed into row 3's text) counted zero in the other."""
    import gongshi.redaction as redaction

    dataset = catalog["blacklist_entries"]
    rows = _more_blacklist_rows(40).to_pylist()
    rows[3]["listing_reason"] = "当事人身份证320107199301267012，已整改"
    every = pa.Table.from_pylist(rows, schema=_blacklist_rows().schema)
    one = redaction.redact_rows(every, dataset, KEY)
    monkeypatch.setattr(redaction, "HALVES_ABOVE", 10)
    monkeypatch.setattr(redaction.parallel, "cores", lambda: 2)
    forks = []
    both = redaction.parallel.both
    monkeypatch.setattr(redaction.parallel, "both", lambda *a, **k: forks.append(1) or both(*a, **k))
    halves = redaction.redact_rows(every, dataset, KEY)
    assert forks == [1]
    assert halves.table.equals(one.table) and halves.kept.equals(one.kept)
    assert halves.report.to_dict() == one.report.to_dict()
    assert one.report.free_text["listing_reason"] == {"mobile": 26, "resident_id": 1}


def test_a_pseudonym_is_the_keyed_digest_of_its_value_computed_once_per_value():
    import hashlib
    import hmac

    from gongshi.redaction import pseudonymise

    key = b"test-key"
    values = pa.chunked_array([["320102197001011234", None, "320102197001011234"], ["110101198001010011", None]])
    found = pseudonymise(values, key).to_pylist()

    def expected(value: str) -> str:
        letters = str.maketrans("0123456789", "ghijklmnop")
        return "p" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16].translate(letters)

    assert found == [
        expected("320102197001011234"),
        None,
        expected("320102197001011234"),
        expected("110101198001010011"),
        None,
    ]
    assert not any(c.isdigit() for v in found if v for c in v)
    # a column with no value at all, of any type, stays a column of nulls
    for empty in (pa.nulls(2), pa.array([None, None], pa.string()), pa.array([], pa.string())):
        assert pseudonymise(empty, key).to_pylist() == [None] * len(empty)


def test_the_redaction_stage_redacts_again_only_what_it_did_not_keep(published_demo, tmp_path, monkeypatch):
    """The stage reads back what it kept: the same day redacted again takes every public row from
    there; with the kept file damaged, none (and the public table is the same either way)."""
    import shutil

    import pyarrow.parquet as pq

    from gongshi.catalog import load_catalog
    from gongshi.settings import Settings
    from gongshi.stages import redact
    from tests.conftest import DAY2

    monkeypatch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")  # the key the demo was published with
    shutil.copytree(published_demo.state, tmp_path / "state", symlinks=True)
    settings = Settings(inbox=published_demo.inbox, public=tmp_path / "public", state=tmp_path / "state")
    dataset = load_catalog()["blacklist_entries"]
    public = pq.read_table(settings.layout.public_table(DAY2, dataset.id))
    again = redact.run(settings, dataset, DAY2)
    assert again.published == public.num_rows > 0 and again.reused == again.published
    settings.layout.redacted_rows(dataset.id).write_bytes(b"ARROW1 cut short")
    damaged = redact.run(settings, dataset, DAY2)
    assert damaged.reused == 0 and damaged.published == public.num_rows
    assert pq.read_table(settings.layout.public_table(DAY2, dataset.id)).equals(public)


def test_the_redaction_brought_up_to_date_is_the_redaction_made_again(tmp_path, inbox, catalog, monkeypatch):
    """A day whose register folds list what they touched redacts only those records and merges them
    into what it kept: every file it hands on — the public table, its rows' digests, the expired
    ids, the report — and what it keeps are those of redacting every record again, byte for byte,
    through a withdrawal, its lifting, records deleted by a day delivered again and periods ending."""
    import shutil

    import pyarrow.parquet as pq

    import gongshi.register as register_module
    from gongshi.settings import Settings
    from gongshi.stages import intake_day, redact
    from gongshi.storage import read_arrow
    from gongshi.tables import row_digests
    from gongshi.takedown import add_takedown, lift_takedown

    from .conftest import DAY1, deliver
    from .test_register import BLACKLIST_HEADER, deliver_a_year_later

    monkeypatch.setattr(register_module, "LOG_SHARE", 1.0)  # a demo day is much of the demo's register
    later = deliver_a_year_later(inbox)  # the demo's inspections' periods end
    # DAY1's blacklist delivered again as one listing: the records of the others go, and DAY2's
    # removal of one of them no longer finds its listing
    redelivered = "2027-12-02"
    listing = "经营异常名录,无名公司,91350100M000100Y43,未报年报,2026-06-01,某局,某局异列〔2026〕1号,,,\n"
    settings = Settings(inbox=inbox, public=tmp_path / "public", state=tmp_path / "state")
    layout = settings.layout
    blacklist = catalog["blacklist_entries"]
    incremental = 0
    for number, day in enumerate([DAY1, DAY2, DAY2, later, redelivered]):
        if day == redelivered:
            shutil.rmtree(inbox / "blacklist_entries" / DAY1)
            deliver(inbox, "blacklist_entries", DAY1, "局_更正.csv", BLACKLIST_HEADER + listing)
            retracting = Settings(
                inbox=inbox, public=settings.public, state=settings.state, retract=True, retract_reason="部门更正"
            )
            intake_day(retracting, DAY1, catalog)
        intake_day(settings, day, catalog)
        if number == 1:
            public_ids = pq.read_table(layout.public_table(DAY1, blacklist.id))["record_id"].to_pylist()
            add_takedown(layout, public_ids[0], blacklist.id, "依法撤销", "某局", DAY2)
            add_takedown(layout, public_ids[1], blacklist.id, "依法撤销", "某局", DAY2)
        if number == 3:
            lift_takedown(layout, public_ids[1], "复议撤销", "某局", later)
        brought = {d.id: redact.run(settings, d, day) for d in catalog.values()}
        again = Settings(inbox=inbox, public=tmp_path / f"public-{number}", state=tmp_path / f"state-{number}")
        shutil.copytree(layout.root, again.layout.root)
        shutil.rmtree(again.layout.root / "redaction")
        for dataset in catalog.values():
            made = redact.run(again, dataset, day)
            result = brought[dataset.id]
            assert made.records_read == made.records and made.reused == 0 and not made.brought_up_to_date
            assert result.brought_up_to_date == (number > 0), (day, dataset.id)
            incremental += result.brought_up_to_date and result.records_read < result.records
            assert (result.records, result.published, result.expired, result.withdrawn, result.totals) == (
                made.records,
                made.published,
                made.expired,
                made.withdrawn,
                made.totals,
            )
            for name in ("public_table", "expired", "redaction_report", "public_digests"):
                ours, theirs = (getattr(s.layout, name)(day, dataset.id) for s in (settings, again))
                assert ours.read_bytes() == theirs.read_bytes(), (day, dataset.id, name)
            kept = read_arrow(layout.redacted_rows(dataset.id))
            remade = read_arrow(again.layout.redacted_rows(dataset.id))
            assert kept.equals(remade) and kept.schema.metadata == remade.schema.metadata
            public = pq.read_table(layout.public_table(day, dataset.id))
            digests = read_arrow(layout.public_digests(day, dataset.id))["digest"]
            assert digests.equals(pa.chunked_array([row_digests(public)]))
            assert "legal_representative_id_number" not in kept.column_names
        shutil.rmtree(again.layout.root)
    assert incremental >= 3 * len(catalog)  # most days read only some records
    last = pq.read_table(layout.public_table(redelivered, blacklist.id))
    assert public_ids[0] not in last["record_id"].to_pylist()
    assert "无名公司" in last["entity_name"].to_pylist()


def test_the_release_takes_the_redactions_digests_only_for_the_table_they_belong_to(published_demo, tmp_path):
    """`public_digests` gives the digests the redaction kept beside the public table when they are
    that table's (its sha256, this version of the digests, as many rows); otherwise — another
    table, a damaged file, none — it makes them from the table, to the same values."""
    import shutil

    import pyarrow.parquet as pq

    from gongshi.paths import StateLayout
    from gongshi.stages.redact import public_digests
    from gongshi.storage import read_arrow, sha256_file, write_arrow
    from gongshi.tables import row_digests

    shutil.copytree(published_demo.state / "stages", tmp_path / "stages")
    layout = StateLayout(tmp_path)
    path = layout.public_digests(DAY2, "blacklist_entries")
    table = pq.read_table(layout.public_table(DAY2, "blacklist_entries"))
    sha256 = sha256_file(layout.public_table(DAY2, "blacklist_entries"))
    made = row_digests(table)
    kept = read_arrow(path)
    assert public_digests(layout, DAY2, "blacklist_entries", table, sha256).equals(made)
    # digests that are not the table's, but say they are: taken as they are (the tie is the sha256)
    forged = pa.table({"digest": pa.array(["0" * 32] * table.num_rows)}).replace_schema_metadata(kept.schema.metadata)
    write_arrow(forged, path)
    assert public_digests(layout, DAY2, "blacklist_entries", table, sha256).to_pylist() == ["0" * 32] * table.num_rows
    # another table's sha256, another number of rows, a damaged file, no file: made again
    assert public_digests(layout, DAY2, "blacklist_entries", table, "f" * 64).equals(made)
    assert public_digests(layout, DAY2, "blacklist_entries", table.slice(1), sha256).equals(row_digests(table.slice(1)))
    path.write_bytes(b"ARROW1 cut short")
    assert public_digests(layout, DAY2, "blacklist_entries", table, sha256).equals(made)
    path.unlink()
    assert public_digests(layout, DAY2, "blacklist_entries", table, sha256).equals(made)


@examples(max_examples=40, deadline=None)
@given(data=st.data())
def test_gathering_rows_in_two_threads_is_taking_them(data):
    """`tables.gather` gives what `take` gives, whatever the indices, its columns gathered in two
    halves at once or not: one chunk per column, the schema (and its metadata) kept."""
    from unittest import mock

    import numpy as np

    import gongshi.tables as tables

    size = data.draw(st.integers(1, 50), label="rows")
    table = pa.table(
        {
            "text": [None if i % 7 == 3 else f"行{i}" * (i % 4) for i in range(size)],
            "number": pa.array([i * 3 for i in range(size)], pa.int32()),
            "day": pa.array([dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(size)]),
        }
    ).replace_schema_metadata({"gongshi.salt": "s"})
    table = pa.concat_tables([table.slice(0, size // 2), table.slice(size // 2)])  # two chunks
    indices = np.array(data.draw(st.lists(st.integers(0, size - 1), max_size=80), label="indices"), np.int64)
    expected = table.take(pa.array(indices, pa.int64()))
    for above in (0, 10_000):
        with (
            mock.patch.object(tables, "GATHER_IN_TWO_ABOVE", above),
            mock.patch.object(tables.parallel, "cores", lambda: 2),
        ):
            gathered = tables.gather(table, indices)
        assert gathered.equals(expected) and gathered.schema.metadata == table.schema.metadata
        assert all(column.num_chunks == 1 for column in gathered.columns)


def test_kept_rows_that_cannot_be_brought_up_to_date_are_made_again(published_demo, tmp_path, monkeypatch, caplog):
    """Kept rows that say they can be brought up to date but cannot (a column gone) are made again
    from every record, to the same result, with a warning — and are kept with the fold, so that the
    next day is brought up to date again."""
    import logging
    import shutil

    import gongshi.register as register_module
    from gongshi.catalog import load_catalog
    from gongshi.settings import Settings
    from gongshi.stages import intake_day, redact
    from gongshi.storage import read_arrow, write_arrow

    monkeypatch.setattr(register_module, "LOG_SHARE", 1.0)
    dataset = load_catalog()["blacklist_entries"]
    runs = {}
    for name in ("whole", "damaged"):
        settings = Settings(inbox=published_demo.inbox, public=tmp_path / f"p-{name}", state=tmp_path / name)
        shutil.copytree(published_demo.state, settings.state, symlinks=True)
        intake_day(settings, DAY2)  # the day again: a fold whose records are listed
        kept_path = settings.layout.redacted_rows(dataset.id)
        if name == "damaged":
            kept = read_arrow(kept_path)
            write_arrow(kept.drop_columns(["_digest"]).replace_schema_metadata(kept.schema.metadata), kept_path)
        with caplog.at_level(logging.WARNING, logger="gongshi.stages.redact"):
            runs[name] = redact.run(settings, dataset, DAY2), settings
    (whole, whole_settings), (damaged, damaged_settings) = runs["whole"], runs["damaged"]
    assert whole.brought_up_to_date and not damaged.brought_up_to_date
    assert "全部重新生成" in caplog.text
    for layout in ("public_table", "public_digests", "redaction_report", "expired"):
        ours = getattr(damaged_settings.layout, layout)(DAY2, dataset.id).read_bytes()
        assert ours == getattr(whole_settings.layout, layout)(DAY2, dataset.id).read_bytes(), layout
    kept_again = read_arrow(damaged_settings.layout.redacted_rows(dataset.id))
    assert b"gongshi.fold" in kept_again.schema.metadata
    assert kept_again.equals(read_arrow(whole_settings.layout.redacted_rows(dataset.id)))
