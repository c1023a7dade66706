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

import pyarrow as pa
import pyarrow.compute as pc

from gongshi.catalog import Dataset, FieldPolicy, SchemaField
from gongshi.identifiers import letters_only
from gongshi.paths import StateLayout
from gongshi.pii import mask_column, mask_value, number_digits
from gongshi.settings import PSEUDONYM_KEY, secret

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
    check_classified(dataset, table.column_names)
    report = RedactionReport(dataset.id, rows=table.num_rows)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    known = protected_numbers(table, dataset)
    generalised_names: dict[int, tuple[str, str]] = {}  # row -> (a natural person's name, as published)
    for name in table.column_names:
        if name not in dataset.fields:
            columns[name] = table.column(name)
            continue
        policy = dataset.fields[name]
        values = table.column(name)
        present = int(pc.count(values).as_py())
        if policy.privacy == "drop":
            report.count(name, "dropped", present)
            continue
        if policy.privacy == "mask":
            values = pa.array([mask_value(v) for v in values.to_pylist()], pa.string())
            report.count(name, "masked", present)
        elif policy.privacy == "pseudonymise":
            values = pseudonymise(values, key)
            report.count(name, "pseudonymised", present)
        elif policy.privacy == "generalise":
            original = values
            values, n = generalise(values, policy, table)
            report.count(name, "generalised", n)
            if policy.kind == "person_name":
                generalised_names |= _changed(original, values)
        if policy.scanned:
            values, found = mask_column(values, known)
            if found:
                report.free_text[name] = dict(sorted(found.items()))
        columns[public_name(name, policy)] = values
    if generalised_names:
        # A natural person's name is known from the record: it is generalised in the record's text too.
        for name in [n for n in columns if n in dataset.fields and dataset.fields[n].scanned]:
            if dataset.fields[name].kind != "person_name":
                columns[name], n = _replace_names(columns[name], generalised_names)
                report.count(name, "names_generalised_in_text", n)
    return pa.table(columns), report


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


def _replace_names(values, names: dict[int, tuple[str, str]]) -> tuple[pa.Array, int]:
    cells = values.to_pylist()
    replaced = 0
    for row, (original, generalised) in names.items():
        if cells[row] and original in cells[row]:
            cells[row] = cells[row].replace(original, generalised)
            replaced += 1
    return pa.array(cells, pa.string()), replaced


def pseudonymise(values: pa.Array | pa.ChunkedArray, key: bytes) -> pa.Array:
    """Keyed HMAC-SHA256 of each value: 'p' and 16 hex characters written in letters only (no digit,
    so a pseudonym can never be read as a personal number); null stays null."""
    return pa.array(
        [
            None if v is None else "p" + letters_only(hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[:16])
            for v in values.to_pylist()
        ],
        pa.string(),
    )


def generalise(values, policy: FieldPolicy, table: pa.Table) -> tuple[pa.Array, int]:
    """Coarsen values (on the rows the rule's condition selects); returns them and how many changed."""
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
    changed = int(pc.sum(selected).as_py() or 0)
    return pc.if_else(selected, coarse, values), changed


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
