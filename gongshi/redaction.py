"""The redaction stage: each column's privacy class from dataset.yaml applied over whole columns, and
every published text column scanned for personal data. Nothing reaches a public file without
passing through `redact`; nothing unclassified passes it.

Classes: publish (kept; text scanned), drop (never leaves the state directory), mask (a visible
partial value), pseudonymise (keyed HMAC-SHA256, so one person links across records without being
named; the column is published as `<name>_pseudonym`), generalise (a name to surname + 某, a date
to its month or year; optionally only on the rows a condition selects).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import parallel, pii
from gongshi.catalog import Dataset, FieldPolicy, SchemaField
from gongshi.identifiers import letters_only
from gongshi.paths import StateLayout
from gongshi.pii import mask_column_by_row, mask_value, number_digits
from gongshi.settings import PSEUDONYM_KEY, secret
from gongshi.tables import row_digests

PSEUDONYM_SUFFIX = "_pseudonym"
# Two-character surnames first: RE2 alternation takes the first branch that matches.
_COMPOUND_SURNAMES = (
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 轩辕 "
    "独孤 南宫 西门 百里 呼延 万俟 闻人 赫连 澹台 申屠 公冶 宗政 濮阳 太叔 钟离"
).split()
_SURNAME = "(?s)^(" + "|".join(_COMPOUND_SURNAMES) + r"|.).*$"


class UnclassifiedColumn(Exception):
    """A column without a privacy class: publishing must not start."""


@dataclass
class RedactionReport:
    """What the stage did, per column: values dropped, masked, pseudonymised, generalised, and
    personal data found (and masked) in published text, by kind."""

    dataset: str
    rows: int = 0
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    free_text: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, column: str, action: str, n: int) -> None:
        if n:
            self.columns.setdefault(column, {})[action] = self.columns.get(column, {}).get(action, 0) + n

    def totals(self) -> dict[str, int]:
        totals: Counter = Counter()
        for actions in self.columns.values():
            totals.update(actions)
        for kinds in self.free_text.values():
            totals.update({f"masked_in_text:{k}": v for k, v in kinds.items()})
        return dict(sorted(totals.items()))

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "columns": self.columns,
            "free_text": self.free_text,
            "totals": self.totals(),
        }


def public_name(name: str, policy: FieldPolicy) -> str | None:
    """The column's name in published files; None when it is never published."""
    if policy.privacy == "drop":
        return None
    return name + PSEUDONYM_SUFFIX if policy.privacy == "pseudonymise" else name


def public_fields(dataset: Dataset) -> list[SchemaField]:
    """The Table Schema fields of the published table, in schema order, privacy applied."""
    published = []
    for schema_field in dataset.schema_fields:
        policy = dataset.fields[schema_field.name]
        name = public_name(schema_field.name, policy)
        if name is None:
            continue
        if policy.privacy == "pseudonymise":
            schema_field = SchemaField(
                name=name,
                title=f"{schema_field.title}（化名）",
                type="string",
                description=f"{schema_field.title}经密钥 HMAC-SHA256 处理后的化名：同一人在不同记录中化名相同，"
                "但无法据此还原原值。原值不予公开。",
                constraints={"pattern": "^p[a-p]{16}$"},
            )
        elif policy.privacy in {"mask", "generalise"}:
            note = "（部分隐藏）" if policy.privacy == "mask" else _generalise_note(policy)
            constraints = {k: v for k, v in schema_field.constraints.items() if k not in {"pattern", "enum"}}
            schema_field = schema_field.model_copy(
                update={
                    "description": schema_field.description + note,
                    "constraints": constraints,
                    "type": "string" if policy.generalise and policy.generalise.to != "surname" else schema_field.type,
                }
            )
        published.append(schema_field)
    return published


def _generalise_note(policy: FieldPolicy) -> str:
    rule = policy.generalise
    what = {"surname": "仅公开姓氏（如“王某”）", "month": "仅公开年月", "year": "仅公开年份"}[rule.to]
    if rule.when:
        return f"（{rule.when.field} 以 {'、'.join(rule.when.starts_with)} 开头的记录{what}）"
    return f"（{what}）"


def check_classified(dataset: Dataset, columns: list[str]) -> None:
    """Refuse to go on when a schema column in `columns` has no privacy class."""
    missing = [c for c in columns if c in dataset.field_names and c not in dataset.fields]
    if missing:
        raise UnclassifiedColumn(f"{dataset.id}: columns without a privacy class: {', '.join(missing)}")


