"""What changed between two releases of a dataset: records added, removed (移出), corrected (field
by field, before and after), expired, withdrawn by a decision, or retracted by a corrected
delivery. Identifiers are the stable record ids; a record that left the public data is named by
its id only, so the change file does not publish what was taken down."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from gongshi.catalog import Dataset
from gongshi.metadata import CHANGE_FIELDS, CHANGES, label_field
from gongshi.redaction import public_fields
from gongshi.register import EXPIRED, REMOVED


def changes(
    previous: pa.Table | None,
    current: pa.Table,
    dataset: Dataset,
    day: str,
    register_status: dict[str, str],
    withdrawn: dict[str, str],
) -> pa.Table:
    """The change rows of `day` (schema `CHANGE_FIELDS`), in change, record and field order.

    `register_status` is each record's status in the register as of `day`; `withdrawn` maps the
    record ids taken down to the reason shown.
    """
    label = label_field(dataset)
    now = current.to_pandas().set_index("record_id")
    before = previous.to_pandas().set_index("record_id") if previous is not None else now.iloc[0:0]
    rows: list[dict] = []

    for record_id in now.index.difference(before.index):
        status = now.at[record_id, "status"]
        rows.append(_row("removed" if status == REMOVED else "added", record_id, now.at[record_id, label]))
    for record_id in before.index.difference(now.index):
        if record_id in withdrawn:
            rows.append(_row("withdrawn", record_id, reason=withdrawn[record_id]))
        elif register_status.get(record_id) == EXPIRED:
            rows.append(_row("expired", record_id))
        else:
            rows.append(_row("retracted", record_id))

    common = now.index.intersection(before.index)
    removal_fields = set(dataset.removal.required) if dataset.removal else set()
    compared = [f.name for f in public_fields(dataset)] + ["flags"]
    newly_removed = common[(now.loc[common, "status"] == REMOVED) & (before.loc[common, "status"] != REMOVED)]
    for record_id in newly_removed:
        rows.append(_row("removed", record_id, now.at[record_id, label]))
    for name in compared:
        old, new = before.loc[common, name], now.loc[common, name]
        differs = ~((old == new) | (old.isna() & new.isna()))
        if name in removal_fields:
            differs &= ~common.isin(newly_removed)
        for record_id in common[differs.to_numpy()]:
            rows.append(
                _row(
                    "corrected", record_id, now.at[record_id, label], name, _text(old[record_id]), _text(new[record_id])
                )
            )

    frame = pd.DataFrame(rows, columns=[f.name for f in CHANGE_FIELDS if f.name != "day"])
    frame.insert(0, "day", pd.to_datetime(day).date())
    frame["_order"] = frame["change"].map({c: i for i, c in enumerate(CHANGES)})
    frame = frame.sort_values(["_order", "record_id", "field"], na_position="first", kind="stable")
    schema = pa.schema([(f.name, pa.date32() if f.type == "date" else pa.string()) for f in CHANGE_FIELDS])
    return pa.Table.from_pandas(frame.drop(columns="_order"), schema=schema, preserve_index=False)


def _row(change: str, record_id: str, label=None, field=None, before=None, after=None, reason=None) -> dict:
    return {
        "change": change,
        "record_id": record_id,
        "label": _text(label),
        "field": field,
        "before": before,
        "after": after,
        "reason": reason,
    }


def _text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
