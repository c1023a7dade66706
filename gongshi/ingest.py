"""Readers for department deliveries: CSV (UTF-8, UTF-8 with BOM, UTF-16, GB18030), XLSX and JSON.

Every file becomes rows whose columns are the dataset's schema fields (all text, as delivered),
each row keeping its source file, sheet and row number. A file that cannot be read as a whole is
rejected with a reason a department can act on; the day's other files go on regardless.
Cell-level problems a reader notices (an ID number Excel turned into a float, a CSV line with the
wrong number of fields) become findings that validation turns into quarantine reasons.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import python_calamine

from gongshi import issues
from gongshi.catalog import Dataset, normalise_header
from gongshi.inbox import delivery_files, fingerprint_of, ignored_in_day

FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xlsx", ".json": "json"}
HEADER_SEARCH_ROWS = 20
EXCEL_EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number; more are lost
# Limits on what a delivery may make the readers do (see also `sandbox.ReadLimits`).
MAX_CELL_CHARS = 32_767  # Excel's own limit for a cell: longer values are cut and the row held back
MAX_XLSX_UNCOMPRESSED = 1 << 30  # bytes inside an XLSX, all parts together
MAX_XLSX_RATIO = 200  # uncompressed / compressed, beyond which an XLSX is a zip bomb, not a workbook
MAX_SHEET_CELLS = 50_000_000  # rows x columns a sheet may span (Excel's maximum sheet is 1,048,576 x 16,384)
MAX_CSV_BLOCK = (1 << 31) - 1
_EXCEL_EPOCH = dt.date(1899, 12, 30)
META_COLUMNS = ["_row_id", "_source_file", "_source_sheet", "_source_row", "_department"]
FINDING_SCHEMA = pa.schema(
    [
        ("_row_id", pa.int64()),
        ("field", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
        ("value", pa.string()),
    ]
)


class FileRejected(Exception):
    """A file that cannot be read as a whole; `code` is stable, `reason` is for the department."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        assert issues.kind(code).severity == "file", code
        self.code = code
        self.reason = reason


@dataclass
class FileResult:
    """What happened to one delivered file; one line of the ledger."""

    dataset: str
    file: str
    department: str
    sha256: str
    bytes: int
    format: str | None
    encoding: str | None = None
    status: str = "read"  # read | rejected | not_received | ignored
    reason_code: str | None = None
    reason: str | None = None
    rows_in: int = 0
    header_row: int | None = None
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Delivery:
    """One dataset's deliveries for one day, read but not yet validated."""

    dataset: str
    day: str
    rows: pa.Table
    findings: pa.Table
    files: list[FileResult]
    fingerprint: str


@dataclass
class _Sheet:
    """Cells of one sheet or file as text, before header mapping."""

    header: list[str]
    columns: list[pa.Array]
    row_numbers: np.ndarray
    sheet: str | None
    header_row: int
    findings: list[tuple[int, str | None, str, str, str | None]]  # (row index, column, code, msg, value)


def department_of(file_name: str) -> str:
    """The delivering department, from the file name's first `_`-separated part (sanitised)."""
    stem = Path(file_name).stem.split("_")[0]
    clean = "".join(c for c in unicodedata.normalize("NFKC", stem) if c.isalnum() or c in "-()（）")
    return clean[:40] or "未署名部门"


