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

import concurrent.futures
import contextlib
import gzip
import hashlib
import heapq
import html
import os
import re
import resource
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cbor2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import python_calamine

from gongshi import pii
from gongshi.catalog import Dataset
from gongshi.pii import (
    CONTROL_CHARACTERS,
    KIND_LABELS,
    KNOWN_MIN_DIGITS,
    RE2_DASHES,
    RE2_DOTS,
    RE2_INVISIBLE,
    mask_value,
    may_find,
    may_hold,
    near_known,
    number_digits,
    scan_column,
)
from gongshi.storage import write_parquet
from gongshi.tables import connect, found_at

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
_JSON_GZIP = {".gz", ".pf_fragment"}
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
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass
class Leak:
    file: str
    location: str
    kind: str
    sample: str  # masked: the report itself must not leak

    def describe(self) -> str:
        return f"{self.file}: {self.location}: {KIND_LABELS.get(self.kind, self.kind)} ({self.kind}) {self.sample}"


@dataclass
class ScanReport:
    root: str
    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)
    files_passed_before: int = 0  # unchanged bytes that passed an earlier scan (by sha256), not read again
    # distinct lines (pieces of long ones: `_pieces`) of changed files found in the version that passed before
    lines_passed_before: int = 0
    passed: set[str] = field(default_factory=set, repr=False)  # sha256 of the files this scan found clean
    # files the manifest lists whose bytes this scan read and found to have the manifest's sha256:
    # `verify_build` need not read them again
    verified: set[str] = field(default_factory=set, repr=False)
    worker_peak_kib: int = 0  # the largest peak resident memory of a worker process that scanned (0: none did)

    @property
    def clean(self) -> bool:
        return not self.leaks

    def by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(leak.kind for leak in self.leaks).items()))

    def to_dict(self) -> dict:
        return {
            **{k: v for k, v in asdict(self).items() if k not in {"leaks", "passed", "verified"}},
            "by_kind": self.by_kind(),
            "leaks": [asdict(leak) for leak in self.leaks],
        }


class _Scanner:
    def __init__(self, root: Path, known: pa.Array | None):
        self.root = root
        self.known = known if known is not None and len(known) else None
        self.known_here = True  # whether the file being read is searched for the known values
        self.runs: list[pa.Array] | None = None  # when set, the digit runs read are kept here
        self.report = ScanReport(str(root))

    def leak(self, relative: str, location: str, kind: str, value: str) -> None:
        self.report.leaks.append(Leak(relative, location, kind, mask_value(value)))

    def text_cells(self, relative: str, cells, locations) -> None:
        """Scan a column of text of one file; `locations(i)` names cell i. A value the column holds
        more than once (a date, an authority, a code: a table of a million rows has a few thousand
        of each) is scanned once and reported at every cell it stands in, in the column's order."""
        if isinstance(cells, pa.ChunkedArray):
            cells = cells.combine_chunks()
        if len(cells) < DISTINCT_ABOVE:
            self.cells(cells, lambda i: [(relative, locations(i))])
            return
        encoded = pc.dictionary_encode(cells)
        standing = _Occurrences(np.asarray(pc.fill_null(encoded.indices, -1)))
        before = len(self.report.leaks)
        self.cells(encoded.dictionary, lambda unique: [(relative, locations(int(r))) for r in standing(unique)])
        self.report.leaks[before:] = sorted(self.report.leaks[before:], key=lambda leak: _numbers_in(leak.location))

    def cells(self, cells, where) -> None:
        """Scan a column of text; `where(i)` lists the (file, location) pairs where cell i stands.
        The pattern detector reads only the prefiltered cells; control characters and known values
        are matched over the column in Arrow."""
        if isinstance(cells, pa.ChunkedArray):
            cells = cells.combine_chunks()
        for row, hits in scan_column(cells):
            value = cells[row].as_py()
            for hit in hits:
                for place in where(row):
                    self.leak(*place, hit.kind, value[hit.start : hit.end])
        has_control = pc.fill_null(pc.match_substring_regex(cells, CONTROL_CHARACTERS), False)
        for row in np.flatnonzero(has_control.to_numpy(zero_copy_only=False)):
            code = re.search(CONTROL_CHARACTERS, cells[int(row)].as_py()).group()
            for place in where(int(row)):
                self.report.leaks.append(Leak(*place, "control_character", f"U+{ord(code):04X}"))
        looking = self.known is not None and self.known_here
        if looking or self.runs is not None:
            maybe = np.flatnonzero(near_known(cells))
            if len(maybe):
                parents, runs = digit_runs(pc.take(cells, pa.array(maybe)))
                if self.runs is not None:
                    self.runs.append(runs)
                if looking:
                    for index, digits in _hits(parents, runs, self.known):
                        for place in where(int(maybe[index])):
                            self.leak(*place, "known_value", digits)


DISTINCT_ABOVE = 1000  # cells of a column: more are scanned as their distinct values (`text_cells`)


class _Occurrences:
    """Where each value of a dictionary-encoded column stands: `standing(value)` gives the positions
    of the value at index `value` of the dictionary, in order. Sorted once, on the first question
    (most scans find nothing to place)."""

    def __init__(self, indices: np.ndarray):
        self.indices = indices
        self.order: np.ndarray | None = None
        self.values: np.ndarray | None = None

    def __call__(self, value: int) -> np.ndarray:
        if self.order is None:
            self.order = np.argsort(self.indices, kind="stable")
            self.values = self.indices[self.order]
        first, end = np.searchsorted(self.values, value, "left"), np.searchsorted(self.values, value, "right")
        return self.order[first:end]


