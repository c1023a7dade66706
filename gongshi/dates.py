"""Dates as departments write them (2026-11-25, 2026/11/25, 2026年11月25日, 20261125, full-width
digits), parsed over whole Arrow columns, and calendar arithmetic for publicity periods."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SEPARATED = (
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_COMPACT = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"


def civil_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """datetime64[D] for each (year, month, day) that is a real calendar date, NaT elsewhere."""
    year, month, day = (np.asarray(a, dtype=np.int64) for a in (year, month, day))
    ok = (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12) & (day >= 1)
    months = (np.where(ok, year, 1970) - 1970) * 12 + np.where(ok, month, 1) - 1
    first = months.astype("datetime64[M]").astype("datetime64[D]")
    days_in_month = ((months + 1).astype("datetime64[M]").astype("datetime64[D]") - first).astype(np.int64)
    ok &= day <= days_in_month
    result = first + (np.where(ok, day, 1) - 1).astype("timedelta64[D]")
    result[~ok] = np.datetime64("NaT")
    return result


def parse_dates(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Parse delivered date text. Returns (date32 array, unreadable mask, nonexistent-date mask).

    Null input stays null and is in neither mask. ISO dates (nearly all) go through Arrow's strptime;
    only the other spellings pay for the regular expressions.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    iso = pc.strptime(column, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2023-02-29 over to 03-01: keep only results whose day is the written day.
    parsed_day = pc.utf8_lpad(pc.cast(pc.day(iso), pa.string()), 2, "0")
    exact = pc.and_(pc.equal(pc.utf8_length(column), 10), pc.equal(pc.utf8_slice_codeunits(column, 8, 10), parsed_day))
    iso = pc.if_else(pc.fill_null(exact, False), iso, None)
    other = pc.and_(pc.is_valid(column), pc.is_null(iso)).to_numpy(zero_copy_only=False)
    dates = pc.cast(iso, pa.date32())
    unreadable = np.zeros(len(column), dtype=bool)
    nonexistent = np.zeros(len(column), dtype=bool)
    rows = np.flatnonzero(other)
    if len(rows):
        parsed, bad_text, bad_date = _parse_spellings(pc.take(column, pa.array(rows)))
        unreadable[rows] = bad_text
        nonexistent[rows] = bad_date
        dates = pc.replace_with_mask(dates, pa.array(other), parsed)
    return dates, unreadable, nonexistent


def _parse_spellings(column: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(column, form="NFKC"))
    year, month, day = (np.zeros(len(text), dtype=np.int64) for _ in range(3))
    matched = np.zeros(len(text), dtype=bool)
    for pattern in (_SEPARATED, _COMPACT):
        struct = pc.extract_regex(text, pattern)
        hit = pc.is_valid(struct).to_numpy(zero_copy_only=False) & ~matched
        if hit.any():
            for target, name in ((year, "y"), (month, "m"), (day, "d")):
                values = pc.cast(pc.fill_null(pc.struct_field(struct, name), "0"), pa.int64())
                target[hit] = values.to_numpy(zero_copy_only=False)[hit]
            matched |= hit
    dates = civil_dates(year, month, day)
    nonexistent = matched & np.isnat(dates)
    dates[~matched] = np.datetime64("NaT")
    return pa.array(dates, type=pa.date32(), from_pandas=True), ~matched, nonexistent


def add_period(dates: np.ndarray, years: int, months: int, days: int) -> np.ndarray:
    """dates + period, clamping to the month's last day (2024-02-29 + P1Y = 2025-02-28)."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    month_index = dates.astype("datetime64[M]")
    day_of_month = (dates - month_index.astype("datetime64[D]")).astype(np.int64)
    target_month = month_index + np.timedelta64(years * 12 + months, "M")
    last_day = ((target_month + 1).astype("datetime64[D]") - target_month.astype("datetime64[D]")).astype(np.int64)
    result = target_month.astype("datetime64[D]") + np.minimum(day_of_month, last_day - 1).astype("timedelta64[D]")
    return result + np.timedelta64(days, "D")


def to_numpy_dates(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """date32 Arrow column -> datetime64[D] with NaT for nulls."""
    return np.asarray(pc.cast(column, pa.timestamp("s")).to_numpy(zero_copy_only=False), dtype="datetime64[D]")


def today_in_shanghai() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
