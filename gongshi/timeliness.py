"""公开时效: how many working days passed between the day a record's information arose (its
`arises_on` date: inspection, decision, recognition) and the day it was first published, and
whether that was within the legal deadline (《企业信息公示暂行条例》第六条、第七条: 20 working days
from the day the information arises).

Working days follow the official PRC calendar with its make-up working days (调休), from the
maintained `chinesecalendar` package (the State Council's announcements, 2004 to the newest year it
knows). For a day outside what it knows, Monday to Friday are counted as working days and the record
is marked as estimated (`calendar_known` false), so the gap is visible rather than silently wrong.

Everything is computed on whole columns: one calendar array over the span of the dates, a cumulative
count of working days, and two lookups per record.
"""

from __future__ import annotations

import datetime as dt
import functools

import chinese_calendar
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = dt.date(1970, 1, 1)


@functools.lru_cache(maxsize=64)
def _year(year: int) -> tuple[np.ndarray, bool]:
    """Whether each day of `year` is a working day, and whether the official calendar knows the year."""
    first = dt.date(year, 1, 1)
    days = [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]
    try:
        return np.array([chinese_calendar.is_workday(d) for d in days], dtype=bool), True
    except NotImplementedError:
        return np.array([d.weekday() < 5 for d in days], dtype=bool), False


def covered_years() -> tuple[int, int]:
    """The years the official calendar in use knows (the README states them)."""
    known = [y for y in range(2000, dt.date.today().year + 3) if _year(y)[1]]
    return min(known), max(known)


def working_days_between(arises: pa.Array, published: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Per record: the working days after `arises` up to and including `published` (0 when published
    the same day or, impossibly, before), and whether the official calendar knew every day counted.
    Null where either date is missing."""
    arises = pc.cast(arises, pa.date32()) if not pa.types.is_date32(arises.type) else arises
    published = pc.cast(published, pa.date32()) if not pa.types.is_date32(published.type) else published
    if isinstance(arises, pa.ChunkedArray):
        arises = arises.combine_chunks()
    if isinstance(published, pa.ChunkedArray):
        published = published.combine_chunks()
    valid = np.asarray(pc.and_(pc.is_valid(arises), pc.is_valid(published)).to_numpy(zero_copy_only=False))
    if not valid.any():
        return pa.nulls(len(arises), pa.int32()), pa.nulls(len(arises), pa.bool_())
    start = np.asarray(pc.fill_null(arises, 0).to_numpy(zero_copy_only=False)).astype("datetime64[D]").astype(np.int64)
    end = np.asarray(pc.fill_null(published, 0).to_numpy(zero_copy_only=False)).astype("datetime64[D]").astype(np.int64)
    low = int(min(start[valid].min(), end[valid].min()))
    high = int(max(start[valid].max(), end[valid].max()))
    first_year = (EPOCH + dt.timedelta(days=low)).year
    last_year = (EPOCH + dt.timedelta(days=high)).year
    years = [_year(y) for y in range(first_year, last_year + 1)]
    workday = np.concatenate([w for w, _ in years])
    known = np.concatenate([np.full(len(w), k) for w, k in years])
    offset = (dt.date(first_year, 1, 1) - EPOCH).days
    cumulative = np.concatenate([[0], np.cumsum(workday)])  # working days among the first i days
    unknown = np.concatenate([[0], np.cumsum(~known)])
    a = np.clip(start - offset, 0, len(workday) - 1)
    b = np.clip(end - offset, 0, len(workday) - 1)
    later = b >= a
    delay = np.where(later, cumulative[b + 1] - cumulative[a + 1], 0)
    covered = np.where(later, unknown[b + 1] - unknown[a] == 0, known[a])
    return (
        pa.array(delay.astype(np.int32), mask=~valid),
        pa.array(covered.astype(bool), mask=~valid),
    )


LATE_SHOWN = 100  # late records listed on a department's page (newest first)


def summary(table: pa.Table, authority: str, by: tuple[str, ...]) -> list[dict]:
    """公开时效 grouped `by` "department" (the deciding authority) and/or "month" (of first
    publication): records with a known delay, how many were on time, the median and 90th percentile
    of the delay in working days. Computed in DuckDB over the columns."""
    from gongshi.tables import query

    if not table.num_rows or "publication_delay" not in table.column_names:
        return []
    keys = {
        "department": f"coalesce(CAST(\"{authority}\" AS VARCHAR), '') AS department",
        "month": "substr(CAST(first_published AS VARCHAR), 1, 7) AS month",
    }
    with query() as db:
        db.register("t", table.select([authority, "first_published", "publication_delay", "published_on_time"]))
        rows = db.sql(
            f"""
            SELECT {", ".join(keys[k] for k in by)},
                   count(*) AS records,
                   count(*) FILTER (WHERE published_on_time) AS on_time,
                   quantile_disc(publication_delay, 0.5) AS median,
                   quantile_disc(publication_delay, 0.9) AS p90
            FROM t WHERE publication_delay IS NOT NULL
            GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
    names = (*by, "records", "on_time", "median", "p90")
    return [dict(zip(names, row, strict=True)) for row in rows]


def late_by_department(table: pa.Table, authority: str, limit: int = LATE_SHOWN) -> dict[str, np.ndarray]:
    """Each department's records published late: row positions, newest first publication first, at
    most `limit` each. One pass over the columns for every department."""
    if not table.num_rows or "published_on_time" not in table.column_names:
        return {}
    late = np.asarray(pc.invert(pc.fill_null(table["published_on_time"], True)).to_numpy(zero_copy_only=False))
    positions = np.flatnonzero(late)
    if not len(positions):
        return {}
    chosen = pa.array(positions)
    names = pc.fill_null(pc.cast(table[authority], pa.string()), "").take(chosen)
    days = pc.cast(table["first_published"], pa.string()).take(chosen)
    keys = pa.table({"n": names, "d": days, "i": chosen})
    order = pc.sort_indices(keys, sort_keys=[("n", "ascending"), ("d", "descending"), ("i", "descending")])
    keys = keys.take(order)
    found: dict[str, np.ndarray] = {}
    department = np.asarray(keys["n"].to_numpy(zero_copy_only=False), dtype=object)
    rows = np.asarray(keys["i"].to_numpy())
    starts = np.flatnonzero(np.r_[True, department[1:] != department[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(rows)], strict=True):
        found[str(department[start])] = rows[start : min(end, start + limit)]
    return found
