"""Validation: the samples' expected quarantine, the accepted messes, the domain rules, and the same
findings as frictionless (the reference implementation) on the Table Schema's own constraints."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest
from frictionless import Resource, Schema, system

from gongshi.ingest import read_delivery, read_file
from gongshi.paths import DEMO_INBOX
from gongshi.validation import FRICTIONLESS_ERRORS, validate

from .conftest import DAY1, DAY2


def _validated(catalog, name, day, inbox=DEMO_INBOX):
    return validate(read_delivery(inbox, catalog[name], day), catalog[name])


def _issues(result):
    return {(i["_row_id"], i["field"], i["code"]) for i in result.issues.to_pylist()}


def test_sample_inspections_quarantine_exactly_the_three_bad_rows(catalog):
    result = _validated(catalog, "inspection_results", DAY1)
    assert result.accepted.num_rows == 21 and result.quarantined.num_rows == 3
    held = {r["task_id"]: r["_reasons"] for r in result.quarantined.to_pylist()}
    assert set(held) == {"JS202611260007", "JS202611260009", "JS202611260011"}
    assert "2026/13/01" in held["JS202611260007"] and "不是真实存在的日期" in held["JS202611260007"]
    assert "校验位错误" in held["JS202611260009"] and "应为“2”" in held["JS202611260009"]
    assert "检查结果" in held["JS202611260011"] and "为空" in held["JS202611260011"]
    assert result.reason_counts() == {"credit_code_check": 1, "date_invalid": 1, "required": 1}
    # quarantine keeps the values exactly as delivered, with file and row
    row = next(r for r in result.quarantined.to_pylist() if r["task_id"] == "JS202611260007")
    assert (row["inspection_date"], row["_source_row"]) == ("2026/13/01", 9)


def test_full_width_lower_case_codes_and_chinese_dates_are_accepted_normalised(catalog):
    result = _validated(catalog, "inspection_results", DAY1)
    accepted = {r["task_id"]: r for r in result.accepted.to_pylist()}
    assert accepted["JS202611260005"]["credit_code"] == "91320600161927H320"  # full-width digits
    assert accepted["JS202611260003"]["credit_code"] == "91320800R45370079D"  # lower case
    assert accepted["JS202611260017"]["inspection_date"].isoformat() == "2026-11-25"  # 2026年11月25日
    # markup and formulas are data, kept as delivered (escaping is the writers' job)
    assert accepted["JS202611260013"]["handling"].startswith("<img")
    assert accepted["JS202611260015"]["entity_name"].startswith("=HYPERLINK")
    assert result.accepted.schema.field("inspection_date").type == pa.date32()


def test_day_two_inspections_are_clean(catalog):
    result = _validated(catalog, "inspection_results", DAY2)
    assert (result.accepted.num_rows, result.quarantined.num_rows) == (18, 0)


def test_float_id_number_is_a_warning_and_never_kept(catalog):
    result = _validated(catalog, "blacklist_entries", DAY1)
    assert result.quarantined.num_rows == 0
    row = next(r for r in result.accepted.to_pylist() if r["entity_name"] == "无锡长江餐饮管理有限公司")
    assert row["legal_representative_id_number"] is None
    assert row["_flags"] == ["resident_id_excel_precision"]  # its own code: a warning, the ID dropped


def test_item_without_measures_is_published_but_flagged(catalog):
    result = _validated(catalog, "approval_item_changes", DAY1)
    assert result.accepted.num_rows == 4
    flagged = [r["item_code"] for r in result.accepted.to_pylist() if "missing_supervision_measures" in r["_flags"]]
    assert flagged == ["JS-FXK-0203"]


def _inspection_csv(tmp_path, rows, header=None):
    header = header or [
        *("任务编号", "任务名称", "检查实施机关", "检查类型", "检查日期"),
        *("市场主体名称", "统一社会信用代码", "检查事项", "检查结果"),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    folder = tmp_path / "inbox" / "inspection_results" / DAY1
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "测试局_x.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return tmp_path / "inbox"


GOOD = [
    *("JS0001", "抽查", "南京市市场监督管理局", "双随机抽查", "2026-11-20"),
    *("南京某公司", "91350100M000100Y43", "登记事项检查", "未发现问题"),
]


def _row(**changes):
    names = ["task_id", "task_name", "authority", "type", "date", "name", "code", "item", "result"]
    return [changes.get(n, v) for n, v in zip(names, GOOD, strict=True)]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"date": "2026-11-27"}, "date_future"),  # after the delivery day
        ({"date": "2026-02-30"}, "date_invalid"),
        ({"date": "下周一"}, "date_format"),
        ({"type": "随便查查"}, "enum"),
        ({"code": "91350100M000100Y4"}, "credit_code_length"),
        ({"code": "91350100M0001O0Y43"}, "credit_code_charset"),
        ({"task_id": "任务一"}, "pattern"),
        ({"name": "某" * 201}, "max_length"),
        ({"result": "  "}, "required"),
    ],
)
def test_each_rule_holds_a_row_back(tmp_path, catalog, changes, code):
    inbox = _inspection_csv(tmp_path, [GOOD, _row(**{"task_id": "JS0002", **changes})])
    result = _validated(catalog, "inspection_results", DAY1, inbox)
    assert result.accepted.num_rows == 1
    assert {c for _, _, c in _issues(result)} == {code}


def test_enum_spelling_variants_match_canonically(tmp_path, catalog):
    inbox = _inspection_csv(tmp_path, [_row(result="通过登记的住所(经营场所)无法联系")])
    result = _validated(catalog, "inspection_results", DAY1, inbox)
    assert result.accepted.column("result").to_pylist() == ["通过登记的住所（经营场所）无法联系"]


def test_every_reason_is_kept_not_just_the_first(tmp_path, catalog):
    inbox = _inspection_csv(tmp_path, [_row(date="2026/13/01", code="91321100764919X410", result="")])
    result = _validated(catalog, "inspection_results", DAY1, inbox)
    (reasons,) = result.quarantined.column("_reasons").to_pylist()
    assert reasons.count("；") == 2


def test_duplicate_keys_hold_back_the_later_row(tmp_path, catalog):
    inbox = _inspection_csv(tmp_path, [GOOD, _row(task_name="重复"), _row(task_id="JS0003")])
    result = _validated(catalog, "inspection_results", DAY1, inbox)
    assert result.quarantined.column("task_name").to_pylist() == ["重复"]
    assert "第 2 行重复" in result.quarantined.column("_reasons")[0].as_py()


def test_removal_and_listing_completeness(tmp_path, catalog):
    header = "名单类型,市场主体名称,统一社会信用代码,列入原因,列入日期,作出决定机关,移出原因,移出日期,移出决定机关\n"
    rows = [
        "经营异常名录,甲公司,91350100M000100Y43,原因,2026-11-01,某局,,,",  # a listing
        "经营异常名录,乙公司,91320200921B86873E,,,,补报年报,2026-11-20,某局",  # a removal
        "经营异常名录,丙公司,9132110058U68U6T75,,,,补报年报,2026-11-20,",  # removal without authority
        "经营异常名录,丁公司,91320900617035633R,原因,,某局,,,",  # listing without its date
        "经营异常名录,戊公司,91320300418YH4977E,原因,2026-11-21,某局,补报年报,2026-11-20,某局",  # removed first
    ]
    folder = tmp_path / "inbox" / "blacklist_entries" / DAY1
    folder.mkdir(parents=True)
    (folder / "局_x.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    result = _validated(catalog, "blacklist_entries", DAY1, tmp_path / "inbox")
    assert result.accepted.column("entity_name").to_pylist() == ["甲公司", "乙公司"]
    codes = {
        (r["entity_name"], r["code"])
        for r in result.quarantined.to_pylist()
        for r in [r]
        for r["code"] in [r["_reasons"]]
    }
    assert any("移出信息不完整" in reason for _, reason in codes)
    assert any("列入信息不完整" in reason for _, reason in codes)
    assert any("早于" in reason for _, reason in codes)


def test_receiving_authority_required_for_delegation(tmp_path, catalog):
    base = {
        **{"事项编码": "JS-1", "事项名称": "x", "事项类型": "行政许可", "原实施机关": "省厅"},
        **{"调整依据": "苏政发〔2015〕39号", "生效日期": "2026-12-01", "事中事后监管措施": "抽查"},
    }
    records = [{**base, "调整方式": "取消"}, {**base, "事项编码": "JS-2", "调整方式": "下放", "承接机关": ""}]
    folder = tmp_path / "inbox" / "approval_item_changes" / DAY1
    folder.mkdir(parents=True)
    (folder / "审改办_x.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    result = _validated(catalog, "approval_item_changes", DAY1, tmp_path / "inbox")
    assert result.accepted.column("item_code").to_pylist() == ["JS-1"]  # a future effective date is fine
    assert "承接机关" in result.quarantined.column("_reasons")[0].as_py()


# -- the same findings as frictionless -----------------------------------------------------------------

DOMAIN_ONLY = {"credit_code_check", "credit_code_org_check", "date_future"}


def test_same_findings_as_frictionless_on_schema_constraints(tmp_path, catalog):
    dataset = catalog["inspection_results"]
    names = dataset.field_names
    good = dict(
        zip(
            names,
            [
                "JS0001",
                "抽查",
                "局",
                "双随机抽查",
                "2026-11-20",
                "公司",
                "91350100M000100Y43",
                "张三",
                "登记事项检查",
                "未发现问题",
                "",
                "",
                "",
            ],
            strict=True,
        )
    )
    variants = [
        {},
        {"task_id": "bad#id"},
        {"inspection_type": "巡查"},
        {"inspection_date": "2026-02-30"},
        {"inspection_date": "yesterday"},
        {"credit_code": "12345"},
        {"credit_code": "91350100M000100Y4O"},
        {"entity_name": ""},
        {"result": ""},
        {"handling": "长" * 2001},
        {"credit_code": "91321100764919X410"},
        {"inspection_date": "2026-11-27"},
        {"task_id": "JS0001"},
    ]
    rows = [{**good, "task_id": f"JS{i + 10:04d}", **variant} for i, variant in enumerate(variants)]
    path = tmp_path / "inbox" / "inspection_results" / DAY1 / "局_x.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows([good, *rows])
    ours = validate(read_delivery(tmp_path / "inbox", dataset, DAY1), dataset)
    rows_by_id = dict(
        zip(
            ours.accepted["_row_id"].to_pylist() + ours.quarantined["_row_id"].to_pylist(),
            ours.accepted["_source_row"].to_pylist() + ours.quarantined["_source_row"].to_pylist(),
            strict=True,
        )
    )
    mine = {
        (rows_by_id[i["_row_id"]], FRICTIONLESS_ERRORS[i["code"]])
        for i in ours.issues.to_pylist()
        if i["code"] not in DOMAIN_ONLY
    }
    with system.use_context(trusted=True):  # an absolute path is "unsafe" to frictionless unless trusted
        resource = Resource(str(path), schema=Schema.from_descriptor(dataset.table_schema))
        report = resource.validate(limit_errors=10_000)
    theirs = {(row, kind) for row, kind in report.flatten(["rowNumber", "type"])}
    assert len(theirs) >= 10
    assert mine == theirs
    domain = {i["code"] for i in ours.issues.to_pylist() if i["code"] in DOMAIN_ONLY}
    assert domain == {"credit_code_check", "date_future"}


def test_reader_handles_field_names_as_headers(tmp_path, catalog):
    dataset = catalog["inspection_results"]
    path = tmp_path / "x.csv"
    path.write_text(",".join(dataset.field_names) + "\n", encoding="utf-8")
    result, table, _ = read_file(path, dataset)
    assert result.status == "read" and table.num_rows == 0
