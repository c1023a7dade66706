"""The leak gate: reads every file that would be published — HTML, CSV, JSON, Parquet, XLSX, SQLite,
gzip-compressed search-index fragments — and reports any protected value with its file and
location. The publish pipeline runs it as a blocking check before a release goes live; operators
run it on any folder with `gongshi scan DIR`.

Two nets: the pattern scanner (`gongshi.pii`: resident IDs, mobiles, bank cards, personal e-mail,
checksum-confirmed) and, given the state directory, the exact protected values departments
delivered (ID numbers, phone numbers of every register), which also catches what no pattern
describes, such as a landline in a contact column.
"""

from __future__ import annotations

import gzip
import html
import re
import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import python_calamine

from gongshi.catalog import Dataset
from gongshi.pii import KIND_LABELS, PREFILTER, find, mask_value

TEXT_SUFFIXES = {
    ".html",
    ".htm",
    ".xml",
    ".atom",
    ".rss",
    ".svg",
    ".txt",
    ".md",
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".ndjson",
    ".js",
    ".css",
    ".yaml",
    ".yml",
    ".webmanifest",
    ".geojson",
}
MARKUP_SUFFIXES = {".html", ".htm", ".xml", ".atom", ".rss", ".svg"}
GZIP_SUFFIXES = {".gz", ".pf_fragment", ".pf_index", ".pf_meta", ".pf_filter"}
SKIPPED_SUFFIXES = {
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".ico",
    ".woff",
    ".woff2",
    ".ttf",
    ".otf",
    ".wasm",
    ".pagefind",
    ".pdf",
}
# Cells that could hold a known value: seven digits in a row, or digits grouped by single separators
# as phone and ID numbers are written (025-8345 6789, 139 1234 5678); a date's 2-digit groups are not.
KNOWN_PREFILTER = "[0-9０-９]{7}|[0-9０-９][ \\-－][0-9０-９]{3,}[ \\-－][0-9０-９]{3,}"
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass
class Leak:
    file: str
    location: str
    kind: str
    sample: str  # masked: the report itself must not leak


@dataclass
class ScanReport:
    root: str
    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.leaks

    def by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(leak.kind for leak in self.leaks).items()))

    def to_dict(self) -> dict:
        return {
            **{k: v for k, v in asdict(self).items() if k != "leaks"},
            "by_kind": self.by_kind(),
            "leaks": [asdict(leak) for leak in self.leaks],
        }


class _Scanner:
    def __init__(self, root: Path, known: frozenset[str]):
        self.root = root
        self.known = pa.array(sorted(known), pa.string()) if known else None
        self.report = ScanReport(str(root))

    def text_cells(self, relative: str, cells: pa.Array | pa.ChunkedArray, locations) -> None:
        """Scan a column of text; `locations(i)` names cell i. Only prefiltered cells are read in
        Python; known values are matched over the whole column in Arrow."""
        if isinstance(cells, pa.ChunkedArray):
            cells = cells.combine_chunks()
        suspicious = np.flatnonzero(
            pc.fill_null(pc.match_substring_regex(cells, PREFILTER), False).to_numpy(zero_copy_only=False)
        )
        for index, value in zip(suspicious, pc.take(cells, pa.array(suspicious)).to_pylist(), strict=True):
            for hit in find(value):
                leak = Leak(relative, locations(int(index)), hit.kind, mask_value(value[hit.start : hit.end]))
                self.report.leaks.append(leak)
        if self.known is not None:
            maybe = np.flatnonzero(
                pc.fill_null(pc.match_substring_regex(cells, KNOWN_PREFILTER), False).to_numpy(zero_copy_only=False)
            )
            if len(maybe):
                for index, digits in known_value_hits(pc.take(cells, pa.array(maybe)), self.known):
                    leak = Leak(relative, locations(int(maybe[index])), "known_value", mask_value(digits))
                    self.report.leaks.append(leak)


def known_value_hits(cells: pa.Array, known: pa.Array) -> list[tuple[int, str]]:
    """(cell index, digits) for every run of 7+ digits in `cells` — single spaces or hyphens
    between digits ignored, full-width folded, a +86/0086 prefix dropped — that is in `known`."""
    wide = pc.fill_null(pc.match_substring_regex(cells, "[０-９]"), False)
    text = pc.if_else(wide, pc.utf8_normalize(cells, form="NFKC"), cells) if pc.any(wide).as_py() else cells
    for _ in range(2):  # "1-2-3": one pass joins every other pair
        text = pc.replace_substring_regex(text, r"([0-9])[ \-]([0-9])", r"\1\2")
    runs = pc.split_pattern_regex(pc.fill_null(text, ""), pattern=r"[^0-9]+")
    flat = pc.list_flatten(runs)
    parents = pc.list_parent_indices(runs)
    long_enough = pc.greater_equal(pc.utf8_length(flat), 7)
    flat, parents = flat.filter(long_enough), parents.filter(long_enough)
    hits = pc.is_in(flat, value_set=known)
    for prefix in ("86", "0086"):
        stripped = pc.if_else(pc.starts_with(flat, prefix), pc.utf8_slice_codeunits(flat, len(prefix)), flat)
        hits = pc.or_(hits, pc.is_in(stripped, value_set=known))
    return list(zip(parents.filter(hits).to_pylist(), flat.filter(hits).to_pylist(), strict=True))