def _numbers_in(location: str) -> list[int | str]:
    """A location's text and numbers, for sorting it naturally (row 2 before row 10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", location)]


class _TextBatch:
    """The lines of many small text files in one column, scanned at once: the cost of a scan is in
    its passes over a column, not in the number of files. A line repeated (the pages' common
    header and footer) is scanned once and reported wherever it stands. Files are held as their
    UTF-8 bytes and cut into lines by Arrow: a release's 4 GB as Python strings and lists of lines
    cost the gate a third of its time."""

    LIMIT = 16 * 1024 * 1024  # bytes held before a scan (`_TextBatch.flush` holds about eight times that)

    def __init__(self, scanner: _Scanner, known: bool = True):
        self.scanner, self.known = scanner, known
        self.chunks: list[bytes] = []
        # (relative, sha256, its first line in the file), one for each of `chunks`
        self.files: list[tuple[str, str | None, int]] = []
        self.clean: list[bytes] = []  # files that passed before: their lines are not scanned again
        self.size = 0
        self.leaky: set[str] = set()  # files with a leak found in any flush so far

    def add(
        self, relative: str, text: bytes, digest: str | None, before: bytes | None = None, first_line: int = 1
    ) -> None:
        """A file's text (`_decoded`), or a segment of it whose first line is the file's `first_line`
        (`_segments`: only the last segment carries the file's digest); `before`, the text of a file
        that passed this detector before (the same path in the release that went out) — where the
        known values are not looked for here, its lines pass again without a scan: the pattern
        detector reads a line alone."""
        self.files.append((relative, digest, first_line))
        self.chunks.append(text)
        self.size += len(text)
        if before is not None and not self.known:
            self.clean.append(before)
        if self.size >= self.LIMIT:
            self.flush()

    def flush(self) -> None:
        if not self.files:
            return
        # A batch of many files (pages, twins): its lines first made distinct — a page's header and
        # footer, a twin's repeated keys stand once — then cut into pieces (`_pieces`), made distinct
        # again; a flagged piece is placed at its distinct lines, each of those at every line of the
        # batch where it stands. A segment of one large file (a data file: a line per record, each
        # different) is cut at once, as making its lines distinct would only hold more memory.
        lines, at_line = _lines(self.chunks), None
        if len(self.files) > 1:
            encoded = pc.dictionary_encode(lines)
            at_line, lines = _Occurrences(np.asarray(encoded.indices)), encoded.dictionary
            del encoded
        # Where the known values are not looked for, only what the detector can find anything in
        # goes on to be cut, hashed and scanned: a piece of a line is a substring of it, so a line
        # ruled out has no piece the detector reads anything in. A batch of many files keeps the
        # (distinct) lines where a number has a shape the detector reports (`may_find`: 1 % of a
        # city page's distinct bytes, 11 % of an entity page's, 0.1 % of a twin's). A data file's
        # segment is cut first and its distinct pieces are prefiltered (`may_hold`, eleven digits
        # or the like): nearly every line of a record holds a number that long (a task, a credit
        # code with a date beside it), so a prefilter on its lines ruled nothing out, while its
        # distinct pieces are an eighth of its bytes and a third of them pass.
        candidates, looked = None, None
        prefiltered = not self.known and self.scanner.runs is None
        if prefiltered and at_line is not None:
            keep = may_find(lines)
            if keep.sum() < CANDIDATES_BELOW * len(keep):  # else all go on: the same, without a copy
                candidates = np.flatnonzero(keep)
                lines = lines.take(pa.array(candidates, pa.int64()))
        pieces, line_of = _pieces(lines)
        del lines  # held from here: the pieces, and where each line stands among the distinct
        if line_of is None and at_line is not None:  # distinct lines, none cut: the distinct pieces
            unique_pieces, lines_of = pieces, lambda unique: [unique]
        else:
            encoded = pc.dictionary_encode(pieces)
            del pieces
            unique_pieces, standing = encoded.dictionary, _Occurrences(np.asarray(encoded.indices))
            del encoded
            lines_of = standing if line_of is None else lambda unique: np.unique(line_of[standing(unique)])
        if prefiltered and at_line is None:
            keep = may_hold(unique_pieces)
            if keep.sum() < CANDIDATES_BELOW * len(keep):
                looked = np.flatnonzero(keep)
        starts: list[np.ndarray] = []  # the batch's line where each file starts: counted on a first leak

        def where(unique: int) -> list[tuple[str, str]]:
            if not starts:
                starts.append(np.cumsum([0] + [chunk.count(b"\n") + 1 for chunk in self.chunks[:-1]]))
            distinct = lines_of(unique)
            if candidates is not None:
                distinct = candidates[distinct]
            rows = distinct if at_line is None else np.unique(np.concatenate([at_line(int(d)) for d in distinct]))
            places = []
            for row in rows:
                index = int(np.searchsorted(starts[0], row, side="right")) - 1
                relative, _, first_line = self.files[index]
                places.append((relative, f"line {row - int(starts[0][index]) + first_line}"))
            return places

        before = len(self.scanner.report.leaks)
        self.scanner.known_here = self.known
        if looked is not None:  # the distinct pieces the prefilter passed, placed by their index
            unique_pieces = unique_pieces.take(pa.array(looked, pa.int64()))
            where = _through(looked, where)
        if self.clean:  # only the pieces that did not pass before (of the lines worth a look, if chosen)
            clean = pc.unique(_lines(self.clean))
            if candidates is not None:
                clean = clean.filter(pa.array(may_find(clean)))
            seen = pc.is_in(unique_pieces, value_set=pc.unique(_pieces(clean)[0]))
            unseen = np.flatnonzero(np.invert(seen.to_numpy(zero_copy_only=False)))
            self.scanner.report.lines_passed_before += len(unique_pieces) - len(unseen)
            self.scanner.cells(unique_pieces.take(pa.array(unseen, pa.int64())), _through(unseen, where))
        else:
            self.scanner.cells(unique_pieces, where)
        self.leaky |= {leak.file for leak in self.scanner.report.leaks[before:]}
        self.scanner.report.passed |= {d for r, d, _ in self.files if d is not None and r not in self.leaky}
        self.chunks, self.files, self.clean, self.size = [], [], [], 0


def _through(chosen: np.ndarray, where: Callable[[int], list]) -> Callable[[int], list]:
    """`where` for the i-th of the `chosen` indices."""
    return lambda i: where(int(chosen[i]))


def _lines(texts: list[bytes]) -> pa.Array:
    """The lines of UTF-8 texts, one column (a text's bytes not valid UTF-8 are decoded with
    replacement characters, as a reader would see them)."""
    data = texts[0] if len(texts) == 1 else b"\n".join(texts)  # one segment: its bytes, not a copy
    try:
        joined = _one_text(data)
    except pa.ArrowInvalid:
        data = b"\n".join(bytes(t).decode("utf-8", errors="replace").encode("utf-8") for t in texts)
        joined = _one_text(data)
    lines = pc.list_flatten(pc.split_pattern(joined, "\n"))
    return lines.cast(pa.string()) if len(data) < 2**31 - 1 else lines


def _one_text(data: bytes | memoryview) -> pa.Array:
    """`data` as a column of one UTF-8 text, on the bytes as they are (no copy; the column keeps
    them alive); ArrowInvalid if they are not UTF-8."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)]).cast(pa.large_string())


CANDIDATES_BELOW = 0.8  # a batch's share of lines worth a look under which only those are taken on (`flush`)
PIECES_ABOVE = 128  # bytes: a longer line is scanned in pieces (`_pieces`)


def _pieces(lines: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    """`lines` for the detector, each line longer than `PIECES_ABOVE` bytes that holds a comma cut at
    its commas (a line without one is its own single piece, uncut and uncopied: most of a page's);
    and for each piece the index of its line (None when no line was cut). The detector finds in a line what
    it finds in its comma-separated pieces, no more, no less: no number, e-mail address, digest or
    credit code holds a comma, and the words before a number that change what it is (账号…, 信用代码)
    count only with no comma between (`gongshi.pii`). Cut, a data file's rows — a CSV or JSON line
    per record — repeat most of their cells (dates, authorities, codes) and each distinct cell is
    scanned once, where every row was distinct."""
    comma = pc.match_substring(lines, ",")
    long = pc.and_(pc.greater(pc.binary_length(lines), PIECES_ABOVE), comma)
    if not pc.any(long).as_py():
        return lines, None
    if pc.all(pc.equal(long, comma)).as_py():  # every line with a comma is cut (a data file's): in place
        split = pc.split_pattern(lines, ",")
        return pc.list_flatten(split), np.asarray(pc.list_parent_indices(split))
    long_rows = np.flatnonzero(long.to_numpy(zero_copy_only=False))
    short_rows = np.flatnonzero(np.invert(long.to_numpy(zero_copy_only=False)))
    split = pc.split_pattern(lines.take(pa.array(long_rows)), ",")
    cut = pc.list_flatten(split)
    pieces = pa.concat_arrays([lines.take(pa.array(short_rows)), cut.cast(lines.type)])
    line_of = np.concatenate([short_rows, long_rows[np.asarray(pc.list_parent_indices(split))]])
    return pieces, line_of


def known_value_hits(cells: pa.Array, known: frozenset[str] | pa.Array) -> list[tuple[int, str]]:
    """(cell index, digits) for every run of 7+ digits in `cells` that is in `known` (`digit_runs`)."""
    values = known if isinstance(known, pa.Array) else pa.array(sorted(known), pa.string())
    return _hits(*digit_runs(cells), values)


def digit_runs(cells: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Every run of 7+ digits in `cells` and the index of the cell it is in, read as the pattern
    detector reads numbers: invisible characters removed, full-width folded, groups joined by one
    space, two spaces, a dot or a hyphen — and each group alone. A run is compared with the known
    values as it is and without a +86/0086 prefix (`in_known`)."""
    text = _folded(cells)
    variants = [text]
    if pc.any(pc.match_substring_regex(text, _JOINABLE)).as_py():  # else joined, the text is the same
        joined = text
        for _ in range(2):  # "1-2-3": one pass joins every other pair
            joined = pc.replace_substring_regex(joined, f"([0-9]){_JOINER}([0-9])", r"\1\2")
        variants.insert(0, joined)
    parents, runs = [], []
    for variant in variants:
        split = pc.split_pattern_regex(pc.fill_null(variant, ""), pattern=r"[^0-9]+")
        flat = pc.list_flatten(split)
        long_enough = pc.greater_equal(pc.utf8_length(flat), KNOWN_MIN_DIGITS)
        parents.append(pc.list_parent_indices(split).filter(long_enough))
        runs.append(flat.filter(long_enough))
    return pa.concat_arrays(parents), pa.concat_arrays(runs)


_JOINER = r"(?: {1,2}|[.\-]| - )"  # what may stand between two groups of one number (`pii._JOINERS`)
_JOINABLE = f"[0-9]{_JOINER}[0-9]"


def _folded(cells: pa.Array) -> pa.Array:
    """`cells` with invisible characters removed, NFKC-normalised, every dash a hyphen and every
    dot a full stop — on the cells that are not plain ASCII; a plain ASCII cell has no character
    any of it changes but the C0 controls (and DEL), removed only where the column's bytes hold one.
    A table's columns are mostly ASCII (a task number, a date, a credit code): each step a pass of
    RE2 over every cell where one pass of NumPy over the bytes tells."""
    cells = cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells
    other = pc.invert(pc.fill_null(pc.string_is_ascii(cells), True))
    text = cells
    if pc.any(other).as_py():
        rest = pc.replace_substring_regex(cells.filter(other), f"[{RE2_INVISIBLE}]", "")
        rest = pc.utf8_normalize(rest, form="NFKC")
        rest = pc.replace_substring_regex(rest, f"[{RE2_DASHES}]", "-")
        rest = pc.replace_substring_regex(rest, f"[{RE2_DOTS}]", ".")
        text = pc.replace_with_mask(cells, other, rest)
    if _has_control_bytes(cells):
        text = pc.replace_substring_regex(text, f"[{RE2_INVISIBLE}]", "")
    return text


def _has_control_bytes(cells: pa.Array) -> bool:
    """Whether the values of a string column hold a byte below 0x20 or 0x7F (in UTF-8, only ever
    those ASCII characters themselves)."""
    offsets, data = cells.buffers()[1:3]
    if data is None or not len(cells):
        return False
    wide = pa.types.is_large_string(cells.type)
    bounds = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32)[cells.offset : cells.offset + len(cells) + 1]
    values = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    return bool(((values < 0x20) | (values == 0x7F)).any())


def in_known(runs: pa.Array, values: pa.Array) -> pa.Array:
    """Which runs are a known value, as they are or without a +86/0086 prefix. Arrow builds a hash set
    of the `value_set` on every call, and the known values are hundreds of thousands while a column's
    runs are often a few: then the runs (with their prefixes cut) go into the set, and only the known
    values found there are looked for — the same answer, without hashing every known value per column.
    Many against many (`JOINED_ABOVE` each: the kept runs of every table that passed before, against
    every known value) are joined in DuckDB, on every core (`_in_known_joined`)."""
    if len(runs) >= JOINED_ABOVE and len(values) >= JOINED_ABOVE:
        return _in_known_joined(runs, values)
    prefixes = ("86", "0086")
    if len(values) > 3 * len(runs):
        cut = [pc.utf8_slice_codeunits(runs.filter(pc.starts_with(runs, p)), len(p)) for p in prefixes]
        variants = pc.unique(pa.concat_arrays([runs.cast(pa.string()), *(c.cast(pa.string()) for c in cut)]))
        values = values.filter(pc.is_in(values, value_set=variants))
        if not len(values):
            return pa.array(np.zeros(len(runs), dtype=bool))
    found = pc.is_in(runs, value_set=values)
    for prefix in prefixes:
        national = pc.utf8_slice_codeunits(runs, len(prefix))
        found = pc.or_(found, pc.and_(pc.starts_with(runs, prefix), pc.is_in(national, value_set=values)))
    return found


JOINED_ABOVE = 100_000  # runs and known values each: more are looked up in DuckDB (`in_known`)


def _in_known_joined(runs: pa.Array, values: pa.Array) -> pa.Array:
    """`in_known` as a join: each run's positions under each of its readings (as it is, without
    +86, without 0086) found among the known values (`tables.found_at`). 728,000
    kept runs against 755,000 known values: 0.13 s against Arrow's 0.6–0.7 (three hash sets of the
    known values built on one core)."""
    with connect() as db:  # its own database: what the join held goes with it
        db.register("runs", pa.table({"run": runs.cast(pa.string()), "position": np.arange(len(runs), dtype=np.int64)}))
        db.register("known", pa.table({"v": values.cast(pa.string())}))
        found = db.sql(
            """
            WITH readings AS (
                SELECT position, run AS reading FROM runs
                UNION ALL SELECT position, substr(run, 3) FROM runs WHERE starts_with(run, '86')
                UNION ALL SELECT position, substr(run, 5) FROM runs WHERE starts_with(run, '0086')
            )
            SELECT position FROM readings SEMI JOIN known ON reading = v
            """
        ).to_arrow_table()["position"]
    return found_at(found, len(runs))


def _hits(parents: pa.Array, runs: pa.Array, values: pa.Array) -> list[tuple[int, str]]:
    found = in_known(runs, values)
    pairs = zip(parents.filter(found).to_pylist(), runs.filter(found).to_pylist(), strict=True)
    return sorted(dict.fromkeys(pairs))


def scan_directory(
    root: Path,
    known: frozenset[str] | pa.Array = frozenset(),
    passed: frozenset[str] = frozenset(),
    hashes: dict[str, str] | None = None,
    advance: Callable[[int], None] = lambda count: None,
    known_in_tables_only: bool = False,
    workers: int = 1,
    runs: Path | None = None,
    previous: Path | None = None,
) -> ScanReport:
    """Scan every file under `root` (symlinks to files are followed, to directories not).

    With `hashes` (path -> sha256, from the build's manifest) and `passed` (sha256 of files an
    earlier scan by the same detector found clean), a file whose bytes passed before is not read
    again — except the Parquet tables, which hold every published cell and are always scanned, so
    that a protected value first delivered today is found even in text that went out before.

    `known_in_tables_only`: the known values are looked for in the Parquet tables only. For a
    release that holds, for every dataset, a Parquet table of every published cell — every other
    file is made from those cells — that finds every known value the other files could hold, at a
    fraction of the cost (the daily gate; `gongshi scan` looks everywhere).

    `runs` (with `known_in_tables_only`): a folder where the digit runs of each Parquet table found
    clean are kept by its sha256. A table whose bytes passed before and whose runs are kept is not
    read again: its runs are looked up in today's known values (patterns found nothing in those
    bytes before, and the detector is the same); only a hit has the whole table read again.

    `previous` (with `known_in_tables_only` and `passed`): the build that went out before. A text
    file that changed is compared with the file at its path there: if those bytes passed this
    detector before, the lines they share pass again unscanned — the pattern detector reads each line
    alone, so a day that changes a row of a long file scans that row, not the file.

    `workers` > 1 scans the files to read in that many processes at once (the report is the same).
    Which files passed before is decided here, on the paths as strings: only the files to read go to
    the workers, in parts of about equal bytes."""
    if isinstance(known, pa.Array):  # made once by the caller
        known_values = known if len(known) else None
    else:
        known_values = pa.array(sorted(known), pa.string()) if known else None  # sorted once, shared
    runs = runs if known_in_tables_only else None
    hashes = hashes or {}
    # What every worker needs is sent once to each worker process (the known values and the digests
    # that passed are hundreds of thousands), a part's own paths and digests with the part. The
    # workers start while the files are listed, when the manifest lists many files that did not pass
    # before (a normal day's release lists 150,000 of which a few thousand changed, most of them read
    # early: `checks.begin_early`; the workers would cost more to start than the rest costs to read).
    shared = (root, known_values, passed, known_in_tables_only, runs, previous)
    pool = None
    if workers > 1 and sum(digest not in passed for digest in hashes.values()) >= PARALLEL_ABOVE:
        pool = _pool(workers, shared)
    try:
        return _scan_listed(root, shared, hashes, advance, workers, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _pool(workers: int, shared: tuple) -> concurrent.futures.ProcessPoolExecutor:
    """Worker processes (forkserver: no fork of this process's threads) holding `shared`, started now."""
    from gongshi.sandbox import worker_context  # the server has imported this module already

    context = worker_context()
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_hold, initargs=(shared,)
    )
    for _ in range(workers):
        pool.submit(int)  # starts a worker (and its imports) without waiting for it
    return pool


