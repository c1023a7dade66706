"""XLSX: one sheet, the header in row 1, dates as Excel dates, every text cell written as text
(never a formula, never a number that loses digits). Excel holds 1,048,575 data rows; a bigger
table is not written as XLSX (the CSV serves it)."""

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


class XlsxWriter(Writer):
    FORMAT = "xlsx"
    SUFFIX = ".xlsx"
    MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def fits(self, table: pa.Table) -> bool:
        return table.num_rows <= EXCEL_MAX_ROWS

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
        for row_index, record in enumerate(table.to_pylist(), start=1):
            for column, value in enumerate(record.values()):
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    sheet.write_datetime(row_index, column, dt.datetime.combine(value, dt.time()), date_format)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    sheet.write_number(row_index, column, value)
                else:
                    sheet.write_string(row_index, column, str(value))
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
