"""Table Schema constraints and domain rules over whole Arrow columns.

Rows that pass are accepted — normalised (NFKC, upper-cased identifiers, ISO dates, canonical
vocabulary) and typed. Rows that fail go to quarantine carrying every reason. Warnings (a flag the
public should see, or a defect in a value that is never published) leave the row accepted and are
reported to the department all the same. Every check here is one vectorised pass per column.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gongshi.catalog import Dataset
from gongshi.dates import parse_dates
from gongshi.identifiers import (
    normalise_identifiers,
    org_code_check_char,
    resident_id_problems,
    uscc_check_char,
    uscc_problems,
)
from gongshi.ingest import META_COLUMNS, Delivery

ISSUE_SCHEMA = pa.schema(
    [
        ("_row_id", pa.int64()),
        ("field", pa.string()),
        ("code", pa.string()),
        ("severity", pa.string()),
        ("message", pa.string()),
        ("value", pa.string()),
    ]
)
# Reader findings that are only warnings: the value is dropped, the row is kept.
_IDENTIFIER_KINDS = {"credit_code", "identifier", "resident_id"}
_USCC_MESSAGES = {
    "length": "统一社会信用代码应为 18 位",
    "charset": "统一社会信用代码含不允许的字符（不使用 I、O、S、V、Z；第 3—8 位为行政区划数字）",
}
_RESIDENT_ID_MESSAGES = {
    "length": "身份证号码应为 18 位（或旧式 15 位），该值已丢弃，请核对后补报",
    "charset": "身份证号码含非法字符，该值已丢弃，请核对后补报",
    "birth_date": "身份证号码中的出生日期不存在，该值已丢弃，请核对后补报",
    "check": "身份证号码校验位错误，该值已丢弃，请核对后补报",
}


@dataclass
class Validated:
    """A dataset-day after validation: what is accepted, what is held back, and why."""

    dataset: str
    day: str
    accepted: pa.Table
    quarantined: pa.Table
    issues: pa.Table

    def reason_counts(self) -> dict[str, int]:
        """Quarantine reasons by kind (code), counting rows, for the operator's metadata."""
        errors = self.issues.filter(pc.equal(self.issues["severity"], "error"))
        if not errors.num_rows:
            return {}
        frame = errors.select(["_row_id", "code"]).to_pandas().drop_duplicates()
        return {str(k): int(v) for k, v in frame["code"].value_counts().sort_index().items()}


def validate(delivery: Delivery, dataset: Dataset) -> Validated:
    return _Validator(dataset, delivery).run()


