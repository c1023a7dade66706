"""Large datasets in parts by first-published day: the parts together are the table, a part is written
again only when one of its records changed (else a hard link to the day before), past days' change
files are hard links, and the Data Package, DCAT and the dataset page describe what is there."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshi import parts
from gongshi.stages import run_day
from gongshi.tables import row_digests

from .conftest import DAY1, DAY2


def _table(rows: list[tuple[str, str, str]]) -> pa.Table:
    record_id, day, name = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {
            "record_id": pa.array(record_id, pa.string()),
            "entity_name": pa.array(name, pa.string()),
            "first_published": pc.cast(pa.array(day, pa.string()), pa.date32()),
        }
    )


def test_split_groups_by_first_published_day_in_record_order():
    table = _table([("bz", "2026-11-02", "乙"), ("ba", "2026-11-01", "甲"), ("bc", "2026-11-01", "丙")])
    split = parts.split(table, row_digests(table))
    assert [p.day for p in split] == ["2026-11-01", "2026-11-02"]
    assert split[0].rows["record_id"].to_pylist() == ["ba", "bc"]
    assert split[1].rows["entity_name"].to_pylist() == ["乙"]
    assert split[0].stem("x") == "datasets/x/parts/x-2026-11-01"


def test_a_part_fingerprint_changes_only_with_its_own_rows():
    rows = [("ba", "2026-11-01", "甲"), ("bb", "2026-11-01", "乙"), ("bc", "2026-11-02", "丙")]
    before = {p.day: p.fingerprint for p in parts.split(_table(rows), row_digests(_table(rows)))}
    shuffled = _table(list(reversed(rows)))
    assert {p.day: p.fingerprint for p in parts.split(shuffled, row_digests(shuffled))} == before
    corrected = _table([("ba", "2026-11-01", "甲公司"), *rows[1:]])
    after = {p.day: p.fingerprint for p in parts.split(corrected, row_digests(corrected))}
    assert after["2026-11-01"] != before["2026-11-01"] and after["2026-11-02"] == before["2026-11-02"]
    removed = _table(rows[1:])
    assert {p.day: p.fingerprint for p in parts.split(removed, row_digests(removed))}["2026-11-01"] != before[
        "2026-11-01"
    ]
    salted = {p.day: p.fingerprint for p in parts.split(_table(rows), row_digests(_table(rows)), "other fields")}
    assert salted["2026-11-02"] != before["2026-11-02"]


@given(st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=50))
def test_digest_words_are_the_hex_digests_read_as_numbers(raw):
    hexes = [r.hex() for r in raw]
    words = parts._digest_words(pa.array(hexes))
    assert [(int(h[:16], 16), int(h[16:], 16)) for h in hexes] == [(int(a), int(b)) for a, b in words]


def test_digest_words_refuse_what_is_not_a_digest():
    with pytest.raises(ValueError):
        parts._digest_words(pa.array(["Z" * 32]))


@pytest.fixture(scope="module")
def parted(tmp_path_factory):
    """The two demo days published with every dataset in parts, and a third day that corrects one
    inspection record of the first day."""
    import shutil

    from gongshi.paths import DEMO_INBOX
    from gongshi.settings import Settings

    root = tmp_path_factory.mktemp("parted")
    inbox = root / "inbox"
    shutil.copytree(DEMO_INBOX, inbox)
    settings = Settings(inbox=inbox, public=root / "public", state=root / "state", parts_above=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
        builds = {}
        for day in (DAY1, DAY2):
            result = run_day(settings, day)
            assert not result.failed_checks, result.failed_checks
            builds[day] = (settings.public / "releases" / day).resolve()
    return settings, builds


def _parts(build, dataset, suffix):
    return sorted((build / "datasets" / dataset / "parts").glob(f"*{suffix}"))


def test_parts_together_are_the_published_table(parted):
    settings, builds = parted
    for dataset in ("inspection_results", "blacklist_entries", "approval_item_changes", "honour_list"):
        table = pq.read_table(settings.layout.published_table(DAY2, dataset))
        joined = pa.concat_tables([pq.read_table(p) for p in _parts(builds[DAY2], dataset, ".parquet")])
        assert sorted(joined["record_id"].to_pylist()) == sorted(table["record_id"].to_pylist())
        for path in _parts(builds[DAY2], dataset, ".parquet"):
            days = pq.read_table(path)["first_published"].cast(pa.string()).unique().to_pylist()
            assert len(days) == 1 and path.stem == f"{dataset}-{days[0]}"
        csv_rows = []
        for path in _parts(builds[DAY2], dataset, ".csv"):
            csv_rows += list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
        jsonl_rows = [
            json.loads(line) for p in _parts(builds[DAY2], dataset, ".jsonl") for line in p.open(encoding="utf-8")
        ]
        assert len(csv_rows) == len(jsonl_rows) == table.num_rows
        # a dataset in parts has no whole-table files and is not in the SQLite database
        assert not (builds[DAY2] / "datasets" / dataset / f"{dataset}.csv").exists()
    assert not (builds[DAY2] / "gongshi.sqlite").exists()


def test_unchanged_parts_and_past_change_files_are_hard_links(parted):
    _, builds = parted
    day1_parts = {p.name: p for p in _parts(builds[DAY1], "honour_list", "")}
    assert day1_parts
    for name, path in day1_parts.items():
        later = builds[DAY2] / "datasets/honour_list/parts" / name
        assert later.stat().st_ino == path.stat().st_ino, name  # the red list's first day did not change
    for suffix in (".csv", ".jsonl"):
        first = builds[DAY1] / f"changes/{DAY1}/honour_list{suffix}"
        assert (builds[DAY2] / f"changes/{DAY1}/honour_list{suffix}").stat().st_ino == first.stat().st_ino


def test_a_part_is_written_again_when_one_of_its_records_changes(parted):
    _, builds = parted
    # blacklist day 2 removes listings made on day 1: day 1's part must be new, with the removal in it
    before = builds[DAY1] / f"datasets/blacklist_entries/parts/blacklist_entries-{DAY1}.parquet"
    after = builds[DAY2] / f"datasets/blacklist_entries/parts/blacklist_entries-{DAY1}.parquet"
    assert after.stat().st_ino != before.stat().st_ino
    assert "removed" in pq.read_table(after)["status"].to_pylist()
    assert "removed" not in pq.read_table(before)["status"].to_pylist()


def test_package_and_dcat_describe_every_part(parted):
    _, builds = parted
    build = builds[DAY2]
    package = json.loads((build / "datapackage.json").read_text("utf-8"))
    paths = {r["path"] for r in package["resources"]}
    for path in (p for p in build.glob("datasets/*/parts/*")):
        relative = path.relative_to(build).as_posix()
        if path.suffix == ".jsonl" and not path.stat().st_size:
            continue
        assert relative in paths
    names = [r["name"] for r in package["resources"]]
    assert len(names) == len(set(names))
    dcat = json.loads((build / "dcat.jsonld").read_text("utf-8"))
    urls = {d["dcat:downloadURL"]["@id"] for ds in dcat["dcat:dataset"] for d in ds["dcat:distribution"]}
    assert any(f"/parts/inspection_results-{DAY2}.csv" in u for u in urls)
    page = (build / "datasets/inspection_results/index.html").read_text("utf-8")
    assert "按首次公开日期分为" in page and f"parts/inspection_results-{DAY1}.csv" in page
    assert "gongshi.sqlite" not in page


def test_frictionless_validates_a_package_of_parts(parted):
    _, builds = parted
    result = subprocess.run(
        [sys.executable, "-m", "frictionless", "validate", "--json", str(builds[DAY2] / "datapackage.json")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    assert report["valid"], [t.get("errors") for t in report["tasks"] if not t["valid"]][:3]


def test_small_datasets_keep_whole_files(published_demo):
    latest = published_demo.public / "latest"
    assert (latest / "datasets/inspection_results/inspection_results.csv").is_file()
    assert not (latest / "datasets/inspection_results/parts").exists()
    assert replace(published_demo).parts_above == 20_000


def test_the_readme_recipes_make_the_whole_table(parted, tmp_path):
    """The README's DuckDB statement and shell line, run in a release of parts."""
    import re
    import shutil

    import duckdb

    from gongshi.paths import PROJECT_ROOT

    settings, builds = parted
    readme = (PROJECT_ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("**Large datasets come in parts.**") :]
    copy = re.search(r"(COPY \(.*?\)\s+TO '.*?' \(HEADER\);)", section, re.S).group(1)
    release = tmp_path / "release"
    shutil.copytree(builds[DAY2], release)
    duckdb.connect().execute(
        f"SET file_search_path = '{release}'; " + copy.replace("'inspection_results.csv'", f"'{release}/whole.csv'")
    )
    table = pq.read_table(settings.layout.published_table(DAY2, "inspection_results"))
    whole = list(csv.DictReader((release / "whole.csv").open(encoding="utf-8-sig")))
    assert sorted(r["record_id"] for r in whole) == sorted(table["record_id"].to_pylist())
    line = re.search(r"`(head -n 1 .*? >> whole\.csv)`", section).group(1)
    folder = release / "datasets/inspection_results"
    subprocess.run(["bash", "-c", line], cwd=folder, check=True)
    shell = list(csv.DictReader((folder / "whole.csv").open(encoding="utf-8-sig")))
    assert sorted(r["record_id"] for r in shell) == sorted(table["record_id"].to_pylist())


