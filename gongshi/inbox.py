"""The inbox: what departments delivered, folder by folder, what is not a delivery (and why), and
which days are still to be processed. Nothing here reads a file's contents but to fingerprint it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from gongshi import issues, ledger
from gongshi.storage import sha256_file

_DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Ignored:
    """An inbox entry that is not read, and why (for the ledger, the summary and the run's metadata)."""

    path: str  # relative to the inbox
    code: str
    reason: str

    def __post_init__(self) -> None:
        assert issues.kind(self.code).severity == "ignored", self.code


def delivery_days(inbox: Path, dataset: str) -> list[str]:
    """Dates (YYYY-MM-DD folders that are real dates) with deliveries for `dataset`, oldest first."""
    root = inbox / dataset
    if not root.is_dir() or root.is_symlink():
        return []
    return sorted(entry.name for entry in root.iterdir() if _day_folder_problem(entry) is None)


def _day_folder_problem(entry: Path) -> Ignored | None:
    relative = f"{entry.parent.name}/{entry.name}"
    if entry.is_symlink():
        return Ignored(relative, "link", "符号链接，出于安全原因不读取；请把报送文件直接放入日期文件夹")
    if not entry.is_dir():
        return Ignored(relative, "not_a_folder", "数据集文件夹下应只有日期文件夹（YYYY-MM-DD），文件应放在日期文件夹内")
    if not _DATE_FOLDER.match(entry.name):
        return Ignored(relative, "bad_date_folder", "文件夹名不是 YYYY-MM-DD 格式的日期（如 2026-11-27），未读取")
    try:
        dt.date.fromisoformat(entry.name)
    except ValueError:
        return Ignored(relative, "bad_date_folder", "文件夹名不是真实存在的日期，未读取")
    return None


def delivery_files(inbox: Path, dataset: str, day: str) -> list[Path]:
    """The files of a day's folder that are deliveries (not hidden, not lock files, not folders)."""
    folder = inbox / dataset / day
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _ignored_in_day(p) is None)


def _ignored_in_day(entry: Path) -> Ignored | None:
    relative = f"{entry.parent.parent.name}/{entry.parent.name}/{entry.name}"
    if entry.name.startswith("~$"):
        return Ignored(relative, "lock_file", "Excel 打开文件时生成的临时锁文件，不是报送文件")
    if entry.name.startswith("."):
        return Ignored(relative, "hidden_file", "隐藏文件，不是报送文件")
    if entry.is_dir() and not entry.is_symlink():
        return Ignored(relative, "nested_folder", "日期文件夹内的子文件夹不读取；请把报送文件直接放入日期文件夹")
    return None


def ignored_in_day(inbox: Path, dataset: str, day: str) -> list[Ignored]:
    """The entries of a day's folder that are not read, with why."""
    folder = inbox / dataset / day
    if not folder.is_dir():
        return []
    return sorted((i for p in folder.iterdir() if (i := _ignored_in_day(p)) is not None), key=lambda i: i.path)


def ignored_in_inbox(inbox: Path, datasets: list[str]) -> list[Ignored]:
    """Entries of the inbox and of each dataset's folder that are not read, with why: unknown
    dataset folders, stray files, links, folders that are not dates."""
    if not inbox.is_dir():
        return []
    found = []
    for entry in sorted(inbox.iterdir()):
        if entry.name in datasets and entry.is_dir() and not entry.is_symlink():
            found += [i for day in sorted(entry.iterdir()) if (i := _day_folder_problem(day)) is not None]
        elif entry.name.startswith("."):
            continue  # hidden entries of the inbox itself (a sync tool's state) are not deliveries
        elif entry.name in datasets:
            found.append(Ignored(entry.name, "link", "数据集文件夹是符号链接或文件，出于安全原因不读取"))
        elif entry.is_dir():
            found.append(
                Ignored(entry.name, "unknown_dataset", f"没有名为“{entry.name}”的数据集（应为：{'、'.join(datasets)}）")
            )
        else:
            found.append(Ignored(entry.name, "not_a_folder", "收件箱根目录下应只有数据集文件夹"))
    return found


def fingerprint(files: list[Path]) -> str:
    """sha256 over the names and contents of a day's files: equal fingerprints, equal deliveries."""
    return _combine_hashes([(p.name, sha256_file(p) if p.is_file() and not p.is_symlink() else "") for p in files])


def fingerprint_of(named: list[tuple[str, str]]) -> str:
    """The fingerprint of files already hashed: (name, sha256) pairs, in folder order."""
    return _combine_hashes(named)


def _combine_hashes(named: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, sha in named:
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + (sha or "-").encode())
    return digest.hexdigest()


# --- which days are processed ------------------------------------------------------------------------


def inbox_days(inbox: Path, datasets: list[str]) -> list[str]:
    return sorted({day for dataset in datasets for day in delivery_days(inbox, dataset)})


def days_path(register: Path) -> Path:
    """The list of days a register holds, kept beside it (so that a sensor need not open a database a
    run is writing)."""
    return register.with_suffix(".days.json")


def registered_days_of(register: Path) -> set[str]:
    """The days a register holds, as it last wrote them beside itself; none if the register is gone."""
    if not register.exists() or not days_path(register).exists():
        return set()
    try:
        return set(json.loads(days_path(register).read_text(encoding="utf-8")))
    except ValueError:
        return set()  # rewritten by the next apply; meanwhile the days count as pending


def is_processed(settings, datasets: list[str], day: str, registered: dict[str, set[str]] | None = None) -> bool:
    """A day is processed when its deliveries went live (in its own release, or in a newer day's
    re-published because it came late), every dataset's ledger for it has the inbox's current
    fingerprint, and every register holds it. A day stopped by a check, killed before its release
    was kept, or missing from a register that was lost or moved away stays pending."""
    if ledger.published_in(settings.layout, day) is None:
        return False
    registered = registered if registered is not None else registered_days(settings, datasets)
    for dataset in datasets:
        entry = ledger.read(settings.layout, day, dataset)
        current = fingerprint(delivery_files(settings.inbox, dataset, day))
        if entry is None or entry.fingerprint != current or entry.registered is None:
            return False
        if day not in registered[dataset]:
            return False
    return True


def registered_days(settings, datasets: list[str]) -> dict[str, set[str]]:
    return {name: registered_days_of(settings.layout.register_path(name)) for name in datasets}


def first_partition(settings, datasets: list[str]) -> str:
    """The first daily partition: the setting if given, else the first day the inbox or any register
    has (a year of history delivered at once starts the partitions at its first day), else — nothing
    delivered yet, as with sources that are pulled — a year before today (China Standard Time), so
    that a year can be pulled as a backfill."""
    if settings.first_day:
        return settings.first_day
    registered = set().union(*registered_days(settings, datasets).values())
    days = sorted({*inbox_days(settings.inbox, datasets), *registered})
    if days:
        return days[0]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    return (today - dt.timedelta(days=365)).isoformat()


def pending_days(settings, datasets: list[str]) -> list[str]:
    """Delivery days in the inbox not yet processed (or whose files changed since), oldest first."""
    registered = registered_days(settings, datasets)
    return [
        day for day in inbox_days(settings.inbox, datasets) if not is_processed(settings, datasets, day, registered)
    ]