def read_delivery(
    inbox: Path,
    dataset: Dataset,
    day: str,
    pulled: Path | None = None,
    not_received: list[dict] | None = None,
    reader: Callable[[Path, Dataset], tuple[FileResult, pa.Table | None, list]] | None = None,
) -> Delivery:
    """Read every file delivered for `dataset` on `day` — dropped in the inbox, or pulled from a
    source into `pulled` — never raising for a bad file. `not_received` are the sources that
    failed to deliver (recorded, with their cause). `reader` reads one file (default: `read_file`
    in this process; the pipeline passes `sandbox.read_file_contained`)."""
    inbox_files = delivery_files(inbox, dataset.id, day)
    files = inbox_files + pulled_files(pulled)
    tables, findings, results = [], [], []
    next_row_id = 0
    for path in files:
        result, table, file_findings = (reader or read_file)(path, dataset)
        results.append(result)
        if table is None:
            continue
        ids = pa.array(np.arange(next_row_id, next_row_id + table.num_rows, dtype=np.int64))
        table = table.set_column(0, "_row_id", ids)
        if file_findings:
            rows, fields, codes, messages, values = zip(*file_findings, strict=True)
            findings.append(
                pa.table(
                    [
                        pa.array(np.asarray(rows, dtype=np.int64) + next_row_id),
                        pa.array(fields, pa.string()),
                        pa.array(codes, pa.string()),
                        pa.array(messages, pa.string()),
                        pa.array(values, pa.string()),
                    ],
                    schema=FINDING_SCHEMA,
                )
            )
        next_row_id += table.num_rows
        tables.append(table)
    for failure in not_received or []:
        name = f"{failure['department']}_{failure['source']}（{failure['type']}）"
        results.append(
            FileResult(
                dataset=dataset.id,
                file=name,
                department=failure["department"],
                sha256="",
                bytes=0,
                format=failure["type"],
                status="not_received",
                reason_code="source_failed",
                reason=failure["cause"],
            )
        )
    for ignored in ignored_in_day(inbox, dataset.id, day):
        name = ignored.path.rsplit("/", 1)[-1]
        results.append(
            FileResult(
                dataset=dataset.id,
                file=name,
                department=department_of(name),
                sha256="",
                bytes=0,
                format=None,
                status="ignored",
                reason_code=ignored.code,
                reason=ignored.reason,
            )
        )
    rows = pa.concat_tables(tables) if tables else empty_rows(dataset)
    finding_table = pa.concat_tables(findings) if findings else FINDING_SCHEMA.empty_table()
    # The fingerprint is the inbox's: it tells whether the folder changed since (pulls are per run).
    fingerprint = fingerprint_of([(r.file, r.sha256) for r in results[: len(inbox_files)]])
    return Delivery(dataset.id, day, rows, finding_table, results, fingerprint)


def pulled_files(folder: Path | None) -> list[Path]:
    """The row files pulls wrote for a day (not their bookkeeping)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.endswith((".pull.json", ".failed.json")))


def empty_rows(dataset: Dataset) -> pa.Table:
    return _row_schema(dataset).empty_table()


def _row_schema(dataset: Dataset) -> pa.Schema:
    meta = [
        ("_row_id", pa.int64()),
        ("_source_file", pa.string()),
        ("_source_sheet", pa.string()),
        ("_source_row", pa.int64()),
        ("_department", pa.string()),
    ]
    return pa.schema(meta + [(name, pa.string()) for name in dataset.field_names])


# --- one file --------------------------------------------------------------------------------------


def read_file(path: Path, dataset: Dataset) -> tuple[FileResult, pa.Table | None, list]:
    """Read one delivered file. Returns its ledger entry, its rows (None if rejected) and findings."""
    name = path.name
    result = FileResult(
        dataset=dataset.id,
        file=name,
        department=department_of(name),
        sha256="",
        bytes=0,
        format=FORMATS.get(path.suffix.lower()),
    )
    try:
        if path.is_symlink() or not path.is_file():
            raise FileRejected("not_a_file", "该条目不是普通文件（可能是符号链接），出于安全原因不予读取。")
        data = path.read_bytes()
        result.bytes = len(data)
        result.sha256 = hashlib.sha256(data).hexdigest()
        if result.format is None:
            raise FileRejected(
                "unsupported_format",
                f"不支持的文件格式“{path.suffix or '无扩展名'}”。请以 CSV、XLSX 或 JSON 格式报送。",
            )
        if not data[:4096].strip() and not data.strip():
            raise FileRejected("empty_file", "文件为空，没有任何数据。请确认导出是否成功后重新报送。")
        if result.format == "csv":
            sheets = [_read_csv_file(data, dataset, result)]
        elif result.format == "json":
            text_bytes, result.encoding = decode_to_utf8(data)
            sheets = [_read_json(text_bytes, dataset)]
        else:
            sheets = _read_workbook(data, dataset)
        table, findings = _map_sheets(sheets, dataset, result)
    except FileRejected as rejection:
        result.status, result.reason_code, result.reason = "rejected", rejection.code, rejection.reason
        return result, None, []
    result.rows_in = table.num_rows
    return result, table, findings


def decode_to_utf8(data: bytes) -> tuple[bytes, str]:
    """Detect the encoding by strict decoding (BOM, then UTF-8, then GB18030); return UTF-8 bytes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").encode("utf-8"), "utf-16"
        except UnicodeDecodeError as error:
            raise _decode_rejection(data, error, "UTF-16") from None
    if data.startswith(b"\xef\xbb\xbf"):
        body = data[3:]
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _decode_rejection(body, error, "UTF-8") from None
        return body, "utf-8-sig"
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError as utf8_error:
        if _truncated(data, utf8_error):
            raise _decode_rejection(data, utf8_error, "UTF-8") from None
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError as gb_error:
        if _truncated(data, gb_error):
            raise _decode_rejection(data, gb_error, "GB18030") from None
        raise FileRejected(
            "undecodable",
            f"无法识别文件编码：第 {gb_error.start} 字节起的内容既不是 UTF-8 也不是 GB18030。"
            "请在 Excel 中“另存为 CSV UTF-8”后重新报送。",
        ) from None