def _scan_listed(
    root: Path,
    shared: tuple,
    hashes: dict[str, str],
    advance: Callable[[int], None],
    workers: int,
    pool: concurrent.futures.ProcessPoolExecutor | None,
) -> ScanReport:
    _, _, passed, *_ = shared
    paths = _files(root)
    report = ScanReport(str(root))
    prefix = len(str(root)) + 1
    listed = bool(hashes)  # a part's own digests may be none: whether there is a manifest is said apart

    def digests_of(part: list[str]) -> dict[str, str]:
        """The manifest's digest of each of `part`'s files that it lists, by relative path."""
        return {r: d for p in part if (d := hashes.get(r := _relative(p, prefix))) is not None}

    to_read: list[str] = []
    tables: list[tuple[str, str]] = []  # Parquet tables whose bytes passed before, and their sha256
    for path in paths:
        digest = hashes.get(_relative(path, prefix))
        if digest is None or digest not in passed:
            to_read.append(path)
        elif path.lower().endswith(".parquet"):
            tables.append((path, digest))
        else:
            report.files_passed_before += 1
            report.passed.add(digest)
    # a Parquet table that passed before is read again unless its kept runs hold no known value
    _, known, _, _, runs, _ = shared
    clean = _kept_runs_clean_all(runs, [digest for _, digest in tables], known)
    for path, digest in tables:
        if digest in clean:
            report.files_passed_before += 1
            report.passed.add(digest)
        else:
            to_read.append(path)
    advance(len(paths) - len(to_read))
    sizes = [_size(path) for path in to_read]
    if workers <= 1 or (len(to_read) < PARALLEL_ABOVE and sum(sizes) < PARALLEL_ABOVE_BYTES):
        root_, known, passed, known_in_tables_only, runs, previous = shared
        own = digests_of(to_read)
        found = _scan_paths(
            to_read, root_, known, passed, own, known_in_tables_only, runs, previous, advance, listed=listed
        )
        _merge(report, found)
    else:
        parts = _by_size(to_read, sizes, workers * PARTS_PER_WORKER)
        tasks = [(part, digests_of(part), listed) for part in parts]
        with contextlib.ExitStack() as stack:
            if pool is None:  # not started beforehand: made here, and shut down here
                pool = stack.enter_context(_pool(workers, shared))
            for part, found in zip(parts, pool.map(_scan_part, tasks), strict=True):
                advance(len(part))
                _merge(report, found)
    report.leaks.sort(key=lambda leak: leak.file)
    return report


