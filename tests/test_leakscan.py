"""The leak gate over every published file type, and end to end: publish the sample deliveries and
look for every protected value they contain."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import xlsxwriter
from hypothesis import example, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gongshi.cli import main
from gongshi.ingest import read_delivery
from gongshi.leakscan import PIECES_ABOVE, _pieces, scan_directory
from gongshi.paths import DEMO_INBOX
from gongshi.pii import find
from gongshi.stages import run_day

from .conftest import DAY1, DAY2

ID = "321204197807098146"
MOBILE = "13951234567"


def _kinds(report):
    return sorted((leak.file, leak.kind) for leak in report.leaks)


def test_each_file_type_is_read(tmp_path):
    (tmp_path / "page.html").write_text(f"<p>电话&#49;&#51;&#57;51234567</p><p data-id='{ID}'></p>", encoding="utf-8")
    (tmp_path / "data.csv").write_text(f"\ufeffa,b\n1,联系人{MOBILE}\n", encoding="utf-8")
    (tmp_path / "data.json").write_text(json.dumps({"x": f"身份证{ID}"}), encoding="utf-8")  # \\u-escaped
    pq.write_table(pa.table({"note": ["无", "卡号6222021234567890128"]}), tmp_path / "data.parquet")
    book = xlsxwriter.Workbook(str(tmp_path / "data.xlsx"))
    book.add_worksheet("表").write_string(4, 2, "邮箱 someone@163.com")
    book.close()
    with sqlite3.connect(tmp_path / "all.sqlite") as db:
        db.execute("CREATE TABLE t (note TEXT)")
        db.execute("INSERT INTO t VALUES (?)", (f"手机{MOBILE}",))
    fragment = tmp_path / "pagefind" / "fragment" / "zh_1.pf_fragment"
    fragment.parent.mkdir(parents=True)
    fragment.write_bytes(gzip.compress(b"pagefind_dcd" + json.dumps({"content": ID}).encode()))
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + ID.encode())
    report = scan_directory(tmp_path)
    assert _kinds(report) == [
        ("all.sqlite", "mobile"),
        ("data.csv", "mobile"),
        ("data.json", "resident_id"),
        ("data.parquet", "bank_card"),
        ("data.xlsx", "email"),
        ("page.html", "mobile"),
        ("page.html", "resident_id"),
        ("pagefind/fragment/zh_1.pf_fragment", "resident_id"),
    ]
    locations = {leak.file: leak.location for leak in report.leaks}
    assert locations["data.xlsx"] == "sheet 表, C5"
    assert locations["data.parquet"] == "column note, row 2"
    assert locations["all.sqlite"] == "table t, column note, rowid 1"
    assert locations["data.csv"] == "line 2"
    assert report.skipped == {".png": 1}
    assert all(ID not in leak.sample and MOBILE not in leak.sample for leak in report.leaks)


def test_text_files_with_bytes_that_are_not_utf8_are_read_with_the_rest_of_their_batch(tmp_path):
    """Text files are scanned in batches of bytes cut into lines together: a file that is not valid
    UTF-8 is read with replacement characters, and the lines of every file keep their numbers."""
    (tmp_path / "a.html").write_bytes(b"<p>\xff\xfe</p>\n" + f"<p>电话{MOBILE}</p>\n".encode())
    (tmp_path / "b.txt").write_bytes("\ufeff第一行\n第二行\n\n".encode() + f"身份证{ID}".encode())
    (tmp_path / "c.csv").write_bytes(b"a,b\r\n" + f"1,{MOBILE}\r\n".encode("gb18030") + b"2,\xb5\xe7\r\n")
    (tmp_path / "d.json").write_bytes(b'{"x": "\\u0031\\u0033\\u0039' + MOBILE[3:].encode() + b'"}')
    (tmp_path / "e.html").write_bytes(b"<p>&#x31;&#51;&#57;" + MOBILE[3:].encode() + b"</p>")
    report = scan_directory(tmp_path)
    assert sorted((leak.file, leak.location, leak.kind) for leak in report.leaks) == [
        ("a.html", "line 2", "mobile"),
        ("b.txt", "line 4", "resident_id"),
        ("c.csv", "line 2", "mobile"),
        ("d.json", "line 1", "mobile"),
        ("e.html", "line 1", "mobile"),
    ]
    assert report.files_scanned == 5 and not report.passed


def test_a_database_with_a_full_text_index_and_odd_bytes_is_read(tmp_path):
    """The index over a table is not read (its cells are, in the table); a leak in the table is
    found; bytes that are not UTF-8 do not make the file unreadable; a full-text table holding its
    own content is read."""
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute("CREATE TABLE t (name TEXT, blob BLOB)")
        db.execute("INSERT INTO t VALUES (?, ?)", ("南京某某有限公司", b"\xff\xfe" + MOBILE.encode()))
        db.execute("INSERT INTO t VALUES (?, ?)", (f"联系{ID}", None))
        db.execute(
            "CREATE VIRTUAL TABLE t_fts USING fts5(name, content='t', content_rowid='rowid', tokenize='trigram')"
        )
        db.execute("INSERT INTO t_fts(t_fts) VALUES ('rebuild')")
        db.execute("CREATE VIRTUAL TABLE own USING fts5(note)")
        db.execute("INSERT INTO own VALUES (?)", ("邮箱 someone@163.com",))
        db.execute("CREATE TABLE k (code TEXT PRIMARY KEY, note TEXT) WITHOUT ROWID")
        db.execute("INSERT INTO k VALUES ('a', ?)", (f"手机{MOBILE}",))
        db.execute("CREATE VIEW v AS SELECT note FROM k")
        # names a careless writer could make: quotes in a table's and a column's name; a number
        db.execute('CREATE TABLE "we""ird" ("c""ol" TEXT, n INTEGER)')
        db.execute('INSERT INTO "we""ird" VALUES (?, ?)', ("无", int(MOBILE)))
    report = scan_directory(tmp_path)
    found = sorted((leak.kind, leak.location) for leak in report.leaks)
    assert found == [
        ("email", "table own_content, column c0, rowid 1"),
        ("mobile", "table k, column note, rowid None"),
        ("mobile", "table t, column blob, rowid 1"),
        ("mobile", "table v, column note, rowid None"),
        ("mobile", 'table we"ird, column n, rowid 1'),
        ("resident_id", "table t, column name, rowid 2"),
    ]


def test_known_values_catch_what_no_pattern_describes(tmp_path):
    (tmp_path / "a.csv").write_text("联系电话,025-8345 6789\n", encoding="utf-8")
    assert scan_directory(tmp_path).clean
    report = scan_directory(tmp_path, known=frozenset({"02583456789"}))
    assert [(leak.kind, leak.location) for leak in report.leaks] == [("known_value", "line 1")]


def test_public_identifiers_do_not_trip_the_gate(tmp_path):
    (tmp_path / "ok.csv").write_text(
        "91320200921B86873E,宁市监异列〔2026〕123号,2026-11-26,JS202611260000,8660e6b5aea983b2,"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
        encoding="utf-8",
    )
    assert scan_directory(tmp_path).clean


def test_digits_inside_a_hex_digest_are_never_an_id_number(tmp_path):
    # Found at 100,000 records: 15 digits of a sha256 formed a valid first-generation ID number.
    digest = "255ac64f2a9b374157860601793d61491c561c29df77cbf82d4610772937ce59"
    assert [h.kind for h in find("374157860601793")] == ["resident_id"]
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  entity/a.html\n", encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps({"a": {"sha256": digest}}), encoding="utf-8")
    assert scan_directory(tmp_path).clean
    (tmp_path / "note.txt").write_text("编号 g374157860601793", encoding="utf-8")  # not a digest: still an ID
    assert _kinds(scan_directory(tmp_path)) == [("note.txt", "resident_id")]


def test_pagefind_binary_index_is_read_as_its_strings(tmp_path):
    import cbor2

    def index(payload) -> bytes:
        return gzip.compress(b"pagefind_dcd" + cbor2.dumps(payload))

    folder = tmp_path / "pagefind" / "index"
    folder.mkdir(parents=True)
    # Binary around the words: an at-sign byte (an empty CBOR byte string) before "qq.com" is no address.
    (folder / "a.pf_index").write_bytes(index([["8", b"", "qq.com", [1, 2, -25]], ["南京", [3]]]))
    as_text = gzip.decompress((folder / "a.pf_index").read_bytes()).decode("utf-8", errors="replace")
    assert [h.kind for h in find(as_text)] == ["email"]  # "8@fqq.com": the length byte of "qq.com" is an f
    assert scan_directory(tmp_path).clean
    (folder / "b.pf_index").write_bytes(index([["zhang.wei@qq.com", [1]], {"k": [MOBILE]}]))
    assert _kinds(scan_directory(tmp_path)) == [
        ("pagefind/index/b.pf_index", "email"),
        ("pagefind/index/b.pf_index", "mobile"),
    ]


def test_a_corrupt_file_is_not_a_clean_file(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    (leak,) = scan_directory(tmp_path).leaks
    assert leak.kind == "unreadable"


def test_a_file_gone_or_unreadable_when_its_turn_comes_is_not_a_clean_file(tmp_path):
    from gongshi.leakscan import _scan_paths

    (tmp_path / "a.html").write_text("<p>ok</p>\n", encoding="utf-8")
    listed = [str(tmp_path / "a.html"), str(tmp_path / "gone.html"), str(tmp_path / "gone.parquet")]
    report = _scan_paths(listed, tmp_path, None, frozenset(), {}, True, listed=False)
    assert [(leak.file, leak.kind) for leak in report.leaks] == [
        ("gone.html", "unreadable"),
        ("gone.parquet", "unreadable"),
    ]
    assert report.files_scanned == 3


def _protected_values(catalog) -> set[str]:
    """Every protected value in the sample deliveries: protected columns, and what the scanner
    finds in published free text (so the test does not depend on the scanner it checks alone)."""
    values = set()
    for dataset in catalog.values():
        for day in (DAY1, DAY2):
            rows = read_delivery(DEMO_INBOX, dataset, day).rows
            for field, policy in dataset.fields.items():
                column = [v for v in rows.column(field).to_pylist() if v]
                if policy.kind in {"phone", "resident_id"}:
                    values |= set(column)
                elif policy.kind == "free_text":
                    values |= {text[h.start : h.end] for text in column for h in find(text)}
    return values


@pytest.mark.slow
def test_publishing_the_samples_leaks_no_protected_value(tmp_path, settings, catalog, capsys):
    for day in (DAY1, DAY2):
        assert run_day(settings, day, catalog).leak_gate_clean
    values = _protected_values(catalog)
    assert len(values) > 40 and "321204197807098146" in values and "13951234567" in values
    files = [p for p in settings.public.rglob("*") if p.is_file()]
    assert len(files) >= 12
    for path in files:
        data = path.read_bytes()
        data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        text = data.decode("utf-8", errors="replace")
        for value in values:
            assert value not in text, (path, value)
    # and the gate as an operator runs it
    assert main(["scan", str(settings.public), "--state", str(settings.state)]) == 0
    assert "CLEAN" in capsys.readouterr().out


def test_scanning_in_several_processes_gives_the_same_report(tmp_path, monkeypatch):
    from gongshi import leakscan
    from gongshi.leakscan import PARALLEL_ABOVE

    started = []
    monkeypatch.setattr(leakscan, "_pool", lambda *a, _pool=leakscan._pool: started.append(1) or _pool(*a))

    for n in range(PARALLEL_ABOVE + 50):
        text = f"<p>第 {n} 页</p>\n" + (f"<p>电话 {MOBILE}</p>\n" if n % 700 == 3 else "<p>无</p>\n")
        (tmp_path / f"p{n:05d}.html").write_text(text, encoding="utf-8")
    pq.write_table(pa.table({"note": ["无", f"身份证{ID}"]}), tmp_path / "t.parquet")
    known = frozenset({"02583456789"})
    (tmp_path / "z.csv").write_text("联系,025 8345 6789\n", encoding="utf-8")
    one = scan_directory(tmp_path, known)
    two = scan_directory(tmp_path, known, workers=2)
    assert [(leak.file, leak.location, leak.kind) for leak in one.leaks] == [
        ("p00003.html", "line 2", "mobile"),
        ("p00703.html", "line 2", "mobile"),
        ("p01403.html", "line 2", "mobile"),
        ("t.parquet", "column note, row 2", "resident_id"),
        ("z.csv", "line 1", "known_value"),
    ]
    assert two.leaks == one.leaks
    assert one.worker_peak_kib == 0 and two.worker_peak_kib > 10_000  # each worker says its own peak memory
    assert (
        (two.files_scanned, two.bytes_scanned)
        == (one.files_scanned, one.bytes_scanned)
        == (PARALLEL_ABOVE + 52, two.bytes_scanned)
    )
    # with a manifest as large (the workers start while the files are listed), and the clean pages
    # that passed before not sent to them at all: the same leaks
    import hashlib

    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    clean = frozenset(d for name, d in hashes.items() if name.endswith(".html") and int(name[1:6]) % 700 != 3)
    started.clear()
    three = scan_directory(tmp_path, known, clean, hashes, workers=2)
    assert three.leaks == one.leaks
    assert not started and three.worker_peak_kib == 0  # five files to read: no workers started for them
    assert (three.files_passed_before, three.files_scanned) == (len(clean), PARALLEL_ABOVE + 52 - len(clean))
    assert three.passed == set(hashes.values()) - {hashes[leak.file] for leak in one.leaks}
    four = scan_directory(tmp_path, known, frozenset(), hashes, workers=2)  # every file read, in the workers
    assert four.leaks == one.leaks and four.files_scanned == one.files_scanned and four.passed == three.passed
    assert started == [1] and four.worker_peak_kib > 10_000  # started while the files were listed


def test_a_table_that_passed_before_is_looked_up_by_its_kept_digit_runs(tmp_path):
    """The daily gate keeps the digit runs of each clean Parquet table: the same bytes are not read
    again, yet a protected value delivered later that an old table holds is still found, in place."""
    import hashlib

    root, runs = tmp_path / "build", tmp_path / "runs"
    root.mkdir()
    runs.mkdir()
    pq.write_table(
        pa.table({"note": ["联系 025-8345 6789", "总机 +86 25 8111 2222"], "n": ["JS2026000001", "x"]}),
        root / "t.parquet",
    )
    digest = hashlib.sha256((root / "t.parquet").read_bytes()).hexdigest()
    hashes = {"t.parquet": digest}

    def gate(known, passed=frozenset()):
        return scan_directory(root, frozenset(known), frozenset(passed), hashes, known_in_tables_only=True, runs=runs)

    first = gate({"11111111"})
    assert first.clean and first.passed == {digest} and (runs / f"{digest}.parquet").is_file()
    again = gate({"11111111", "99999999"}, first.passed)
    assert again.clean and (again.files_passed_before, again.files_scanned, again.bytes_scanned) == (1, 0, 0)
    for value, place in (("02583456789", "note, row 1"), ("2026000001", "n, row 1"), ("2581112222", "note, row 2")):
        found = gate({value}, first.passed)
        assert [(leak.file, leak.location, leak.kind) for leak in found.leaks] == [
            ("t.parquet", f"column {place}", "known_value")
        ], value
        assert found.files_scanned == 1 and digest not in found.passed
    (runs / f"{digest}.parquet").write_bytes(b"not parquet")  # a damaged cache: the table is read
    damaged = gate({"11111111"}, first.passed)
    assert damaged.clean and (damaged.files_passed_before, damaged.files_scanned) == (0, 1)


def test_the_kept_runs_of_many_tables_are_looked_up_together(tmp_path):
    """A release in daily parts has a Parquet table per dataset and day: their kept runs are looked up
    in one pass over the known values, and each table gets its own verdict — a later-known value in
    one day's part has that part read again, in place, and only it."""
    import hashlib

    import gongshi.leakscan as leakscan

    root, runs = tmp_path / "build", tmp_path / "runs"
    (root / "parts").mkdir(parents=True)
    runs.mkdir()
    hashes = {}
    for day in range(1, 13):
        notes = [f"登记号 3201{day:05d}", f"电话 0258{day:03d}6789" if day == 7 else "无"]
        path = root / "parts" / f"p-{day:02d}.parquet"
        pq.write_table(pa.table({"note": notes, "day": [str(day)] * 2}), path)
        hashes[f"parts/p-{day:02d}.parquet"] = hashlib.sha256(path.read_bytes()).hexdigest()
    first = scan_directory(root, frozenset({"11111111"}), frozenset(), hashes, known_in_tables_only=True, runs=runs)
    assert first.clean and len(first.passed) == 12
    (runs / f"{hashes['parts/p-03.parquet']}.parquet").unlink()  # no runs kept: that table is read again
    lookups = []
    real = leakscan.in_known
    leakscan.in_known = lambda *a: lookups.append(len(a[0])) or real(*a)
    try:
        later = scan_directory(
            root, frozenset({"02580076789"}), frozenset(first.passed), hashes, known_in_tables_only=True, runs=runs
        )
    finally:
        leakscan.in_known = real
    assert [(leak.file, leak.location) for leak in later.leaks] == [("parts/p-07.parquet", "column note, row 2")]
    assert later.files_passed_before == 10 and later.files_scanned == 2  # day 7 (a hit) and day 3 (no runs)
    assert lookups[0] == 11 + 1  # one lookup of the runs kept for 11 tables (day 7 holds two) at once


