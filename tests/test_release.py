"""The release journalists download: formats that open correctly, Excel injection neutralised,
golden forms (CSV header and BOM, datapackage.json), a package frictionless validates as a whole,
manifests that match the files, DCAT and schema.org, retention."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import python_calamine
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshi.stages.release import verify_build
from gongshi.writers import writer_for
from gongshi.writers.csv import neutralise_formulas

from .conftest import DAY1, DAY2

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GONGSHI_UPDATE_GOLDEN") == "1"


def _golden(name: str, actual: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(actual)
    assert path.exists(), f"no golden file {name} (GONGSHI_UPDATE_GOLDEN=1 writes it; review and commit it)"
    assert actual == path.read_bytes(), f"{name} differs from its golden file (GONGSHI_UPDATE_GOLDEN=1 to accept)"


def latest(settings) -> Path:
    return settings.public / "latest"


def test_csv_header_and_bom_golden(published_demo):
    data = (latest(published_demo) / "datasets/inspection_results/inspection_results.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    _golden("inspection_results.csv.head", data.split(b"\r\n", 1)[0] + b"\r\n")
    blacklist = (latest(published_demo) / "datasets/blacklist_entries/blacklist_entries.csv").read_bytes()
    _golden("blacklist_entries.csv.head", blacklist.split(b"\r\n", 1)[0] + b"\r\n")


def test_datapackage_golden(published_demo):
    _golden("datapackage.json", (latest(published_demo) / "datapackage.json").read_bytes())


def test_csv_opens_as_excel_would_and_formulas_are_neutralised(published_demo):
    text = (latest(published_demo) / "datasets/inspection_results/inspection_results.csv").read_text("utf-8-sig")
    assert '"\'=HYPERLINK(""http://example.invalid"",""点击"")"' in text
    assert "<img src=x onerror=" in text  # markup is data in a CSV; the site escapes it


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+86 抽查", "'+86 抽查"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ("正常文本=1", "正常文本=1"),
        ("2026-11-26", "2026-11-26"),
        ("", ""),
    ],
)
def test_excel_injection_cases(value, safe):
    assert neutralise_formulas(pa.array([value])).to_pylist() == [safe]


@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from("=+-@\t\r\n '甲1aé\u3000"), max_size=6))))
def test_formulas_are_neutralised_as_a_regular_expression_over_each_cell_would(cells):
    """Compared as a column, cell by cell as the first character would be matched, nulls kept."""
    import re

    formula = re.compile(r"^[=+\-@\t\r]")
    expected = [None if c is None else "'" + c if formula.match(c) else c for c in cells]
    assert neutralise_formulas(pa.array(cells, pa.string())).to_pylist() == expected
    assert neutralise_formulas(pa.chunked_array([pa.array(cells, pa.large_string())])).to_pylist() == expected


def test_every_format_opens(published_demo):
    folder = latest(published_demo) / "datasets/blacklist_entries"
    parquet = pq.read_table(folder / "blacklist_entries.parquet")
    assert parquet.num_rows == 17 and parquet.column_names[0] == "record_id"
    assert parquet.schema.field("listed_on").type == pa.date32()
    assert parquet.schema.field("credit_code").metadata[b"title"].decode() == "统一社会信用代码"
    assert "legal_representative_id_number" not in parquet.column_names
    lines = (folder / "blacklist_entries.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 17 and list(first)[:3] == ["record_id", "list_type", "entity_name"]
    assert first["listed_on"] == parquet["listed_on"][0].as_py().isoformat()  # dates as ISO text
    rows = python_calamine.CalamineWorkbook.from_path(str(folder / "blacklist_entries.xlsx")).get_sheet_by_index(0)
    sheet = rows.to_python()
    assert sheet[0] == parquet.column_names and len(sheet) == 18
    with sqlite3.connect(latest(published_demo) / "gongshi.sqlite") as db:
        assert db.execute("SELECT count(*) FROM blacklist_entries").fetchone() == (17,)
        assert db.execute("SELECT count(*) FROM inspection_results").fetchone() == (39,)
        assert db.execute(
            "SELECT title FROM _fields WHERE dataset = 'inspection_results' AND name = 'credit_code'"
        ).fetchone() == ("统一社会信用代码",)


def test_rows_in_deterministic_order_and_columns_in_schema_order(published_demo, catalog):
    table = pq.read_table(latest(published_demo) / "datasets/inspection_results/inspection_results.parquet")
    keys = list(zip(*(table[k].to_pylist() for k in catalog["inspection_results"].primary_key), strict=True))
    assert keys == sorted(keys)
    assert table.column_names[-8:] == [
        "status",
        "first_published",
        "last_updated",
        "corrected_on",
        "expires_on",
        "publication_delay",
        "published_on_time",
        "flags",
    ]


def test_the_package_validates_as_a_whole_with_frictionless(published_demo):
    for package in (latest(published_demo) / "datapackage.json", published_demo.public / "datapackage.json"):
        done = subprocess.run(
            [sys.executable, "-m", "frictionless", "validate", "--trusted", str(package)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:]
    root = json.loads((published_demo.public / "datapackage.json").read_text(encoding="utf-8"))
    assert all(r["path"].startswith(f"releases/{DAY2}/") for r in root["resources"])
    formats = {r["name"] for r in root["resources"]}
    assert {
        "inspection_results-csv",
        "inspection_results-parquet",
        "inspection_results-jsonl",
        "inspection_results-xlsx",
        f"inspection_results-changes-{DAY1}",
        f"inspection_results-changes-{DAY2}",
        "gongshi-sqlite",
    } <= formats
    # every resource, Parquet included, says its size and sha256
    assert all(r["bytes"] > 0 and r["hash"].startswith("sha256:") for r in root["resources"])
    resource = next(r for r in root["resources"] if r["name"] == "inspection_results-csv")
    assert resource["hash"].startswith("sha256:") and resource["bytes"] > 0
    assert resource["licenses"][0]["name"] == "CC-BY-4.0" and resource["sources"][0]["title"]


def test_manifest_and_checksums_match_every_release(published_demo):
    for day in (DAY1, DAY2):
        build = published_demo.public / "releases" / day
        assert verify_build(build) == []
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        on_disk = {p.relative_to(build.resolve()).as_posix() for p in build.resolve().rglob("*") if p.is_file()}
        assert on_disk - set(manifest["files"]) == {"manifest.json", "SHA256SUMS"}
        # sizes as the disk has them (a page's counted as it was written, not read back)
        sizes = {path: (build / path).stat().st_size for path in manifest["files"]}
        assert {path: entry["bytes"] for path, entry in manifest["files"].items()} == sizes
        assert any(path.startswith("entity/") for path in sizes)
        sums = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=build, capture_output=True, text=True)
        assert sums.returncode == 0, sums.stdout


def test_a_file_left_to_confirm_that_is_gone_or_changed_is_a_problem_not_a_crash(tmp_path):
    from gongshi.stages.release import hash_problems

    (tmp_path / "a.html").write_text("<p>一</p>", "utf-8")
    (tmp_path / "b.html").write_text("<p>二</p>", "utf-8")
    files = {
        name: {"bytes": 12, "sha256": hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()}
        for name in ("a.html", "b.html")
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}), "utf-8")
    assert hash_problems(tmp_path, ["a.html", "b.html"]) == []
    (tmp_path / "a.html").write_text("<p>三</p>", "utf-8")
    (tmp_path / "b.html").unlink()
    assert hash_problems(tmp_path, ["a.html", "b.html"]) == [
        "a.html: sha256 differs",
        "b.html: cannot be read (No such file or directory)",
    ]


def test_dated_releases_and_latest(published_demo):
    public = published_demo.public
    assert (public / "latest").resolve() == (public / "releases" / DAY2).resolve()
    day1 = pq.read_table(public / "releases" / DAY1 / "datasets/blacklist_entries/blacklist_entries.parquet")
    assert day1.num_rows == 16 and set(day1["status"].to_pylist()) == {"active"}
    assert "url=latest/" in (public / "index.html").read_text(encoding="utf-8")


def test_unchanged_dataset_files_are_hard_links(published_demo):
    day1 = published_demo.public / "releases" / DAY1 / "datasets/approval_item_changes/approval_item_changes.csv"
    day2 = published_demo.public / "releases" / DAY2 / "datasets/approval_item_changes/approval_item_changes.csv"
    assert day1.stat().st_ino == day2.stat().st_ino


def test_dcat_and_schema_org(published_demo):
    dcat = json.loads((latest(published_demo) / "dcat.jsonld").read_text(encoding="utf-8"))
    assert dcat["@type"] == "dcat:Catalog" and len(dcat["dcat:dataset"]) == 4
    dataset = next(d for d in dcat["dcat:dataset"] if d["dct:identifier"] == "blacklist_entries")
    csv = next(d for d in dataset["dcat:distribution"] if d["dct:format"]["@id"].endswith("/file-type/CSV"))
    assert csv["dcat:downloadURL"]["@id"].endswith(f"/releases/{DAY2}/datasets/blacklist_entries/blacklist_entries.csv")
    assert (
        csv["spdx:checksum"]["spdx:checksumValue"]["@value"]
        == json.loads((latest(published_demo) / "manifest.json").read_text(encoding="utf-8"))["files"][
            "datasets/blacklist_entries/blacklist_entries.csv"
        ]["sha256"]
    )
    org = json.loads((latest(published_demo) / "datasets/blacklist_entries/schema-org.jsonld").read_text("utf-8"))
    assert org["@type"] == "Dataset" and org["license"].startswith("https://creativecommons.org/")
    assert {d["encodingFormat"] for d in org["distribution"]} >= {"text/csv", "application/vnd.apache.parquet"}


def test_xlsx_writer_refuses_what_excel_cannot_hold():
    writer = writer_for("xlsx")
    assert writer.fits(pa.table({"a": [1] * 10}))
    assert not writer.fits(pa.table({"a": pa.nulls(1_048_576)}))
    assert not writer.fits(pa.table({"a": pa.nulls(200_001)}))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.text(st.characters(exclude_categories=["Cs"])),
            st.none() | st.integers(-(2**53), 2**53),
            st.none() | st.dates(),
            st.none() | st.booleans(),
        ),
        max_size=30,
    )
)
def test_json_lines_hold_each_row_as_it_is_one_a_line(rows):
    """A line per row in the table's order, keys in column order; a whole number stays one beside a
    gap, a date is its ISO text; any text — quotes, backslashes, slashes, U+2028 — round-trips."""
    import datetime as dt
    import tempfile

    table = pa.table(
        {
            "text": pa.array([r[0] for r in rows], pa.string()),
            "count": pa.array([r[1] for r in rows], pa.int64()),
            "day": pa.array([r[2] for r in rows], pa.date32()),
            "flag": pa.array([r[3] for r in rows], pa.bool_()),
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "o'neil.jsonl"  # a quote in the path
        writer_for("jsonl").write(table, [], path)
        data = path.read_bytes()
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(rows) + 1  # every line ends with a newline
    parsed = [json.loads(line) for line in lines[:-1]]
    assert [list(p) for p in parsed] == [["text", "count", "day", "flag"]] * len(rows)
    expected = [
        {"text": t, "count": n, "day": d.isoformat() if isinstance(d, dt.date) else None, "flag": f}
        for t, n, d, f in rows
    ]
    assert parsed == expected
    assert all(type(p["count"]) is int for p in parsed if p["count"] is not None)


def test_spreadsheets_and_database_written_beside_are_the_same_files(published_demo, tmp_path, monkeypatch):
    """The whole-table spreadsheets and the SQLite database, shared between two processes while the
    first writes the rest, make the same release, byte for byte, as one process does."""
    import gongshi.site as site
    from gongshi.settings import Settings
    from gongshi.stages import release, run_day

    monkeypatch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
    monkeypatch.setattr(release, "BESIDE_ABOVE_CELLS", 0)
    monkeypatch.setattr(site, "PARALLEL_ABOVE", 0)  # the site's pages in two processes too
    forks = []
    both = release.parallel.both
    counted = lambda *a, **k: forks.append(k.get("parallel", True)) or both(*a, **k)  # noqa: E731
    monkeypatch.setattr(release.parallel, "both", counted)
    settings = Settings(inbox=published_demo.inbox, public=tmp_path / "public", state=tmp_path / "state")
    assert not any(run_day(settings, day).failed_checks for day in (DAY1, DAY2))
    # each day: the data files, the site, the checks (the change files stay with the datasets' files
    # while the whole tables are written beside)
    assert len(forks) == 8 and forks.count(True) == 6
    for day in (DAY1, DAY2):
        one = json.loads((published_demo.public / "releases" / day / "manifest.json").read_text("utf-8"))
        two = json.loads((settings.public / "releases" / day / "manifest.json").read_text("utf-8"))
        assert two == one
        assert {"gongshi.sqlite", "datasets/honour_list/honour_list.xlsx"} <= set(two["files"])


def test_change_files_written_beside_the_datasets_parts_are_the_same_files(published_demo, tmp_path, monkeypatch):
    """Every dataset in parts (no whole table to write beside): the change files and sync feeds are
    written by a forked process while this one writes the parts — the same release, byte for byte,
    and the same build record (files linked, fingerprints kept), as one process makes."""
    from gongshi.settings import Settings
    from gongshi.snapshots import BuildRecord
    from gongshi.stages import release, run_day

    monkeypatch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
    made, both = {}, release.parallel.both
    for name, beside in (("one", False), ("two", True)):
        monkeypatch.setattr(release, "BESIDE_ABOVE_CELLS", 0 if beside else 10**15)
        forks = []
        counted = lambda *a, forks=forks, **k: forks.append(k.get("parallel", True)) or both(*a, **k)  # noqa: E731
        monkeypatch.setattr(release.parallel, "both", counted)
        folder = tmp_path / name
        settings = Settings(inbox=published_demo.inbox, public=folder / "public", state=folder / "state", parts_above=1)
        assert not any(run_day(settings, day).failed_checks for day in (DAY1, DAY2))
        assert forks[0::3] == [beside, beside]  # each day: the change files, the site, the checks
        made[name] = [
            (
                json.loads((settings.public / "releases" / day / "manifest.json").read_text("utf-8")),
                BuildRecord.load(settings.layout.build_record(day)).parts,
            )
            for day in (DAY1, DAY2)
        ]
        monkeypatch.setattr(release.parallel, "both", both)
    assert made["two"] == made["one"]
    manifest, prints = made["two"][1]
    assert any(p.startswith(f"changes/{DAY2}/") and p.endswith(".csv") for p in manifest["files"])
    assert any(key.endswith(".sync") for key in prints) and not any(".xlsx" in p for p in manifest["files"])


def test_the_package_check_reads_only_the_entries_and_files_that_did_not_pass_before(
    published_demo, tmp_path, monkeypatch
):
    """A resource whose entry and bytes passed before is handed to frictionless neither for its entry
    nor for its data; a changed entry is, and so is the package's own list (names stay unique)."""
    import shutil

    import gongshi.stages.checks as checks

    build = tmp_path / "build"
    shutil.copytree(latest(published_demo).resolve(), build, copy_function=shutil.copy)
    problems, clean = checks.package_problems(build)
    descriptor = json.loads((build / "datapackage.json").read_text("utf-8"))
    assert problems == [] and len(clean) == len(descriptor["resources"])
    read = []
    real = checks._resource_problems
    monkeypatch.setattr(checks, "_resource_problems", lambda b, r, s=None: read.append(r.name) or real(b, r, s))
    assert checks.package_problems(build, frozenset(clean)) == ([], clean) and read == []
    changed = descriptor["resources"][3]
    original = changed["schema"]["fields"][0]["type"]
    changed["schema"]["fields"][0]["type"] = "no-such-type"
    (build / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), "utf-8")
    problems, _ = checks.package_problems(build, frozenset(clean))
    assert problems and all(p.startswith("datapackage.json: ") for p in problems), problems
    changed["schema"]["fields"][0]["type"] = original
    changed["description"] += "（说明已更新）"  # a valid entry, new: its data is read, only it
    (build / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), "utf-8")
    problems, again = checks.package_problems(build, frozenset(clean))
    assert read == [changed["name"]] and len(again) == len(clean)
    descriptor["resources"][3]["name"] = descriptor["resources"][0]["name"]
    (build / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), "utf-8")
    problems, _ = checks.package_problems(build, frozenset(clean))
    assert f"datapackage.json: resource name {descriptor['resources'][0]['name']!r} used 2 times" in problems
    (build / "datapackage.json").write_text('{"resources": [', "utf-8")
    problems, clean = checks.package_problems(build, frozenset(clean))
    assert problems[0].startswith("datapackage.json: cannot be read as JSON") and not clean