def _suffix(path: str) -> str:
    """`Path(path).suffix`, without making a Path (the gate reads 150,000 files a first day)."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _relative(path: str, prefix: int) -> str:
    """A listed file's path under the scanned folder (`prefix`: its length and a separator), with `/`."""
    return path[prefix:].replace(os.sep, "/")


_SHARED: tuple | None = None  # in a worker process: what `_pool` gave it


def _hold(shared: tuple) -> None:
    global _SHARED
    _SHARED = shared


# files to read, and their bytes: fewer are scanned in this process (starting workers costs a second)
PARALLEL_ABOVE, PARALLEL_ABOVE_BYTES = 2000, 64 * 1024 * 1024


def _merge(report: ScanReport, found: ScanReport) -> None:
    report.files_scanned += found.files_scanned
    report.bytes_scanned += found.bytes_scanned
    report.files_passed_before += found.files_passed_before
    report.lines_passed_before += found.lines_passed_before
    for suffix, count in found.skipped.items():
        report.skipped[suffix] = report.skipped.get(suffix, 0) + count
    report.leaks += found.leaks
    report.passed |= found.passed
    report.verified |= found.verified
    report.worker_peak_kib = max(report.worker_peak_kib, found.worker_peak_kib)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:  # gone or unreadable: its scan reports it
        return 0