@examples(max_examples=200, deadline=None)
@given(
    cells=st.lists(st.text(alphabet="0123456789０１２ -.+86号电话\u200b", max_size=30), min_size=1, max_size=8),
    known=st.sets(st.text(alphabet="0123456789", min_size=7, max_size=12), max_size=4),
)
def test_kept_runs_give_the_verdict_reading_the_cells_gives(cells, known):
    from gongshi.leakscan import digit_runs, in_known, known_value_hits

    values = pa.array(sorted(known), pa.string())
    _, runs = digit_runs(pa.array(cells, pa.string()))
    kept = pc.unique(runs)
    by_runs = bool(len(kept)) and bool(pc.any(in_known(kept, values)).as_py()) if known else False
    assert by_runs == bool(known_value_hits(pa.array(cells, pa.string()), values))


def _digit_runs_every_step(cells: pa.Array) -> set[tuple[int, str]]:
    """`leakscan.digit_runs` as it was written first: every step over every cell, both readings."""
    from gongshi.pii import RE2_DASHES, RE2_DOTS, RE2_INVISIBLE

    text = pc.replace_substring_regex(cells, f"[{RE2_INVISIBLE}]", "")
    text = pc.utf8_normalize(text, form="NFKC")
    text = pc.replace_substring_regex(text, f"[{RE2_DASHES}]", "-")
    text = pc.replace_substring_regex(text, f"[{RE2_DOTS}]", ".")
    joined = text
    for _ in range(2):
        joined = pc.replace_substring_regex(joined, r"([0-9])(?: {1,2}|[.\-]| - )([0-9])", r"\1\2")
    found = set()
    for variant in (joined, text):
        split = pc.split_pattern_regex(pc.fill_null(variant, ""), pattern=r"[^0-9]+")
        flat, parents = pc.list_flatten(split).to_pylist(), pc.list_parent_indices(split).to_pylist()
        found |= {(parent, run) for parent, run in zip(parents, flat, strict=True) if len(run) >= 7}
    return found


