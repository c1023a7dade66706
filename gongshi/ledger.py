"""The per-day ledger: for every delivered file, rows in = accepted + quarantined; for every rejected
file, why; for every dataset, accepted = registered, and every registered record is published,
expired or withdrawn. `problems()` is the one place the invariant is stated; the blocking checks
and the command line both call it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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
    registered: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)
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
            if entry["status"] in ("rejected", "not_received"):
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
    return DatasetLedger(**json.loads(path.read_text(encoding="utf-8")))


def read_day(state: StateLayout, day: str) -> dict[str, DatasetLedger]:
    folder = state.ledger_dir(day)
    if not folder.is_dir():
        return {}
    return {p.stem: read(state, day, p.stem) for p in sorted(folder.glob("*.json")) if p.stem != "day"}