def test_the_package_check_finds_a_spreadsheet_cell_and_a_csv_header_that_break_the_schema(published_demo, tmp_path):
    """The blocking package check reads a spreadsheet on its first rows through frictionless and every
    CSV whole through Arrow: a date column holding text, or a renamed CSV column, fails it."""
    import shutil

    import openpyxl

    from gongshi.stages.checks import package_problems

    build = tmp_path / "build"
    shutil.copytree(latest(published_demo).resolve(), build, copy_function=shutil.copy)
    assert package_problems(build)[0] == []
    book_path = build / "datasets/honour_list/honour_list.xlsx"
    book = openpyxl.load_workbook(book_path)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    sheet.cell(row=3, column=header.index("first_published") + 1, value="not a date")
    book.save(book_path)
    csv_path = build / "datasets/approval_item_changes/approval_item_changes.csv"
    text = csv_path.read_text(encoding="utf-8-sig")
    csv_path.write_text("\ufeff" + text.replace("item_code", "item_kode", 1), encoding="utf-8")
    lines_path = build / "datasets/inspection_results/inspection_results.jsonl"
    records = lines_path.read_bytes().splitlines(keepends=True)
    lines_path.write_bytes(b"".join(records[:-1]))  # a record lost past the sample frictionless reads
    problems, clean = package_problems(build)
    assert any(p.startswith("honour_list-xlsx: type-error") for p in problems), problems
    assert any(p.startswith("approval_item_changes-csv") and "item_kode" in p for p in problems), problems
    assert f"inspection_results-jsonl: {len(records) - 1} lines, the Parquet table has {len(records)} rows" in problems
    assert len(clean) < len(package_problems(published_demo.public / "latest")[1])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.text(alphabet='ab,"\n\r 江苏=1', max_size=8), min_size=3, max_size=3), max_size=30),
    bom=st.booleans(),
)
def test_the_csv_shape_is_its_header_and_its_records_however_the_cells_are_quoted(rows, bom, tmp_path_factory):
    """`csv_shape` counts records, not lines: cells with commas, quotes and line breaks quoted where
    needed with CRLF line ends (as the release's writer writes them), with or without the byte-order
    mark."""
    import csv
    import io

    from gongshi.stages.checks import csv_shape

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["record_id", "名称", "备注"])
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.getvalue().encode("utf-8"))
    assert csv_shape(path) == (["record_id", "名称", "备注"], len(rows))