def redact(table: pa.Table, dataset: Dataset, key: bytes) -> tuple[pa.Table, RedactionReport]:
    """Apply every field's privacy class to `table` (other columns pass through untouched)."""
    result = redact_rows(table, dataset, key)
    return result.table, result.report


@dataclass
class Redacted:
    """`redact_rows`' result: the redacted table, its report, and what to keep for the next call."""

    table: pa.Table
    report: RedactionReport
    kept: pa.Table  # per row: the digest of its inputs, its redacted fields and what redacting it counted
    reused: int = 0  # rows taken from the kept table instead of being redacted again


_COUNT = "n\x1f"  # kept count columns: n<US>column<US>action


def redact_rows(
    table: pa.Table,
    dataset: Dataset,
    key: bytes,
    kept: pa.Table | None = None,
    fields_digests: pa.Array | pa.ChunkedArray | None = None,
) -> Redacted:
    """`redact`, reusing what an earlier call kept (`Redacted.kept`): a row is a pure function of its
    own inputs (its fields, the key, the policies and this code), so a row whose inputs' digest is
    in `kept` takes its redacted fields and counts from there, and only new or changed rows are
    redacted — a day adding 1 % of the register redacts 1 %. The report is summed over every row.

    `fields_digests`, when the caller has them, are each row's `row_digests` of the dataset's
    fields in schema order (the register keeps them, `Register.records`): they are the inputs' digests
    when the inputs are those fields, and are not made again here."""
    check_classified(dataset, table.column_names)
    if kept is not None:  # a caller may keep more of each row (the stage keeps the whole public row)
        published = {public_name(n, p) for n, p in dataset.fields.items()}
        kept = kept.select([n for n in kept.column_names if n == "_source" or n in published or n.startswith(_COUNT)])
    conditions = {p.generalise.when.field for p in dataset.fields.values() if p.generalise and p.generalise.when}
    inputs = [n for n in table.column_names if n in dataset.fields or n in conditions]
    salt = _salt(dataset, key)
    if isinstance(fields_digests, pa.ChunkedArray):
        fields_digests = fields_digests.combine_chunks()
    if (
        fields_digests is not None
        and inputs == dataset.field_names
        and len(fields_digests) == table.num_rows
        and not fields_digests.null_count  # a missing digest would match another missing one
    ):
        source = fields_digests.cast(pa.string())
    else:
        source = row_digests(table.select(inputs))  # an empty array for no rows
    reuse = kept is not None and (kept.schema.metadata or {}).get(b"gongshi.salt") == salt.encode()
    if reuse and kept.num_rows and table.num_rows:
        position = pc.index_in(source, value_set=kept["_source"].combine_chunks())
        hit = pc.is_valid(position).to_numpy(zero_copy_only=False)
    else:
        position, hit = None, np.zeros(table.num_rows, dtype=bool)
    fresh, again = np.flatnonzero(~hit), np.flatnonzero(hit)
    columns, counts = _apply_in_halves(table.select(inputs).take(pa.array(fresh, pa.int64())), dataset, key)
    parts = [pa.table({"_source": pc.take(source, pa.array(fresh, pa.int64())), **columns, **counts})]
    # Row i of the result: the i-th fresh row, or the kept row at its position — one gather over the
    # redacted rows followed by the whole kept table (moving a million rows twice cost seconds).
    index = np.empty(table.num_rows, dtype=np.int64)
    index[fresh] = np.arange(len(fresh))
    if len(again):
        parts.append(kept)
        index[again] = len(fresh) + position.to_numpy(zero_copy_only=False)[again]
    combined = pa.concat_tables(parts, promote_options="default").take(pa.array(index))
    # one layout whatever was reused: the digest, the published fields, the counts by name
    counted = sorted(n for n in combined.column_names if n.startswith(_COUNT))
    fields = [n for n in combined.column_names if not n.startswith(_COUNT)]
    combined = pa.table(
        {n: combined[n] for n in fields} | {n: pc.fill_null(combined[n], 0) for n in counted}
    ).combine_chunks()
    out: dict[str, pa.ChunkedArray] = {}
    for name in table.column_names:
        if name not in dataset.fields:
            out[name] = table.column(name)
        elif (published := public_name(name, dataset.fields[name])) is not None:
            out[published] = combined[published]
    report = kept_report(dataset, table.column_names, combined)
    kept_now = combined.replace_schema_metadata({"gongshi.salt": salt})
    return Redacted(pa.table(out), report, kept_now, reused=len(again))


