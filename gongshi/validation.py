"""Table Schema constraints and domain rules over whole Arrow columns.

Rows that pass are accepted — normalised (NFKC, upper-cased identifiers, ISO dates, canonical
vocabulary) and typed. Rows that fail go to quarantine carrying every reason. Warnings (a flag the
public should see, or a defect in a value that is never published) leave the row accepted and are
reported to the department all the same. Every check here is one vectorised pass per column.
"""

from __future__ import annotations

import datetime as dt
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import issues
from gongshi.catalog import Dataset
from gongshi.dates import parse_dates
from gongshi.identifiers import (
    USCC_PROBLEMS,
    normalise_identifiers,
    org_code_check_char,
    resident_id_problems,
    uscc_check_char,
    uscc_problem_codes,
)
from gongshi.ingest import META_COLUMNS, Delivery
from gongshi.pii import CONTROL_CHARACTERS, KIND_LABELS, scan_column
from gongshi.redaction import protected_numbers

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
# Kinds whose value must arrive exactly as meant: a control character in them holds the row back.
_AS_DELIVERED_KINDS = {"credit_code", "identifier"}
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


# The Table Schema constraint behind each check, as frictionless names its error: the bench and the
# tests compare findings with frictionless through this. Checks not listed are domain rules
# (check characters, dates after delivery, removals) that a Table Schema cannot express.
FRICTIONLESS_ERRORS = {
    "required": "constraint-error",
    "enum": "constraint-error",
    "pattern": "constraint-error",
    "max_length": "constraint-error",
    "credit_code_length": "constraint-error",
    "credit_code_charset": "constraint-error",
    "date_format": "type-error",
    "date_invalid": "type-error",
    "duplicate_key": "primary-key",
}


