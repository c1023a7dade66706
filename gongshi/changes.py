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
    parts: list[pd.DataFrame] = []

    new_ids = now.index.difference(before.index)
    if len(new_ids):
        statuses = now.loc[new_ids, "status"]
        parts.append(
            _rows(
                statuses.eq(REMOVED).map({True: "removed", False: "added"}),
                new_ids,
                label=now.loc[new_ids, label],
            )
        )
    gone = before.index.difference(now.index)
    if len(gone):
        reasons = pd.Series(gone, index=gone).map(withdrawn)
        expired = pd.Series(gone, index=gone).map(register_status).eq(EXPIRED)
        kinds = pd.Series("retracted", index=gone).mask(expired, "expired").mask(reasons.notna(), "withdrawn")
        parts.append(_rows(kinds, gone, reason=reasons.where(kinds.eq("withdrawn"))))

    common = now.index.intersection(before.index)
    removal_fields = set(dataset.removal.required) if dataset.removal else set()
    compared = [f.name for f in public_fields(dataset)] + ["flags"]
    newly_removed = common[(now.loc[common, "status"] == REMOVED) & (before.loc[common, "status"] != REMOVED)]
    if len(newly_removed):
        removed = pd.Series("removed", index=newly_removed)
        parts.append(_rows(removed, newly_removed, label=now.loc[newly_removed, label]))
    for name in compared:
        old, new = before.loc[common, name], now.loc[common, name]
        differs = ~((old == new) | (old.isna() & new.isna()))
        if name in removal_fields:
            differs &= ~common.isin(newly_removed)
        ids = common[differs.to_numpy()]
        if len(ids):
            parts.append(
                _rows(
                    pd.Series("corrected", index=ids),
                    ids,
                    label=now.loc[ids, label],
                    field=name,
                    before=old[ids],
                    after=new[ids],
                )
            )

    columns = [f.name for f in CHANGE_FIELDS if f.name != "day"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    frame = frame[columns]
    frame.insert(0, "day", pd.to_datetime(day).date())
    frame["_order"] = frame["change"].map({c: i for i, c in enumerate(CHANGES)})
    frame = frame.sort_values(["_order", "record_id", "field"], na_position="first", kind="stable")
    schema = pa.schema([(f.name, pa.date32() if f.type == "date" else pa.string()) for f in CHANGE_FIELDS])
    return pa.Table.from_pandas(frame.drop(columns="_order"), schema=schema, preserve_index=False)


def _rows(change: pd.Series, ids: pd.Index, label=None, field=None, before=None, after=None, reason=None):
    """Change rows for `ids` (one per id), every value as text or None."""
    return pd.DataFrame(
        {
            "change": change.to_numpy(),
            "record_id": ids.to_numpy(),
            "label": _texts(label, ids),
            "field": field,
            "before": _texts(before, ids),
            "after": _texts(after, ids),
            "reason": _texts(reason, ids),
        }
    )


def _texts(values, ids: pd.Index):
    if values is None:
        return [None] * len(ids)
    return [_text(v) for v in values.to_numpy()]


def _text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