def _salt(dataset: Dataset, key: bytes) -> str:
    """What a kept row was redacted with besides its inputs: the key (hashed), the dataset's
    policies and schema, and the code that redacts."""
    digest = hashlib.sha256(b"gongshi-redaction\n" + key)
    digest.update(repr(sorted((n, p.model_dump_json()) for n, p in dataset.fields.items())).encode())
    digest.update(repr([f.model_dump_json() for f in dataset.schema_fields]).encode())
    for module in ("redaction.py", "pii.py", "identifiers.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    digest.update(pii.tables_version())
    return digest.hexdigest()


HALVES_ABOVE = 100_000  # rows to redact: more are redacted in two halves at once, on two cores


def _apply_in_halves(
    table: pa.Table, dataset: Dataset, key: bytes
) -> tuple[dict[str, pa.Array | pa.ChunkedArray], dict[str, pa.Array]]:
    """`_apply`, on a large table in two halves at once (a forked process redacts the second): a row's
    redaction is its own, so the halves put together are the whole — what is counted per row
    included (a kind of value found in one half only counts zero in the other). Matching a
    province's first day against the patterns in Python is most of its redaction."""
    if table.num_rows < HALVES_ABOVE or parallel.cores() < 2:
        return _apply(table, dataset, key)
    middle = table.num_rows // 2
    (columns, counts), (later_columns, later_counts) = parallel.both(
        lambda: _apply(table.slice(0, middle), dataset, key),
        lambda: _apply(table.slice(middle), dataset, key),
    )
    joined = {}
    for name, first in columns.items():
        second = later_columns[name]
        chunks = [*_chunks(first), *(c.cast(first.type) for c in _chunks(second))]
        joined[name] = pa.chunked_array(chunks, first.type)
    counted = {}
    for name in sorted(counts.keys() | later_counts.keys()):
        first, second = counts.get(name), later_counts.get(name)
        first = pa.array(np.zeros(middle, np.int32)) if first is None else first
        second = pa.array(np.zeros(table.num_rows - middle, np.int32)) if second is None else second
        counted[name] = pa.concat_arrays([first, second])
    return joined, counted


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def _apply(table: pa.Table, dataset: Dataset, key: bytes) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    """The published field columns of `table`'s rows and, per row, what redacting it counted
    (`n<US>column<US>action` -> int32 per row)."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    counts: dict[str, np.ndarray] = {}

    def count(column: str, action: str, per_row: np.ndarray) -> None:
        counts[f"{_COUNT}{column}\x1f{action}"] = per_row.astype(np.int32)

    known = protected_numbers(table, dataset)
    generalised_names: dict[int, tuple[str, str]] = {}  # row -> (a natural person's name, as published)
    for name in table.column_names:
        if name not in dataset.fields:
            continue
        policy = dataset.fields[name]
        values = table.column(name)
        present = pc.is_valid(values).to_numpy(zero_copy_only=False)
        if policy.privacy == "drop":
            count(name, "dropped", present)
            continue
        if policy.privacy == "mask":
            values = pa.array([mask_value(v) for v in values.to_pylist()], pa.string())
            count(name, "masked", present)
        elif policy.privacy == "pseudonymise":
            values = pseudonymise(values, key)
            count(name, "pseudonymised", present)
        elif policy.privacy == "generalise":
            original = values
            values, selected = generalise_rows(values, policy, table)
            count(name, "generalised", selected)
            if policy.kind == "person_name":
                generalised_names |= _changed(original, values)
        if policy.scanned:
            values, found = mask_column_by_row(values, known)
            for kind in sorted(found):
                count(name, f"masked_in_text:{kind}", found[kind])
        columns[public_name(name, policy)] = values
    if generalised_names:
        # A natural person's name is known from the record: it is generalised in the record's text too.
        for name in [n for n in columns if n in dataset.fields and dataset.fields[n].scanned]:
            if dataset.fields[name].kind != "person_name":
                columns[name], replaced = _replace_names(columns[name], generalised_names)
                count(name, "names_generalised_in_text", replaced)
    return columns, {n: pa.array(v, pa.int32()) for n, v in counts.items()}


def counted_columns(kept: pa.Table) -> list[str]:
    """The columns of a kept table (`Redacted.kept`) that count what redacting each row did."""
    return [n for n in kept.column_names if n.startswith(_COUNT)]


def kept_report(dataset: Dataset, columns: list[str], kept: pa.Table) -> RedactionReport:
    """The report of redacting the rows whose kept counts are `kept`'s (`Redacted.kept`, or whole
    rows kept with them), the rows having had `columns`: in the order `redact` always gave — each
    column's action in column order, then the names generalised in text; free text by kind."""
    totals = {n: int(pc.sum(kept[n]).as_py() or 0) for n in sorted(counted_columns(kept))}
    report = RedactionReport(dataset.id, rows=kept.num_rows)
    parsed = [(n.split("\x1f")[1], n.split("\x1f")[2], v) for n, v in totals.items()]
    position = {n: i for i, n in enumerate(columns)}
    for column, action, n in sorted(parsed, key=lambda c: (c[1] == "names_generalised_in_text", position[c[0]])):
        if action.startswith("masked_in_text:"):
            if n:
                kinds = report.free_text.setdefault(column, {})
                kinds[action.split(":", 1)[1]] = n
        else:
            report.count(column, action, n)
    report.free_text = {c: dict(sorted(k.items())) for c, k in report.free_text.items()}
    return report