def test_a_csv_broken_past_the_sample_fails_the_package_check_with_its_reason(published_demo, tmp_path):
    """A row of the wrong width, a record lost or bytes that are not UTF-8, anywhere in a CSV, are
    problems of the blocking check — named, not a crash of the checks stage."""
    import shutil

    from gongshi.stages.checks import package_problems

    build = tmp_path / "build"
    shutil.copytree(latest(published_demo).resolve(), build, copy_function=shutil.copy)
    wide = build / "datasets/approval_item_changes/approval_item_changes.csv"
    wide.write_bytes(wide.read_bytes() + b'"one","row","too","wide"\n')
    short = build / "datasets/honour_list/honour_list.csv"
    lines = short.read_bytes().splitlines(keepends=True)
    short.write_bytes(b"".join(lines[:-1]))
    garbled = build / "datasets/blacklist_entries/blacklist_entries.csv"
    rows = garbled.read_bytes().splitlines(keepends=True)
    first, _, rest = rows[-1].partition(b",")
    garbled.write_bytes(b"".join(rows[:-1]) + first + b",\xff\xfe" + rest)  # not UTF-8, past the first column
    problems, clean = package_problems(build)
    assert any(p.startswith("blacklist_entries-csv: cannot be read as CSV") and "UTF8" in p for p in problems), problems
    assert any(
        p.startswith("approval_item_changes-csv: cannot be read as CSV") and "Expected" in p for p in problems
    ), problems
    assert f"honour_list-csv: {len(lines) - 2} rows, the Parquet table has {len(lines) - 1}" in problems, problems
    assert len(clean) < len(package_problems(published_demo.public / "latest")[1])