def _truncated(data: bytes, error: UnicodeDecodeError) -> bool:
    return error.start >= len(data) - 3 and error.end == len(data)


def _decode_rejection(data: bytes, error: UnicodeDecodeError, encoding: str) -> FileRejected:
    if _truncated(data, error):
        return FileRejected(
            "truncated", f"文件不完整：在第 {error.start} 字节处截断（{encoding} 字符不完整）。请重新导出并完整报送。"
        )
    return FileRejected("undecodable", f"文件声明为 {encoding} 编码，但第 {error.start} 字节无法按 {encoding} 解码。")


class _NotUtf8(Exception):
    """The CSV reader met bytes that are not UTF-8 after the sniffed prefix."""


def _read_csv_file(data: bytes, dataset: Dataset, result: FileResult) -> _Sheet:
    """Sniff the encoding on the first 64 KiB; a UTF-8 file goes to Arrow as is (Arrow validates it
    while parsing, far faster than decoding in Python). Anything else is decoded strictly first."""
    if data.startswith(b"\xef\xbb\xbf") or _utf8_prefix(data):
        result.encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        try:
            return _read_csv(data[3:] if result.encoding == "utf-8-sig" else data, dataset, check_utf8=True)
        except _NotUtf8:
            pass
    text, result.encoding = decode_to_utf8(data)
    return _read_csv(text, dataset, check_utf8=False)


def _utf8_prefix(data: bytes) -> bool:
    prefix = data[:65536]
    try:
        prefix.decode("utf-8")
    except UnicodeDecodeError as error:
        return len(prefix) == 65536 and error.start >= len(prefix) - 3  # a character cut by the prefix
    return not data.startswith((b"\xff\xfe", b"\xfe\xff"))


def _read_csv(data: bytes, dataset: Dataset, check_utf8: bool) -> _Sheet:
    first_lines = data[:65536].decode("utf-8", errors="ignore").splitlines()[:HEADER_SEARCH_ROWS]
    delimiter = "\t" if first_lines and first_lines[0].count("\t") > first_lines[0].count(",") else ","
    preview = list(csv.reader(io.StringIO("\n".join(first_lines)), delimiter=delimiter))
    header_index = _find_header_row(preview, dataset)
    header = [cell.strip() for cell in preview[header_index]]
    if len(set(header)) != len(header):
        duplicates = sorted({h for h in header if header.count(h) > 1})
        raise FileRejected("duplicate_headers", f"表头中列名重复：{'、'.join(duplicates)}。请删除重复列后重新报送。")
    names = [f"c{i}" for i in range(len(header))]
    table, invalid = _parse_csv(data, delimiter, header_index + 1, names, True, check_utf8)
    if invalid and any(row.number is None for row in invalid):
        # Row numbers of malformed lines are only known to the single-threaded reader.
        table, invalid = _parse_csv(data, delimiter, header_index + 1, names, False, check_utf8)
    total = table.num_rows + len(invalid)
    first_row = header_index + 2  # 1-based, the line after the header
    # pyarrow numbers records from the top of the file, skipped title and header lines included.
    invalid_numbers = {row.number for row in invalid}
    all_numbers = np.arange(first_row, first_row + total, dtype=np.int64)
    row_numbers = all_numbers[~np.isin(all_numbers, list(invalid_numbers))]
    columns = [table.column(i) for i in range(len(names))]
    findings = []
    if invalid:
        columns = [column.combine_chunks() for column in columns]
        # Malformed lines stay rows (all fields empty) so they are counted and quarantined, not lost.
        order = np.argsort(np.concatenate([row_numbers, np.array(sorted(invalid_numbers), dtype=np.int64)]))
        row_numbers = np.concatenate([row_numbers, np.array(sorted(invalid_numbers), dtype=np.int64)])[order]
        padded = pa.nulls(len(invalid), pa.string())
        columns = [pc.take(pa.concat_arrays([col, padded]), pa.array(order)) for col in columns]
        position = {number: i for i, number in enumerate(row_numbers)}
        for row in sorted(invalid, key=lambda r: r.number):
            findings.append(
                (
                    position[row.number],
                    None,
                    "malformed_row",
                    f"该行有 {row.actual_columns} 列，表头有 {row.expected_columns} 列"
                    "（可能是未加引号的逗号或文件截断）",
                    row.text[:200],
                )
            )
    return _drop_blank_rows(_Sheet(header, columns, row_numbers, None, header_index + 1, findings))