@examples(max_examples=300, deadline=None)
@given(
    cells=st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet="0123456789 -.", max_size=24),  # plain ASCII, joinable or not
            st.text(alphabet="0123456789 -.\x00\x07\t\x1f\x7f", max_size=24),  # ASCII with control characters
            st.text(alphabet="0123456789０１２٣ -.—·。\u200b\u0301\x00\x07\t\x7f\x85号电话JSXx", max_size=30),
        ),
        min_size=1,
        max_size=10,
    ),
    offset=st.integers(0, 3),
)
@example(cells=["JS202611010481789", "2026-11-01", None], offset=0)  # a task number and a date: ASCII alone
@example(cells=["138\x000013\x078000", "1380013", "x"], offset=1)  # control characters in ASCII cells
# full-width digits, dashes, an invisible character: the steps a cell that is not ASCII needs
@example(cells=["电话０２５８３２１５６７８", "025—8321—5678", "1380\u200b0138000"], offset=0)
def test_digit_runs_read_only_what_each_cell_needs_and_find_every_run(cells, offset):
    """The runs `digit_runs` gives — the steps a plain ASCII cell does not need left out, the joined
    reading left out where nothing joins — are every (cell, run) the full reading of every cell gives,
    on a slice of a column too (its offsets and bytes not starting at zero)."""
    from gongshi.leakscan import digit_runs

    column = pa.array(["1234567 89"] * offset + cells, pa.string()).slice(offset)
    parents, runs = digit_runs(column)
    assert set(zip(parents.to_pylist(), runs.to_pylist(), strict=True)) == _digit_runs_every_step(column)