def test_the_change_table_compares_only_the_rows_that_changed_and_finds_the_same(published_demo, catalog, tmp_path):
    """Records whose row digest the previous release kept are set apart before the comparison: the
    change table is the one the whole tables give — records added, corrected, gone and unchanged."""
    import pyarrow.compute as pc

    from gongshi.changes import changes
    from gongshi.stages.release import unchanged_apart
    from gongshi.sync import compare
    from gongshi.tables import row_digests

    layout = published_demo.layout
    dataset = catalog["blacklist_entries"]
    before = pq.read_table(layout.published_table(DAY1, dataset.id))
    now = pq.read_table(layout.published_table(DAY2, dataset.id))
    # one more correction and one record gone (expired), beside what the demo's second day changed
    name = dataset.site.entity.name
    renamed = pc.if_else(pc.equal(now["record_id"], now["record_id"][0]), "更正后的名称", now[name])
    expired_id = now["record_id"][-1].as_py()
    now = now.set_column(now.schema.get_field_index(name), name, renamed).slice(0, now.num_rows - 1)
    digests = row_digests(now)
    kept = tmp_path / "kept.parquet"
    pq.write_table(pa.table({"record_id": before["record_id"], "digest": row_digests(before)}), kept)
    compared_before, compared_now = unchanged_apart(before, now, compare(pq.read_table(kept), digests))
    assert compared_now.num_rows < now.num_rows and compared_before.num_rows < before.num_rows
    gone = {expired_id: "expired"}
    whole = changes(before, now, dataset, DAY2, gone, {})
    apart = changes(compared_before, compared_now, dataset, DAY2, gone, {})
    assert apart.equals(whole) and whole.num_rows
    assert {"corrected", "expired"} <= set(whole["change"].to_pylist())
    # without kept digests, the whole tables are compared
    assert unchanged_apart(before, now, None) == (before, now)


