"""A dataset's public table as the site reads it: selected, ordered and grouped in columns (DuckDB
and Arrow), each row with a digest of its content, turned into Python dicts only for the pages that
are rendered. What it costs to decide that a page did not change grows with the page, not with the
register."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import tables
from gongshi.catalog import Dataset

STATUS_LABELS = {"active": "在列", "removed": "已移出"}
TEMPLATE_HELPERS = ("has_problem", "status_label", "flag_list")  # what `TableView.dicts` adds to a row


@dataclass(frozen=True)
class Lazy:
    """A page context value computed only if the page is rendered."""

    compute: Callable[[], object]

    def __call__(self):
        return self.compute()


class TableView:
    """One dataset's public table: dates as ISO text (as the templates show them), a digest per row,
    and the columns the site derives (`has_problem`, the flags)."""

    def __init__(self, table: pa.Table | None, dataset: Dataset, digests: pa.Array | None = None):
        """`digests`: `tables.row_digests` of `table`, when the caller has them already."""
        self.dataset = dataset
        table = table if table is not None else pa.table({})
        columns = [pc.cast(c, pa.string()) if pa.types.is_date(c.type) else c for c in table.columns]
        # One chunk per column: taking a page's rows from a many-chunked table costs the whole table.
        self.table = pa.table(columns, names=table.column_names).combine_chunks() if table.num_columns else table
        self.rows = self.table.num_rows
        self.digests = digests if digests is not None else tables.row_digests(self.table)
        problem = dataset.site.problem
        if problem is not None and problem.field in self.table.column_names:
            found = pc.is_in(self.table[problem.field], value_set=pa.array(problem.not_in, pa.string()))
            self.has_problem = ~np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
        else:
            self.has_problem = np.zeros(self.rows, dtype=bool)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table[name]

    def select(self, where: dict[str, list[str]], flag: str | None, order: list[str]) -> np.ndarray:
        """Row positions matching `where` (and carrying `flag`), in the declared `order` ("-field"
        descending, missing values as empty text), ties in table order."""
        if not self.rows:
            return np.array([], dtype=np.int64)
        mask = self.matches(where)
        if flag is not None:
            mask &= self.flagged(flag)
        columns = {
            f"k{i}": pc.fill_null(pc.cast(self.table[k.lstrip("-")], pa.string()), "") for i, k in enumerate(order)
        }
        keys = pa.table(columns | {"i": pa.array(np.arange(self.rows))}).filter(pa.array(mask))
        sort = [(f"k{i}", "descending" if key.startswith("-") else "ascending") for i, key in enumerate(order)]
        return np.asarray(pc.take(keys["i"], pc.sort_indices(keys, sort_keys=[*sort, ("i", "ascending")])))

    def matches(self, where: dict[str, list[str]]) -> np.ndarray:
        """Which rows have, in each field of `where`, one of its values."""
        mask = np.ones(self.rows, dtype=bool)
        for name, values in where.items():
            found = pc.is_in(self.table[name], value_set=pa.array(values, pa.string()))
            mask &= np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
        return mask

    def flagged(self, flag: str) -> np.ndarray:
        if "flags" not in self.table.column_names:
            return np.zeros(self.rows, dtype=bool)
        parts = pc.split_pattern(pc.fill_null(self.table["flags"], ""), ";")
        flat = pc.list_flatten(parts)
        parents = np.asarray(pc.list_parent_indices(parts))
        hits = np.asarray(pc.equal(flat, flag).to_numpy(zero_copy_only=False), dtype=bool)
        mask = np.zeros(self.rows, dtype=bool)
        mask[parents[hits]] = True
        return mask

    def dicts(self, positions, fields: frozenset[str] | None = None) -> list[dict]:
        """The rows at `positions` as the templates see them: every field as text (with `fields`,
        only those of them, and the two the helpers are made from), and `has_problem`,
        `status_label` and `flag_list`. Turning cells into Python objects is most of what a list
        page costs: a page's template reads about half of a record's fields."""
        positions = np.asarray(positions, dtype=np.int64)
        table = self.table
        if fields is not None:
            table = table.select([n for n in table.column_names if n in fields or n in ("status", "flags")])
        rows = _records(table.take(pa.array(positions)))
        for position, row in zip(positions, rows, strict=True):
            row["has_problem"] = bool(self.has_problem[position])
            row["status_label"] = STATUS_LABELS.get(row.get("status"), row.get("status"))
            row["flag_list"] = [f for f in (row.get("flags") or "").split(";") if f]
        return rows


def _records(table: pa.Table) -> list[dict]:
    """`table.to_pylist()`, built a column at a time: a quarter less of what turning a province's
    rows into dicts costs (the first day's pages turn millions)."""
    names = table.column_names
    if not names:
        return [{} for _ in range(table.num_rows)]
    columns = [c.to_pylist() for c in table.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


class Rows:
    """Rows of a list, in display order: their number, the dicts of a slice, and a slice's digest."""

    def __len__(self) -> int:
        raise NotImplementedError

    def dicts(self, start: int, end: int) -> list[dict]:
        raise NotImplementedError

    def digest(self, start: int, end: int) -> str:
        raise NotImplementedError

    def digests(self, bounds: list[tuple[int, int]]) -> list[str]:
        """`digest` of each (start, end) slice."""
        return [self.digest(start, end) for start, end in bounds]


PREFETCH_ROWS = 2000  # rows of the pages about to be rendered gathered at once (`TableRows.prefetch`)


class TableRows(Rows):
    """Rows of a view at `positions`; `fields`: the fields the pages read (None: every one)."""

    def __init__(self, view: TableView, positions: np.ndarray, fields: frozenset[str] | None = None):
        self.view, self.positions, self.fields = view, positions, fields
        self._pending: deque[tuple[int, int]] = deque()
        self._gathered: dict[tuple[int, int], list[dict]] = {}

    def __len__(self) -> int:
        return len(self.positions)

    def prefetch(self, slices: list[tuple[int, int]]) -> None:
        """The (start, end) slices whose dicts will be asked for, in that order: a slice asked for is
        gathered with those after it, up to PREFETCH_ROWS rows in one take (a take costs about as much
        for one page's rows as for forty)."""
        self._pending = deque(slices)

    def dicts(self, start: int, end: int) -> list[dict]:
        found = self._gathered.pop((start, end), None)
        if found is not None:
            return found
        batch, count = [(start, end)], end - start
        while self._pending and count < PREFETCH_ROWS:
            bounds = self._pending.popleft()
            if bounds != (start, end) and bounds not in self._gathered:
                batch.append(bounds)
                count += bounds[1] - bounds[0]
        rows = self.view.dicts(np.concatenate([self.positions[s:e] for s, e in batch]), self.fields)
        at = 0
        for s, e in batch:
            self._gathered[(s, e)] = rows[at : at + e - s]
            at += e - s
        return self._gathered.pop((start, end))

    def digest(self, start: int, end: int) -> str:
        digests = self.view.digests.take(pa.array(self.positions[start:end], pa.int64())).to_pylist()
        return hashlib.sha256("".join(digests).encode()).hexdigest()

    def digests(self, bounds: list[tuple[int, int]]) -> list[str]:
        """`digest` of each slice, the rows' digests taken in one gather (a list has thousands of pages)."""
        if not bounds:
            return []
        low, high = min(s for s, _ in bounds), max(e for _, e in bounds)
        every = self.view.digests.take(pa.array(self.positions[low:high], pa.int64())).to_pylist()
        return [hashlib.sha256("".join(every[s - low : e - low]).encode()).hexdigest() for s, e in bounds]


class ListRows(Rows):
    """Rows already in Python (small lists, tests)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def dicts(self, start: int, end: int) -> list[dict]:
        return self.rows[start:end]

    def digest(self, start: int, end: int) -> str:
        data = json.dumps(self.rows[start:end], ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()


class RowsByCode:
    """The positions of a column's rows by value (an entity's rows by its credit code), for the entity
    pages rendered in batches: each row's value numbered once among `values` (every entity's code)
    and the numbers sorted, then for each batch a binary search per code — where a mask over the
    whole column for each batch (`pc.is_in`) costs the batches times the register (a province's
    14 million entities, 7,000 batches). Numbers, not texts: nothing of it is a Python object, in
    the process that renders or in the one forked from it."""

    def __init__(self, column: pa.ChunkedArray | pa.Array, values: pa.Array):
        self.values = values
        numbers = pc.index_in(column, value_set=values)  # null: a row without a value, or another one
        order = pc.sort_indices(numbers)  # stable: a value's rows stay in table order; nulls last
        kept = len(numbers) - numbers.null_count
        self.order = np.asarray(order)[:kept]
        self.numbers = np.asarray(numbers.take(self.order).to_numpy(zero_copy_only=False))

    def positions(self, values: list[str]) -> np.ndarray:
        """The positions of the rows holding any of `values`, in table order (as a mask's would be)."""
        wanted = pc.index_in(pa.array(values, pa.string()), value_set=self.values).drop_null()
        wanted = np.unique(np.asarray(wanted))  # a value asked for twice: its rows once
        starts = np.searchsorted(self.numbers, wanted, side="left")
        counts = np.searchsorted(self.numbers, wanted, side="right") - starts
        total = int(counts.sum())
        if not total:
            return np.empty(0, dtype=np.int64)
        # every index of each run [start, start + count), in one vector: the k-th index is k plus its
        # run's start less the indices before that run
        before = np.cumsum(counts) - counts
        sorted_at = np.arange(total, dtype=np.int64) + np.repeat(starts - before, counts)
        return np.sort(self.order[sorted_at])
