"""What changed between two releases of a dataset: records added, removed (移出), corrected (field
by field, before and after), expired, withdrawn by a decision, or retracted by a corrected
delivery. Identifiers are the stable record ids; a record that left the public data is named by
its id only, so the change file does not publish what was taken down."""

from __future__ import annotations

import pyarrow as pa

from gongshi import tables
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
    record ids taken down to the reason shown. Computed by joins in DuckDB: what it holds in memory
    does not grow with the number of changes, and no row becomes a Python object.
    """
    label = _quoted(label_field(dataset))
    before = previous if previous is not None else current.schema.empty_table()
    removal_fields = set(dataset.removal.required) if dataset.removal else set()
    compared = [f.name for f in public_fields(dataset)] + ["flags"]
    gone = pa.table(
        {
            "record_id": pa.array(list(register_status) + list(withdrawn), pa.string()),
            "status": pa.array(list(register_status.values()) + [None] * len(withdrawn), pa.string()),
            "reason": pa.array([None] * len(register_status) + list(withdrawn.values()), pa.string()),
        }
    )
    # The records in both whose compared fields differ, joined once (then one pass over those few
    # per field, not a join of the whole dataset per field): column n<i>/b<i> is field i now/before.
    pairs = ", ".join(f"n.{_quoted(name)} AS n{i}, b.{_quoted(name)} AS b{i}" for i, name in enumerate(compared))
    differs = " OR ".join(f"n{i} IS DISTINCT FROM b{i}" for i in range(len(compared)))
    corrected = " UNION ALL ".join(
        f"SELECT 'corrected', record_id, label, '{name}', CAST(b{i} AS VARCHAR), CAST(n{i} AS VARCHAR), NULL "
        f"FROM pairs WHERE n{i} IS DISTINCT FROM b{i}"
        + (
            f" AND NOT (now_status = '{REMOVED}' AND before_status IS DISTINCT FROM '{REMOVED}')"
            if name in removal_fields
            else ""
        )
        for i, name in enumerate(compared)
    )
    order = " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CHANGES))
    with tables.connect() as db:
        db.register("now", current)
        db.register("before", before)
        db.register("gone", gone)
        result = db.sql(
            f"""
            WITH pairs AS MATERIALIZED (
                SELECT * FROM (
                    SELECT record_id, CAST(n.{label} AS VARCHAR) AS label, n.status AS now_status,
                           b.status AS before_status, {pairs}
                    FROM now n JOIN before b USING (record_id)
                ) WHERE {differs}
            ),
            rows(change, record_id, label, field, before, after, reason) AS (
                SELECT CASE WHEN n.status = '{REMOVED}' THEN 'removed' ELSE 'added' END, n.record_id,
                       CAST(n.{label} AS VARCHAR), NULL, NULL, NULL, NULL
                FROM now n ANTI JOIN before b USING (record_id)
                UNION ALL
                SELECT CASE WHEN w.reason IS NOT NULL THEN 'withdrawn'
                            WHEN s.status = '{EXPIRED}' THEN 'expired' ELSE 'retracted' END,
                       b.record_id, NULL, NULL, NULL, NULL, w.reason
                FROM before b ANTI JOIN now n USING (record_id)
                LEFT JOIN (SELECT record_id, any_value(reason) AS reason FROM gone
                           WHERE reason IS NOT NULL GROUP BY record_id) w USING (record_id)
                LEFT JOIN (SELECT record_id, any_value(status) AS status FROM gone
                           WHERE status IS NOT NULL GROUP BY record_id) s USING (record_id)
                UNION ALL
                SELECT 'removed', n.record_id, CAST(n.{label} AS VARCHAR), NULL, NULL, NULL, NULL
                FROM now n JOIN before b USING (record_id)
                WHERE n.status = '{REMOVED}' AND b.status IS DISTINCT FROM '{REMOVED}'
                UNION ALL {corrected}
            )
            SELECT CAST(? AS DATE) AS day, change, record_id, label, field, before, after, reason
            FROM rows ORDER BY CASE change {order} END, record_id, field NULLS FIRST
            """,
            params=[day],
        ).to_arrow_table()
    schema = pa.schema([(f.name, pa.date32() if f.type == "date" else pa.string()) for f in CHANGE_FIELDS])
    return result.rename_columns([f.name for f in CHANGE_FIELDS]).cast(schema)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