def test_queries_share_the_processs_database_not_what_they_register_and_a_forked_child_has_its_own():
    import duckdb

    from gongshi import parallel, tables

    table = pa.table({"a": ["x", None], "b": [1, 2]})
    with tables.query() as one, tables.query() as other:
        one.register("t", table)
        assert one.execute("SELECT count(*) FROM t").fetchall() == [(2,)]
        with pytest.raises(duckdb.CatalogException):
            other.execute("SELECT count(*) FROM t")

    def count() -> tuple[int, int, int]:
        with tables.query() as db:
            db.register("t", table)
            (rows,) = db.execute("SELECT count(*) FROM t").fetchall()[0]
        return rows, tables._SHARED[0][0], len(tables._INHERITED)

    assert count() == (2, os.getpid(), 0)
    mine = tables._SHARED[0]
    if parallel.cores() < 2:
        pytest.skip("both() forks only with a second core")
    again, forked = parallel.both(count, count)
    assert again == (2, os.getpid(), 0) and forked[0] == 2 and forked[1] != os.getpid() and forked[2] == 1
    assert tables._SHARED[0] is mine  # the parent's is its own still


def test_row_digests_tell_apart_what_a_joined_text_could_confuse():
    from gongshi.tables import row_digests

    table = pa.table(
        {
            "a": ["x", "x", None, "", "x y", "x"],
            "b": ["y z", "y", "", None, "z", "y"],
            "n": pa.array([[1], [1], [], None, [1, 2], [1]], pa.list_(pa.int64())),
        }
    )
    digests = row_digests(table).to_pylist()
    assert len(set(digests[:5])) == 5  # NULL is not "", and a cell's text does not run into the next
    assert digests[1] == digests[5] and all(len(d) == 32 for d in digests)
    assert row_digests(table.slice(1, 1)).to_pylist() == [digests[1]]  # a row's digest is its own
    assert row_digests(table.slice(0, 0)).to_pylist() == []