# Parts of the files to read, per worker. The workers take the parts one at a time, the largest
# first: the gate ends when its last part does. With four parts a worker, taken in no order of size,
# that last part was up to an eighth of a first day's reading, one core's work while the other had
# none. A first day, three runs each way alternating (2026-12-04): the gate's last two seconds kept
# 1.81–1.90 of the two cores busy against 1.16–1.51.
PARTS_PER_WORKER = 16


def _by_size(paths: list[str], sizes: list[int], count: int) -> list[list[str]]:
    """`paths` in at most `count` parts of about equal bytes (`sizes`; the largest file first, into
    the part with the fewest bytes so far), each part in path order; no part empty. The parts come
    largest first (a part of one file larger than the rest's share is the largest)."""
    count = max(1, min(count, len(paths)))
    parts: list[list[str]] = [[] for _ in range(count)]
    loads = [(0, i) for i in range(count)]
    for index in sorted(range(len(paths)), key=lambda i: -sizes[i]):
        load, part = heapq.heappop(loads)
        parts[part].append(paths[index])
        heapq.heappush(loads, (load + sizes[index] + 4096, part))  # a file costs more than its bytes
    by_load = sorted(loads, reverse=True)
    return [sorted(parts[part]) for _, part in by_load if parts[part]]


def _files(root: Path) -> list[str]:
    """Every file under `root`, sorted by path: symlinks to files followed, to directories not
    (os.scandir on strings: a release has a file per market entity, and the type of most entries
    comes with the directory listing, without a stat each)."""
    found: list[str] = []
    folders = [str(root)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file():  # a symlink to a file is followed
                    found.append(entry.path)
    found.sort()
    return found


def _scan_part(task: tuple[list[str], dict[str, str], bool]) -> ScanReport:
    paths, hashes, listed = task
    root, known, passed, known_in_tables_only, runs, previous = _SHARED
    report = _scan_paths(paths, root, known, passed, hashes, known_in_tables_only, runs, previous, listed=listed)
    report.worker_peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return report


def _scan_paths(
    paths: list[str],
    root: Path,
    known: pa.Array | None,
    passed: frozenset[str],
    hashes: dict[str, str],
    known_in_tables_only: bool,
    runs: Path | None = None,
    previous: Path | None = None,
    advance: Callable[[int], None] = lambda count: None,
    *,
    listed: bool,
) -> ScanReport:
    """Scan `paths`, which `_scan_listed` chose to read; `hashes` holds the manifest's digests of those
    it lists. `listed`: whether the folder has a manifest — a file it does not list (the manifest
    itself, the checksums) then passes by the sha256 of its bytes. A Parquet table here is read: its
    kept runs, if any, held a known value (`_kept_runs_clean_all`)."""
    scanner = _Scanner(root, known)
    batch = _TextBatch(scanner, known=not known_in_tables_only)
    prefix = len(str(root)) + 1
    for name in paths:
        advance(1)
        relative = _relative(name, prefix)
        suffix = _suffix(name).lower()
        digest = hashes.get(relative)
        if digest is not None and digest in passed and suffix != ".parquet":
            scanner.report.files_passed_before += 1
            scanner.report.passed.add(digest)
            continue
        leaks_before = len(scanner.report.leaks)
        scanner.known_here = not known_in_tables_only or suffix == ".parquet"
        try:
            if suffix in SKIPPED_SUFFIXES:
                scanner.report.bytes_scanned += os.stat(name).st_size
                scanner.report.skipped[suffix] = scanner.report.skipped.get(suffix, 0) + 1
                continue
            data = None
            if _maybe_text(suffix):  # the built-in open on the path as it is: no Path, no stat apart
                with open(name, "rb") as file:
                    size = os.fstat(file.fileno()).st_size
                    if _streamed(suffix, size):
                        hasher = hashlib.sha256()
                        segments = _read_segments(file, size, suffix, _TextBatch.LIMIT, hasher)
                        before = _passed_before(previous, relative, suffix, passed) if not batch.known else None

                        def read_whole(file=file, hasher=hasher, listed_digest=digest, relative=relative) -> str | None:
                            scanner.report.bytes_scanned += file.tell()
                            return _digest_read(scanner.report, relative, listed_digest, hasher.hexdigest(), listed)

                        _add_segments(batch, relative, segments, before, read_whole)
                        scanner.report.files_scanned += 1
                        continue
                    data = file.read()
                scanner.report.bytes_scanned += len(data)
            else:
                scanner.report.bytes_scanned += os.stat(name).st_size
            if data is not None:
                digest = _digest_read(scanner.report, relative, digest, hashlib.sha256(data).hexdigest(), listed)
            segments = _text_segments(data, suffix) if data is not None else None
            if segments is not None:
                before = _passed_before(previous, relative, suffix, passed) if not batch.known else None
                _add_segments(batch, relative, segments, before, lambda digest=digest: digest)
                scanner.report.files_scanned += 1
                continue
            keep_runs = runs is not None and digest is not None and suffix == ".parquet"
            scanner.runs = [] if keep_runs else None
            _scan_file(scanner, Path(name), relative, suffix)
            if keep_runs and len(scanner.report.leaks) == leaks_before:
                found = pa.concat_arrays([pa.array([], pa.string()), *scanner.runs])
                write_parquet(pa.table({"run": pc.unique(found)}), runs / f"{digest}.parquet")
        except Exception as error:  # an unreadable file is not a clean file
            scanner.report.leaks.append(Leak(relative, "whole file", "unreadable", f"{type(error).__name__}: {error}"))
        finally:
            scanner.runs = None
        scanner.report.files_scanned += 1
        if digest is not None and len(scanner.report.leaks) == leaks_before:
            scanner.report.passed.add(digest)
    batch.flush()
    scanner.report.leaks.sort(key=lambda leak: leak.file)  # stable: a file's leaks stay in order
    return scanner.report


def vouch(
    root: Path,
    hashes: dict[str, str],
    known: pa.Array,
    passed: frozenset[str] = frozenset(),
    runs: Path | None = None,
    previous: Path | None = None,
    batch: int = 1,
) -> Iterator[str]:
    """The sha256 of each file of `root` that `hashes` names (relative path -> the sha256 its bytes
    have) which the daily gate finds clean, `batch` files at a time as they are read: the reading of
    `scan_directory` with `known_in_tables_only`, the known values `known` (its `passed`, `runs`,
    `previous` as there: a changed text file's lines that passed before in `previous` are not
    scanned again). What is yielded, that gate may take as passed (its verdict cache); a file that
    holds anything is not yielded, and that gate reads it and reports it. A batch of many small
    files (pages) is read as the gate reads them, their lines made distinct together; a data file
    is best read alone (`batch` 1): its verdict is yielded as soon as it is known."""
    items = list(hashes.items())
    for start in range(0, len(items), max(1, batch)):
        part = dict(items[start : start + max(1, batch)])
        paths = [str(root / relative) for relative in part]
        report = _scan_paths(paths, root, known, passed, part, True, runs, previous, listed=True)
        leaky = {leak.file for leak in report.leaks}
        # a file's digest passes when its bytes were read clean (`report.passed`: the sha256 of the
        # bytes read); the same bytes at a path with a leak are the same leak
        yield from dict.fromkeys(d for r, d in part.items() if r not in leaky and d in report.passed)


def _digest_read(report: ScanReport, relative: str, listed_digest: str | None, actual: str, listed: bool) -> str | None:
    """The digest a file read passes by: the sha256 of the bytes read (`actual`), not what the
    manifest says of them (`listed_digest`); a file outside it (itself, the checksums) passes by its
    bytes too when the folder has one (`listed`). A listed file whose bytes have the manifest's is
    verified here, once (`verify_build`)."""
    if listed_digest == actual:
        report.verified.add(relative)
    return actual if listed_digest is not None or listed else None


def _add_segments(
    batch: _TextBatch,
    relative: str,
    segments: Iterator[tuple[bytes | memoryview, int | None]],
    before: bytes | None,
    digest: Callable[[], str | None],
) -> None:
    """A text file's segments (`_text_segments`, `_read_segments`) into `batch`; its verdict comes
    with the batch's scan. A file in one segment may share a batch with other files; a larger one in
    segments of whole lines, each a batch of its own, so that what the batch holds at once stays
    bounded (a data file's lines are each a different record, and a batch of many files makes its
    lines distinct first, `_TextBatch.flush`). The last segment carries the file's digest, asked for
    (`digest()`) once every segment has been taken: a file read as it is scanned is hashed by then."""
    line, (segment, feeds) = 1, next(segments)
    for following in segments:
        if line == 1:
            batch.flush()
        batch.add(relative, segment, None, before, first_line=line)
        batch.flush()
        line += feeds + 1
        segment, feeds = following
    batch.add(relative, segment, digest(), before, first_line=line)
    if line > 1:
        batch.flush()


PASSED_BEFORE_MAX_BYTES = 64 * 1024 * 1024  # a larger old file is not read beside the new (memory)


def _passed_before(previous: Path | None, relative: str, suffix: str, passed: frozenset[str]) -> str | None:
    """The text of `relative` in the build `previous`, if its bytes (hashed now, not as a manifest
    says) passed this detector before and are at most `PASSED_BEFORE_MAX_BYTES`; else None."""
    if previous is None or not passed:
        return None
    try:
        path = previous / relative
        if path.stat().st_size > PASSED_BEFORE_MAX_BYTES:
            return None
        data = path.read_bytes()
        return _decoded(data, suffix) if hashlib.sha256(data).hexdigest() in passed else None
    except (OSError, EOFError, gzip.BadGzipFile):
        return None


def _kept_runs_clean_all(runs: Path | None, digests: list[str], known: pa.Array | None) -> set[str]:
    """Of the Parquet tables that passed before (by sha256), those whose kept digit runs hold no known
    value. The runs of every table are looked up together: one pass over the known values (hundreds
    of thousands) for all of them, not one per table — a release in daily parts has a Parquet table
    per dataset and day of history."""
    if runs is None:
        return set()
    readable, kept, owners = set(), [], []
    for index, digest in enumerate(digests):
        try:
            table_runs = pq.read_table(runs / f"{digest}.parquet")["run"].combine_chunks().cast(pa.string())
        except Exception:  # none kept, or unreadable: the table is read again
            continue
        readable.add(digest)
        kept.append(table_runs)
        owners.append(np.full(len(table_runs), index, dtype=np.int64))
    if known is None or not len(known) or not sum(len(k) for k in kept):
        return readable
    hits = in_known(pa.concat_arrays(kept), known).to_numpy(zero_copy_only=False)
    return readable - {digests[int(i)] for i in np.unique(np.concatenate(owners)[hits])}


def reads_bytes(relative: str, digest: str | None, passed: frozenset[str]) -> bool:
    """Whether a scan with `passed` reads the bytes of the file at `relative` (manifest sha256
    `digest`) whole and so verifies them (`ScanReport.verified`): a file that did not pass before, of
    a kind read as text. What `verify_build` may leave to the gate; the gate's report says what it
    did verify."""
    suffix = os.path.splitext(relative)[1].lower()
    return (digest is None or digest not in passed) and suffix not in SKIPPED_SUFFIXES and _maybe_text(suffix)


def _maybe_text(suffix: str) -> bool:
    """Whether a file with `suffix` may be read as text (`_decoded` tells)."""
    if suffix in _JSON_GZIP:
        return True
    return suffix not in {".parquet", ".xlsx", ".xlsm", ".xls", ".sqlite", ".sqlite3", ".db"} | GZIP_SUFFIXES


def _text_segments(data: bytes, suffix: str) -> Iterator[tuple[bytes | memoryview, int | None]] | None:
    """A text file as `_decoded` segments of whole lines — one for a file no larger than a batch; a
    larger one (a dataset's CSV or JSON Lines of a million rows) cut where a line ends (the line feed
    between two segments is theirs: they join again with one), each at most `_TextBatch.LIMIT` bytes
    unless one line is longer, each a view of the file's bytes where there is nothing to decode (a
    copy would be a batch of fresh pages a segment), with the line feeds it holds (None for a file in
    one segment); None for binary content. A segment is made when it is taken: a 450 MB file cut
    into lines and pieces at once held a leak-gate worker at 2.5 GB."""
    if suffix in _JSON_GZIP:  # compressed: decompressed whole, as any
        return iter([(_decoded(data, suffix), None)])
    if suffix not in TEXT_SUFFIXES and b"\0" in data[:8192]:
        return None
    first = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    ranges = list(_segments(data, _TextBatch.LIMIT, first))
    if len(ranges) == 1:  # the whole file, as bytes: it may share a batch with other files
        return iter([(_unescaped(data[first:], suffix), None)])  # data[0:] is data, not a copy
    return ((_unescaped_view(data, start, end, suffix), data.count(b"\n", start, end)) for start, end in ranges)


def _streamed(suffix: str, size: int) -> bool:
    """Whether a file of `size` bytes with `suffix` is read in segments as it is scanned
    (`_read_segments`) rather than whole: a text file larger than a batch. A first day's largest data
    file (456 MB of JSON Lines) held whole kept each gate process that read it at 700 MiB or more."""
    return size > _TextBatch.LIMIT and suffix in TEXT_SUFFIXES


def _read_segments(file, size: int, suffix: str, limit: int, hasher) -> Iterator[tuple[bytes | memoryview, int]]:
    """The segments `_text_segments` makes of a file held whole (cut where a line ends, that line
    feed left out, each at most `limit` bytes unless one line is longer; decoded; the byte-order mark
    left out), each with the line feeds it holds, read from `file` (of `size` bytes) as they are
    taken: at most a segment and the start of the next are held. Every byte read goes into
    `hasher`; at least one segment."""
    carry, left = b"", size
    if file.read(3) == b"\xef\xbb\xbf":
        hasher.update(b"\xef\xbb\xbf")
        left -= 3
    else:
        file.seek(0)
    while True:
        block = file.read(max(0, min(left, limit - len(carry) if len(carry) < limit else limit)))
        hasher.update(block)
        left = left - len(block) if block else 0  # (a file cut short meanwhile: read to its end)
        data = carry + block if carry else block
        if left <= 0 and len(data) <= limit:  # the rest, whole
            yield _unescaped(data, suffix), data.count(b"\n")
            return
        # the last line feed of a segment, or (a line longer than one) the first after it
        end = data.rfind(b"\n") if len(carry) < limit else data.find(b"\n", len(carry))
        if end == -1:
            if left <= 0:
                yield _unescaped(data, suffix), data.count(b"\n")
                return
            carry = data
            continue
        yield _unescaped_view(data, 0, end, suffix), data.count(b"\n", 0, end)
        carry = data[end + 1 :]


def _segments(data: bytes, limit: int, start: int = 0):
    """(start, end) of the parts of `data` from `start` cut at line feeds (which are left out), each
    at most `limit` bytes where the lines allow; always at least one part."""
    while len(data) - start > limit:
        end = data.rfind(b"\n", start, start + limit)
        if end == -1:  # a line longer than the limit: up to its end
            end = data.find(b"\n", start + limit)
            if end == -1:
                break
        yield start, end
        start = end + 1
    yield start, len(data)


def _unescaped_view(data: bytes, start: int, end: int, suffix: str) -> bytes | memoryview:
    """`_unescaped` of `data[start:end]`: a view of those bytes when there is nothing to decode."""
    if any(_to_decode(data, suffix, start, end)):
        return _unescaped(data[start:end], suffix)
    return memoryview(data)[start:end]


def _to_decode(data: bytes, suffix: str, start: int = 0, end: int | None = None) -> tuple[bool, bool]:
    """Whether `data[start:end]` holds what `_unescaped` decodes: markup's entities (in a page), JSON's
    \\u escapes (in any text)."""
    end = len(data) if end is None else end
    entities = suffix in MARKUP_SUFFIXES and data.find(b"&", start, end) != -1
    # one byte is looked for first: twenty times faster than two, and most texts have no backslash
    escapes = data.find(b"\\", start, end) != -1 and data.find(b"\\u", start, end) != -1
    return entities, escapes


def _decoded(data: bytes, suffix: str) -> bytes | None:
    """A text file's bytes as the detector reads them, UTF-8 without a byte-order mark: entities of
    markup and JSON's \\u escapes decoded (`&#49;&#51;…` must not hide digits); None for binary
    content. Most files have neither and are given back as they are."""
    if suffix in _JSON_GZIP:  # Pagefind's fragments: JSON after a marker
        data = gzip.decompress(data).removeprefix(b"pagefind_dcd")
    elif suffix not in TEXT_SUFFIXES and b"\0" in data[:8192]:
        return None
    return _unescaped(data.removeprefix(b"\xef\xbb\xbf"), suffix)


def _unescaped(data: bytes, suffix: str) -> bytes:
    """Text with the entities of markup and JSON's \\u escapes decoded (neither holds a line feed:
    a file's segments are decoded each on its own)."""
    entities, escapes = _to_decode(data, suffix)
    if not entities and not escapes:
        return data  # its UTF-8 is checked with the batch's (`_lines`)
    text = data.decode("utf-8", errors="replace")
    if entities:
        text = html.unescape(text)
    if "\\u" in text:
        text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text.encode("utf-8")


def detector_version() -> str:
    """Changes when the detector or the gate changes: a verdict cached under another version is
    not trusted."""
    digest = hashlib.sha256()
    for module in ("pii.py", "leakscan.py", "identifiers.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    digest.update(pii.tables_version())
    return digest.hexdigest()[:16]


def _scan_file(scanner: _Scanner, path: Path, relative: str, suffix: str) -> None:
    if suffix == ".parquet":  # a column at a time: a first day's largest table whole held 280 MiB more
        table = pq.ParquetFile(path)
        for field in table.schema_arrow:
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                column = table.read(columns=[field.name]).column(0)
                scanner.text_cells(relative, column, lambda i, n=field.name: f"column {n}, row {i + 1}")
    elif suffix in {".xlsx", ".xlsm", ".xls"}:
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        for sheet_name in book.sheet_names:
            rows = book.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
            for c, column in enumerate(zip(*rows, strict=False) if rows else []):
                cells = pa.array([v if isinstance(v, str) else str(v) for v in column], pa.string())
                scanner.text_cells(relative, cells, lambda i, s=sheet_name, c=c: f"sheet {s}, {_cell(c, i)}")
    elif suffix in {".sqlite", ".sqlite3", ".db"}:
        _scan_sqlite(scanner, path, relative)
    elif suffix in GZIP_SUFFIXES:  # Pagefind's binary index files (its JSON fragments are plain text)
        data = gzip.decompress(path.read_bytes()).removeprefix(b"pagefind_dcd")  # its marker
        strings = _cbor_strings(cbor2.loads(data))  # their strings, not the bytes around them
        scanner.text_cells(relative, pa.array(strings, pa.string()), lambda i: f"string {i + 1}")
    else:  # `_decoded` found it binary
        scanner.report.skipped[suffix or "(none)"] = scanner.report.skipped.get(suffix or "(none)", 0) + 1
        scanner.report.files_scanned -= 1


def _cbor_strings(value) -> list[str]:
    """Every text and byte string in a decoded CBOR value (bytes read as UTF-8), depth first."""
    strings, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, bytes | bytearray):
            strings.append(bytes(item).decode("utf-8", errors="replace"))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return strings


FTS5_SHADOWS = ("_data", "_idx", "_docsize", "_config")


def _scan_sqlite(scanner: _Scanner, path: Path, relative: str) -> None:
    """Every cell of every table and view, as text (bytes that are not UTF-8 replaced, not skipped).
    A full-text index (FTS5) is not read through its virtual table, nor are its index structures:
    its text is in a table of the file that is read — the table it indexes (`content=`), or its own
    `<name>_content`."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    connection.text_factory = lambda data: data.decode("utf-8", errors="replace")
    try:
        schema = connection.execute("SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view')")
        entries = {name: (kind, sql or "") for name, kind, sql in schema}
        skipped = set()
        for name, (_, sql) in entries.items():
            if re.match(r"\s*CREATE\s+VIRTUAL\s+TABLE\b.*\bUSING\s+fts5\s*\(", sql, re.IGNORECASE | re.DOTALL):
                content = re.search(r"\bcontent\s*=\s*'([^']*)'", sql, re.IGNORECASE)
                indexed = content.group(1) if content and content.group(1) else f"{name}_content"
                if entries.get(indexed, ("",))[0] == "table":
                    skipped |= {name, *(name + suffix for suffix in FTS5_SHADOWS)}
        for table in (t for t in entries if t not in skipped):
            kind, sql = entries[table]
            rowid = "NULL" if kind == "view" or re.search(r"WITHOUT\s+ROWID", sql, re.IGNORECASE) else "rowid"
            columns = [r[1] for r in connection.execute(f'PRAGMA table_info("{_quoted(table)}")')]
            if not columns:
                continue
            # one pass over the table, every cell as text, a batch of rows at a time; Arrow then
            # filters each column (a GLOB per cell in SQLite cost ten times more). Text is decoded in C;
            # a table with bytes that are not UTF-8 is read again with them replaced.
            leaks_before = len(scanner.report.leaks)
            try:
                connection.text_factory = str
                _scan_sqlite_table(scanner, connection, relative, table, rowid, columns)
            except sqlite3.OperationalError as error:
                if "decode" not in str(error):
                    raise
                del scanner.report.leaks[leaks_before:]
                connection.text_factory = lambda data: data.decode("utf-8", errors="replace")
                _scan_sqlite_table(scanner, connection, relative, table, rowid, columns)
    finally:
        connection.close()


def _scan_sqlite_table(
    scanner: _Scanner, connection: sqlite3.Connection, relative: str, table: str, rowid: str, columns: list[str]
) -> None:
    cells = ", ".join(f'CAST("{_quoted(c)}" AS TEXT)' for c in columns)
    cursor = connection.execute(f'SELECT {rowid}, {cells} FROM "{_quoted(table)}"')
    while rows := cursor.fetchmany(SQLITE_BATCH_ROWS):
        ids = [r[0] for r in rows]
        for index, column in enumerate(columns, start=1):
            scanner.text_cells(
                relative,
                pa.array([r[index] for r in rows], pa.string()),
                lambda i, t=table, c=column, ids=ids: f"table {t}, column {c}, rowid {ids[i]}",
            )


SQLITE_BATCH_ROWS = 50_000  # rows of a table held at a time


def _quoted(name: str) -> str:
    """A name inside double quotes in SQL."""
    return name.replace('"', '""')


def _cell(column: int, row: int) -> str:
    letters = ""
    column += 1
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(65 + remainder) + letters
    return f"{letters}{row + 1}"


def protected_columns(dataset: Dataset) -> list[str]:
    """The columns whose delivered values `known_protected_values` reads."""
    return [n for n, p in dataset.fields.items() if p.holds_protected_number or p.scanned]


def known_protected_values(registers: list[tuple[Dataset, pa.Table]]) -> pa.Array:
    """Digit strings (7+) of every value delivered in a column that is never published as is (ID
    numbers and phone numbers, whatever their privacy class says), and of every personal number the
    detector finds in the text columns that are published after masking — so that a regression in
    masking would still be caught by the gate: distinct, sorted. The delivered numbers stay in Arrow
    (a first day's 750,000 as Python strings left a leak-gate worker 140 MiB larger)."""
    arrays, found = [pa.array([], pa.string())], set()
    for dataset, table in registers:
        for name, policy in dataset.fields.items():
            if name not in table.column_names:
                continue
            if policy.holds_protected_number:
                digits = pc.drop_null(number_digits(table.column(name)))
                if isinstance(digits, pa.ChunkedArray):
                    digits = digits.combine_chunks()
                arrays.append(digits.cast(pa.string()))
            if policy.scanned:
                found |= {
                    digits
                    for _, hits in scan_column(table.column(name))
                    for hit in hits
                    if hit.kind != "email" and len(digits := hit.digits.rstrip("X")) >= KNOWN_MIN_DIGITS
                }
    arrays.append(pa.array(sorted(found), pa.string()))
    values = pc.unique(pa.concat_arrays(arrays))
    values = values.filter(pc.not_equal(values, ""))
    return values.take(pc.array_sort_indices(values))


def format_report(report: ScanReport, limit: int = 200) -> str:
    lines = [leak.describe() for leak in report.leaks[:limit]]
    if len(report.leaks) > limit:
        lines.append(f"… and {len(report.leaks) - limit} more")
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items())) or "none"
    verdict = "CLEAN: no protected value found" if report.clean else f"LEAKS: {len(report.leaks)} {report.by_kind()}"
    before = f" ({report.files_passed_before} more passed before, unchanged)" if report.files_passed_before else ""
    lines.append(
        f"{verdict} — {report.files_scanned} files, {report.bytes_scanned:,} bytes scanned{before}; "
        f"skipped (binary): {skipped}"
    )
    return "\n".join(lines)