@dataclass(frozen=True)
class Quoted:
    """An issue message that quotes the delivered value: prefix + value + suffix."""

    prefix: str
    suffix: str


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
        self.present: dict[str, np.ndarray] = {}
        self.declared_flags = {code: rule.message for code, rule in dataset.flags.items()}
        # Numbers delivered in columns never published (contact phone, ID number), per row.
        self.known = protected_numbers(self.rows, dataset)

    # -- recording --------------------------------------------------------------------------------

    def add(
        self,
        mask: np.ndarray,
        field: str | None,
        code: str,
        message: str | Quoted | list[str],
    ) -> None:
        """Record an issue for every row where `mask` is true; its severity is the code's
        (`gongshi.issues`, or a flag the dataset declares).

        `message` is one text for all, a `Quoted` (prefix + the delivered value + suffix), or a list
        with one text per failing row. Messages are built for failing rows only.
        """
        severity = issues.kind(code, self.declared_flags).severity
        index = np.flatnonzero(mask)
        if not len(index):
            return
        take = pa.array(index)
        raw = pc.take(self.rows.column(field), take) if field else pa.nulls(len(index), pa.string())
        if isinstance(message, Quoted):
            messages = pc.binary_join_element_wise(message.prefix, pc.fill_null(raw, ""), message.suffix, "")
        elif isinstance(message, str):
            messages = pa.array([message] * len(index), pa.string())
        else:
            messages = pa.array(message, pa.string())
        self.issues.append(
            pa.table(
                [
                    pa.array(self.row_ids[index]),
                    pa.array([field] * len(index), pa.string()),
                    pa.array([code] * len(index), pa.string()),
                    pa.array([severity] * len(index), pa.string()),
                    messages,
                    raw,
                ],
                schema=ISSUE_SCHEMA,
            )
        )

    def filled(self, name: str) -> np.ndarray:
        """Where the department delivered a value (even one that failed its own check)."""
        return self.present[name]

    def title(self, name: str) -> str:
        return self.dataset.schema_field(name).title

    # -- the checks -------------------------------------------------------------------------------

    def run(self) -> Validated:
        # Arrow kernels release the GIL: the per-field checks run side by side on every core.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(self.check_field, self.dataset.field_names))
        self.check_reader_findings()
        self.check_removals()
        self.check_date_order()
        self.check_required_when()
        self.check_duplicate_keys()
        self.flag_rules()
        return self.split()

    def check_field(self, name: str) -> None:
        field = self.dataset.schema_field(name)
        policy = self.dataset.fields[name]
        constraints = field.constraints
        text = pc.utf8_trim_whitespace(self.check_control_characters(name, self.rows.column(name)))
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        if policy.kind in _IDENTIFIER_KINDS:
            text = normalise_identifiers(text)
        present = pc.is_valid(text).to_numpy(zero_copy_only=False)
        self.present[name] = present
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
        if policy.published_as_is:
            self.check_personal_numbers(name, text)
        self.clean[name] = text

    def check_control_characters(self, name: str, column: pa.ChunkedArray) -> pa.Array:
        """NUL and other C0/C1 control characters never publish: in an identifier or a credit code
        they hold the row back (the value is not what the department meant); in any other column
        they are removed, and the department is told."""
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        found = pc.fill_null(pc.match_substring_regex(column, CONTROL_CHARACTERS), False)
        if not pc.any(found).as_py():
            return column
        mask = found.to_numpy(zero_copy_only=False)
        title = self.title(name)
        if self.dataset.fields[name].kind in _AS_DELIVERED_KINDS:
            self.add(mask, name, "control_characters", f"“{title}”含有不可见的控制字符（如 NUL），请删除后重新报送")
            return column
        self.add(
            mask,
            name,
            "control_characters_removed",
            f"“{title}”含有不可见的控制字符（如 NUL），已删除后发布，请核对原始数据",
        )
        return pc.replace_substring_regex(column, CONTROL_CHARACTERS, "")

    def check_personal_numbers(self, name: str, text: pa.Array) -> None:
        """A column published as it is (a name, a task number, a code) must not carry an ID, mobile
        or card number: the detector that masks free text holds such a row back instead."""
        if self.dataset.fields[name].kind == "credit_code":
            # A valid credit code holds no mobile or card (the detector protects it as a token), and
            # an invalid one is held back anyway: only an all-digit code can be an ID number.
            text = pc.if_else(pc.match_substring_regex(text, "^[0-9]{17}[0-9X]$"), text, None)
        found = scan_column(text, self.known)
        if not found:
            return
        mask = np.zeros(self.n, dtype=bool)
        mask[[row for row, _ in found]] = True
        title = self.title(name)
        kinds = ["、".join(dict.fromkeys(KIND_LABELS[hit.kind] for hit in hits)) for _, hits in found]
        self.add(
            mask,
            name,
            "personal_number_in_field",
            [f"{title}疑似包含{kind}：该字段按原样公开，该行未发布；请删除个人信息后重新报送" for kind in kinds],
        )

    def check_date(self, name: str, text: pa.Array, not_future: bool) -> pa.Array:
        title = self.title(name)
        dates, unreadable, nonexistent = parse_dates(text)
        self.add(
            unreadable,
            name,
            "date_format",
            Quoted(f"无法识别的{title}“", "”，请使用 YYYY-MM-DD 格式（也接受 2026年11月25日、2026/11/25）"),
        )
        self.add(nonexistent, name, "date_invalid", Quoted(f"{title}“", "”不是真实存在的日期"))
        if not_future:
            future = pc.fill_null(pc.greater(dates, pa.scalar(self.day64.astype(dt.date), pa.date32())), False)
            self.add(
                future.to_numpy(zero_copy_only=False),
                name,
                "date_future",
                Quoted(f"{title}“", f"”晚于报送日期 {self.day}"),
            )
        return dates

    def check_enum(self, name: str, text: pa.Array, allowed: list[str]) -> pa.Array:
        """Closed vocabulary. Exact spellings pass at hash speed; only the rest are compared in NFKC
        form, so （） and () or full-width letters still match and take the canonical spelling."""
        canonical = pa.array(allowed, pa.string())
        exact = pc.is_in(text, value_set=canonical).to_numpy(zero_copy_only=False)
        other = np.flatnonzero(~exact & pc.is_valid(text).to_numpy(zero_copy_only=False))
        if not len(other):
            return text
        folded = pa.array([unicodedata.normalize("NFKC", v) for v in allowed], pa.string())
        position = pc.index_in(pc.utf8_normalize(pc.take(text, pa.array(other)), form="NFKC"), value_set=folded)
        if isinstance(position, pa.ChunkedArray):
            position = position.combine_chunks()
        matched = pc.is_valid(position).to_numpy(zero_copy_only=False)
        unknown = np.zeros(self.n, dtype=bool)
        unknown[other[~matched]] = True
        self.add(
            unknown,
            name,
            "enum",
            Quoted(f"{self.title(name)}“", f"”不在规定取值范围内（应为：{'、'.join(allowed)}）"),
        )
        respelled = np.zeros(self.n, dtype=bool)
        respelled[other[matched]] = True
        return pc.replace_with_mask(text, pa.array(respelled), pc.take(canonical, position.filter(pa.array(matched))))

    def check_credit_code(self, name: str, codes: pa.Array) -> None:
        problems = uscc_problem_codes(codes)
        for number, problem in enumerate(USCC_PROBLEMS, start=1):
            mask = problems == number
            if problem in _USCC_MESSAGES:
                self.add(mask, name, f"credit_code_{problem}", _USCC_MESSAGES[problem])
            elif mask.any():
                # Only failing rows reach this loop: it builds their messages, it does not validate.
                failing = pc.take(codes, pa.array(np.flatnonzero(mask))).to_pylist()
                self.add(mask, name, f"credit_code_{problem}", [_credit_code_message(problem, c) for c in failing])

    def check_resident_id(self, name: str, numbers: pa.Array) -> pa.Array:
        damaged = self._finding_rows("excel_number_precision", name)
        problems = resident_id_problems(numbers, today=self.day64.astype(dt.date))
        bad = np.zeros(self.n, dtype=bool)
        for problem, message in _RESIDENT_ID_MESSAGES.items():
            mask = pc.fill_null(pc.equal(problems, problem), False).to_numpy(zero_copy_only=False) & ~damaged
            self.add(mask, name, f"resident_id_{problem}", message)
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
        # An ID number Excel damaged is dropped, not published: the row goes on, the department is told.
        damaged_id = (found["code"] == "excel_number_precision") & (kinds == "resident_id")
        codes = found["code"].where(~damaged_id, "resident_id_excel_precision")
        titles = found["field"].map(lambda f: f"{self.title(f)}：" if isinstance(f, str) else "")
        self.issues.append(
            pa.table(
                [
                    pa.array(found["_row_id"].to_numpy(), pa.int64()),
                    pa.array(found["field"], pa.string()),
                    pa.array(codes, pa.string()),
                    pa.array([issues.kind(c).severity for c in codes], pa.string()),
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

    def check_date_order(self) -> None:
        """A date declared `not_before` another (有效期至 not before 认定日期)."""
        for name, policy in self.dataset.fields.items():
            if policy.not_before:
                earlier = self.clean[policy.not_before]
                wrong = pc.fill_null(pc.less(self.clean[name], earlier), False).to_numpy(zero_copy_only=False)
                self.add(wrong, name, "date_before", f"“{self.title(name)}”早于“{self.title(policy.not_before)}”")

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
        files = self.rows.column("_source_file").combine_chunks()
        lines = self.rows.column("_source_row").to_numpy()
        for key in keys:
            # One joined key per row; null when any part is missing (such rows have no identity yet).
            joined = pc.binary_join_element_wise(*[pc.cast(self.clean[k], pa.string()) for k in key], "\x1f")
            if key is not keys[0]:
                joined = pc.if_else(pa.array(self.filled(self.dataset.removal.when_filled[0])), joined, None)
            # dictionary_encode numbers keys in order of first appearance: a row repeats an earlier
            # key exactly when its index is not larger than every index before it.
            if isinstance(joined, pa.ChunkedArray):
                joined = joined.combine_chunks()
            encoded = joined.dictionary_encode()
            codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            seen_max = np.maximum.accumulate(np.concatenate([[-1], codes[:-1]])) if len(codes) else codes
            repeated = np.flatnonzero((codes >= 0) & (codes <= seen_max))
            if not len(repeated):
                continue
            first_row = np.full(len(encoded.dictionary), -1, dtype=np.int64)
            fresh = np.flatnonzero((codes >= 0) & (codes > seen_max))
            first_row[codes[fresh]] = fresh
            titles = "、".join(self.title(k) for k in key)
            originals = first_row[codes[repeated]]
            messages = [f"与 {files[int(i)].as_py()} 第 {lines[i]} 行重复（{titles}相同）" for i in originals]
            mask = np.zeros(self.n, dtype=bool)
            mask[repeated] = True
            self.add(mask, key[0], "duplicate_key", messages)

    def flag_rules(self) -> None:
        """Published-but-flagged: the gap is itself news."""
        for code, rule in self.dataset.flags.items():
            self.add(~self.filled(rule.when_empty), rule.when_empty, code, rule.message)

    # -- the split --------------------------------------------------------------------------------

    def split(self) -> Validated:
        issues = pa.concat_tables(self.issues) if self.issues else ISSUE_SCHEMA.empty_table()
        # A deterministic order whatever order the threads finished in: by row, field, check.
        position = pc.fill_null(pc.index_in(issues["field"], value_set=pa.array(self.dataset.field_names)), -1)
        issues = (
            issues.append_column("_field_position", position)
            .sort_by([("_row_id", "ascending"), ("_field_position", "ascending"), ("code", "ascending")])
            .drop_columns(["_field_position"])
        )
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
        """Each accepted row's warning codes, sorted and distinct, as a list column."""
        warnings = issues.filter(pc.equal(issues["severity"], "warning")).select(["_row_id", "code"])
        pairs = (
            warnings.group_by(["_row_id", "code"])
            .aggregate([])
            .sort_by([("_row_id", "ascending"), ("code", "ascending")])
        )
        pairs = pairs.filter(pc.is_in(pairs["_row_id"], value_set=pa.array(row_ids)))
        counts = (
            np.bincount(pairs["_row_id"].to_numpy(), minlength=self.n)[row_ids]
            if pairs.num_rows
            else (np.zeros(len(row_ids), dtype=np.int64))
        )
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pairs["code"].combine_chunks())

    def _reasons(self, errors: pa.Table, quarantined: pa.Table) -> pa.Array:
        """Each quarantined row's messages joined in check order (errors are sorted stably by row)."""
        counts = np.bincount(errors["_row_id"].to_numpy(), minlength=self.n)[quarantined["_row_id"].to_numpy()]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        grouped = pa.ListArray.from_arrays(pa.array(offsets), errors["message"].combine_chunks())
        return pc.binary_join(grouped, "；")


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