def test_digests_kept_by_another_version_are_computed_again(published_demo, catalog):
    from gongshi import sync
    from gongshi.stages.release import kept_digests
    from gongshi.tables import DIGEST_VERSION, row_digests

    layout = published_demo.layout
    before = pq.read_table(layout.published_table(DAY1, "blacklist_entries"))
    path = layout.published_digests(DAY1, "blacklist_entries")
    kept = pq.read_table(path)
    assert sync.kept_version(kept) == DIGEST_VERSION
    assert kept_digests(layout, "blacklist_entries", DAY1, before)["digest"].equals(kept["digest"])
    # a file kept by the version before (the JSON of each row, no version recorded): not compared
    old = pa.table({"record_id": kept["record_id"], "digest": pa.array(["0" * 32] * kept.num_rows)})
    pq.write_table(old, path)
    try:
        again = kept_digests(layout, "blacklist_entries", DAY1, before)
        assert again["digest"].to_pylist() == row_digests(before).to_pylist()
        assert sync.kept_version(again) == DIGEST_VERSION
    finally:
        pq.write_table(kept, path)


def test_a_record_kept_by_linking_is_the_record_and_outlives_a_later_save(tmp_path):
    from gongshi.snapshots import BuildRecord, copy_record

    files = {"a.csv": {"bytes": 3, "sha256": "ab" * 32, "media_type": "text/csv"}}
    record = BuildRecord("2026-11-02", "b1", files, {"x": "h"}, {}, {"x": 1}, None, {"p.html": "f"}, {"p.html": DAY1})
    record.save(tmp_path / "build.json")
    copy_record(tmp_path / "build.json", tmp_path / "kept" / "release.json")
    kept = BuildRecord.load(tmp_path / "kept" / "release.json")
    assert (kept.files, kept.site, kept.modified, kept.records) == (files, {"p.html": "f"}, {"p.html": DAY1}, {"x": 1})
    # the next build saves its record where this one was: the kept one stays as it was
    BuildRecord("2026-11-03", "b2", {}, {}, {}, {}, None, {}, {}).save(tmp_path / "build.json")
    again = BuildRecord.load(tmp_path / "kept" / "release.json")
    assert (again.release, again.files, again.site) == ("2026-11-02", files, {"p.html": "f"})


