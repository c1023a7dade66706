"""Takedowns: a credit-repair decision, a court order or a correction that requires a record to stop
being public. The operator records them (`gongshi withdraw`); the next run removes the record from
the new release, from latest/ and from every retained dated release, and writes an audit entry of
every file it rewrote. A later decision can lift a takedown (`gongshi withdraw --lift`): the record
is public again from the next release on. The list is append-only; a record's last decision counts."""

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
    action: str = "withdraw"  # withdraw | lift

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


def _in_force(state: StateLayout) -> dict[str, Takedown]:
    """Record id -> its takedown, for the records whose last decision is a takedown."""
    last: dict[str, Takedown] = {}
    for decision in read_takedowns(state):
        last[decision.record_id] = decision
    return {record: t for record, t in last.items() if t.action == "withdraw"}


def withdrawn(state: StateLayout, dataset: str) -> dict[str, str]:
    """Record id -> the reason shown publicly, for every takedown of `dataset` in force."""
    return {t.record_id: t.public_reason() for t in _in_force(state).values() if t.dataset == dataset}


def withdrawn_ids(state: StateLayout) -> set[str]:
    return set(_in_force(state))


def lifted(state: StateLayout, dataset: str) -> set[str]:
    """Records of `dataset` whose takedown a later decision lifted."""
    in_force = _in_force(state)
    return {t.record_id for t in read_takedowns(state) if t.dataset == dataset and t.record_id not in in_force}


def add_takedown(
    state: StateLayout, record_id: str, dataset: str, reason: str, authority: str, decided_on: str
) -> Takedown:
    """Append a takedown (the list is append-only; taking down a record already down is a no-op)."""
    in_force = _in_force(state)
    if record_id in in_force:
        return in_force[record_id]
    return _append(state, Takedown(record_id, dataset, reason, authority, decided_on, "", "withdraw"))


def lift_takedown(state: StateLayout, record_id: str, reason: str, authority: str, decided_on: str) -> Takedown:
    """Append the decision that reinstates a record taken down earlier, and audit it."""
    dataset = _in_force(state)[record_id].dataset
    lift = _append(state, Takedown(record_id, dataset, reason, authority, decided_on, "", "lift"))
    audit(state, {"lift": record_id, "dataset": dataset, "decision": lift.public_reason()})
    return lift


def _append(state: StateLayout, decision: Takedown) -> Takedown:
    decision = Takedown(
        decision.record_id,
        decision.dataset,
        decision.reason.strip(),
        decision.authority.strip(),
        dt.date.fromisoformat(decision.decided_on).isoformat(),
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        decision.action,
    )
    path = takedowns_path(state)
    lines = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(path, lines + json.dumps(asdict(decision), ensure_ascii=False) + "\n")
    return decision


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
