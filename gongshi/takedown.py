"""Takedowns: a credit-repair decision, a court order or a correction that requires a record to stop
being public. The operator records them (`gongshi withdraw`); the next run removes the record from
the new release, from latest/ and from every retained dated release, and writes an audit entry of
every file it rewrote."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from gongshi.paths import StateLayout
from gongshi.storage import write_text


@dataclass(frozen=True)
class Takedown:
    record_id: str
    dataset: str
    reason: str
    authority: str
    decided_on: str
    recorded_at: str

    def public_reason(self) -> str:
        return f"{self.reason}（{self.authority}，{self.decided_on}）"


def takedowns_path(state: StateLayout) -> Path:
    return state.root / "takedowns.jsonl"


def audit_path(state: StateLayout) -> Path:
    return state.root / "audit" / "takedowns.jsonl"


def read_takedowns(state: StateLayout) -> list[Takedown]:
    path = takedowns_path(state)
    if not path.exists():
        return []
    return [Takedown(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def withdrawn(state: StateLayout, dataset: str) -> dict[str, str]:
    """Record id -> the reason shown publicly, for every takedown of `dataset`."""
    return {t.record_id: t.public_reason() for t in read_takedowns(state) if t.dataset == dataset}


def add_takedown(
    state: StateLayout, record_id: str, dataset: str, reason: str, authority: str, decided_on: str
) -> Takedown:
    """Append a takedown (the list is append-only; recording the same record twice is a no-op)."""
    existing = {t.record_id: t for t in read_takedowns(state)}
    if record_id in existing:
        return existing[record_id]
    takedown = Takedown(
        record_id,
        dataset,
        reason.strip(),
        authority.strip(),
        dt.date.fromisoformat(decided_on).isoformat(),
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    path = takedowns_path(state)
    lines = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(path, lines + json.dumps(asdict(takedown), ensure_ascii=False) + "\n")
    return takedown


def audit(state: StateLayout, entry: dict) -> None:
    path = audit_path(state)
    lines = path.read_text(encoding="utf-8") if path.exists() else ""
    stamped = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **entry}
    write_text(path, lines + json.dumps(stamped, ensure_ascii=False, sort_keys=True) + "\n")


def read_audit(state: StateLayout) -> list[dict]:
    path = audit_path(state)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