def test_the_gate_follows_links_to_files_not_to_folders(tmp_path):
    """A symlink to a file is read (it would be served); one to a folder is not walked into (a
    release links nothing but files, and a loop must not hang the gate); a dangling one is no file."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (outside / "id.txt").write_text(f"证件 {ID}\n", encoding="utf-8")
    (root / "a" / "b" / "page.html").write_text("<p>无</p>", encoding="utf-8")
    (root / "linked.txt").symlink_to(outside / "id.txt")
    (root / "folder").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    report = scan_directory(root)
    assert report.files_scanned == 2
    assert [(leak.file, leak.kind) for leak in report.leaks] == [("linked.txt", "resident_id")]


def test_lines_of_a_file_that_passed_before_are_not_scanned_again(tmp_path, monkeypatch):
    """The daily gate compares a changed text file with the file at its path in the build that went
    out: lines those bytes share pass unscanned — only if those bytes (hashed when read) passed this
    detector; a line new today is scanned, and `gongshi scan` (known values everywhere) reads all."""
    import hashlib

    old, new = tmp_path / "old", tmp_path / "new"
    for build in (old, new):
        (build / "lists").mkdir(parents=True)
    rows = [f"<tr><td>9132050{i:011d}</td><td>苏州第{i}商贸有限公司 2026-11-0{i % 9 + 1}</td></tr>" for i in range(200)]
    (old / "lists" / "p1.html").write_text("\n".join(rows), encoding="utf-8")
    (old / "SHA256SUMS").write_text("abc  lists/p1.html\n", encoding="utf-8")
    yesterday = scan_directory(old, passed=frozenset(), hashes={"lists/p1.html": "x"}, known_in_tables_only=True)
    sums = hashlib.sha256((old / "SHA256SUMS").read_bytes()).hexdigest()
    assert yesterday.clean and sums in yesterday.passed  # outside the manifest: passed by its bytes
    passed = frozenset({hashlib.sha256((old / "lists" / "p1.html").read_bytes()).hexdigest()})

    def gate(previous, known_in_tables_only=True, known=frozenset()):
        return scan_directory(
            new, known, passed, {"lists/p1.html": "y"}, known_in_tables_only=known_in_tables_only, previous=previous
        )

    (new / "lists" / "p1.html").write_text("\n".join([*rows[:100], f"<td>法人手机{MOBILE}</td>", *rows[100:]]), "utf-8")
    today = gate(old)
    assert _kinds(today) == [("lists/p1.html", "mobile")] and today.leaks[0].location == "line 101"
    assert today.lines_passed_before == 200
    import gongshi.leakscan as leakscan

    monkeypatch.setattr(leakscan._TextBatch, "LIMIT", 2000)  # larger than a batch: read a segment at a time
    streamed = gate(old)
    assert _kinds(streamed) == _kinds(today) and streamed.leaks[0].location == "line 101"
    assert streamed.lines_passed_before == 200
    monkeypatch.undo()
    monkeypatch.setattr(leakscan, "PASSED_BEFORE_MAX_BYTES", 100)  # an old file too large to read beside
    assert gate(old).lines_passed_before == 0 and _kinds(gate(old)) == _kinds(today)
    monkeypatch.undo()
    assert gate(None).lines_passed_before == 0 and _kinds(gate(None)) == _kinds(today)
    # known values looked for everywhere: no line passes unread
    everywhere = gate(old, known_in_tables_only=False, known=frozenset({"13951234567"}))
    assert everywhere.lines_passed_before == 0 and ("lists/p1.html", "known_value") in _kinds(everywhere)
    # the old bytes changed since they passed (here: they hold the same leak): nothing is trusted
    (old / "lists" / "p1.html").write_text("\n".join([*rows, f"<td>法人手机{MOBILE}</td>"]), encoding="utf-8")
    tampered = gate(old)
    assert tampered.lines_passed_before == 0 and _kinds(tampered) == [("lists/p1.html", "mobile")]
    # a new path: a line that passed is clean wherever it stands (the detector reads a line alone);
    # its own new line is found
    (old / "lists" / "p1.html").write_text("\n".join(rows), encoding="utf-8")
    (new / "lists" / "p2.html").write_text("\n".join([*rows, f"<td>{ID}</td>"]), encoding="utf-8")
    both = gate(old)
    assert both.lines_passed_before == 200 and ("lists/p2.html", "resident_id") in _kinds(both)


@examples(max_examples=300, deadline=None)
@given(
    runs=st.lists(st.text(alphabet="0860123", min_size=1, max_size=14), max_size=12),
    values=st.lists(st.text(alphabet="0860123", min_size=1, max_size=12), min_size=1, max_size=60),
)
def test_a_run_is_known_as_it_is_or_without_its_country_prefix(runs, values):
    """`in_known` — whichever side it hashes (few runs against many known values, or the other way),
    or joined in DuckDB (many against many) — says what the plain statement says."""
    from gongshi.leakscan import _in_known_joined, in_known

    def plain(known: set[str]) -> list[bool]:
        return [r in known or any(r.startswith(p) and r[len(p) :] in known for p in ("86", "0086")) for r in runs]

    array = pa.array(runs, pa.string())
    assert in_known(array, pa.array(sorted(set(values)), pa.string())).to_pylist() == plain(set(values))
    few = sorted(set(values))[:1]  # fewer known values than runs: the other side is hashed
    assert in_known(array, pa.array(few, pa.string())).to_pylist() == plain(set(few))
    if len(runs) % 5 == 0:  # a fifth of the examples (a join opens a database): joined as in a large gate
        assert _in_known_joined(array, pa.array(sorted(set(values)), pa.string())).to_pylist() == plain(set(values))


def test_many_runs_against_many_known_values_are_joined_and_found_where_they_stand():
    """Above `JOINED_ABOVE` on both sides the lookup is a join on more than one thread: each run found
    is said to be found at its own position — with and without a country prefix — and no other."""
    from gongshi import leakscan

    generator = np.random.default_rng(3)
    count = leakscan.JOINED_ABOVE * 3
    values = pa.array([f"1{n:010d}" for n in generator.choice(10**10, count, replace=False)])
    runs = [f"2{n:010d}" for n in range(count)]  # none known
    where = generator.choice(count, 300, replace=False)
    for index, position in enumerate(where):
        runs[position] = ("", "86", "0086")[index % 3] + values[int(generator.integers(count))].as_py()
    found = leakscan.in_known(pa.array(runs), values).to_numpy(zero_copy_only=False)
    assert sorted(np.flatnonzero(found)) == sorted(where)


def test_files_to_read_are_parted_by_bytes_each_once():
    """The gate's workers get parts of about equal bytes: every file in exactly one part, the
    largest files in different parts, each part in path order, the largest part first."""
    from gongshi.leakscan import _by_size

    paths = [f"/b/f{n:03d}" for n in range(40)]
    sizes = [10_000_000 if n in (3, 17, 29) else 1_000 for n in range(40)]
    parts = _by_size(paths, sizes, 4)
    assert sorted(p for part in parts for p in part) == paths
    assert all(part == sorted(part) for part in parts)
    big = [next(i for i, part in enumerate(parts) if p in part) for p in ("/b/f003", "/b/f017", "/b/f029")]
    assert len(set(big)) == 3
    loads = [sum(sizes[paths.index(p)] for p in part) for part in parts]
    assert loads == sorted(loads, reverse=True)  # the largest part first: the last one taken is small
    assert _by_size(["/a", "/b", "/c"], [10_000_000, 6_000_000, 5_000_000], 2) == [["/b", "/c"], ["/a"]]
    assert sorted(_by_size(paths[:2], sizes[:2], 8)) == [["/b/f000"], ["/b/f001"]]  # no empty part
    assert _by_size([], [], 4) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_files_outside_the_manifest_pass_by_their_bytes_when_they_are_all_that_is_read(tmp_path, monkeypatch, workers):
    """A re-run whose every listed file passed before reads only the manifest and the checksums: they
    pass by the sha256 of their bytes, so the next run does not read them again."""
    import hashlib

    import gongshi.leakscan as leakscan

    monkeypatch.setattr(leakscan, "PARALLEL_ABOVE", 0)  # the workers' path too, with a part of only those
    (tmp_path / "page.html").write_text("<p>公开</p>", "utf-8")
    (tmp_path / "manifest.json").write_text('{"files": {"page.html": {}}}', "utf-8")
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  page.html\n", "utf-8")
    page = hashlib.sha256((tmp_path / "page.html").read_bytes()).hexdigest()
    report = scan_directory(tmp_path, frozenset(), frozenset({page}), {"page.html": page}, workers=workers)
    unlisted = {hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("manifest.json", "SHA256SUMS")}
    assert report.clean and report.files_passed_before == 1 and report.files_scanned == 2
    assert report.passed == unlisted | {page}


def _detector_tables_made() -> tuple[int, int]:
    from gongshi import pii

    return pii._translation.cache_info().currsize, pii._exotic_digits.cache_info().currsize


def test_the_gates_workers_are_forked_with_the_detectors_tables_made():
    """The tables over all of Unicode (0.7 s) are made once in the server the workers are forked
    from, not in each worker (`gongshi.prefork`)."""
    from concurrent.futures import ProcessPoolExecutor

    from gongshi.sandbox import worker_context

    with ProcessPoolExecutor(1, mp_context=worker_context()) as pool:
        assert pool.submit(_detector_tables_made).result() == (1, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_what_passes_is_the_digest_of_the_bytes_read_not_what_the_manifest_says(tmp_path, monkeypatch, workers):
    """A file whose bytes are not what the manifest says is scanned as it is; the digest that passes
    is of the bytes read, so a later file with the manifest's digest is not taken as seen. The files
    whose bytes have the manifest's digest are verified (`verify_build` does not read them again)."""
    import hashlib

    import gongshi.leakscan as leakscan

    monkeypatch.setattr(leakscan, "PARALLEL_ABOVE", 0)
    (tmp_path / "a.html").write_text("<p>公开</p>", "utf-8")
    (tmp_path / "b.html").write_text("<p>另一页</p>", "utf-8")
    pq.write_table(pa.table({"note": ["无"]}), tmp_path / "t.parquet")
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    claimed = "0" * 64  # what a wrong manifest says of b.html
    hashes = {"a.html": digest["a.html"], "b.html": claimed, "t.parquet": digest["t.parquet"]}
    report = scan_directory(tmp_path, frozenset(), frozenset(), hashes, workers=workers)
    assert report.clean and report.files_scanned == 3
    assert report.verified == {"a.html"}  # a table is read by Arrow, not hashed: the package check does it
    assert report.passed == set(digest.values()) and claimed not in report.passed
    assert leakscan.reads_bytes("b.html", claimed, report.passed)
    assert not leakscan.reads_bytes("a.html", digest["a.html"], report.passed)
    assert not leakscan.reads_bytes("t.parquet", None, frozenset())


