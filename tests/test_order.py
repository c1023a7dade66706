"""Order does not matter: days processed late, out of order or corrected after newer days are out
give the same register and, once all are processed, the same latest data files; an older day
re-publishes the newest day, whose change file says what changed."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow.parquet as pq
import pytest

from gongshi.inbox import pending_days
from gongshi.paths import DEMO_INBOX
from gongshi.sampledata import write_sample_inbox
from gongshi.settings import Settings
from gongshi.stages import run_day

from .conftest import DAY1, DAY2

DATA_FILES = ("csv", "parquet", "jsonl", "xlsx")


def _data_files(public) -> dict[str, bytes]:
    latest = public / "latest"
    files = [p for p in (latest / "datasets").rglob("*") if p.is_file()]
    found = {p.relative_to(latest).as_posix(): p.read_bytes() for p in files}
    found = {k: v for k, v in found.items() if k.rsplit(".", 1)[-1] in DATA_FILES}
    found["gongshi.sqlite"] = (latest / "gongshi.sqlite").read_bytes()
    return found


@pytest.mark.slow
def test_days_out_of_order_give_the_same_latest(tmp_path, catalog):
    inbox = tmp_path / "inbox"
    write_sample_inbox(inbox, records=1200, days=3, seed=8, start=dt.date(2026, 11, 2))
    days = ["2026-11-02", "2026-11-03", "2026-11-04"]
    in_order = Settings(inbox=inbox, public=tmp_path / "a" / "public", state=tmp_path / "a" / "state")
    shuffled = Settings(inbox=inbox, public=tmp_path / "b" / "public", state=tmp_path / "b" / "state")
    for day in days:
        assert not run_day(in_order, day, catalog).failed_checks
    for day in (days[0], days[2], days[1]):  # 11-03 arrives after 11-04 is out
        assert not run_day(shuffled, day, catalog).failed_checks
    assert pending_days(in_order, catalog) == pending_days(shuffled, catalog) == []
    expected, actual = _data_files(in_order.public), _data_files(shuffled.public)
    assert sorted(actual) == sorted(expected) and len(expected) == 17  # four formats of four datasets, and SQLite
    assert {name for name in expected if actual[name] != expected[name]} == set()
    # the late day went out in 11-04's release, re-published; 11-04's changes carry 11-03's rows
    assert sorted(p.name for p in (shuffled.public / "releases").iterdir()) == [days[0], days[2]]
    changes = pq.read_table(shuffled.state / "published" / days[2] / "changes" / "inspection_results.parquet")
    late = pq.read_table(in_order.state / "published" / days[1] / "changes" / "inspection_results.parquet")
    added = {r["record_id"] for r in changes.to_pylist() if r["change"] == "added"}
    assert {r["record_id"] for r in late.to_pylist() if r["change"] == "added"} <= added


@pytest.mark.slow
def test_a_corrected_older_day_reaches_latest(tmp_path, catalog):
    inbox = tmp_path / "inbox"
    shutil.copytree(DEMO_INBOX, inbox)
    settings = Settings(inbox=inbox, public=tmp_path / "public", state=tmp_path / "state")
    for day in (DAY1, DAY2):
        assert not run_day(settings, day, catalog).failed_checks
    day1_release = (
        settings.public / "releases" / DAY1 / "datasets/inspection_results/inspection_results.csv"
    ).read_bytes()
    # the department re-delivers DAY1 with one handling text corrected
    source = inbox / "inspection_results" / DAY1 / "江苏省市场监管局_抽查结果_20261126.csv"
    text = source.read_bytes().decode("gb18030")
    source.write_bytes(text.replace("住所无法联系，已列入经营异常名录", "已联系，限期整改", 1).encode("gb18030"))
    assert pending_days(settings, catalog) == [DAY1]
    result = run_day(settings, DAY1, catalog)
    assert not result.failed_checks and pending_days(settings, catalog) == []
    latest = (settings.public / "latest").resolve()
    assert latest == (settings.public / "releases" / DAY2).resolve()  # DAY2 re-published, still latest
    csv = (latest / "datasets/inspection_results/inspection_results.csv").read_text(encoding="utf-8-sig")
    assert "已联系，限期整改" in csv
    changes = pq.read_table(settings.state / "published" / DAY2 / "changes" / "inspection_results.parquet").to_pylist()
    corrected = [c for c in changes if c["change"] == "corrected" and c["field"] == "handling"]
    assert [(c["before"], c["after"]) for c in corrected] == [("住所无法联系，已列入经营异常名录", "已联系，限期整改")]
    # the dated release of DAY1 is what went out that day: not rewritten
    assert (
        settings.public / "releases" / DAY1 / "datasets/inspection_results/inspection_results.csv"
    ).read_bytes() == (day1_release)
