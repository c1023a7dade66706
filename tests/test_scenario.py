"""Three days in the life of a release — listing, correction, removal, expiry, takedown — checked
against the change files and every retained release; and runs killed at any moment."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gongshi import ledger
from gongshi.settings import Settings
from gongshi.stages import run_day
from gongshi.stages.release import verify_build
from gongshi.stages.takedowns import find_record
from gongshi.takedown import add_takedown, read_audit

from .conftest import deliver

D1, D2, D3 = "2026-11-26", "2026-11-27", "2026-11-28"
BLACKLIST = (
    "名单类型,市场主体名称,统一社会信用代码,法定代表人,列入原因,列入日期,作出决定机关,决定书文号,"
    "移出原因,移出日期,移出决定机关\n"
)
INSPECTION = (
    "任务编号,任务名称,检查实施机关,检查类型,检查日期,市场主体名称,统一社会信用代码,检查事项,检查结果,处理情况\n"
)
A, B, C = "91350100M000100Y43", "91320200921B86873E", "9132110058U68U6T75"


def _scenario_inbox(root: Path) -> Path:
    inbox = root / "inbox"
    deliver(
        inbox,
        "blacklist_entries",
        D1,
        "局_列入.csv",
        BLACKLIST
        + f"经营异常名录,甲公司,{A},张三,未按规定公示年报,2026-11-01,南京市市场监督管理局,宁市监异列〔2026〕1号,,,\n"
        + f"经营异常名录,乙公司,{B},李四,住所无法联系,2026-10-01,无锡市市场监督管理局,锡市监异列〔2026〕2号,,,\n"
        + f"经营异常名录,丙公司,{C},王五,住所无法联系,2023-11-28,镇江市市场监督管理局,镇市监异列〔2023〕3号,,,\n",
    )
    deliver(
        inbox,
        "inspection_results",
        D1,
        "局_抽查.csv",
        INSPECTION
        + f"JS0001,抽查,南京市市场监督管理局,双随机抽查,2026-11-20,甲公司,{A},登记事项检查,发现问题待后续处理,待复查\n",
    )
    deliver(
        inbox,
        "inspection_results",
        D2,
        "局_更正.csv",
        INSPECTION
        + f"JS0001,抽查,南京市市场监督管理局,双随机抽查,2026-11-20,甲公司,{A},登记事项检查,发现问题已责令改正,已整改\n",
    )
    deliver(
        inbox,
        "blacklist_entries",
        D2,
        "局_移出.csv",
        BLACKLIST + f"经营异常名录,甲公司,{A},张三,,,,,依法补报了年度报告,2026-11-27,南京市市场监督管理局\n",
    )
    return inbox


def _changes(settings: Settings, release: str, day: str, dataset: str) -> list[dict]:
    path = settings.public / "releases" / release / "changes" / day / f"{dataset}.csv"
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _ids(settings: Settings, release: str, dataset: str) -> dict[str, str]:
    table = pq.read_table(settings.public / "releases" / release / "datasets" / dataset / f"{dataset}.parquet")
    return dict(zip(table["record_id"].to_pylist(), table["status"].to_pylist(), strict=True))


def test_three_days_listing_correction_removal_expiry_takedown(tmp_path, catalog):
    settings = Settings(inbox=_scenario_inbox(tmp_path), public=tmp_path / "public", state=tmp_path / "state")
    assert not run_day(settings, D1, catalog).failed_checks
    day1 = _ids(settings, D1, "blacklist_entries")
    assert len(day1) == 3 and set(day1.values()) == {"active"}
    assert [c["change"] for c in _changes(settings, D1, D1, "blacklist_entries")] == ["added"] * 3

    assert not run_day(settings, D2, catalog).failed_checks
    inspection = _changes(settings, D2, D2, "inspection_results")
    corrected = {c["field"]: (c["before"], c["after"]) for c in inspection if c["change"] == "corrected"}
    assert corrected == {"result": ("发现问题待后续处理", "发现问题已责令改正"), "handling": ("待复查", "已整改")}
    removed = _changes(settings, D2, D2, "blacklist_entries")
    assert [(c["change"], c["label"]) for c in removed] == [("removed", "甲公司")]
    day2 = _ids(settings, D2, "blacklist_entries")
    assert sorted(day2.values()) == ["active", "active", "removed"]  # removed, still public with its removal

    # a credit-repair decision about 乙公司, recorded before the third run
    listings = pq.read_table(settings.public / "releases" / D2 / "datasets/blacklist_entries/blacklist_entries.parquet")
    b_id = dict(zip(listings["entity_name"].to_pylist(), listings["record_id"].to_pylist(), strict=True))["乙公司"]
    assert find_record(settings, catalog, b_id).id == "blacklist_entries"
    add_takedown(settings.layout, b_id, "blacklist_entries", "信用修复", "无锡市市场监督管理局", D3)

    deliver(settings.inbox, "approval_item_changes", D3, "审改办_x.json", "[]")
    assert not run_day(settings, D3, catalog).failed_checks
    day3 = _ids(settings, D3, "blacklist_entries")
    changes3 = {c["change"]: c for c in _changes(settings, D3, D3, "blacklist_entries")}
    assert set(changes3) == {"expired", "withdrawn"}  # 丙公司's three years ended on 2026-11-28
    assert changes3["withdrawn"]["record_id"] == b_id and changes3["withdrawn"]["label"] == ""
    assert changes3["withdrawn"]["reason"] == "信用修复（无锡市市场监督管理局，2026-11-28）"
    assert changes3["expired"]["label"] == ""
    assert len(day3) == 1 and list(day3.values()) == ["removed"]

    # the withdrawn record is gone from every retained release and every file in it
    for release in (D1, D2, D3):
        build = settings.public / "releases" / release
        assert b_id not in _ids(settings, release, "blacklist_entries")
        assert verify_build(build) == []
        for path in build.resolve().rglob("*"):
            if path.is_file() and path.suffix in {".csv", ".jsonl", ".json"}:
                text = path.read_text(encoding="utf-8-sig")
                assert "乙公司" not in text, path
                if b_id in text:  # only the withdrawal itself may name the id
                    assert path.parent.name == D3 and path.parent.parent.name == "changes", path
    audit = read_audit(settings.layout)
    assert [entry["release"] for entry in audit] == [D1, D2]
    assert all(entry["records"] == [b_id] and entry["files"] for entry in audit)
    assert "datasets/blacklist_entries/blacklist_entries.csv" in audit[0]["files"]
    entry = ledger.read(settings.layout, D3, "blacklist_entries")
    assert (entry.records, entry.published, entry.expired, entry.withdrawn) == (3, 1, 1, 1)
    # and the change history kept in later releases does not restate what was taken down
    history = _changes(settings, D3, D1, "blacklist_entries")
    assert [c["change"] for c in history] == ["added", "added"]


def test_retention_keeps_the_declared_number_of_releases(tmp_path, catalog):
    settings = Settings(
        inbox=_scenario_inbox(tmp_path), public=tmp_path / "public", state=tmp_path / "state", keep_releases=2
    )
    deliver(settings.inbox, "approval_item_changes", D3, "审改办_x.json", "[]")
    for day in (D1, D2, D3):
        run_day(settings, day, catalog)
    assert sorted(p.name for p in (settings.public / "releases").iterdir()) == [D2, D3]
    assert len(list((settings.public / "builds").iterdir())) == 2
    assert not (settings.state / "published" / D1).exists()


# -- killed runs ----------------------------------------------------------------------------------------


def _publish(tmp_path: Path, inbox: Path, fault: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
    env["GONGSHI_PSEUDONYM_KEY"] = "test-key-not-secret"
    if fault:
        env["GONGSHI_FAULT_AT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "gongshi.cli", "publish", "--inbox", str(inbox)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _served_consistently(public: Path) -> str | None:
    """The release latest serves, after checking every live symlink points at a complete build."""
    if not (public / "latest").exists():
        return None
    for link in [public / "latest", *(public / "releases").iterdir()]:
        assert link.is_symlink() and link.resolve().is_dir(), f"dangling {link}"
        assert verify_build(link) == [], link
        manifest = json.loads((link / "manifest.json").read_text(encoding="utf-8"))
        datapackage = json.loads((link / "datapackage.json").read_text(encoding="utf-8"))
        assert all((link / r["path"]).is_file() for r in datapackage["resources"])
        assert manifest["release"] == link.resolve().name[:10]
    return (public / "latest").resolve().name[:10]


@pytest.mark.slow
def test_a_run_killed_at_any_moment_leaves_the_previous_release_served(tmp_path):
    inbox = _scenario_inbox(tmp_path)
    held_back = tmp_path / "held-back"
    for dataset in ("blacklist_entries", "inspection_results"):  # day 2 arrives after day 1 is out
        (held_back / dataset).mkdir(parents=True)
        (inbox / dataset / D2).rename(held_back / dataset / D2)
    first = _publish(tmp_path, inbox)
    assert first.wait(timeout=300) == 0, first.stdout.read()
    assert _served_consistently(tmp_path / "public") == D1
    for dataset in ("blacklist_entries", "inspection_results"):
        (held_back / dataset / D2).rename(inbox / dataset / D2)
    builds = {p.name for p in (tmp_path / "public" / "builds").iterdir()}
    for fault in ("build:datasets_written", "install:moved", "switch:release", "switch:latest", "publish:switched"):
        killed = _publish(tmp_path, inbox, fault)
        assert killed.wait(timeout=300) == -signal.SIGKILL, (fault, killed.stdout.read())
        served = _served_consistently(tmp_path / "public")
        # D2 only ever appears complete: before the latest switch, D1 is still what latest serves
        assert served in {D1, D2}, fault
        if fault in ("build:datasets_written", "install:moved", "switch:release"):
            assert served == D1 and not (tmp_path / "public" / "releases" / D2).exists()
        if fault == "build:datasets_written":  # killed while building: nothing new under public/
            assert {p.name for p in (tmp_path / "public" / "builds").iterdir()} == builds
    for moment in (0.5, 1.5, 2.5):  # and at moments no one chose
        run = _publish(tmp_path, inbox)
        time.sleep(moment)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
        assert _served_consistently(tmp_path / "public") in {D1, D2}
    final = _publish(tmp_path, inbox)
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0, output
    assert _served_consistently(tmp_path / "public") == D2
    assert sorted(p.name for p in (tmp_path / "public" / "releases").iterdir()) == [D1, D2]
    assert len(list((tmp_path / "public" / "builds").iterdir())) == 2  # leftovers of killed runs are gone


def _follow(release: Path, tables: dict | None = None, after: str | None = None) -> tuple[dict, str]:
    """A consumer of the sync feed: from the index's base (or `tables`, up to `after`), apply the days."""
    from gongshi import sync

    index = json.loads((release / "changes" / "index.json").read_text("utf-8"))
    assert index["format"] == sync.FORMAT
    if tables is None:
        tables = {}
        base = index["base"]["release"]
        for name, paths in index["base"]["tables"].items():
            rows = [r for p in paths for r in pq.read_table(release.parent.parent / p).to_pylist()]
            tables[name] = {r["record_id"]: r for r in rows}
        after = base
    for entry in index["days"]:
        if after is not None and entry["day"] <= after:
            continue
        for name, files in entry["datasets"].items():
            if "sync" not in files:
                assert entry["day"] <= index["base"]["release"]
                continue
            path = release / files["sync"]["path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == files["sync"]["sha256"]
            rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
            assert len(rows) == files["sync"]["upserts"] + files["sync"]["deletes"]
            sync.apply(tables, name, rows)
    return tables, index["release"]


def _published(settings: Settings, release: str, dataset: str) -> dict[str, dict]:
    table = pq.read_table(settings.layout.published_table(release, dataset))
    rows = json.loads(pa.Table.to_pandas(table).to_json(orient="records", force_ascii=False, date_format="iso"))
    return {
        r["record_id"]: {k: (v[:10] if isinstance(v, str) and k in _DATES else v) for k, v in r.items()} for r in rows
    }


_DATES = {"first_published", "last_updated", "corrected_on", "expires_on", "listed_on", "removed_on", "inspection_date"}


def test_the_sync_feed_rebuilds_every_table_exactly(tmp_path, catalog):
    """Listing, correction, removal, expiry and takedown over three days: a consumer that applied
    each day's feed as it came, and one that starts at the end from the index, both hold exactly
    the published tables (takedown included: the withdrawn record is deleted)."""
    settings = Settings(inbox=_scenario_inbox(tmp_path), public=tmp_path / "public", state=tmp_path / "state")
    follower, seen = None, None
    for day in (D1, D2, D3):
        if day == D3:
            listings = pq.read_table(settings.layout.published_table(D2, "blacklist_entries"))
            names = dict(zip(listings["entity_name"].to_pylist(), listings["record_id"].to_pylist(), strict=True))
            add_takedown(settings.layout, names["乙公司"], "blacklist_entries", "信用修复", "无锡市市场监督管理局", D3)
            deliver(settings.inbox, "approval_item_changes", D3, "审改办_x.json", "[]")
        assert not run_day(settings, day, catalog).failed_checks
        follower, seen = _follow(settings.public / "releases" / day, follower, seen)
    fresh, _ = _follow(settings.public / "releases" / D3)
    for dataset in catalog:
        expected = _published(settings, D3, dataset)
        for consumer in (follower, fresh):
            got = {i: {k: v for k, v in r.items()} for i, r in consumer.get(dataset, {}).items()}
            assert got == expected, dataset
    assert len(fresh["blacklist_entries"]) == 1  # 丙公司 expired, 乙公司 withdrawn, 甲公司 removed but public