def test_long_lines_are_scanned_in_pieces_and_reported_by_line(tmp_path):
    """A data file's long rows are cut at their commas for the scan (`leakscan._pieces`): a value is
    still reported at every line it stands on, and a word before a number counts only within its
    piece, as the detector reads the whole line."""
    start = "南京市市场监督管理局,2026-11-01,2026-11-02,双随机抽查,企业年度报告公示情况检查"
    rows = ["record_id,authority,decided_on,published_on,kind,item,note,code"]
    rows += [f"r{i},{start},未发现问题,91320200921B86873E" for i in range(50)]
    rows[4] = f"r3,{start},联系人手机{MOBILE},91320200921B86873E"
    rows[41] = f"r40,{start},再次{MOBILE}（同一号码）,91320200921B86873E"
    # an account number is one only beside its word: here the word stands in the cell before it…
    rows[21] = f"r20,{start},账号,1234567890123456,91320200921B86873E"
    # …and here in the same cell
    rows[31] = f"r30,{start},开户账号 1234567890123456,91320200921B86873E"
    assert all(len(r.encode()) > PIECES_ABOVE for r in rows[1:])
    pieces, line_of = _pieces(pa.array(rows))
    assert len(pieces) > 6 * len(rows) and line_of is not None and line_of.max() == len(rows) - 1
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = scan_directory(tmp_path, known_in_tables_only=True)
    found = sorted((leak.location, leak.kind) for leak in report.leaks)
    assert found == [("line 32", "bank_card"), ("line 42", "mobile"), ("line 5", "mobile")]
    assert not find(rows[21]) and [hit.kind for hit in find(rows[31])] == ["bank_card"]


