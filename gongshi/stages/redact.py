"""Stage 5, redact: what the public may see of the register on the release day — records in their
publicity period, not withdrawn — with each column's privacy class applied and published text
scanned for personal data (`gongshi.redaction`). Nothing reaches a public file without passing here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import ledger, progress
from gongshi.catalog import Dataset
from gongshi.redaction import pseudonym_key, redact_rows
from gongshi.register import ACTIVE, EXPIRED, REMOVED, UNMATCHED_REMOVAL, Register
from gongshi.settings import Settings
from gongshi.snapshots import release_day
from gongshi.stages import Json
from gongshi.storage import read_arrow, write_arrow, write_json, write_parquets
from gongshi.takedown import withdrawn
from gongshi.timeliness import working_days_between

# Columns of a published record besides the dataset's own (privacy-filtered) fields.
PUBLISHED_STATUSES = (ACTIVE, REMOVED)
# What the public view reads of a register record besides the dataset's fields (not, for instance,
# the names of the files it came from)
REGISTER_COLUMNS = [
    "record_id",
    "status",
    "first_delivery",
    "last_delivery",
    "corrected_on",
    "expires_on",
    "flags",
    "fields_digest",
]


@dataclass
class RedactResult:
    release: str
    records: int
    published: int
    expired: int
    withdrawn: int
    reused: int = 0  # public rows taken from what the last redaction kept (their inputs unchanged)
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    free_text: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        return {
            "release": self.release,
            "records": self.records,
            "published_records": self.published,
            "expired_records": self.expired,
            "withdrawn_records": self.withdrawn,
            "rows_reused_from_last_redaction": self.reused,
            "redaction_totals": Json(self.totals),
            "redaction_by_column": Json(self.columns),
            "pii_masked_in_text": Json(self.free_text),
        }


@progress.stage("脱敏")
def run(settings: Settings, dataset: Dataset, day: str) -> RedactResult:
    """The public view of the register as of the release day, privacy applied; counts into the
    ledger of `day`."""
    layout = settings.layout
    target = release_day(layout, day)
    with Register(layout.register_path(dataset.id), dataset) as register:
        # in the public view's order: sorting 1,000,000 rows in DuckDB costs a tenth of moving them in Arrow
        records = register.records_as_of(target, public_order(dataset), REGISTER_COLUMNS + dataset.field_names)
    taken_down = withdrawn(layout, dataset.id)
    kept_path = layout.redacted_rows(dataset.id)
    view = public_view(records, dataset, set(taken_down), carry=["fields_digest"])
    fields_digests = view["fields_digest"]  # the register's, made when each record was folded
    view = view.drop_columns(["fields_digest"])
    redacted = redact_rows(view, dataset, pseudonym_key(layout), _kept(kept_path), fields_digests)
    table, report = redacted.table, redacted.report
    kept_path.parent.mkdir(parents=True, exist_ok=True)
    expired = pc.equal(records["status"], EXPIRED)
    write_arrow(redacted.kept, kept_path)
    kept_path.with_suffix(".parquet").unlink(missing_ok=True)  # where an earlier version kept them
    write_parquets(
        [
            (table, layout.public_table(day, dataset.id)),
            (records.filter(expired).select(["record_id"]), layout.expired(day, dataset.id)),
        ]
    )
    write_json(layout.redaction_report(day, dataset.id), report.to_dict())
    is_withdrawn = pc.is_in(records["record_id"], value_set=pa.array(sorted(taken_down), pa.string()))
    counts = {
        "records": records.num_rows,
        "published": table.num_rows,
        "expired": int(pc.sum(expired).as_py() or 0),
        "withdrawn": int(pc.sum(pc.and_(is_withdrawn, pc.invert(expired))).as_py() or 0),
    }
    entry = ledger.read(layout, day, dataset.id)
    if entry is not None:
        for key, value in counts.items():
            setattr(entry, key, value)
        ledger.write(layout, entry)
    return RedactResult(
        release=target,
        **counts,
        reused=redacted.reused,
        columns=report.columns,
        free_text=report.free_text,
        totals=report.totals(),
        problems=entry.problems() if entry else [],
    )


def _kept(path: Path) -> pa.Table | None:
    """What the last redaction kept (`redaction.redact_rows`); None when there is none or it cannot be
    read — every row is then redacted again."""
    try:
        return read_arrow(path) if path.is_file() else None
    except (OSError, pa.ArrowInvalid):
        return None


def public_flags(dataset: Dataset) -> set[str]:
    """Flags the public may see: the dataset's declared flags and an unmatched removal; never the
    warnings about values that are not published."""
    return set(dataset.flags) | ({UNMATCHED_REMOVAL} if dataset.removal else set())


def public_view(
    records: pa.Table, dataset: Dataset, withdrawn: set[str] = frozenset(), carry: Sequence[str] = ()
) -> pa.Table:
    """The register's records the public may see today: in their publicity period, not withdrawn;
    the dataset's fields (still unredacted) and the public metadata, in a deterministic order.
    `carry`: columns of `records` that follow the rows, last, for the caller to take off (they are not
    the public's)."""
    keep = pc.is_in(records["status"], value_set=pa.array(PUBLISHED_STATUSES))
    if withdrawn:
        keep = pc.and_(keep, pc.invert(pc.is_in(records["record_id"], value_set=pa.array(sorted(withdrawn)))))
    selected = records if pc.all(keep).as_py() is not False else records.filter(keep)
    flags = _only_public_flags(selected["flags"].combine_chunks(), public_flags(dataset))
    columns = {"record_id": selected["record_id"]}
    columns |= {name: selected[name] for name in dataset.field_names}
    columns |= {
        "status": selected["status"],
        "first_published": selected["first_delivery"],
        "last_updated": selected["last_delivery"],
        "corrected_on": selected["corrected_on"],
        "expires_on": selected["expires_on"],
        **_timeliness(selected, dataset),
        "flags": flags,
    }
    columns |= {name: selected[name] for name in carry}
    table = pa.table(columns)
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in public_order(dataset)])
    if np.array_equal(order.to_numpy(), np.arange(table.num_rows)):  # already in order: nothing to move
        return table
    return table.take(order)


def public_order(dataset: Dataset) -> list[str]:
    """The order of a dataset's public rows: its primary key, then the record id."""
    return [*dataset.primary_key, "record_id"]


def _timeliness(records: pa.Table, dataset: Dataset) -> dict[str, pa.Array]:
    """公开时效 of each record: working days from its `arises_on` date to its first publication, and
    whether that was within the dataset's deadline (`gongshi.timeliness`)."""
    if not dataset.arises_on or not records.num_rows:
        return {
            "publication_delay": pa.nulls(records.num_rows, pa.int64()),
            "published_on_time": pa.nulls(records.num_rows, pa.bool_()),
        }
    delay, _ = working_days_between(records[dataset.arises_on], records["first_delivery"])
    return {
        "publication_delay": pc.cast(delay, pa.int64()),
        "published_on_time": pc.less_equal(delay, pa.scalar(dataset.deadline.working_days, pa.int32())),
    }


def _only_public_flags(flags: pa.ListArray, allowed: set[str]) -> pa.Array:
    """Each row's flags that the public may see, joined with ';' (empty when none)."""
    flat = pc.list_flatten(flags)
    parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
    keep = pc.is_in(flat, value_set=pa.array(sorted(allowed), pa.string())).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[keep], minlength=len(flags))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pc.binary_join(pa.ListArray.from_arrays(offsets, flat.filter(pa.array(keep))), ";")
