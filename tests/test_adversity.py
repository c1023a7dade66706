"""The register and the release under adversity: vanished deliveries, stray inbox entries, two
publications at once, killed runs, a full or read-only disk, damaged state files, and the
operator's own mistakes with `gongshi withdraw`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from gongshi import ledger
from gongshi.inbox import pending_days
from gongshi.settings import Settings
from gongshi.stages import run_day
from gongshi.stages.read import DeliveryVanished

from .conftest import DAY1, DAY2


def gongshi(*args: str, cwd: Path, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
    environment["GONGSHI_PSEUDONYM_KEY"] = "test-key-not-secret"
    return subprocess.run(
        [sys.executable, "-m", "gongshi.cli", *args],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def _data_files(public: Path) -> dict[str, bytes]:
    latest = public / "latest"
    return {
        p.relative_to(latest).as_posix(): p.read_bytes()
        for p in sorted((latest / "datasets").rglob("*"))
        if p.is_file() and p.suffix in {".csv", ".parquet", ".jsonl", ".xlsx"}
    }


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """The demo inbox published once, by one command on a fresh state: what every recovery must equal."""
    from gongshi.paths import DEMO_INBOX

    root = tmp_path_factory.mktemp("clean")
    shutil.copytree(DEMO_INBOX, root / "inbox")
    result = gongshi("publish", "--inbox", "inbox", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return _data_files(root / "public")


# --- vanished deliveries -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_vanished_delivery_is_refused_unless_retracted(tmp_path, inbox, catalog):
    settings = Settings(inbox=inbox, public=tmp_path / "public", state=tmp_path / "state")
    for day in (DAY1, DAY2):
        assert not run_day(settings, day, catalog).failed_checks
    live = (settings.public / "latest").resolve()
    moved = inbox / "blacklist_entries" / DAY2
    shutil.move(moved, tmp_path / "moved")  # the removal (移出) of DAY2 would be undone
    assert pending_days(settings, catalog) == [DAY2]
    with pytest.raises(DeliveryVanished, match=r"省市场监管局_名单变动_20261127\.csv.*不见了.*--retract"):
        run_day(settings, DAY2, catalog)
    assert (settings.public / "latest").resolve() == live
    assert ledger.read(settings.layout, DAY2, "blacklist_entries").refusals[0]["vanished"]
    retracting = Settings(**{**settings.__dict__, "retract": True, "retract_reason": "部门撤回重复报送"})
    result = run_day(retracting, DAY2, catalog)
    assert not result.failed_checks
    (entry,) = [json.loads(line) for line in (settings.state / "audit" / "retractions.jsonl").read_text().splitlines()]
    assert (entry["dataset"], entry["day"], entry["reason"]) == ("blacklist_entries", DAY2, "部门撤回重复报送")
    table = pq.read_table(settings.public / "latest" / "datasets/blacklist_entries/blacklist_entries.parquet")
    assert "removed" not in table["status"].to_pylist()  # the removal is gone, as the operator decided


# --- every inbox entry accounted for ---------------------------------------------------------------


def test_every_inbox_entry_is_read_rejected_or_ignored_with_a_reason(tmp_path, inbox, catalog):
    day = inbox / "inspection_results" / DAY2
    (day / "~$抽查结果.xlsx").write_bytes(b"lock")
    (day / ".DS_Store").write_bytes(b"x")
    (day / "补充").mkdir()
    (day / "链接.csv").symlink_to(next(day.glob("*.csv")))
    for name in ("2026-13-45", "20261127", "latest", "2026-11-27 副本"):
        (inbox / "inspection_results" / name).mkdir()
    (inbox / "inspection_results" / "2026-11-28").symlink_to(day)
    (inbox / "unknown_dataset").mkdir()
    (inbox / "说明.txt").write_text("x", encoding="utf-8")
    settings = Settings(inbox=inbox, public=tmp_path / "public", state=tmp_path / "state")
    from gongshi.stages import intake_day
    from gongshi.stages import ledger as day_ledger

    intake_day(settings, DAY2, catalog)
    files = {f["file"]: f for f in ledger.read(settings.layout, DAY2, "inspection_results").files}
    statuses = {name: (f["status"], f["reason_code"]) for name, f in files.items() if f["status"] != "read"}
    assert statuses == {
        "~$抽查结果.xlsx": ("ignored", "lock_file"),
        ".DS_Store": ("ignored", "hidden_file"),
        "补充": ("ignored", "nested_folder"),
        "链接.csv": ("rejected", "not_a_file"),
    }
    assert all(f["reason"] for f in files.values() if f["status"] != "read")
    inbox_ignored = {i["path"]: i["code"] for i in day_ledger.run(settings, catalog, DAY2).inbox_ignored}
    assert inbox_ignored == {
        "inspection_results/2026-13-45": "bad_date_folder",
        "inspection_results/20261127": "bad_date_folder",
        "inspection_results/latest": "bad_date_folder",
        "inspection_results/2026-11-27 副本": "bad_date_folder",
        "inspection_results/2026-11-28": "link",
        "unknown_dataset": "unknown_dataset",
        "说明.txt": "not_a_folder",
    }
    assert ledger.read(settings.layout, DAY2, "inspection_results").problems() == []


# --- two at once, killed runs ---------------------------------------------------------------------


@pytest.mark.slow
def test_two_publications_at_once_do_not_interleave(tmp_path, clean_run):
    from gongshi.paths import DEMO_INBOX

    shutil.copytree(DEMO_INBOX, tmp_path / "inbox")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
    env["GONGSHI_PSEUDONYM_KEY"] = "test-key-not-secret"
    command = [sys.executable, "-m", "gongshi.cli", "publish", "--inbox", "inbox"]
    runs = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert any("等待其结束" in out for out in outputs)  # the second said what it waited for
    assert sum("没有待处理的报送日期" in out for out in outputs) == 1  # and then found the work done
    assert _data_files(tmp_path / "public") == clean_run


@pytest.mark.slow
def test_a_killed_run_is_marked_failed_and_cleaned_by_the_next(tmp_path, clean_run):
    from gongshi.paths import DEMO_INBOX

    shutil.copytree(DEMO_INBOX, tmp_path / "inbox")
    killed = gongshi("publish", "--inbox", "inbox", cwd=tmp_path, env={"GONGSHI_FAULT_AT": "build:datasets_written"})
    assert killed.returncode == -9
    instance = dg.DagsterInstance.from_config(str(tmp_path / "state" / "dagster"))
    (stuck,) = instance.get_runs()
    assert stuck.status == dg.DagsterRunStatus.STARTED
    assert list((tmp_path / "state" / "staging").iterdir())  # its half-built release
    again = gongshi("publish", "--inbox", "inbox", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"上次被中断的运行 {stuck.run_id}" in again.stdout
    instance = dg.DagsterInstance.from_config(str(tmp_path / "state" / "dagster"))
    assert instance.get_run_by_id(stuck.run_id).status == dg.DagsterRunStatus.FAILURE
    assert not list((tmp_path / "state" / "staging").iterdir())
    assert _data_files(tmp_path / "public") == clean_run


# --- faults have words ----------------------------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs to fill (CI runs as root): {mounted.stderr!r}")
        pytest.skip("mounting a small file system needs root")


@pytest.mark.slow
def test_a_full_disk_and_a_read_only_disk_are_said_in_words(tmp_path, clean_run):
    from gongshi.paths import DEMO_INBOX

    shutil.copytree(DEMO_INBOX, tmp_path / "inbox")
    public = tmp_path / "public"
    _mount_tmpfs(public, "600k")
    try:
        full = gongshi("publish", "--inbox", "inbox", cwd=tmp_path)
        assert full.returncode == 1, full.stdout + full.stderr  # each day fails; no traceback
        assert "磁盘空间已满，无法写入" in full.stdout and "Traceback" not in full.stdout + full.stderr
        assert "释放空间后重新运行 gongshi publish" in full.stdout
        assert not (public / "latest").exists()
        subprocess.run(["mount", "-o", "remount,ro", str(public)], check=True)
        read_only = gongshi("publish", "--inbox", "inbox", cwd=tmp_path)
        assert "文件系统为只读" in read_only.stdout and "Traceback" not in read_only.stdout + read_only.stderr
        subprocess.run(["mount", "-o", "remount,rw,size=256m", str(public)], check=True)
        fixed = gongshi("publish", "--inbox", "inbox", cwd=tmp_path)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert _data_files(public) == clean_run
    finally:
        subprocess.run(["umount", "-l", str(public)], capture_output=True)


@pytest.mark.slow
def test_a_damaged_register_or_ledger_is_named_and_recovered_from(tmp_path, clean_run):
    from gongshi.paths import DEMO_INBOX

    shutil.copytree(DEMO_INBOX, tmp_path / "inbox")
    assert gongshi("publish", "--inbox", "inbox", cwd=tmp_path).returncode == 0
    register = tmp_path / "state" / "register" / "blacklist_entries.duckdb"
    register.write_bytes(register.read_bytes()[: register.stat().st_size // 3])
    damaged = gongshi("publish", "--inbox", "inbox", "--date", DAY2, cwd=tmp_path)
    assert damaged.returncode == 1 and "登记簿文件已损坏" in damaged.stdout and str(register) in damaged.stdout
    assert "Traceback" not in damaged.stdout + damaged.stderr
    register.rename(tmp_path / "damaged.duckdb")  # what the message says to do
    rebuilt = gongshi("publish", "--inbox", "inbox", cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "[2026-11-26]" in rebuilt.stdout and "[2026-11-27]" in rebuilt.stdout  # rebuilt in date order
    assert _data_files(tmp_path / "public") == clean_run
    day = tmp_path / "state" / "ledger" / DAY1 / "inspection_results.json"
    day.write_text('{"dataset": "inspection_res', encoding="utf-8")
    broken = gongshi("publish", "--inbox", "inbox", cwd=tmp_path)
    assert broken.returncode == 3 and "台账文件已损坏" in broken.stderr and str(day) in broken.stderr
    assert "Traceback" not in broken.stdout + broken.stderr


def test_withdraw_refuses_what_it_cannot_do_with_distinct_messages(tmp_path):
    decision = ["--reason", "信用修复", "--authority", "某局", "--date", "2026-11-28"]
    missing = gongshi("withdraw", "bkmfaolhcjpgiigbm", *decision, "--state", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and "状态目录不存在" in missing.stderr
    (tmp_path / "state").mkdir()
    empty = gongshi("withdraw", "", *decision, cwd=tmp_path)
    assert empty.returncode == 2 and "不能为空" in empty.stderr
    malformed = gongshi("withdraw", "b4ebf5a217367e6fb", *decision, cwd=tmp_path)
    assert malformed.returncode == 2 and "不是有效的 record_id" in malformed.stderr
    none = gongshi("withdraw", *decision, cwd=tmp_path)
    assert none.returncode == 2 and "至少一个 RECORD_ID" in none.stderr
    not_down = gongshi("withdraw", "--lift", "bkmfaolhcjpgiigbm", *decision, cwd=tmp_path)
    assert not_down.returncode == 1 and "没有被撤下" in not_down.stderr


@pytest.mark.slow
def test_a_lifted_takedown_puts_the_record_back(tmp_path):
    from gongshi.paths import DEMO_INBOX

    shutil.copytree(DEMO_INBOX, tmp_path / "inbox")
    assert gongshi("publish", "--inbox", "inbox", cwd=tmp_path).returncode == 0
    csv = tmp_path / "public/latest/datasets/blacklist_entries/blacklist_entries.csv"
    record = csv.read_text(encoding="utf-8-sig").splitlines()[1].split(",")[0].strip('"')
    decision = ["--authority", "某局", "--date", "2026-11-28"]
    assert gongshi("withdraw", record, "--reason", "信用修复", *decision, cwd=tmp_path).returncode == 0
    assert gongshi("publish", "--inbox", "inbox", cwd=tmp_path).returncode == 0
    assert record not in csv.read_text(encoding="utf-8-sig")
    lifted = gongshi("withdraw", "--lift", record, "--reason", "撤销原决定", *decision, cwd=tmp_path)
    assert lifted.returncode == 0 and "恢复公开" in lifted.stdout
    again = gongshi("publish", "--inbox", "inbox", cwd=tmp_path)
    assert again.returncode == 0 and "重新发布" in again.stdout
    assert record in csv.read_text(encoding="utf-8-sig")
    listing = gongshi("withdraw", "--list", cwd=tmp_path).stdout
    assert "恢复公开" in listing and "撤销原决定" in listing
    assert gongshi("publish", "--inbox", "inbox", cwd=tmp_path).stdout.count("重新发布") == 0  # applied once