@examples(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.text(alphabet="a,1\u4e00", max_size=90).map(lambda t: t * (1 + len(t) % 3)), min_size=1, max_size=25
    )
)
def test_pieces_are_the_long_lines_cut_at_their_commas_and_every_other_line_whole(lines):
    """`_pieces` whichever way it cuts (every line with a comma long, as a data file's, or not): each
    line longer than `PIECES_ABOVE` bytes that holds a comma gives its comma-separated pieces, any
    other line itself, each piece with the index of its line."""
    expected = []
    for index, line in enumerate(lines):
        cut = len(line.encode()) > PIECES_ABOVE and "," in line
        expected += [(piece, index) for piece in (line.split(",") if cut else [line])]
    pieces, line_of = _pieces(pa.array(lines, pa.string()))
    if line_of is None:
        assert pieces.to_pylist() == lines
        line_of = np.arange(len(lines))
    assert sorted(zip(pieces.to_pylist(), line_of.tolist(), strict=True)) == sorted(expected)


@examples(max_examples=40, deadline=None)
@given(
    notes=st.lists(
        st.sampled_from(
            [
                "未发现问题",
                f"联系人手机{MOBILE}",
                f"身份证{ID}",
                "责令整改,限期30日",
                "电话 139 5123 4567",
                "备注\x07",
                "",
            ]
        ),
        min_size=1,
        max_size=30,
    )
)
def test_a_data_file_is_scanned_for_what_each_of_its_lines_holds(tmp_path_factory, notes):
    """A data file's segment is cut into pieces first and only its distinct pieces are prefiltered:
    with a task number of fifteen digits on every row (every line worth a look), each line's values
    are still reported at that line, control characters included, and nothing else."""
    from gongshi.pii import CONTROL_CHARACTERS

    folder = tmp_path_factory.mktemp("data")
    start = "南京市市场监督管理局,2026-11-01,2026-11-02,双随机抽查,企业年度报告公示情况检查"
    rows = ["record_id,task,authority,decided_on,published_on,kind,item,note"]
    rows += [f"r{i},JS{202611010000000 + i},{start},{note}" for i, note in enumerate(notes)]
    (folder / "data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = scan_directory(folder, known_in_tables_only=True)
    expected = set()
    for number, row in enumerate(rows, start=1):
        expected |= {(f"line {number}", hit.kind) for piece in row.split(",") for hit in find(piece)}
        if re.search(CONTROL_CHARACTERS, row):
            expected.add((f"line {number}", "control_character"))
    assert {(leak.location, leak.kind) for leak in report.leaks} == expected
    assert (f"联系人手机{MOBILE}" in notes or "电话 139 5123 4567" in notes) == ("mobile" in {k for _, k in expected})
    assert ("备注\x07" in notes) == ("control_character" in {k for _, k in expected})


def test_a_large_column_is_scanned_by_its_distinct_values_and_reported_at_every_cell(tmp_path):
    """A column of more than `DISTINCT_ABOVE` cells is scanned as its distinct values: a leak that
    stands in several rows is reported at each, and the column's leaks come in row order."""
    from gongshi.leakscan import DISTINCT_ABOVE

    rows = 3 * DISTINCT_ABOVE
    note = ["未发现问题" if i % 2 else "责令整改" for i in range(rows)]
    note[2500], note[4], note[10] = f"联系{MOBILE}", f"联系{MOBILE}", f"身份证{ID}"
    phone = [None] * rows
    phone[7] = "025-83456789"  # a landline: no pattern, but a known value delivered for the record
    empty = pa.array([None] * rows, pa.string())  # no value at all: nothing to scan, nothing found
    table = pa.table({"note": note, "contact": pa.array(phone, pa.string()), "gone": empty})
    pq.write_table(table, tmp_path / "t.parquet")
    report = scan_directory(tmp_path, known=frozenset({"02583456789"}))
    assert [(leak.location, leak.kind) for leak in report.leaks] == [
        ("column note, row 5", "mobile"),
        ("column note, row 11", "resident_id"),
        ("column note, row 2501", "mobile"),
        ("column contact, row 8", "known_value"),
    ]


@examples(max_examples=300, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab,\u4e00\n", max_size=30), max_size=40), limit=st.integers(1, 60))
def test_a_large_file_is_cut_into_segments_of_whole_lines(lines, limit):
    """`_segments` loses and adds nothing: joined with line feeds they are the file; each is at most
    the limit unless a single line is longer."""
    from gongshi.leakscan import _segments

    data = "\n".join(lines).encode("utf-8")
    segments = [data[start:end] for start, end in _segments(data, limit)]
    assert b"\n".join(segments) == data
    assert all(len(s) <= limit or b"\n" not in s for s in segments)


@examples(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.lists(st.sampled_from(["a", "联", "\\u0031", "&#49;", "\r", "\n"]), max_size=12).map("".join), max_size=30
    ),
    limit=st.integers(min_value=1, max_value=120),
    bom=st.booleans(),
    suffix=st.sampled_from([".csv", ".html", ".jsonl"]),
)
def test_a_large_file_read_as_it_is_scanned_is_cut_as_the_whole_file_would_be(lines, limit, bom, suffix):
    """`_read_segments` (a file larger than a batch, read a segment at a time) gives the segments,
    decoded, and the line feeds of each, that `_text_segments` makes of the whole file's bytes, and
    the sha256 of every byte read."""
    import hashlib
    import io
    from unittest import mock

    from gongshi.leakscan import _read_segments, _text_segments, _TextBatch

    data = (b"\xef\xbb\xbf" if bom else b"") + "\n".join(lines).encode("utf-8")
    hasher = hashlib.sha256()
    with mock.patch.object(_TextBatch, "LIMIT", limit):
        whole = [(bytes(s), f) for s, f in _text_segments(data, suffix)]
        read = [(bytes(s), f) for s, f in _read_segments(io.BytesIO(data), len(data), suffix, limit, hasher)]
    if len(whole) == 1:  # the whole file in one: its line feeds are not counted there
        whole = [(whole[0][0], whole[0][0].count(b"\n"))]
    assert read == whole
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_large_file_cut_short_while_it_is_read_ends_where_its_bytes_end():
    """A file shorter than its size said (cut while the gate read it): the segments end with its last
    byte, none lost and none waited for, and the digest is of the bytes read."""
    import hashlib
    import io

    from gongshi.leakscan import _read_segments

    data = b"r1,a\nr2,b\nr3,c"
    hasher = hashlib.sha256()
    segments = [(bytes(s), f) for s, f in _read_segments(io.BytesIO(data), 10_000, ".csv", 6, hasher)]
    assert b"\n".join(s for s, _ in segments) == data and all(len(s) <= 6 for s, _ in segments)
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_file_larger_than_a_batch_is_scanned_in_segments_with_its_line_numbers(tmp_path, monkeypatch):
    """A data file larger than the batch is handed over in segments of whole lines (a worker held
    2.5 GB for a 450 MB file read at once): a leak in a later segment is reported at its line, and
    the file's digest passes only if no segment leaked."""
    import hashlib

    import gongshi.leakscan as leakscan

    monkeypatch.setattr(leakscan._TextBatch, "LIMIT", 2000)
    rows = [f"r{i},南京市市场监督管理局,2026-11-01,未发现问题" for i in range(400)]
    clean = "\n".join(rows) + "\n"
    rows[5], rows[333] = f"r5,联系{MOBILE}", "r333," + "很长的说明" * 300 + f"身份证{ID}"  # one line past the limit
    (tmp_path / "clean.csv").write_text(clean, encoding="utf-8")
    (tmp_path / "leaky.csv").write_text("\n".join(rows), encoding="utf-8")
    digests = {n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("clean.csv", "leaky.csv")}
    handed, add = [], leakscan._TextBatch.add

    def counted(batch, relative, text, *rest, **named):
        handed.append(len(text))
        return add(batch, relative, text, *rest, **named)

    monkeypatch.setattr(leakscan._TextBatch, "add", counted)
    report = scan_directory(tmp_path, hashes=digests, known_in_tables_only=True)
    assert len(handed) > 20 and max(handed) < 6000  # segments, the longest the one long line
    assert [(leak.file, leak.location, leak.kind) for leak in report.leaks] == [
        ("leaky.csv", "line 6", "mobile"),
        ("leaky.csv", "line 334", "resident_id"),
    ]
    assert digests["clean.csv"] in report.passed and digests["leaky.csv"] not in report.passed
    assert report.verified == {"clean.csv", "leaky.csv"} and report.files_scanned == 2


def test_a_large_file_hides_nothing_in_escapes_broken_bytes_or_a_byte_order_mark(tmp_path, monkeypatch):
    """A file larger than the batch, in segments that are views of its bytes: a segment with JSON's
    \\u escapes (any file) or markup's entities (a page) is decoded before the scan, one with bytes
    that are not UTF-8 is read with replacement characters, a byte-order mark is not a character of
    the first line — each value found at its line, in every segment."""
    import gongshi.leakscan as leakscan

    monkeypatch.setattr(leakscan._TextBatch, "LIMIT", 3000)
    filler = [f"r{i},南京市市场监督管理局,2026-11-01,未发现问题" for i in range(300)]
    escaped = "".join(f"\\u{ord(c):04x}" for c in MOBILE)
    entities = "".join(f"&#{ord(c)};" for c in ID)
    lines = [*filler[:100], f'{{"note": "联系{escaped}"}}', *filler[100:200], f"<p>身份证{entities}</p>", *filler[200:]]
    data = "\n".join(lines).encode("utf-8")
    broken = data.replace("未发现问题".encode(), b"\xff\xfe" + "未发现问题".encode(), 1)  # in the first segment
    broken += f"\n最后一行 联系{MOBILE}".encode()
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + broken)
    (tmp_path / "b.html").write_bytes(data)
    report = scan_directory(tmp_path, known_in_tables_only=True)
    found = sorted((leak.file, leak.location, leak.kind) for leak in report.leaks)
    assert found == [
        ("a.jsonl", "line 101", "mobile"),
        ("a.jsonl", "line 303", "mobile"),
        ("b.html", "line 101", "mobile"),
        ("b.html", "line 202", "resident_id"),
    ]


