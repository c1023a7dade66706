"""Hostile and careless files are contained: each is rejected (or its row held back) with a reason in
Chinese, within limits of memory, time and size, and the day's other files go on."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
import xlsxwriter

from gongshi.ingest import MAX_CELL_CHARS, read_delivery
from gongshi.sandbox import ReadLimits, read_file_contained
from gongshi.validation import validate

from .conftest import DAY2, deliver

HEADER = "任务编号,任务名称,检查实施机关,检查类型,检查日期,市场主体名称,统一社会信用代码,检查事项,检查结果,处理情况\n"
ROW = "JS{n},抽查,局,双随机抽查,2026-11-27,公司,91350100M000100Y43,登记事项检查,未发现问题,{text}\n"
GOOD = HEADER + ROW.format(n="0001", text="已整改")


def _read(tmp_path, catalog, name: str, content: bytes, limits: ReadLimits | None = None):
    deliver(tmp_path, "inspection_results", DAY2, "南京局_好.csv", GOOD)
    deliver(tmp_path, "inspection_results", DAY2, name, content)

    def contained(path, dataset):
        return read_file_contained(path, dataset, limits if limits and path.name == name else ReadLimits())

    delivery = read_delivery(tmp_path, catalog["inspection_results"], DAY2, reader=contained)
    files = {f.file: f for f in delivery.files}
    assert files["南京局_好.csv"].status == "read"  # the day's other file is read whatever happens
    return files[name], delivery


def _xlsx(write) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    write(book.add_worksheet("数据"))
    book.close()
    return buffer.getvalue()


def test_json_nested_a_thousand_deep_is_rejected(tmp_path, catalog):
    data = ("[" * 1000 + "]" * 1000).encode()
    result, _ = _read(tmp_path, catalog, "局_深.json", data)
    assert (result.status, result.reason_code) == ("rejected", "json_too_deep") and "嵌套层数过深" in result.reason


def test_a_cell_at_xfd1048576_is_rejected_before_parsing(tmp_path, catalog):
    def write(sheet):
        for column, title in enumerate(HEADER.strip().split(",")):
            sheet.write_string(0, column, title)
        sheet.write_string(1048575, 16383, "x")

    data = _xlsx(write)
    assert len(data) < 10_000
    started = time.monotonic()
    result, _ = _read(tmp_path, catalog, "局_远.xlsx", data)
    assert (result.status, result.reason_code) == ("rejected", "sheet_too_large")
    assert "1,048,576 行 × 16,384 列" in result.reason and time.monotonic() - started < 30


def test_a_zip_bomb_is_rejected(tmp_path, catalog):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/worksheets/sheet1.xml", b"<worksheet>" + b" " * (40 << 20) + b"</worksheet>")
    result, _ = _read(tmp_path, catalog, "局_炸弹.xlsx", buffer.getvalue())
    assert (result.status, result.reason_code) == ("rejected", "xlsx_bomb")


@pytest.mark.parametrize("length", [1_000_000, 10_000_000])
def test_a_huge_cell_holds_back_its_row_only(tmp_path, catalog, length):
    content = HEADER + ROW.format(n="0002", text="长" * length) + ROW.format(n="0003", text="正常")
    started = time.monotonic()
    result, delivery = _read(tmp_path, catalog, "局_长.csv", content.encode())
    assert result.status == "read" and result.rows_in == 2
    validated = validate(delivery, catalog["inspection_results"])
    assert time.monotonic() - started < 60
    (held,) = validated.quarantined.to_pylist()
    assert held["task_id"] == "JS0002" and f"{length:,} 个字符" in held["_reasons"]
    assert len(held["handling"]) == MAX_CELL_CHARS  # cut, so no later step pays for it
    assert {r["task_id"] for r in validated.accepted.to_pylist()} == {"JS0001", "JS0003"}


def test_a_reader_out_of_memory_rejects_the_file_not_the_day(tmp_path, catalog):
    rows = "".join(ROW.format(n=f"{i:06d}", text="整改" * 40) for i in range(400_000))
    result, _ = _read(tmp_path, catalog, "局_大.csv", (HEADER + rows).encode(), ReadLimits(memory_mb=600))
    assert result.status == "rejected" and result.reason_code in {"too_much_memory", "reader_crashed", "reader_failed"}
    assert "600 MB" in result.reason or "内存" in result.reason or "出错" in result.reason


def test_a_file_that_takes_too_long_is_stopped(tmp_path, catalog):
    rows = "".join(ROW.format(n=f"{i:06d}", text="整改") for i in range(300_000))
    result, _ = _read(tmp_path, catalog, "局_慢.csv", (HEADER + rows).encode(), ReadLimits(wall_seconds=0.05))
    assert (result.status, result.reason_code) == ("rejected", "read_timeout") and "秒" in result.reason


def test_rejections_are_in_the_ledger_with_their_reasons(tmp_path, catalog):
    result, delivery = _read(tmp_path, catalog, "局_坏.json", b'{"data": [{"a": 1}')
    assert (result.status, result.reason_code) == ("rejected", "json_invalid") and "JSON 格式错误" in result.reason
    assert json.loads(json.dumps([f.to_dict() for f in delivery.files]))[1]["reason"] == result.reason