def _parse_csv(
    data: bytes, delimiter: str, skip: int, names: list[str], use_threads: bool, check_utf8: bool, block: int = 1 << 22
):
    invalid = []

    def keep_invalid(row):
        invalid.append(row)
        return "skip"

    try:
        table = pv.read_csv(
            io.BytesIO(data),
            read_options=pv.ReadOptions(skip_rows=skip, column_names=names, use_threads=use_threads, block_size=block),
            parse_options=pv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=keep_invalid
            ),
            convert_options=pv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                check_utf8=check_utf8,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException) as error:
        if isinstance(error, MemoryError) or ("of size" in str(error) and "failed" in str(error)):
            raise MemoryError(str(error)) from None  # the memory limit, not the file's syntax
        if check_utf8 and "UTF8" in str(error).upper().replace("-", ""):
            raise _NotUtf8 from None
        if "straddl" in str(error) and block < min(len(data) + 1, MAX_CSV_BLOCK):
            # A cell longer than a parsing block (several MB in one cell): parse in one block.
            return _parse_csv(data, delimiter, skip, names, use_threads, check_utf8, min(len(data) + 1, MAX_CSV_BLOCK))
        raise FileRejected(
            "csv_unparseable", f"CSV 无法解析（{str(error)[:200]}）。请检查引号是否成对、文件是否完整。"
        ) from None
    return table, invalid


def _read_json(data: bytes, dataset: Dataset) -> _Sheet:
    try:
        records = json.loads(data)
    except RecursionError:
        raise FileRejected(
            "json_too_deep",
            'JSON 嵌套层数过深，无法读取。报送文件应为由一层对象组成的数组，例如 [{"事项编码": "…"}, …]。',
        ) from None
    except json.JSONDecodeError as error:
        raise FileRejected(
            "json_invalid",
            f"JSON 格式错误：第 {error.lineno} 行第 {error.colno} 列，{_json_reason(error)}。"
            "文件可能被截断或未完整导出，请重新报送完整文件。",
        ) from None
    if isinstance(records, dict) and len(records) == 1 and isinstance(next(iter(records.values())), list):
        records = next(iter(records.values()))  # {"data": [...]} wrappers are common
    if not isinstance(records, list):
        raise FileRejected("json_not_array", 'JSON 顶层应为对象数组，例如 [{"事项编码": "…"}, …]。')
    header: list[str] = []
    for record in records:
        if isinstance(record, dict):
            header.extend(k for k in record if k not in header)
    findings = []
    cells: list[list[str | None]] = [[None] * len(records) for _ in header]
    position = {key: i for i, key in enumerate(header)}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            findings.append((index, None, "not_an_object", "该条记录不是 JSON 对象", json.dumps(record)[:200]))
            continue
        for key, value in record.items():
            text, problem = _json_cell(value)
            cells[position[key]][index] = text
            if problem:
                findings.append((index, key, "nested_value", problem, json.dumps(value, ensure_ascii=False)[:200]))
    columns = [pa.array(column, pa.string()) for column in cells]
    return _Sheet(header, columns, np.arange(1, len(records) + 1, dtype=np.int64), None, 0, findings)


def _json_reason(error: json.JSONDecodeError) -> str:
    if error.pos >= len(error.doc.rstrip()) - 1 or "Unterminated" in error.msg or "Expecting" in error.msg:
        return f"内容在此处中断（{error.msg}）"
    return error.msg


def _json_cell(value) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("是" if value else "否"), None
    if isinstance(value, (int, float, str)):
        return str(value), None
    return None, "字段值不能是对象或数组"