_PARTS = [
    ",",
    "，",
    f"联系{MOBILE}",
    f"身份证{ID}",
    "开户账号 1234567890123456",
    "x" * 70,
    "x" * 130,
    "2026-11-01",
    "电话 139 1234 5678",  # digits in groups
    "联系١٣٩١٢٣٤٥٦٧٨",  # digits NFKC does not fold
    "邮箱 zhang.san@163.com",
    "响\x07铃",  # a control character
]
_LONG = "x" * 130


@examples(max_examples=150, deadline=None)
@example(  # a leaky piece of two long lines, in one file and in another: reported at each of the three
    files=[[f"{_LONG},联系{MOBILE}", "a", f"联系{MOBILE},{_LONG}"], [f"{_LONG}x,联系{MOBILE}"]], limit=64 * 1024 * 1024
)
@given(
    files=st.lists(
        st.lists(st.lists(st.sampled_from(_PARTS), max_size=6).map("".join), min_size=1, max_size=12),
        min_size=1,
        max_size=4,
    ),
    limit=st.sampled_from([40, 300, 64 * 1024 * 1024]),
)
def test_the_gate_reports_what_the_detector_finds_in_each_line_at_every_line(files, limit):
    """Whatever the batch makes of the lines — distinct lines, those where the detector can find
    nothing left out, pieces of the long ones cut at their commas, pieces made distinct again,
    batches cut by size — each leak the detector finds in a line read alone (and each control
    character) is reported at that file and line, and nothing else is."""
    import tempfile
    from pathlib import Path
    from unittest import mock

    import gongshi.leakscan as leakscan

    expected = {
        (f"f{n}.csv", f"line {i + 1}", hit.kind)
        for n, lines in enumerate(files)
        for i, line in enumerate(lines)
        for hit in find(line)
    } | {
        (f"f{n}.csv", f"line {i + 1}", "control_character")
        for n, lines in enumerate(files)
        for i, line in enumerate(lines)
        if "\x07" in line
    }
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(leakscan._TextBatch, "LIMIT", limit):
        for n, lines in enumerate(files):
            (Path(folder) / f"f{n}.csv").write_text("\n".join(lines), encoding="utf-8")
        report = scan_directory(Path(folder), known_in_tables_only=True)
    assert {(leak.file, leak.location, leak.kind) for leak in report.leaks} == expected
