"""XLSX: one sheet, the header in row 1, dates as Excel dates, every text cell written as text
(never a formula, never a number that loses digits). Writing a workbook costs a few microseconds a
cell in Python, so tables beyond `XLSX_MAX_ROWS` (and Excel's own limit) are served by the CSV,
which Excel opens as well."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute
import xlsxwriter

from gongshi.catalog import SchemaField
from gongshi.storage import temporary_for
from gongshi.writers import Writer

EXCEL_MAX_ROWS = 1_048_575
XLSX_MAX_ROWS = 200_000


class XlsxWriter(Writer):
    FORMAT = "xlsx"
    SUFFIX = ".xlsx"
    MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def fits(self, table: pa.Table) -> bool:
        return table.num_rows <= min(XLSX_MAX_ROWS, EXCEL_MAX_ROWS)

    def write(self, table: pa.Table, fields: list[SchemaField], path: Path) -> None:
        temporary = temporary_for(path)
        book = xlsxwriter.Workbook(
            str(temporary),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        # A fixed creation date keeps the file byte-identical for identical data (checksums stay stable).
        book.set_properties({"created": _stamp(table), "title": path.stem})
        sheet = book.add_worksheet(path.stem[:31])
        header = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
        date_format = book.add_format({"num_format": "yyyy-mm-dd"})
        for column, name in enumerate(table.column_names):
            sheet.write_string(0, column, name, header)
            sheet.set_column(column, column, 18)
        dates = {i for i, c in enumerate(table.columns) if pa.types.is_date(c.type)}
        columns = [
            [None if v is None else dt.datetime.combine(v, dt.time()) for v in c.to_pylist()]
            if i in dates
            else c.to_pylist()
            for i, c in enumerate(table.columns)
        ]
        for row_index, row in enumerate(zip(*columns, strict=True), start=1):
            for column, value in enumerate(row):
                if value is None:
                    continue
                if column in dates:
                    sheet.write_datetime(row_index, column, value, date_format)
                elif isinstance(value, str):
                    sheet.write_string(row_index, column, value)
                elif isinstance(value, bool):
                    sheet.write_boolean(row_index, column, value)
                else:
                    sheet.write_number(row_index, column, value)
        sheet.freeze_panes(1, 0)
        book.close()
        temporary.replace(path)


def _stamp(table: pa.Table) -> dt.datetime:
    """The newest update in the table (or a fixed date): a deterministic 'created' property."""
    if "last_updated" in table.column_names and table.num_rows:
        newest = pa.compute.max(table["last_updated"]).as_py()
        if newest is not None:
            return dt.datetime.combine(newest, dt.time())
    return dt.datetime(2000, 1, 1)
