"""The per-day ledger: for every delivered file, rows in = accepted + quarantined; for every rejected
file, why; for every dataset, accepted = registered, and every registered record is published,
expired or withdrawn. `problems()` is the one place the invariant is stated; the blocking checks
and the command line both call it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from gongshi.faults import StateDamaged
from gongshi.paths import StateLayout
from gongshi.storage import write_json


@dataclass
class DatasetLedger:
    dataset: str
    day: str
    fingerprint: str
    files: list[dict]
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    warnings: int = 0
    files_rejected: int = 0
    sources_failed: int = 0
    files_ignored: int = 0
    registered: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    # Runs that refused to process the day again because files or rows vanished (no --retract).
    refusals: list[dict] = field(default_factory=list)
    # Record level, from the publication stage: every record in the register is published,
    # expired (its publicity period ended) or withdrawn (a takedown decision).
    records: int | None = None
    published: int | None = None
    expired: int | None = None
    withdrawn: int | None = None

    def problems(self) -> list[str]:
        """Every way the counts fail to reconcile; empty when nothing was lost."""
        found = []
        for entry in self.files:
            name = entry["file"]
            if entry["status"] in ("rejected", "not_received", "ignored"):
                if not entry.get("reason"):
                    found.append(f"{name}: {entry['status']} without a reason")
                if entry.get("accepted") or entry.get("quarantined"):
                    found.append(f"{name}: rejected yet has accepted or quarantined rows")
            elif entry["rows_in"] != entry["accepted"] + entry["quarantined"]:
                found.append(
                    f"{name}: rows in {entry['rows_in']} != accepted {entry['accepted']} "
                    f"+ quarantined {entry['quarantined']}"
                )
        if self.rows_in != sum(e["rows_in"] for e in self.files):
            found.append(f"rows in {self.rows_in} != sum over files")
        if self.rows_in != self.accepted + self.quarantined:
            found.append(f"rows in {self.rows_in} != accepted {self.accepted} + quarantined {self.quarantined}")
        if self.files_rejected != sum(1 for e in self.files if e["status"] == "rejected"):
            found.append("rejected file count does not match the files")
        if self.sources_failed != sum(1 for e in self.files if e["status"] == "not_received"):
            found.append("failed source count does not match the files")
        if self.files_ignored != sum(1 for e in self.files if e["status"] == "ignored"):
            found.append("ignored file count does not match the files")
        if self.registered is not None and self.registered != self.accepted:
            found.append(f"accepted {self.accepted} != registered {self.registered}")
        if self.records is not None and self.records != self.published + self.expired + self.withdrawn:
            found.append(
                f"records {self.records} != published {self.published} + expired {self.expired} "
                f"+ withdrawn {self.withdrawn}"
            )
        return found

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


DAY_FILE = "day.json"  # the whole day across datasets
PUBLISHED_FILE = "published.json"  # the release the day's deliveries went out in
_NOT_DATASETS = {Path(DAY_FILE).stem, Path(PUBLISHED_FILE).stem}


def refuse(state: StateLayout, dataset: str, day: str, vanished: list[str]) -> None:
    """Note in the day's ledger that a run refused it (the counts stay those of the last run)."""
    entry = read(state, day, dataset)
    entry.refusals.append({"at": dt.datetime.now().isoformat(timespec="seconds"), "vanished": vanished})
    write(state, entry)


def mark_published(state: StateLayout, day: str, release: str) -> None:
    """Record that `day`'s deliveries went out, in the release of `release` (itself, or a newer day
    re-published because `day` came late)."""
    write_json(state.ledger_dir(day) / PUBLISHED_FILE, {"day": day, "release": release})


def published_in(state: StateLayout, day: str) -> str | None:
    """The release `day`'s deliveries last went out in, or None if they never did."""
    path = state.ledger_dir(day) / PUBLISHED_FILE
    return _load(path)["release"] if path.is_file() else None


def ledger_path(state: StateLayout, day: str, dataset: str) -> Path:
    return state.ledger_dir(day) / f"{dataset}.json"


def write(state: StateLayout, entry: DatasetLedger) -> Path:
    path = ledger_path(state, entry.day, entry.dataset)
    write_json(path, entry.to_dict())
    return path


def read(state: StateLayout, day: str, dataset: str) -> DatasetLedger | None:
    path = ledger_path(state, day, dataset)
    if not path.is_file():
        return None
    return DatasetLedger(**_load(path))


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as error:
        raise StateDamaged(
            path,
            f"台账文件已损坏，无法读取（{error}）",
            f"把它移到别处（或从备份恢复），再运行 gongshi publish --date {path.parent.name}：该日将被重新处理",
        ) from None


def read_day(state: StateLayout, day: str) -> dict[str, DatasetLedger]:
    folder = state.ledger_dir(day)
    if not folder.is_dir():
        return {}
    return {p.stem: read(state, day, p.stem) for p in sorted(folder.glob("*.json")) if p.stem not in _NOT_DATASETS}


def intake(state: StateLayout, day: str, dataset: str) -> dict:
    """A dataset-day's intake for the quality report and page (counts only): totals, reasons, and
    per delivering department."""
    entry = read(state, day, dataset)
    if entry is None:
        return {}
    departments: dict[str, dict] = {}
    for f in entry.files:
        counts = departments.setdefault(
            f["department"], {"files": 0, "files_rejected": 0, "rows_in": 0, "accepted": 0, "quarantined": 0}
        )
        counts["files"] += 1
        counts["files_rejected"] += f["status"] == "rejected"
        for key in ("rows_in", "accepted", "quarantined"):
            counts[key] += f.get(key, 0)
    return {
        "rows_in": entry.rows_in,
        "accepted": entry.accepted,
        "quarantined": entry.quarantined,
        "warnings": entry.warnings,
        "files_rejected": entry.files_rejected,
        "reasons": entry.reasons,
        "by_department": departments,
        "published": entry.published,
        "expired": entry.expired,
        "withdrawn": entry.withdrawn,
    }