def _read_workbook(data: bytes, dataset: Dataset) -> list[_Sheet]:
    _check_workbook(data)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = []
        for meta in workbook.sheets_metadata:
            if str(meta.visible).endswith("Visible") and str(meta.typ).endswith("WorkSheet"):
                sheet = workbook.get_sheet_by_name(meta.name)
                sheets.append((meta.name, sheet.to_python(skip_empty_area=False), sheet.merged_cell_ranges or []))
    except Exception as error:  # calamine raises many types for a damaged workbook
        raise FileRejected(
            "xlsx_corrupt", f"无法打开 Excel 文件（{type(error).__name__}）。文件可能已损坏或被截断，请重新导出后报送。"
        ) from None
    read = []
    for name, rows, merged in sheets:
        if not any(any(_is_filled(c) for c in row) for row in rows):
            continue
        read.append(_sheet_cells(name, rows, merged, dataset))
    if not read:
        raise FileRejected("empty_file", "Excel 文件中没有包含数据的工作表。")
    return read


# Bounded repetitions: every start costs at most a few hundred bytes, however hostile the XML.
_CELL_REF = re.compile(rb'<(?:\w{1,20}:)?c\b[^>]{0,100}?\br="([A-Z]{1,3})([0-9]{1,7})"')
_DIMENSION = re.compile(rb'<(?:\w{1,20}:)?dimension\b[^>]{0,100}?\bref="[A-Z]{1,3}[0-9]{1,7}:([A-Z]{1,3})([0-9]{1,7})"')


def _check_workbook(data: bytes) -> None:
    """What an XLSX would make the reader allocate, checked before it is parsed: all its parts
    inflated, the compression ratio (a zip bomb), and the cells each sheet spans (its dimension and
    every cell reference — one cell at XFD1048576 spans 17 billion)."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return  # not a zip (an old .xls, or damage): calamine decides, and rejects it with a reason
    with book:
        parts = book.infolist()
        inflated = sum(p.file_size for p in parts)
        if inflated > MAX_XLSX_UNCOMPRESSED:
            raise FileRejected(
                "xlsx_too_large",
                f"Excel 文件解压后有 {inflated / (1 << 20):,.0f} MB，超过 {MAX_XLSX_UNCOMPRESSED >> 20} MB 的上限。"
                "请拆分成多个文件，或另存为 CSV 后报送。",
            )
        if inflated > (16 << 20) and inflated > MAX_XLSX_RATIO * max(1, sum(p.compress_size for p in parts)):
            raise FileRejected(
                "xlsx_bomb", "Excel 文件的压缩比异常（解压后体积是压缩后的数百倍以上），不像正常的工作簿，已退回。"
            )
        for part in parts:
            if part.filename.startswith("xl/worksheets/") and part.filename.endswith(".xml"):
                rows, columns = _sheet_span(book, part)
                if rows * columns > MAX_SHEET_CELLS:
                    raise FileRejected(
                        "sheet_too_large",
                        f"工作表的使用范围达到 {rows:,} 行 × {columns:,} 列（例如远处某个单元格有内容或格式），"
                        f"超过 {MAX_SHEET_CELLS:,} 个单元格的上限。请删除数据区域以外的内容后重新报送。",
                    )


def _sheet_span(book: zipfile.ZipFile, part: zipfile.ZipInfo) -> tuple[int, int]:
    """The largest row and column a sheet's XML names, read in blocks (never whole)."""
    rows = columns = 0
    tail = b""
    with book.open(part) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            chunk = tail + block
            for pattern in (_DIMENSION, _CELL_REF):
                for letters, number in pattern.findall(chunk):
                    columns = max(columns, _column_number(letters))
                    rows = max(rows, int(number))
            tail = chunk[-64:]
    return rows, columns


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _is_filled(cell) -> bool:
    return cell is not None and cell != ""