def scan_directory(root: Path, known: frozenset[str] = frozenset()) -> ScanReport:
    """Scan every file under `root` (symlinks to files are followed, to directories not)."""
    scanner = _Scanner(root, known)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        scanner.report.bytes_scanned += path.stat().st_size
        suffix = path.suffix.lower()
        try:
            if suffix in SKIPPED_SUFFIXES:
                scanner.report.skipped[suffix] = scanner.report.skipped.get(suffix, 0) + 1
                continue
            _scan_file(scanner, path, relative, suffix)
        except Exception as error:  # an unreadable file is not a clean file
            scanner.report.leaks.append(Leak(relative, "whole file", "unreadable", f"{type(error).__name__}: {error}"))
        scanner.report.files_scanned += 1
    return scanner.report


def _scan_file(scanner: _Scanner, path: Path, relative: str, suffix: str) -> None:
    if suffix == ".parquet":
        table = pq.read_table(path)
        for name in table.column_names:
            column = table.column(name)
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                scanner.text_cells(relative, column, lambda i, n=name: f"column {n}, row {i + 1}")
    elif suffix in {".xlsx", ".xlsm", ".xls"}:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        for sheet_name in book.sheet_names:
            rows = book.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
            for c, column in enumerate(zip(*rows, strict=False) if rows else []):
                cells = pa.array([v if isinstance(v, str) else str(v) for v in column], pa.string())
                scanner.text_cells(relative, cells, lambda i, s=sheet_name, c=c: f"sheet {s}, {_cell(c, i)}")
    elif suffix in {".sqlite", ".sqlite3", ".db"}:
        _scan_sqlite(scanner, path, relative)
    elif suffix in GZIP_SUFFIXES:
        data = gzip.decompress(path.read_bytes())
        data = data.removeprefix(b"pagefind_dcd")  # Pagefind's marker before the payload
        _scan_text(scanner, relative, data.decode("utf-8", errors="replace"), suffix)
    else:
        data = path.read_bytes()
        if suffix not in TEXT_SUFFIXES and b"\0" in data[:8192]:
            scanner.report.skipped[suffix or "(none)"] = scanner.report.skipped.get(suffix or "(none)", 0) + 1
            scanner.report.files_scanned -= 1
            return
        _scan_text(scanner, relative, data.decode("utf-8-sig", errors="replace"), suffix)


def _scan_text(scanner: _Scanner, relative: str, text: str, suffix: str) -> None:
    if suffix in MARKUP_SUFFIXES:
        text = html.unescape(text)  # &#49;&#51;… must not hide digits
    if "\\u" in text:
        text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)  # nor JSON escapes
    lines = pa.array(text.split("\n"), pa.string())
    scanner.text_cells(relative, lines, lambda i: f"line {i + 1}")


def _scan_sqlite(scanner: _Scanner, path: Path, relative: str) -> None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        for table in tables:
            columns = [r[1] for r in connection.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                rows = connection.execute(
                    f'SELECT rowid, CAST("{column}" AS TEXT) FROM "{table}" '
                    f"WHERE \"{column}\" GLOB '*[0-9][0-9][0-9][0-9][0-9][0-9][0-9]*' OR \"{column}\" LIKE '%@%' "
                    f"OR \"{column}\" GLOB '*[０-９]*'"
                ).fetchall()
                if rows:
                    ids = [r[0] for r in rows]
                    scanner.text_cells(
                        relative,
                        pa.array([r[1] for r in rows], pa.string()),
                        lambda i, t=table, c=column, ids=ids: f"table {t}, column {c}, rowid {ids[i]}",
                    )
    finally:
        connection.close()


def _cell(column: int, row: int) -> str:
    letters = ""
    column += 1
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(65 + remainder) + letters
    return f"{letters}{row + 1}"


def known_protected_values(registers: list[tuple[Dataset, pa.Table]]) -> frozenset[str]:
    """Digit strings (7+) of every value delivered in a column that is never published as is:
    ID numbers and phone numbers, whatever their privacy class says."""
    values: set[str] = set()
    for dataset, table in registers:
        for name, policy in dataset.fields.items():
            if name not in table.column_names or policy.privacy == "publish" or policy.kind == "person_name":
                continue
            column = pc.replace_substring_regex(pc.cast(table.column(name), pa.string()), r"[^0-9]", "")
            values |= {v for v in pc.drop_null(column).to_pylist() if len(v) >= 7}
    return frozenset(values)


def format_report(report: ScanReport, limit: int = 200) -> str:
    lines = [
        f"{leak.file}: {leak.location}: {KIND_LABELS.get(leak.kind, leak.kind)} {leak.sample}"
        for leak in report.leaks[:limit]
    ]
    if len(report.leaks) > limit:
        lines.append(f"… and {len(report.leaks) - limit} more")
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items())) or "none"
    verdict = "CLEAN: no protected value found" if report.clean else f"LEAKS: {len(report.leaks)} {report.by_kind()}"
    lines.append(
        f"{verdict} — {report.files_scanned} files, {report.bytes_scanned:,} bytes scanned; skipped (binary): {skipped}"
    )
    return "\n".join(lines)
