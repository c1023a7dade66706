"""公开时效: working days on the official calendar (调休 included), beyond it an estimate that says so,
every published record with its delay and whether it was on time, and pages whose counts reconcile
with the records."""

from __future__ import annotations

import datetime as dt
import re

import chinese_calendar
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshi.timeliness import covered_years, late_by_department, summary, working_days_between


def _dates(values):
    return pa.array(values, pa.date32())


def test_the_spring_festival_and_its_make_up_working_days():
    # 2025: 1-28 … 2-4 off; Sunday 1-26 is a working day (调休)
    delay, known = working_days_between(_dates([dt.date(2025, 1, 24)]), _dates([dt.date(2025, 2, 5)]))
    assert delay.to_pylist() == [3] and known.to_pylist() == [True]


def test_beyond_the_calendar_weekdays_are_counted_and_marked_estimated():
    last = covered_years()[1]
    start = dt.date(last + 1, 3, 2)  # a Monday or not: the count is Monday–Friday either way
    end = start + dt.timedelta(days=14)
    delay, known = working_days_between(_dates([start]), _dates([end]))
    weekdays = sum((start + dt.timedelta(days=i)).weekday() < 5 for i in range(1, 15))
    assert delay.to_pylist() == [weekdays] and known.to_pylist() == [False]


def test_missing_dates_give_no_delay_and_a_same_day_publication_none():
    delay, _ = working_days_between(
        _dates([None, dt.date(2026, 3, 2), dt.date(2026, 3, 9)]),
        _dates([dt.date(2026, 3, 2), None, dt.date(2026, 3, 2)]),
    )
    assert delay.to_pylist() == [None, None, 0]
    same, _ = working_days_between(_dates([dt.date(2026, 3, 2)]), _dates([dt.date(2026, 3, 2)]))
    assert same.to_pylist() == [0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.dates(dt.date(2019, 1, 1), dt.date(2026, 10, 31)), st.integers(0, 60)), min_size=1, max_size=20
    )
)
def test_the_column_count_equals_counting_day_by_day(pairs):
    starts = [a for a, _ in pairs]
    ends = [a + dt.timedelta(days=n) for a, n in pairs]
    delay, _ = working_days_between(_dates(starts), _dates(ends))
    expected = [
        sum(chinese_calendar.is_workday(a + dt.timedelta(days=i)) for i in range(1, (b - a).days + 1))
        for a, b in zip(starts, ends, strict=True)
    ]
    assert delay.to_pylist() == expected


def test_summaries_and_late_records_by_department():
    table = pa.table(
        {
            "authority": ["甲局", "甲局", "乙局", None],
            "first_published": _dates(
                [dt.date(2026, 3, 2), dt.date(2026, 4, 1), dt.date(2026, 4, 2), dt.date(2026, 4, 3)]
            ),
            "publication_delay": pa.array([3, 30, 25, 1], pa.int64()),
            "published_on_time": [True, False, False, True],
        }
    )
    by_department = {r["department"]: r for r in summary(table, "authority", ("department",))}
    assert by_department["甲局"] | {} == {"department": "甲局", "records": 2, "on_time": 1, "median": 3, "p90": 30}
    assert by_department[""]["records"] == 1
    months = summary(table, "authority", ("department", "month"))
    assert sum(r["records"] for r in months) == 4
    late = late_by_department(table, "authority")
    assert {k: v.tolist() for k, v in late.items()} == {"乙局": [2], "甲局": [1]}


def test_every_published_record_carries_its_delay_and_the_pages_reconcile(published_demo, catalog):
    latest = published_demo.public / "latest"
    page = (latest / "quality/timeliness/index.html").read_text("utf-8")
    for name, dataset in catalog.items():
        table = pq.read_table(latest / f"datasets/{name}/{name}.parquet")
        delay, on_time = table["publication_delay"].to_pylist(), table["published_on_time"].to_pylist()
        arises = table[dataset.arises_on].to_pylist()
        assert [d is None for d in delay] == [a is None for a in arises]
        assert all(
            o == (d <= dataset.deadline.working_days) for d, o in zip(delay, on_time, strict=True) if d is not None
        )
        known = sum(d is not None for d in delay)
        heading = rf"<h2>{re.escape(dataset.title)}</h2>\s*<p>规定期限：\d+ 个工作日（.*?）。"
        found = re.search(heading + r"([\d,]+) 条记录可计算用时，其中 ([\d,]+) 条按时公开", page)
        assert found, name
        assert int(found.group(1).replace(",", "")) == known
        assert int(found.group(2).replace(",", "")) == sum(bool(o) for o in on_time if o is not None)
    assert (published_demo.public / "latest/quality/index.html").read_text("utf-8").count("quality/timeliness/") == 1