def _sheet_cells(name: str, rows: list[list], merged, dataset: Dataset) -> _Sheet:
    for (top, left), (bottom, right) in merged:
        # A merged cell's value belongs to every cell it covers (e.g. an authority merged down a column).
        value = rows[top][left] if top < len(rows) and left < len(rows[top]) else None
        for r in range(top, min(bottom, len(rows) - 1) + 1):
            for c in range(left, min(right, len(rows[r]) - 1) + 1):
                rows[r][c] = value
    preview = [[_cell_text(c)[0] or "" for c in row] for row in rows[:HEADER_SEARCH_ROWS]]
    header_index = _find_header_row(preview, dataset)
    header = [h.strip() for h in preview[header_index]]
    width = len(header)
    while width and not header[width - 1]:
        width -= 1
    date_columns = {
        i
        for i, h in enumerate(header[:width])
        if dataset.fields.get(dataset.header_lookup.get(normalise_header(h), ""), None) is not None
        and dataset.fields[dataset.header_lookup[normalise_header(h)]].kind == "date"
    }
    body = rows[header_index + 1 :]
    cells: list[list[str | None]] = [[] for _ in range(width)]
    numbers, findings = [], []
    for offset, row in enumerate(body):
        if not any(_is_filled(c) for c in row):
            continue
        if any(_is_filled(c) for c in row[width:]):
            raise FileRejected(
                "unknown_headers",
                f"工作表“{name}”第 {header_index + offset + 2} 行在表头以外的列中有数据，但该列没有列名。",
            )
        index = len(numbers)
        numbers.append(header_index + offset + 2)
        for c in range(width):
            value = row[c] if c < len(row) else None
            text, problem = _cell_text(value, as_date=c in date_columns)
            cells[c].append(text)
            if problem:
                findings.append((index, header[c], problem[0], problem[1], text))
    return _Sheet(
        header[:width],
        [pa.array(col, pa.string()) for col in cells],
        np.asarray(numbers, dtype=np.int64),
        name,
        header_index + 1,
        findings,
    )


