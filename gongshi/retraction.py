"""Retractions the operator asked for: a registered day whose files were taken back (fewer files, or
fewer rows) is processed again only with `gongshi publish --date DAY --retract --reason …`, and each
such decision is kept like a takedown, in `state/audit/retractions.jsonl`. Records that vanish this
way are `retracted` in the change files and do not count against the retraction bound."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from gongshi.paths import StateLayout
from gongshi.storage import write_text


def audit_path(state: StateLayout) -> Path:
    return state.root / "audit" / "retractions.jsonl"


def record(state: StateLayout, dataset: str, day: str, vanished: list[str], reason: str | None) -> dict:
    entry = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dataset": dataset,
        "day": day,
        "vanished": vanished,
        "reason": reason or "",
    }
    path = audit_path(state)
    lines = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(path, lines + json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
    return entry


def read(state: StateLayout) -> list[dict]:
    path = audit_path(state)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def authorised(state: StateLayout, dataset: str, day: str) -> bool:
    """Whether the operator authorised a retraction of `dataset`'s deliveries of `day`."""
    return any(entry["dataset"] == dataset and entry["day"] == day for entry in read(state))