def protected_numbers(table: pa.Table, dataset: Dataset) -> pa.Table:
    """For each row, the numbers delivered in its columns that are never published (contact phone,
    ID number), as digits: typed again into the same record's text, they are found there too."""
    names = [n for n in table.column_names if n in dataset.fields and dataset.fields[n].holds_protected_number]
    return pa.table({name: number_digits(table.column(name)) for name in names})


def _changed(before, after) -> dict[int, tuple[str, str]]:
    differs = pc.fill_null(pc.not_equal(before, after), False).to_numpy(zero_copy_only=False)
    rows = differs.nonzero()[0]
    old = pc.take(before, pa.array(rows)).to_pylist()
    new = pc.take(after, pa.array(rows)).to_pylist()
    return {int(r): (o, n) for r, o, n in zip(rows, old, new, strict=True) if o and len(o) > 1}


def _replace_names(values, names: dict[int, tuple[str, str]]) -> tuple[pa.Array, np.ndarray]:
    """`values` with each row's name generalised where it appears; which rows changed."""
    rows = np.fromiter(names, dtype=np.int64, count=len(names))
    replaced = np.zeros(len(values), dtype=bool)
    if not len(rows):
        return values, replaced
    cells = pc.take(values, pa.array(rows)).to_pylist()
    for i, (cell, (original, generalised)) in enumerate(zip(cells, names.values(), strict=True)):
        if cell and original in cell:
            cells[i] = cell.replace(original, generalised)
            replaced[rows[i]] = True
    if not replaced.any():
        return values, replaced
    every = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    every[rows] = cells
    return pa.array(every, pa.string()), replaced


def pseudonymise(values: pa.Array | pa.ChunkedArray, key: bytes) -> pa.Array:
    """Keyed HMAC-SHA256 of each value: 'p' and 16 hex characters written in letters only (no digit,
    so a pseudonym can never be read as a personal number); null stays null. Computed once per
    distinct value (a representative's number stands on every record of the entity)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)  # a null stays a null index
    digests = [
        None if v is None else "p" + letters_only(hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[:16])
        for v in encoded.dictionary.to_pylist()  # a column of the null type: one null value
    ]
    return pc.take(pa.array(digests, pa.string()), encoded.indices)


def generalise_rows(values, policy: FieldPolicy, table: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """Coarsen values (on the rows the rule's condition selects); returns them and which rows changed."""
    rule = policy.generalise
    if rule.to == "surname":
        coarse = pc.replace_substring_regex(pc.cast(values, pa.string()), _SURNAME, r"\1某")
    else:
        coarse = pc.strftime(values, format="%Y-%m" if rule.to == "month" else "%Y")
        values = pc.cast(values, pa.string())
    if rule.when is None:
        selected = pc.is_valid(values)
    else:
        condition = table.column(rule.when.field)
        selected = pc.fill_null(
            pc.or_(*[pc.starts_with(condition, p) for p in rule.when.starts_with])
            if len(rule.when.starts_with) > 1
            else pc.starts_with(condition, rule.when.starts_with[0]),
            False,
        )
        selected = pc.and_(selected, pc.is_valid(values))
    return pc.if_else(selected, coarse, values), np.asarray(selected.to_numpy(zero_copy_only=False), dtype=bool)


def pseudonym_key(state: StateLayout) -> bytes:
    """The pseudonymisation key: $GONGSHI_PSEUDONYM_KEY, else `<state>/secrets/pseudonym.key`
    (made once, readable by the owner only). Changing it changes every pseudonym."""
    if secret(PSEUDONYM_KEY):
        return secret(PSEUDONYM_KEY).encode("utf-8")
    path = state.root / "secrets" / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return Path(path).read_text().strip().encode("utf-8")