def _cell_text(value, as_date: bool = False) -> tuple[str | None, tuple[str, str] | None]:
    """A workbook cell as delivered text, and a finding when Excel has damaged it."""
    if value is None or value == "":
        return None, None
    if isinstance(value, dt.datetime):
        return (value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")), None
    if isinstance(value, dt.date):
        return value.isoformat(), None
    if isinstance(value, bool):
        return ("是" if value else "否"), None
    if isinstance(value, (int, float)):
        if as_date and 1 <= value < 2958466:
            return (_EXCEL_EPOCH + dt.timedelta(days=int(value))).isoformat(), None
        if isinstance(value, float) and not value.is_integer():
            return repr(value), None
        # repr() is the shortest round-trip form, i.e. the digits Excel displays (3.20703197306178e+17).
        text = format(Decimal(repr(value)).normalize(), "f") if isinstance(value, float) else str(value)
        if len(text.lstrip("-")) > EXCEL_EXACT_DIGITS:
            return text, (
                "excel_number_precision",
                f"该值被 Excel 存为数字，只保留了 {EXCEL_EXACT_DIGITS} 位有效数字，末尾几位已丢失。"
                "请将该列设置为“文本”格式后重新填写并报送。",
            )
        return text, None
    if isinstance(value, dt.time):
        return value.isoformat(), None
    return str(value).strip() or None, None


def _find_header_row(preview: list[list[str]], dataset: Dataset) -> int:
    """The row among the first few that names the most known columns; rows above it are titles."""
    known = set(dataset.header_lookup) | dataset.ignored_headers
    best, best_score = None, 1
    for index, row in enumerate(preview):
        score = sum(1 for cell in row if cell and normalise_header(cell) in known)
        if score > best_score:
            best, best_score = index, score
    if best is None:
        raise FileRejected(
            "no_header",
            f"在前 {HEADER_SEARCH_ROWS} 行中找不到表头（可识别的列名少于 2 个）。请使用数据集规定的列名，"
            f"例如：{'、'.join(dataset.schema_field(n).title for n in dataset.field_names[:4])}。",
        )
    return best


def _blank(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True).to_numpy(zero_copy_only=False)


def _drop_blank_rows(sheet: _Sheet) -> _Sheet:
    """Empty lines are not deliveries (they still use up a row number). Only rows whose first cell is
    blank are looked at further, column by column."""
    if not sheet.columns or not len(sheet.row_numbers):
        return sheet
    blank = np.flatnonzero(_blank(sheet.columns[0]))
    for column in sheet.columns[1:]:
        if not len(blank):
            break
        blank = blank[_blank(pc.take(column, pa.array(blank)))]
    blank = np.setdiff1d(blank, [row for row, *_ in sheet.findings])
    if not len(blank):
        return sheet
    keep = np.setdiff1d(np.arange(len(sheet.row_numbers)), blank)
    remap = {old: new for new, old in enumerate(keep)}
    return _Sheet(
        sheet.header,
        [pc.take(c, pa.array(keep)) for c in sheet.columns],
        sheet.row_numbers[keep],
        sheet.sheet,
        sheet.header_row,
        [(remap[r], *rest) for r, *rest in sheet.findings],
    )


def _map_sheets(sheets: list[_Sheet], dataset: Dataset, result: FileResult) -> tuple[pa.Table, list]:
    """Map each sheet's headers to schema fields (strictly) and stack the sheets into one table."""
    tables, findings, offset = [], [], 0
    for sheet in sheets:
        mapping = _map_headers(sheet.header, dataset)
        result.columns.update({h: f for h, f in mapping.items() if f})
        result.ignored_columns.extend(h for h, f in mapping.items() if f is None and h not in result.ignored_columns)
        result.header_row = sheet.header_row if result.header_row is None else result.header_row
        n = len(sheet.row_numbers)
        by_field = {mapping[h]: col for h, col in zip(sheet.header, sheet.columns, strict=True) if mapping[h]}
        for name, column in by_field.items():
            by_field[name], cut = _cut_long_cells(column)
            for row, length in cut:
                findings.append(
                    (
                        row + offset,
                        name,
                        "cell_too_long",
                        f"单元格内容有 {length:,} 个字符，超过 {MAX_CELL_CHARS:,} 个字符的上限，"
                        "已截断保存、该行未发布。请核对该单元格是否误粘贴了大段内容",
                        None,
                    )
                )
        columns = [
            pa.nulls(n, pa.int64()),
            pa.repeat(pa.scalar(result.file, pa.string()), n),
            pa.repeat(pa.scalar(sheet.sheet, pa.string()), n),
            pa.array(sheet.row_numbers, pa.int64()),
            pa.repeat(pa.scalar(result.department, pa.string()), n),
        ] + [by_field.get(name, pa.nulls(n, pa.string())) for name in dataset.field_names]
        tables.append(pa.Table.from_arrays(columns, schema=_row_schema(dataset)))
        for row, column, code, message, value in sheet.findings:
            findings.append((row + offset, mapping.get(column) if column else None, code, message, value))
        offset += n
    return pa.concat_tables(tables), findings


def _cut_long_cells(column: pa.Array) -> tuple[pa.Array, list[tuple[int, int]]]:
    """Cells longer than MAX_CELL_CHARS cut to it (so no later step pays for megabytes in a cell),
    with (row, original length) of each."""
    lengths = pc.fill_null(pc.utf8_length(column), 0)
    too_long = pc.greater(lengths, MAX_CELL_CHARS)
    if not pc.any(too_long).as_py():
        return column, []
    rows = np.flatnonzero(too_long.to_numpy(zero_copy_only=False))
    cut = pc.if_else(too_long, pc.utf8_slice_codeunits(column, 0, MAX_CELL_CHARS), column)
    return cut, [(int(r), int(lengths[int(r)].as_py())) for r in rows]


def _map_headers(header: list[str], dataset: Dataset) -> dict[str, str | None]:
    """Source header -> field name (None when declared ignored). Unknown or missing columns reject."""
    mapping: dict[str, str | None] = {}
    unknown = []
    for column in header:
        key = normalise_header(column)
        if key in dataset.header_lookup:
            mapping[column] = dataset.header_lookup[key]
        elif key in dataset.ignored_headers or not key:
            mapping[column] = None
        else:
            unknown.append(column or "（空列名）")
    if unknown:
        raise FileRejected(
            "unknown_headers",
            f"存在未定义的列：{'、'.join(unknown)}。请删除这些列或改用规定列名；"
            "如该列应当忽略，请数据管理员在 dataset.yaml 的 ignored_columns 中声明。",
        )
    fields = [f for f in mapping.values() if f]
    doubled = sorted({f for f in fields if fields.count(f) > 1})
    if doubled:
        names = "、".join(
            f"{dataset.schema_field(f).title}（{'、'.join(h for h, m in mapping.items() if m == f)}）" for f in doubled
        )
        raise FileRejected("duplicate_headers", f"多列对应同一字段：{names}。请只保留一列。")
    missing = [
        dataset.schema_field(n).title
        for n in dataset.field_names
        if dataset.schema_field(n).required and n not in fields
    ]
    if missing:
        raise FileRejected("missing_headers", f"缺少必填列：{'、'.join(missing)}。请补充这些列后重新报送。")
    return mapping
