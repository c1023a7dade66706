"""Stage 3, register: the day's accepted rows folded into the dataset's record register
(`gongshi.register`): listed, corrected, removed, expired — and from which delivery. The ledger
gets the count registered (= accepted, or the day fails); pulled sources' watermarks advance."""

from __future__ import annotations

from dataclasses import dataclass, field

from gongshi import ledger, progress, sources
from gongshi.catalog import Dataset
from gongshi.register import Register
from gongshi.settings import Settings
from gongshi.stages import Json
from gongshi.storage import read_parquet
from gongshi.validation import ISSUE_SCHEMA, Validated


@dataclass
class RegisterResult:
    events: int
    new_records: int
    corrected: int
    removed: int
    unmatched_removals: int
    expired: int
    by_status: dict[str, int] = field(default_factory=dict)
    registered: int = 0
    problems: list[str] = field(default_factory=list)  # ledger problems: the blocking check

    def metadata(self) -> dict:
        return {
            "events": self.events,
            "new_records": self.new_records,
            "corrected": self.corrected,
            "removed": self.removed,
            "unmatched_removals": self.unmatched_removals,
            "expired": self.expired,
            "records_by_status": Json(self.by_status),
        }


@progress.stage("登记")
def run(settings: Settings, dataset: Dataset, day: str) -> RegisterResult:
    """Fold the day's accepted rows into the register and record the count in the ledger."""
    layout = settings.layout
    accepted = read_parquet(layout.accepted(day, dataset.id))
    validated = Validated(dataset.id, day, accepted, accepted.schema.empty_table(), ISSUE_SCHEMA.empty_table())
    with Register(layout.register_path(dataset.id), dataset) as register:
        update = register.apply(validated)
        registered = register.events_on(day)
    entry = ledger.read(layout, day, dataset.id)
    entry.registered = registered
    ledger.write(layout, entry)
    if registered == entry.accepted:
        sources.commit(layout, dataset.id, day)  # pulled rows are safely in: the watermarks may advance
    return RegisterResult(
        events=update.events,
        new_records=update.new_records,
        corrected=update.corrected,
        removed=update.removed,
        unmatched_removals=update.unmatched_removals,
        expired=update.expired,
        by_status=update.by_status,
        registered=registered,
        problems=entry.problems(),
    )