class _Validator:
    def __init__(self, dataset: Dataset, delivery: Delivery):
        self.dataset = dataset
        self.day = delivery.day
        self.day64 = np.datetime64(dt.date.fromisoformat(delivery.day), "D")
        self.rows = delivery.rows
        self.findings = delivery.findings
        self.row_ids = self.rows.column("_row_id").to_numpy()
        self.n = self.rows.num_rows
        self.issues: list[pa.Table] = []
        self.clean: dict[str, pa.Array] = {}

    # -- recording --------------------------------------------------------------------------------

    def add(
        self,
        mask: np.ndarray,
        field: str | None,
        code: str,
        message,
        severity: str = "error",
        values: pa.Array | None = None,
    ) -> None:
        """Record an issue for every row where `mask` is true; `message` is a str or per-row array."""
        index = np.flatnonzero(mask)
        if not len(index):
            return
        take = pa.array(index)
        if isinstance(message, str):
            messages = pa.array([message] * len(index), pa.string())
        else:
            messages = pc.take(message, take)
        raw = values if values is not None else (self.rows.column(field).combine_chunks() if field else None)
        self.issues.append(
            pa.table(
                [
                    pa.array(self.row_ids[index]),
                    pa.array([field] * len(index), pa.string()),
                    pa.array([code] * len(index), pa.string()),
                    pa.array([severity] * len(index), pa.string()),
                    messages,
                    pc.take(raw, take) if raw is not None else pa.nulls(len(index), pa.string()),
                ],
                schema=ISSUE_SCHEMA,
            )
        )

    def filled(self, name: str) -> np.ndarray:
        return pc.is_valid(self.clean[name]).to_numpy(zero_copy_only=False)

    def title(self, name: str) -> str:
        return self.dataset.schema_field(name).title

    # -- the checks -------------------------------------------------------------------------------

    def run(self) -> Validated:
        for name in self.dataset.field_names:
            self.check_field(name)
        self.check_reader_findings()
        self.check_removals()
        self.check_required_when()
        self.check_duplicate_keys()
        self.flag_rules()
        return self.split()

    def check_field(self, name: str) -> None:
        field = self.dataset.schema_field(name)
        policy = self.dataset.fields[name]
        constraints = field.constraints
        text = pc.utf8_trim_whitespace(self.rows.column(name).combine_chunks())
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        if policy.kind in _IDENTIFIER_KINDS:
            text = normalise_identifiers(text)
        present = pc.is_valid(text).to_numpy(zero_copy_only=False)
        if field.required:
            self.add(~present, name, "required", f"必填项“{field.title}”为空")
        if field.type == "date":
            self.clean[name] = self.check_date(name, text, policy.not_future)
            return
        if "enum" in constraints:
            text = self.check_enum(name, text, constraints["enum"])
        if "maxLength" in constraints:
            too_long = pc.fill_null(pc.greater(pc.utf8_length(text), constraints["maxLength"]), False)
            self.add(
                too_long.to_numpy(zero_copy_only=False),
                name,
                "max_length",
                f"“{field.title}”超过 {constraints['maxLength']} 个字符",
            )
        if policy.kind == "credit_code":
            self.check_credit_code(name, text)
        elif policy.kind == "resident_id":
            text = self.check_resident_id(name, text)
        elif "pattern" in constraints:
            mismatch = present & ~pc.fill_null(
                pc.match_substring_regex(text, _anchored(constraints["pattern"])), False
            ).to_numpy(zero_copy_only=False)
            self.add(mismatch, name, "pattern", f"“{field.title}”格式不正确（应符合 {constraints['pattern']}）")
        self.clean[name] = text

    def check_date(self, name: str, text: pa.Array, not_future: bool) -> pa.Array:
        title = self.title(name)
        dates, unreadable, nonexistent = parse_dates(text)
        self.add(
            unreadable,
            name,
            "date_format",
            _per_row(f"无法识别的{title}“", text, "”，请使用 YYYY-MM-DD 格式（也接受 2026年11月25日、2026/11/25）"),
        )
        self.add(nonexistent, name, "date_invalid", _per_row(f"{title}“", text, "”不是真实存在的日期"))
        if not_future:
            future = pc.fill_null(pc.greater(dates, pa.scalar(self.day64.astype(dt.date), pa.date32())), False)
            self.add(
                future.to_numpy(zero_copy_only=False),
                name,
                "date_future",
                _per_row(f"{title}“", text, f"”晚于报送日期 {self.day}"),
            )
        return dates

    def check_enum(self, name: str, text: pa.Array, allowed: list[str]) -> pa.Array:
        # Compare NFKC forms so （） and () or full-width letters still match; keep the canonical spelling.
        canonical = pa.array(allowed, pa.string())
        folded = pa.array([unicodedata.normalize("NFKC", v) for v in allowed], pa.string())
        position = pc.index_in(pc.utf8_normalize(text, form="NFKC"), value_set=folded)
        unknown = pc.is_valid(text).to_numpy(zero_copy_only=False) & pc.is_null(position).to_numpy(zero_copy_only=False)
        self.add(
            unknown,
            name,
            "enum",
            _per_row(f"{self.title(name)}“", text, f"”不在规定取值范围内（应为：{'、'.join(allowed)}）"),
        )
        return pc.if_else(pc.is_valid(position), pc.take(canonical, position), text)

    def check_credit_code(self, name: str, codes: pa.Array) -> None:
        problems = uscc_problems(codes)
        for problem, message in _USCC_MESSAGES.items():
            self.add(
                pc.fill_null(pc.equal(problems, problem), False).to_numpy(zero_copy_only=False),
                name,
                f"credit_code_{problem}",
                message,
            )
        for problem in ("check", "org_check"):
            mask = pc.fill_null(pc.equal(problems, problem), False).to_numpy(zero_copy_only=False)
            if mask.any():
                # Only failing rows reach this loop: it builds their messages, it does not validate.
                failing = pc.take(codes, pa.array(np.flatnonzero(mask))).to_pylist()
                messages = np.full(self.n, None, dtype=object)
                messages[mask] = [_credit_code_message(problem, code) for code in failing]
                self.add(mask, name, f"credit_code_{problem}", pa.array(messages, pa.string()))

    def check_resident_id(self, name: str, numbers: pa.Array) -> pa.Array:
        damaged = self._finding_rows("excel_number_precision", name)
        problems = resident_id_problems(numbers, today=self.day64.astype(dt.date))
        bad = np.zeros(self.n, dtype=bool)
        for problem, message in _RESIDENT_ID_MESSAGES.items():
            mask = pc.fill_null(pc.equal(problems, problem), False).to_numpy(zero_copy_only=False) & ~damaged
            self.add(mask, name, f"resident_id_{problem}", message, severity="warning")
            bad |= mask
        # A defective ID number is never published; dropping it keeps the (public) row.
        return pc.if_else(pa.array(bad | damaged), pa.scalar(None, pa.string()), numbers)

    def _finding_rows(self, code: str, field: str) -> np.ndarray:
        hits = self.findings.filter(
            pc.and_(pc.equal(self.findings["code"], code), pc.equal(self.findings["field"], field))
        )
        return np.isin(self.row_ids, hits.column("_row_id").to_numpy())

    def check_reader_findings(self) -> None:
        """What the readers noticed (malformed lines, nested JSON, Excel-damaged numbers) become issues."""
        if not self.findings.num_rows:
            return
        found = self.findings.to_pandas()
        kinds = found["field"].map(lambda f: self.dataset.fields[f].kind if isinstance(f, str) else None)
        warning = (found["code"] == "excel_number_precision") & (kinds == "resident_id")
        titles = found["field"].map(lambda f: f"{self.title(f)}：" if isinstance(f, str) else "")
        self.issues.append(
            pa.table(
                [
                    pa.array(found["_row_id"].to_numpy(), pa.int64()),
                    pa.array(found["field"], pa.string()),
                    pa.array(found["code"], pa.string()),
                    pa.array(np.where(warning, "warning", "error"), pa.string()),
                    pa.array(titles + found["message"], pa.string()),
                    pa.array(found["value"], pa.string()),
                ],
                schema=ISSUE_SCHEMA,
            )
        )

    def check_removals(self) -> None:
        """A row is a removal when the removal fields are filled, otherwise a listing: each complete."""
        rule = self.dataset.removal
        if rule is None:
            return
        is_removal = np.zeros(self.n, dtype=bool)
        for name in rule.when_filled:
            is_removal |= self.filled(name)
        carries_listing = np.zeros(self.n, dtype=bool)
        for name in rule.listing_required:
            carries_listing |= self.filled(name)
        for name in rule.required:
            self.add(
                is_removal & ~self.filled(name), name, "removal_incomplete", f"移出信息不完整：缺少“{self.title(name)}”"
            )
        for name in rule.listing_required:
            self.add(
                (~is_removal | carries_listing) & ~self.filled(name),
                name,
                "listing_incomplete",
                f"列入信息不完整：缺少“{self.title(name)}”",
            )
        listed, removed = self.dataset.publicity_period.counted_from, rule.when_filled[0]
        before = pc.fill_null(pc.less(self.clean[removed], self.clean[listed]), False).to_numpy(zero_copy_only=False)
        self.add(before, removed, "removal_before_listing", f"“{self.title(removed)}”早于“{self.title(listed)}”")

    def check_required_when(self) -> None:
        for name, rule in self.dataset.required_when.items():
            applies = pc.fill_null(pc.is_in(self.clean[rule.field], value_set=pa.array(rule.values)), False)
            self.add(
                applies.to_numpy(zero_copy_only=False) & ~self.filled(name),
                name,
                "required_when",
                f"{self.title(rule.field)}为“{'/'.join(rule.values)}”时，“{self.title(name)}”不能为空",
            )

    def check_duplicate_keys(self) -> None:
        """Later rows repeating an earlier row's primary key in the same delivery are held back."""
        keys = [self.dataset.primary_key]
        if self.dataset.removal:
            keys.append(self.dataset.removal.match_on + self.dataset.removal.when_filled)
        for key in keys:
            frame = pd.DataFrame({name: self.clean[name].to_pandas() for name in key})
            frame = frame.astype("string")
            complete = frame.notna().all(axis=1).to_numpy()
            if key is not keys[0]:
                complete = complete & self.filled(self.dataset.removal.when_filled[0])
            frame["_source_file"] = self.rows.column("_source_file").to_pandas()
            frame["_source_row"] = self.rows.column("_source_row").to_numpy()
            subset = frame[complete]
            repeated = subset.duplicated(subset=key, keep="first")
            if not repeated.any():
                continue
            first = subset.groupby(key, sort=False)[["_source_file", "_source_row"]].transform("first")
            messages = np.full(self.n, None, dtype=object)
            where = np.flatnonzero(complete)[repeated.to_numpy()]
            titles = "、".join(self.title(k) for k in key)
            messages[where] = [
                f"与 {f} 第 {r} 行重复（{titles}相同）" for f, r in first[repeated].itertuples(index=False)
            ]
            mask = np.zeros(self.n, dtype=bool)
            mask[where] = True
            self.add(mask, key[0], "duplicate_key", pa.array(messages, pa.string()))

    def flag_rules(self) -> None:
        """Published-but-flagged: the gap is itself news."""
        for code, rule in self.dataset.flags.items():
            self.add(~self.filled(rule.when_empty), rule.when_empty, code, rule.message, severity="warning")

    # -- the split --------------------------------------------------------------------------------

    def split(self) -> Validated:
        issues = pa.concat_tables(self.issues) if self.issues else ISSUE_SCHEMA.empty_table()
        issues = issues.sort_by([("_row_id", "ascending")])
        errors = issues.filter(pc.equal(issues["severity"], "error"))
        bad = np.isin(self.row_ids, errors.column("_row_id").to_numpy())
        meta = [self.rows.column(c).combine_chunks() for c in META_COLUMNS]
        clean_columns = [self.clean[name] for name in self.dataset.field_names]
        accepted = pa.Table.from_arrays(meta + clean_columns, names=META_COLUMNS + self.dataset.field_names)
        accepted = accepted.filter(pa.array(~bad))
        accepted = accepted.append_column("_flags", self._flags(issues, accepted.column("_row_id").to_numpy()))
        quarantined = self.rows.filter(pa.array(bad))
        quarantined = quarantined.append_column("_reasons", self._reasons(errors, quarantined))
        return Validated(self.dataset.id, self.day, accepted, quarantined, issues)

    def _flags(self, issues: pa.Table, row_ids: np.ndarray) -> pa.Array:
        warnings = issues.filter(pc.equal(issues["severity"], "warning")).select(["_row_id", "code"]).to_pandas()
        by_row = warnings.groupby("_row_id")["code"].agg(lambda codes: sorted(set(codes))) if len(warnings) else {}
        series = pd.Series(row_ids).map(by_row)
        return pa.array([v if isinstance(v, list) else [] for v in series], pa.list_(pa.string()))

    def _reasons(self, errors: pa.Table, quarantined: pa.Table) -> pa.Array:
        if not quarantined.num_rows:
            return pa.array([], pa.string())
        frame = errors.select(["_row_id", "message"]).to_pandas()
        joined = frame.groupby("_row_id", sort=False)["message"].agg("；".join)
        return pa.array(pd.Series(quarantined.column("_row_id").to_numpy()).map(joined), pa.string())


def _per_row(prefix: str, values: pa.Array, suffix: str) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.fill_null(values, ""), suffix, "")


def _anchored(pattern: str) -> str:
    # Table Schema patterns match the whole value (XML Schema semantics); RE2 search does not.
    return pattern if pattern.startswith("^") and pattern.endswith("$") else f"^(?:{pattern})$"


def _credit_code_message(problem: str, code: str) -> str:
    if problem == "check":
        return (
            f"统一社会信用代码校验位错误：按 GB 32100 第 18 位应为“{uscc_check_char(code[:17])}”，"
            f"实为“{code[17]}”，请核对代码是否录入错误"
        )
    return (
        f"统一社会信用代码第 9—17 位（组织机构代码）校验位错误：按 GB 11714 第 17 位应为"
        f"“{org_code_check_char(code[8:16])}”，实为“{code[16]}”"
    )