def _split_by_sorting(table: pa.Table, digests: pa.Array, salt: str = "") -> list[tuple]:
    """What `parts.split` gave when it sorted the whole table by day and record_id as text: each
    part's day, fingerprint and record_ids, oldest day first (no day last)."""
    import hashlib

    import numpy as np

    keys = pc.cast(table[parts.KEY], pa.string()).combine_chunks()
    order = pc.sort_indices(
        pa.table({"k": keys, "r": table["record_id"]}), sort_keys=[("k", "ascending"), ("r", "ascending")]
    )
    days = keys.take(order).to_pylist()
    words = parts._digest_words(digests.take(order))
    found, start = [], 0
    for end in range(1, len(days) + 1):
        if end == len(days) or days[end] != days[start]:
            xor = np.bitwise_xor.reduce(words[start:end], axis=0)
            text = f"{parts.VERSION}|{salt}|{end - start}|{int(xor[0]):016x}{int(xor[1]):016x}"
            ids = table["record_id"].take(order.slice(start, end - start)).to_pylist()
            found.append((days[start], hashlib.sha256(text.encode()).hexdigest()[:32], ids))
            start = end
    return found


@given(
    st.lists(
        st.tuples(st.sampled_from(["2026-11-01", "2025-02-28", "2026-01-10", None]), st.text("abc", max_size=3)),
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_split_by_day_numbers_gives_the_parts_sorting_gave(rows, random):
    """The parts `split` makes by the days' numbers — their days, fingerprints and rows in record_id
    order — are those of a sort of the whole table by day and record_id, for any order of the rows,
    days missing, in chunks or not, days as dates or as text."""
    ids = [f"r{i:03d}" for i in range(len(rows))]
    random.shuffle(ids)
    table = pa.table(
        {
            "record_id": pa.array(ids, pa.string()),
            "entity_name": pa.array([name for _, name in rows], pa.string()),
            "first_published": pc.cast(pa.array([day for day, _ in rows], pa.string()), pa.date32()),
        }
    )
    digests = row_digests(table)
    expected = _split_by_sorting(table, digests, "salt")
    as_text = table.set_column(2, parts.KEY, pc.cast(table[parts.KEY], pa.string()))
    halves = pa.concat_tables([table.slice(0, len(rows) // 2), table.slice(len(rows) // 2)])
    for given_table in (table, halves, as_text):
        made = parts.split(given_table, digests, "salt")
        assert [(p.day, p.fingerprint, p.rows["record_id"].to_pylist()) for p in made] == expected
        assert all(p.rows.num_rows == len(p.indices) for p in made)


def test_digest_words_read_a_sliced_column_and_refuse_a_wrong_digest():
    digests = pa.array(["0" * 31 + "1", "f" * 32, "0123456789abcdef" * 2])
    words = parts._digest_words(digests.slice(1))
    assert words.tolist() == [[2**64 - 1, 2**64 - 1], [0x0123456789ABCDEF, 0x0123456789ABCDEF]]
    assert parts._digest_words(digests)[0].tolist() == [0, 1]
    with pytest.raises(ValueError):
        parts._digest_words(pa.array(["0" * 31 + "g"]))
    with pytest.raises(ValueError):
        parts._digest_words(pa.array(["0" * 31, "0" * 33]))