def test_a_cell_not_of_its_type_past_the_sample_fails_the_package_check(published_demo, tmp_path, monkeypatch):
    """frictionless reads a CSV's first rows; every cell of every row is parsed to its column's schema
    type by Arrow: a date that is not one, in the last row, is named — its column and its value."""
    import shutil

    from gongshi.stages import checks

    monkeypatch.setattr(checks, "SAMPLE_ROWS", 2)
    build = tmp_path / "build"
    shutil.copytree(latest(published_demo).resolve(), build, copy_function=shutil.copy)
    path = build / "datasets/honour_list/honour_list.csv"
    *rows, last = path.read_bytes().splitlines(keepends=True)
    date = re.search(rb",(\d{4}-\d\d-\d\d),", last).group(1)
    path.write_bytes(b"".join(rows) + last.replace(date, b"2026-13-45", 1))
    problems, _ = checks.package_problems(build)
    assert any(p.startswith("honour_list-csv: cannot be read as CSV") and "2026-13-45" in p for p in problems), problems
    assert checks.package_problems(latest(published_demo).resolve())[0] == []


def test_arrow_types_only_the_fields_it_reads_as_frictionless_does():
    """A field in a form of its own — a date format, group separators, words for true — is read as
    text by the whole-file parse (frictionless still reads it on its sample), never flagged for it."""
    from frictionless import Schema

    from gongshi.stages.checks import _arrow_reads

    fields = [
        {"name": "day", "type": "date"},
        {"name": "slashed", "type": "date", "format": "%Y/%m/%d"},
        {"name": "count", "type": "integer"},
        {"name": "amount", "type": "number"},
        {"name": "grouped", "type": "number", "groupChar": ","},
        {"name": "yes", "type": "boolean"},
        {"name": "chinese", "type": "boolean", "trueValues": ["是"], "falseValues": ["否"]},
        {"name": "text", "type": "string"},
    ]
    read = {f.name: _arrow_reads(f) for f in Schema.from_descriptor({"fields": fields}).fields}
    assert read == {
        "day": True,
        "slashed": False,
        "count": True,
        "amount": True,
        "grouped": False,
        "yes": True,
        "chinese": False,
        "text": False,
    }


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xyz"), st.booleans()), min_size=1, max_size=12),
    st.lists(st.sampled_from("abcdefghijklm"), max_size=4, unique=True),
    st.integers(0, 3),
)
def test_records_set_apart_are_those_whose_row_is_today_as_it_was(rows, new_ids, taken_down):
    """`unchanged_apart` leaves in `before` the records the comparison left (changed or gone), as
    setting apart every record whose row is today's as it was did — also when `before` lacks records
    the kept digests hold (taken down since) and today adds records."""
    import pyarrow.compute as pc

    from gongshi.stages.release import unchanged_apart
    from gongshi.sync import compare, digests_table
    from gongshi.tables import row_digests

    ids = [f"r{i}" for i in range(len(rows))]
    earlier = pa.table({"record_id": ids, "name": [a for a, _, _ in rows]})
    kept = digests_table(earlier, row_digests(earlier))
    before = earlier.slice(taken_down) if taken_down < earlier.num_rows else earlier.slice(0, 0)
    # today: each record as it was or renamed, or gone (`keep` false); and new records
    today_rows = [(i, a if b == "x" else b) for i, (a, b, keep) in zip(ids, rows, strict=True) if keep]
    today_rows += [(f"n{i}", i) for i in new_ids]
    now = pa.table({"record_id": [i for i, _ in today_rows], "name": [n for _, n in today_rows]}, earlier.schema)
    compared = compare(kept, row_digests(now))
    got_before, got_now = unchanged_apart(before, now, compared)
    if not pc.any(compared.same).as_py():
        assert (got_before, got_now) == (before, now)
        return
    unchanged = now["record_id"].filter(compared.same)
    assert got_before.equals(before.filter(pc.invert(pc.is_in(before["record_id"], value_set=unchanged))))
    assert got_now.equals(now.filter(pc.invert(compared.same)))


