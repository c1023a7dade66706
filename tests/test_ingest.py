"""Reading deliveries as departments really send them: each mess in the samples, and the ways a
file can be broken, each with a clear reason while the day's other files go on."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.compute as pc
import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshi.catalog import load_catalog
from gongshi.inbox import delivery_days
from gongshi.ingest import decode_to_utf8, department_of, read_delivery, read_file
from gongshi.paths import DEMO_INBOX

from .conftest import DAY1, DAY2, deliver

HEADER = (
    "任务编号,任务名称,检查实施机关,检查类型,检查日期,市场主体名称,统一社会信用代码,"
    "法定代表人（负责人）,检查事项,检查结果"
)
ROW = "JS1,抽查,南京市市场监督管理局,双随机抽查,2026-11-26,南京某公司,91350100M000100Y43,张三,登记事项检查,未发现问题"


def test_sample_days_are_found():
    assert delivery_days(DEMO_INBOX, "inspection_results") == [DAY1, DAY2]


def test_gb18030_csv_is_detected_not_assumed(catalog):
    delivery = read_delivery(DEMO_INBOX, catalog["inspection_results"], DAY1)
    (file,) = delivery.files
    assert file.encoding == "gb18030" and file.status == "read" and file.rows_in == 24
    assert delivery.rows.column("entity_name")[0].as_py() == "无锡鑫盛建筑工程有限公司"
    # every row keeps its source file and (1-based, header = 1) row number
    assert delivery.rows.column("_source_row").to_pylist() == list(range(2, 26))
    assert set(delivery.rows.column("_source_file").to_pylist()) == {file.file}
    assert delivery.rows.column("_department")[0].as_py() == "江苏省市场监管局"


def test_utf8_bom_and_an_aliased_column_at_the_end(catalog):
    delivery = read_delivery(DEMO_INBOX, catalog["inspection_results"], DAY2)
    (file,) = delivery.files
    assert file.encoding == "utf-8-sig"
    assert file.columns["社会信用代码"] == "credit_code"
    assert delivery.rows.column("credit_code")[0].as_py() == "913213005B1L588U38"


def test_xlsx_with_title_row_merged_cells_excel_dates_and_float_ids(catalog):
    delivery = read_delivery(DEMO_INBOX, catalog["blacklist_entries"], DAY1)
    (file,) = delivery.files
    assert file.header_row == 2  # the merged title row above it is skipped
    assert delivery.rows.num_rows == 16
    assert delivery.rows.column("listed_on")[0].as_py() == "2026-11-09"  # an Excel date cell
    assert delivery.rows.column("_source_row")[0].as_py() == 3
    assert delivery.rows.column("_source_sheet")[0].as_py() == "列入信息"
    (finding,) = delivery.findings.to_pylist()
    assert finding["code"] == "excel_number_precision"
    assert finding["field"] == "legal_representative_id_number"
    assert finding["value"] == "320703197306178000"  # what Excel kept: 15 significant digits


def test_truncated_json_is_rejected_with_a_reason(catalog):
    delivery = read_delivery(DEMO_INBOX, catalog["approval_item_changes"], DAY2)
    (file,) = delivery.files
    assert file.status == "rejected" and file.reason_code == "json_invalid"
    assert "第 1 行" in file.reason and "截断" in file.reason
    assert delivery.rows.num_rows == 0


def test_one_bad_file_does_not_stop_the_others(inbox, catalog):
    deliver(inbox, "inspection_results", DAY1, "坏文件_抽查结果.csv", b"\x00\xff\xfe\xfa garbage \x81\x30")
    delivery = read_delivery(inbox, catalog["inspection_results"], DAY1)
    statuses = {f.file: f.status for f in delivery.files}
    assert statuses["坏文件_抽查结果.csv"] == "rejected"
    assert statuses["江苏省市场监管局_抽查结果_20261126.csv"] == "read"
    assert delivery.rows.num_rows == 24


@pytest.mark.parametrize(
    ("name", "content", "code", "words"),
    [
        ("a.csv", "任务编号,任务名称,检查结果\nJS1,x,y\n", "missing_headers", "缺少必填列"),
        ("b.csv", HEADER + ",备注\n" + ROW + ",说明\n", "unknown_headers", "备注"),
        ("c.csv", "just,some,text\n1,2,3\n", "no_header", "找不到表头"),
        ("d.csv", "", "empty_file", "文件为空"),
        ("e.doc", "x", "unsupported_format", ".doc"),
        ("f.csv", HEADER + ",统一社会信用代码\n", "duplicate_headers", "重复"),
        ("g.csv", HEADER.replace("统一社会信用代码", "社会信用代码") + ",信用代码\n", "duplicate_headers", "同一字段"),
        ("h.xlsx", b"PK\x03\x04 this is not really a workbook", "xlsx_corrupt", "无法打开"),
        ("i.json", '{"a": 1}', "json_not_array", "对象数组"),
        ("j.csv", (HEADER + "\n" + ROW + "南京").encode("utf-8")[:-2], "truncated", "截断"),
    ],
)
def test_files_that_cannot_be_read_as_a_whole(tmp_path, catalog, name, content, code, words):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    result, table, _ = read_file(path, catalog["inspection_results"])
    assert (result.status, result.reason_code, table) == ("rejected", code, None)
    assert words in result.reason


def test_undecodable_bytes(tmp_path, catalog):
    path = tmp_path / "x.csv"
    path.write_bytes(HEADER.encode("utf-8") + b"\n" + b"\x81\x20\xff\xfe" * 10 + b"\n" + ROW.encode("utf-8") + b"\n")
    result, _, _ = read_file(path, catalog["inspection_results"])
    assert result.reason_code == "undecodable" and "UTF-8" in result.reason


def test_symlinks_are_not_followed(tmp_path, catalog):
    target = tmp_path / "secret.csv"
    target.write_text(HEADER + "\n" + ROW + "\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    result, table, _ = read_file(link, catalog["inspection_results"])
    assert result.reason_code == "not_a_file" and table is None


def test_ignored_column_is_allowed_when_declared(tmp_path, catalog):
    dataset = catalog["inspection_results"].model_copy(update={"ignored_columns": ["备注"]})
    dataset.__dict__.pop("ignored_headers", None)
    path = tmp_path / "x.csv"
    path.write_text(HEADER + ",备注\n" + ROW + ",无\n", encoding="utf-8")
    result, table, _ = read_file(path, dataset)
    assert result.status == "read" and result.ignored_columns == ["备注"]
    assert table.num_rows == 1


def test_malformed_lines_and_blank_lines_keep_row_numbers(tmp_path, catalog):
    path = tmp_path / "x.csv"
    lines = [HEADER, ROW, "", ROW.replace("JS1", "JS2"), "JS3,只有两列", ROW.replace("JS1", "JS4")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, table, findings = read_file(path, catalog["inspection_results"])
    assert result.status == "read"
    # the blank line is not a row, the malformed one is (held back later, never lost)
    assert table.column("_source_row").to_pylist() == [2, 4, 5, 6]
    assert table.column("task_id").to_pylist() == ["JS1", "JS2", None, "JS4"]
    ((row, field, code, message, value),) = findings
    assert (row, field, code) == (2, None, "malformed_row") and "2 列" in message and value.startswith("JS3")


def test_quoted_newlines_keep_excel_row_numbers(tmp_path, catalog):
    path = tmp_path / "x.csv"
    multi = ROW.replace("未发现问题", '"未发现\n问题"')
    path.write_text("\n".join([HEADER, multi, "JS9,只有两列", ROW]) + "\n", encoding="utf-8")
    _, table, findings = read_file(path, catalog["inspection_results"])
    assert table.column("_source_row").to_pylist() == [2, 3, 4]
    assert findings[0][0] == 1


def test_title_lines_above_a_csv_header(tmp_path, catalog):
    path = tmp_path / "x.csv"
    path.write_text("2026年抽查结果汇总表,,,\n填报单位：某局\n" + HEADER + "\n" + ROW + "\n", encoding="utf-8")
    result, table, _ = read_file(path, catalog["inspection_results"])
    assert result.header_row == 3 and table.column("_source_row").to_pylist() == [4]


def test_utf16_tab_separated_as_excel_saves_unicode_text(tmp_path, catalog):
    path = tmp_path / "x.csv"
    path.write_bytes((HEADER.replace(",", "\t") + "\r\n" + ROW.replace(",", "\t") + "\r\n").encode("utf-16"))
    result, table, _ = read_file(path, catalog["inspection_results"])
    assert result.encoding == "utf-16" and table.column("credit_code").to_pylist() == ["91350100M000100Y43"]


def test_json_values_and_wrappers(tmp_path, catalog):
    full = {
        "事项编码": "JS-1",
        "事项名称": "x",
        "事项类型": "行政许可",
        "原实施机关": "省厅",
        "调整方式": "取消",
        "调整依据": "苏政发〔2015〕39号",
    }
    records = [{**full, "生效日期": 20261126, "监管责任单位": {"a": 1}}, "not an object"]
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"data": records}, ensure_ascii=False), encoding="utf-8")
    dataset = catalog["approval_item_changes"]
    result, table, findings = read_file(path, dataset)
    assert result.status == "read" and table.num_rows == 2
    assert table.column("effective_date")[0].as_py() == "20261126"
    assert {f[2] for f in findings} == {"nested_value", "not_an_object"}


def test_xlsx_merged_cells_fill_down_and_numbers(tmp_path, catalog):
    path = tmp_path / "x.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("名单")
    header = ["名单类型", "市场主体名称", "统一社会信用代码", "列入原因", "列入日期", "作出决定机关"]
    for c, h in enumerate(header):
        sheet.write_string(0, c, h)
    sheet.merge_range(1, 0, 2, 0, "经营异常名录")  # one list type merged down two rows
    for r in (1, 2):
        sheet.write_string(r, 1, f"公司{r}")
        sheet.write_number(r, 2, 913201001234567000.0)  # a credit code Excel turned into a number
        sheet.write_string(r, 3, "原因")
        sheet.write_number(r, 4, 46352)  # a date as an unformatted serial number
        sheet.write_string(r, 5, "机关")
    book.close()
    result, table, findings = read_file(path, catalog["blacklist_entries"])
    assert result.status == "read"
    assert table.column("list_type").to_pylist() == ["经营异常名录", "经营异常名录"]
    assert table.column("listed_on").to_pylist() == ["2026-11-26", "2026-11-26"]
    assert [f[1:3] for f in findings] == [("credit_code", "excel_number_precision")] * 2


def test_department_names_from_untrusted_file_names():
    assert department_of("江苏省市场监管局_抽查结果_20261126.csv") == "江苏省市场监管局"
    assert department_of("../../etc/passwd_x.csv") == "passwd"
    assert department_of("局<script>_x.csv") == "局script"
    assert department_of("_x.csv") == "未署名部门"


INSPECTIONS = load_catalog()["inspection_results"]
cell = st.text(alphabet=st.characters(codec="gb18030", exclude_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(cell, min_size=2, max_size=2), min_size=1, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_csv_round_trip_in_any_encoding(tmp_path_factory, rows, encoding):
    """Whatever text a department types (commas, quotes, line breaks, CJK), it reads back as typed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*HEADER.split(","), "处理情况"])
    filler = ROW.split(",")
    writer.writerows([[*filler[:1], r[0], *filler[2:], r[1]] for r in rows])
    path = tmp_path_factory.mktemp("rt") / "x.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    result, table, _ = read_file(path, INSPECTIONS)
    assert result.status == "read", result.reason
    assert pc.fill_null(table.column("task_name"), "").to_pylist() == [r[0] for r in rows]
    assert pc.fill_null(table.column("handling"), "").to_pylist() == [r[1] for r in rows]
    assert table.column("_source_row").to_pylist()[0] == 2


@given(st.binary(max_size=200))
def test_decoding_never_crashes(data):
    try:
        text, encoding = decode_to_utf8(data)
    except Exception as error:  # only a rejection with a reason is allowed
        assert type(error).__name__ == "FileRejected"
    else:
        assert encoding in {"utf-8", "utf-8-sig", "utf-16", "gb18030"}
        text.decode("utf-8")
