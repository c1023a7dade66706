"""Rejection reports a department opens in Excel: which file, row and field was held back and why,
in Chinese, with protected values masked. One workbook per department, dataset and day."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from gongshi.catalog import Dataset
from gongshi.ingest import FileResult
from gongshi.pii import mask_column, mask_value
from gongshi.storage import temporary_for
from gongshi.validation import Validated

ISSUE_COLUMNS = ["文件", "工作表", "行号", "字段", "报送值（已脱敏）", "问题", "级别"]
FILE_COLUMNS = ["文件", "大小（字节）", "SHA-256", "退回原因"]
SEVERITY_LABELS = {"error": "退回（未发布）", "warning": "提示（已发布，请核对）"}


def safe_values(dataset: Dataset, fields: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each delivered value as it may appear outside the state directory's quarantine: the value of
    a field that is not published masked whole (`mask_value`), any other with every protected value
    in its text masked (`mask_text`) — by columns: the vectorised prefilter, then the precise pass
    only where it could hold a protected value (`mask_column`)."""
    private = [name for name, spec in dataset.fields.items() if spec.privacy != "publish"]
    whole = pc.fill_null(pc.is_in(fields, value_set=pa.array(private, pa.string())), False)
    rows = np.flatnonzero(whole)
    if not len(rows):
        return mask_column(values)[0]
    # the text pass only over the values not masked whole (an ID number's own field is one)
    masked, _ = mask_column(pc.if_else(whole, pa.scalar(None, pa.string()), values))
    cells = masked.to_numpy(zero_copy_only=False).astype(object)
    cells[rows] = [mask_value(v) for v in pc.take(values, pa.array(rows)).to_pylist()]
    return pa.array(cells, pa.string())


def issue_rows(dataset: Dataset, delivery_rows: pa.Table, validated: Validated) -> pd.DataFrame:
    """One line per issue, joined to its source location, values masked."""
    if not validated.issues.num_rows:
        return pd.DataFrame(columns=["_department", *ISSUE_COLUMNS])
    found = validated.issues
    # masked column by column, before the join: a day's issues are tens of thousands of lines
    found = found.set_column(
        found.column_names.index("value"),
        "value",
        safe_values(dataset, found["field"], pc.cast(found["value"], pa.string())),
    )
    found = found.set_column(
        found.column_names.index("message"), "message", mask_column(pc.cast(found["message"], pa.string()))[0]
    )
    issues = found.to_pandas()
    where = delivery_rows.select(["_row_id", "_department", "_source_file", "_source_sheet", "_source_row"]).to_pandas()
    joined = issues.merge(where, on="_row_id", how="left")
    titles = {name: dataset.schema_field(name).title for name in joined["field"].dropna().unique()}
    return pd.DataFrame(
        {
            "_department": joined["_department"],
            "文件": joined["_source_file"],
            "工作表": joined["_source_sheet"],
            "行号": joined["_source_row"],
            "字段": joined["field"].map(titles).where(joined["field"].notna(), "（整行）"),
            "报送值（已脱敏）": joined["value"].where(joined["value"].notna(), None),
            "问题": joined["message"],
            "级别": joined["severity"].map(SEVERITY_LABELS),
        }
    ).sort_values(["_department", "文件", "工作表", "行号"], na_position="first", kind="stable")


def write_reports(
    out_dir: Path, dataset: Dataset, day: str, issues: pd.DataFrame, files: list[FileResult]
) -> list[Path]:
    """Write one workbook per department that has anything to hear about; return their paths."""
    rejected = [f for f in files if f.status == "rejected"]
    departments = sorted(set(issues["_department"].dropna()) | {f.department for f in rejected})
    written = []
    for department in departments:
        path = out_dir / f"{department}_{dataset.title}_{day}_退回报告.xlsx"
        mine = issues[issues["_department"] == department].drop(columns="_department")
        _write_workbook(path, dataset, day, department, mine, [f for f in rejected if f.department == department])
        written.append(path)
    return written


def _write_workbook(
    path: Path, dataset: Dataset, day: str, department: str, issues: pd.DataFrame, rejected: list[FileResult]
) -> None:
    temporary = temporary_for(path)
    # strings_to_formulas=False: a delivered "=HYPERLINK(...)" must stay text in the department's Excel.
    book = xlsxwriter.Workbook(
        str(temporary), {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    )
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    errors = issues[issues["级别"] == SEVERITY_LABELS["error"]]
    summary = book.add_worksheet("说明")
    summary.set_column(0, 0, 100)
    lines = [
        f"{department}：{dataset.title} {day} 报送数据退回报告",
        f"退回行 {errors[['文件', '工作表', '行号']].drop_duplicates().shape[0]} 行（问题 {len(errors)} 项），"
        f"提示 {len(issues) - len(errors)} 项，整份退回文件 {len(rejected)} 个。",
        "“退回（未发布）”的行未予公开，请按“问题”列修改后在下一次报送中重新提交。",
        "“提示（已发布，请核对）”的行已经公开，但有需要核对或补充的内容。",
        "为保护个人信息，报送值中的身份证号、手机号等已部分隐藏，请以本单位留存的原始数据为准。",
    ]
    for row, line in enumerate(lines):
        summary.write_string(row, 0, line, bold if row == 0 else wrap)
    _table(
        book.add_worksheet("问题明细"),
        ISSUE_COLUMNS,
        issues[ISSUE_COLUMNS].itertuples(index=False),
        bold,
        wrap,
        widths=[36, 12, 8, 18, 30, 60, 22],
    )
    _table(
        book.add_worksheet("退回文件"),
        FILE_COLUMNS,
        [(f.file, f.bytes, f.sha256, f.reason) for f in rejected],
        bold,
        wrap,
        widths=[40, 14, 66, 80],
    )
    book.close()
    temporary.replace(path)


def _table(sheet, header: list[str], rows, bold, wrap, widths: list[int]) -> None:
    for column, (title, width) in enumerate(zip(header, widths, strict=True)):
        sheet.write_string(0, column, title, bold)
        sheet.set_column(column, column, width, wrap)
    row_index = 0
    for row_index, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value is None or (isinstance(value, float) and pd.isna(value)):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sheet.write_number(row_index, column, value)
            else:
                sheet.write_string(row_index, column, str(value))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(1, row_index), len(header) - 1)