def test_the_manifest_written_is_read_back_as_the_file_says_and_a_changed_file_again(tmp_path):
    """`write_manifest` keeps the entries it wrote for `manifest_files`: they are what the file
    parses to; once the file is replaced, the new bytes are read."""
    from gongshi.stages import release

    files = {
        "b/两.html": {"bytes": 3, "sha256": "b" * 64, "media_type": "text/html"},
        "a.csv": {"bytes": 10.0, "sha256": "a" * 64, "media_type": "text/csv"},
    }
    release.write_manifest(tmp_path, "2026-12-02", files)
    kept = release.manifest_files(tmp_path)
    parsed = json.loads((tmp_path / "manifest.json").read_text("utf-8"))["files"]
    assert kept == parsed == {"a.csv": {"bytes": 10, "sha256": "a" * 64}, "b/两.html": {"bytes": 3, "sha256": "b" * 64}}
    assert list(kept) == list(parsed)
    text = (tmp_path / "manifest.json").read_text("utf-8").replace('"bytes": 10', '"bytes": 11')
    (tmp_path / "manifest.json.new").write_text(text, "utf-8")
    (tmp_path / "manifest.json.new").replace(tmp_path / "manifest.json")
    assert release.manifest_files(tmp_path)["a.csv"]["bytes"] == 11


def test_folder_links_link_by_name_take_back_and_copy_across_file_systems(tmp_path, monkeypatch):
    import errno

    from gongshi.storage import FolderLinks

    source, target = tmp_path / "old", tmp_path / "new"
    source.mkdir()
    target.mkdir()
    (source / "a.html").write_bytes(b"<p>a</p>")
    (source / "b.json").write_bytes(b"{}")
    with FolderLinks(str(source), str(target)) as links:
        links.link("a.html")
        assert (target / "a.html").read_bytes() == b"<p>a</p>"
        assert os.stat(target / "a.html").st_ino == os.stat(source / "a.html").st_ino  # a link, not a copy
        with pytest.raises(FileNotFoundError):
            links.link("missing.json")
        assert not (target / "missing.json").exists()
        links.unlink("a.html")
        assert not (target / "a.html").exists() and (source / "a.html").exists()
        real_link = os.link

        def across(*args, **kwargs):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", across)
        links.link("b.json")  # another file system: copied
        monkeypatch.setattr(os, "link", real_link)
        assert (target / "b.json").read_bytes() == b"{}"
        assert os.stat(target / "b.json").st_ino != os.stat(source / "b.json").st_ino
    with pytest.raises(FileNotFoundError):
        FolderLinks(str(tmp_path / "nowhere"), str(target))
