"""Stage 7, checks: every blocking check on the staged release — the leak gate (no protected value in
any file), the Data Package (frictionless, and every file against the manifest), reconciliation
(every registered record published, expired or withdrawn) and bounds (record counts, records
vanishing) — and the day's quality report. A check that fails stops the switch; the staged build
waits in `state/staging/` and nothing of it reaches the public directory."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import queue
import resource
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from frictionless import Package, Schema, system

from gongshi import ledger, parallel, progress, retraction, snapshots
from gongshi.catalog import Dataset
from gongshi.leakscan import (
    ScanReport,
    detector_version,
    format_report,
    known_protected_values,
    protected_columns,
    reads_bytes,
    scan_directory,
    vouch,
)
from gongshi.register import Register
from gongshi.sandbox import worker_context
from gongshi.settings import Settings
from gongshi.snapshots import BuildRecord, published_days
from gongshi.stages import Json, Markdown
from gongshi.stages.release import check_against_manifest, hash_problems, manifest_hashes, staged_build
from gongshi.storage import write_json, write_parquet

LEAK_GATE, PACKAGE_VALID, RELEASE_RECONCILES, WITHIN_BOUNDS = (
    "leak_gate",
    "package_valid",
    "release_reconciles",
    "within_bounds",
)
DESCRIPTIONS = {
    LEAK_GATE: "泄露闸门：待发布的每个文件中没有任何受保护的个人信息",
    PACKAGE_VALID: (
        "frictionless 校验通过数据包描述与每个新资源的数据（按表结构抽查前若干行；CSV 与 Parquet 全表核对列与行数），"
        "每个文件的字节数与 sha256 与清单一致"
    ),
    RELEASE_RECONCILES: "登记簿中的每条记录都已公开、公示期满或被撤下，没有丢失",
    WITHIN_BOUNDS: "每个数据集的记录数在 dataset.yaml 声明的范围内，且没有过多记录无故消失",
}
# frictionless checks a CSV's first rows, each in Python (about 80 µs a row: at 10,000 rows, a first
# day's eight CSV files cost 5 s of a core beside the leak gate); Arrow parses every row's cells to
# their schema types (`csv_shape`), however long the file.
SAMPLE_ROWS = 2_000
# A spreadsheet is read through openpyxl, ten times slower a row than a CSV: a smaller sample. Its
# cells are the CSV twin's (one table, two writers), which Arrow reads whole. So are a JSON Lines
# file's (frictionless parses each line in Python: 4 s a first day for four files), whose lines
# are counted whole against the Parquet table.
SPREADSHEET_SAMPLE_ROWS = 1_000
TWIN_SAMPLE_ROWS = {"xlsx": SPREADSHEET_SAMPLE_ROWS, "xls": SPREADSHEET_SAMPLE_ROWS, "jsonl": 1_000}


@dataclass
class ChecksResult:
    problems: dict[str, list[str]]  # check name -> what failed; empty when it passed
    scan: ScanReport
    quality: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(self.problems.values())

    @property
    def failed(self) -> dict[str, list[str]]:
        return {name: problems for name, problems in self.problems.items() if problems}

    def check_metadata(self, name: str) -> dict:
        metadata: dict = {"problems": Json(self.problems[name][:50])}
        if name == LEAK_GATE:
            metadata |= {
                "leaks_by_kind": Json(self.scan.by_kind()),
                "files_scanned": self.scan.files_scanned,
                "files_passed_before": self.scan.files_passed_before,
                "lines_passed_before": self.scan.lines_passed_before,
                "bytes_scanned": self.scan.bytes_scanned,
                "report": Markdown(f"```\n{format_report(self.scan, limit=50)}\n```"),
            }
        return metadata


@progress.stage("阻断检查")
def run(settings: Settings, catalog: dict[str, Dataset], day: str) -> ChecksResult:
    """Every blocking check on the build staged while processing `day`, and the day's quality report."""
    _, build = staged_build(settings, day)
    passed = gate_passed(settings, catalog)
    # The package check in a forked process while the leak gate's processes scan: it reads other
    # files, and in a thread it held the interpreter's lock against the gate's own work (the known
    # values, the manifest, the workers' results). The files against the manifest there too, but the
    # sha256 of those the gate reads whole is taken by the gate as it reads them (a first day's
    # 148,000 files were read twice, 10 s of a core): confirmed here once both are done.
    scan, (package, (against_manifest, left)) = parallel.both(
        lambda: leak_gate(settings, catalog, build, passed),
        lambda: (
            package_check(settings, build),
            check_against_manifest(build, lambda relative, sha256: reads_bytes(relative, sha256, passed)),
        ),
    )
    package_valid = package + against_manifest + hash_problems(build, [r for r in left if r not in scan.verified])
    entries = ledger.read_day(settings.layout, day)
    reconcile = [f"{n}: {p}" for n, e in entries.items() for p in e.problems()]
    reconcile += [f"{n}: no record counts" for n, e in entries.items() if e.records is None]
    result = ChecksResult(
        {
            LEAK_GATE: [leak.describe() for leak in scan.leaks],
            PACKAGE_VALID: package_valid,
            RELEASE_RECONCILES: reconcile,
            WITHIN_BOUNDS: bounds_problems(settings, catalog, day),
        },
        scan,
    )
    result.quality = write_quality_report(settings, catalog, day, result)
    return result


def write_quality_report(settings: Settings, catalog: dict[str, Dataset], day: str, result: ChecksResult) -> dict:
    """The day's quality report (counts only, no personal data): intake by department, quarantine
    reasons, redaction, changes, and the verdict of every check."""
    layout = settings.layout
    built = BuildRecord.load(layout.build_record(day))
    quality = {
        "day": day,
        "datasets": {
            name: {
                "intake": ledger.intake(layout, day, name),
                "redaction": json.loads(layout.redaction_report(day, name).read_text("utf-8")),
                "published": built.records[name],
                "changes": built.changes[name],
            }
            for name in catalog
        },
        "leak_gate": {
            "clean": result.scan.clean,
            # every file the gate vouches for: read today, or the same bytes passed before
            "files_checked": result.scan.files_scanned + result.scan.files_passed_before,
            "by_kind": result.scan.by_kind(),
        },
        "checks": {name: not problems for name, problems in result.problems.items()},
    }
    write_json(layout.quality_report(day), quality)
    return quality


def gate_passed(settings: Settings, catalog: dict[str, Dataset]) -> frozenset[str]:
    """The sha256 of the files the leak gate of this detector found clean before, which it does not
    read again — none unless every dataset's Parquet table, where the known values are looked for in
    every published cell, is part of the release."""
    return _cached(_gate_state(settings)[0]) if every_cell_in_parquet(catalog) else frozenset()


def every_cell_in_parquet(catalog: dict[str, Dataset]) -> bool:
    """Whether every dataset's Parquet table, which holds every published cell, is part of the
    release: then the known values are looked for there alone, and the gate keeps its verdicts."""
    return all("parquet" in d.exports for d in catalog.values())


def _gate_state(settings: Settings) -> tuple[Path, Path, Path]:
    """What the gate of this detector keeps in the state: its verdicts (the sha256 of the files it
    found clean), the day's known values by delivery, the digit runs of the tables it read."""
    version = detector_version()  # a digest of the detector's source files: read once
    cache = settings.layout.leak_gate_passed(version)
    return cache, cache.parent / f"known-{version}", cache.parent / f"runs-{version}"


def _cached(cache: Path) -> frozenset[str]:
    """The sha256 kept in a verdict cache (none if there is none)."""
    return frozenset(pq.read_table(cache)["sha256"].to_pylist()) if cache.is_file() else frozenset()


def _keep(cache: Path, keys: set[str] | frozenset[str]) -> None:
    """Replace a verdict cache with `keys`."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(pa.table({"sha256": pa.array(sorted(keys), pa.string())}), cache)


def leak_gate(
    settings: Settings, catalog: dict[str, Dataset], directory: Path, passed: frozenset[str] | None = None
) -> ScanReport:
    """Scan `directory` for protected values: the patterns, and every value ever delivered in a
    column that is not published as is. Bytes that passed the same detector before (by sha256,
    `gate_passed`, read here unless given) are not read again; that holds only while every dataset's
    Parquet table — where the known values are looked for in every published cell — is part of the
    release."""
    cache, known_folder, runs = _gate_state(settings)
    in_tables = every_cell_in_parquet(catalog)
    passed = gate_passed(settings, catalog) if passed is None else passed
    hashes = manifest_hashes(directory)
    if in_tables:
        runs.mkdir(parents=True, exist_ok=True)
    with progress.step("泄露闸门", total=len(hashes) + 2, unit="个文件") as bar:  # + manifest and sums
        known = known_values(settings, catalog, known_folder)
        # Known values in the Parquet tables only: sound while they hold every published cell.
        report = scan_directory(
            directory,
            known,
            passed,
            hashes,
            bar.advance,
            known_in_tables_only=in_tables,
            workers=min(4, os.cpu_count() or 1),
            runs=runs if in_tables else None,
            previous=live_build(settings, directory) if in_tables else None,
        )
    if in_tables:
        for stale in cache.parent.glob("passed-*.parquet"):
            stale.unlink()
        _keep(cache, report.passed)
        # the runs of tables that are no longer in the release, or were read by another detector
        for stale in cache.parent.glob("runs-*"):
            if stale != runs:
                shutil.rmtree(stale, ignore_errors=True)
        for kept in runs.glob("*.parquet"):
            if kept.stem not in report.passed:
                kept.unlink(missing_ok=True)
    return report


def live_build(settings: Settings, staged: Path) -> Path | None:
    """The build that is live (public/latest), unless it is `staged` itself."""
    latest = settings.public_layout.latest
    try:
        build = latest.resolve(strict=True)
    except OSError:
        return None
    return build if build.is_dir() and build != staged.resolve() else None


def known_values(settings: Settings, catalog: dict[str, Dataset], folder: Path) -> pa.Array:
    """`known_protected_values` of every register, as one array of distinct values. They are kept
    per dataset and delivery day (`folder/<dataset>/<day>-<fingerprint>.parquet`, the fingerprint of
    the day's delivered values, `Register.delivery_fingerprints`): a day delivered again, or a
    detector of another version (`folder` is named after it), makes them again; a normal day reads
    only its own delivery."""
    arrays = [pa.array([], pa.string())]
    for dataset in catalog.values():
        path = settings.layout.register_path(dataset.id)
        kept = folder / dataset.id
        if not path.exists():
            shutil.rmtree(kept, ignore_errors=True)
            continue
        with Register(path, dataset, read_only=True) as register:  # a check reads; it may run beside other work
            columns = [c for c in protected_columns(dataset) if c in register.column_names()]
            wanted = {f"{day}-{f}.parquet": day for day, f in register.delivery_fingerprints(columns).items()}
            kept.mkdir(parents=True, exist_ok=True)
            for name, day in sorted(wanted.items()):
                file = kept / name
                try:
                    arrays.append(pq.read_table(file)["value"].combine_chunks())
                    continue
                except (OSError, KeyError, pa.ArrowException):  # not made yet, or damaged: made again
                    pass
                array = known_protected_values([(dataset, register.delivered(day, columns))])
                write_parquet(pa.table({"value": array}), file)
                arrays.append(array)
        for stale in kept.iterdir():
            if stale.name not in wanted:
                stale.unlink(missing_ok=True)
    for stale in folder.parent.glob("known-*"):
        if stale != folder:
            shutil.rmtree(stale, ignore_errors=True)
    return pc.unique(pa.chunked_array(arrays, pa.string()).combine_chunks())


def package_check(settings: Settings, build: Path) -> list[str]:
    """`package_problems`, with the resources that passed the last build's check not read again."""
    problems, clean = package_problems(build, _cached(settings.layout.package_passed))
    _keep(settings.layout.package_passed, clean)
    return problems


def package_problems(
    build: Path, passed: frozenset[str] = frozenset(), hashes: dict[str, str] | None = None
) -> tuple[list[str], set[str]]:
    """frictionless' verdict on the release's Data Package, and the keys of the resources it passed.

    The package's own fields always, and each resource that did not pass before: its entry in the
    descriptor, and its data against its Table Schema on its first `SAMPLE_ROWS` rows, a
    spreadsheet's or JSON Lines file's on fewer (`TWIN_SAMPLE_ROWS`; frictionless reads row by row in Python: a
    whole million-row table would take minutes a day), and every CSV and Parquet table in full for its
    columns and row count (Arrow). A resource passed before when the same entry (its schema and the
    sha256 of its bytes included) describing the same bytes (sha256 in the manifest) did: its key is
    in `passed`. Only the others are handed to frictionless — a release in daily parts gains three
    resources a day, and frictionless took 40 s to read and check a descriptor of 4,000. The test
    suite validates whole files with frictionless; bytes and sha256 of every file are checked
    against the manifest by `verify_build`. `hashes`: the sha256 of the files (path -> sha256), when
    the manifest is not written yet (`begin_early`)."""
    problems: list[str] = []
    hashes = manifest_hashes(build) if hashes is None else hashes
    clean: set[str] = set()
    try:
        descriptor = json.loads((build / "datapackage.json").read_text("utf-8"))
    except (OSError, ValueError) as error:
        return [f"datapackage.json: cannot be read as JSON: {error}"], set()
    if not isinstance(descriptor, dict):
        return ["datapackage.json: not a JSON object"], set()
    entries = descriptor.get("resources") if isinstance(descriptor.get("resources"), list) else []
    keys = [_resource_key(hashes.get(e.get("path")) if isinstance(e, dict) else None, e) for e in entries]
    fresh = [(e, key) for e, key in zip(entries, keys, strict=True) if key is None or key not in passed]
    clean |= {key for key in keys if key is not None and key in passed}
    # what frictionless would say of the whole list when it reads only part of it: unique names
    names = Counter(e.get("name") for e in entries if isinstance(e, dict))
    problems += [f"datapackage.json: resource name {n!r} used {c} times" for n, c in sorted(names.items()) if c > 1]
    # the package's fields with the entries to check (one entry at least: a package has resources)
    checked = {**descriptor, "resources": [e for e, _ in fresh] or entries[:1]}
    with system.use_context(trusted=True):
        verdict = Package.validate_descriptor(checked)
        problems += [f"datapackage.json: {kind}: {note}" for kind, note in verdict.flatten(["type", "note"])]
        if problems:
            return problems[:50], set()
        package = Package(checked, basepath=str(build))
        twins = {
            e["path"].rsplit(".", 1)[0]: e["schema"]
            for e in entries
            if isinstance(e, dict) and e.get("format") == "csv" and isinstance(e.get("schema"), dict)
        }
        with progress.step("数据包校验", total=len(entries), unit="个资源") as bar:
            bar.advance(len(entries) - len(fresh))
            for resource, (_, key) in zip(package.resources if fresh else [], fresh, strict=True):
                bar.advance()
                stem = resource.path.rsplit(".", 1)[0]
                schemas = {stem: Schema.from_descriptor(twins[stem])} if stem in twins else {}
                found = _resource_problems(build, resource, schemas)
                problems += found
                if not found and key is not None:
                    clean.add(key)
    return problems[:50], clean


def _resource_key(sha256: str | None, entry) -> str | None:
    """A resource's entry in the descriptor (its schema, format and the sha256 it states included)
    and the sha256 of the bytes the manifest lists for it: what a verdict is kept under."""
    if sha256 is None or not isinstance(entry, dict):
        return None
    text = json.dumps(entry, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{sha256}\n{text}".encode()).hexdigest()


def _resource_problems(build: Path, resource, schemas: dict[str, object] | None = None) -> list[str]:
    """One resource: frictionless on its first rows (a table) and Arrow over the whole table. A
    Parquet file (a file resource: its schema is in the file) is checked against the Table Schema
    of its CSV twin (`schemas`: path without suffix -> schema)."""
    problems = []
    if resource.format != "parquet":
        sample = TWIN_SAMPLE_ROWS.get(resource.format, SAMPLE_ROWS)
        report = resource.validate(limit_rows=sample, limit_errors=50)
        problems += [f"{resource.name}: {kind}: {note}" for kind, note in report.flatten(["type", "note"])]
    if resource.type == "table" and resource.format == "csv":
        problems += _table_problems(build / resource.path, resource.name, resource.schema, "csv")
    if resource.type == "table" and resource.format == "jsonl":
        problems += _lines_problems(build / resource.path, resource.name)
    if resource.format == "parquet":
        schema = getattr(resource, "schema", None) or (schemas or {}).get(resource.path.rsplit(".", 1)[0])
        if schema is None:
            problems.append(f"{resource.name}: no Table Schema to check the Parquet file against")
        else:
            problems += _table_problems(build / resource.path, resource.name, schema, "parquet")
    return problems


def _table_problems(path: Path, name: str, schema, kind: str) -> list[str]:
    """A whole CSV or Parquet table against its schema: columns in order, types (Parquet), and the
    same number of rows as the dataset's Parquet table."""
    expected = [f.name for f in schema.fields]
    if kind == "csv":
        types = {f.name: ARROW_TYPES[f.type] for f in schema.fields if _arrow_reads(f)}
        try:
            names, rows = csv_shape(path, types)
        except (pa.ArrowInvalid, OSError) as error:  # a row of the wrong width, bytes not UTF-8, …
            return [f"{name}: cannot be read as CSV: {str(error)[:300]}"]
        problems = [] if names == expected else [f"{name}: columns {names} != schema {expected}"]
    else:
        problems = _parquet_problems(path, name, schema)
        rows = pq.ParquetFile(path).metadata.num_rows
    if (expected_rows := _twin_rows(path)) is not None and expected_rows != rows:
        problems.append(f"{name}: {rows} rows, the Parquet table has {expected_rows}")
    return problems


ARROW_TYPES = {"date": pa.date32(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


# A field's options in their default form, which Arrow's parsing follows (else its cells are read as text).
_DEFAULT_FORM = {
    "format": ("default", None),
    "bare_number": (True, None),
    "group_char": ("", None),
    "decimal_char": (".", None),
    "true_values": (["true", "True", "TRUE", "1"], None),
    "false_values": (["false", "False", "FALSE", "0"], None),
}


def _arrow_reads(field) -> bool:
    """Whether Arrow parses a Table Schema field's cells as frictionless would: a date as YYYY-MM-DD, a
    number without group separators, a boolean as true/false or 1/0 — the types in their default form."""
    return field.type in ARROW_TYPES and all(getattr(field, k, None) in ok for k, ok in _DEFAULT_FORM.items())


def csv_shape(path: Path, types: dict[str, pa.DataType] | None = None) -> tuple[list[str], int]:
    """A CSV file's header and its number of records: every row parsed (quoted line breaks, the
    number of cells of each checked) and every cell converted — to the type `types` gives its column
    (a date, a whole number…: ArrowInvalid names the column and the cell that is not one), else to
    text (valid UTF-8) — a batch at a time. The whole table held at once cost a first day's package
    check 300 MiB of fresh memory and up to 1.5 s of a core for the inspection records' part alone;
    streamed, 0.4–0.6 s and none."""
    import pyarrow.csv as pacsv

    with pacsv.open_csv(path) as reader:  # reads its first block: the header
        names = reader.schema.names
    options = pacsv.ConvertOptions(column_types={n: (types or {}).get(n, pa.string()) for n in names})
    rows = 0
    with pacsv.open_csv(path, convert_options=options) as reader:
        for batch in reader:
            rows += batch.num_rows
    return names, rows


def _twin_rows(path: Path) -> int | None:
    """The rows of the dataset's Parquet table beside `path` (None: there is none, or it is `path`)."""
    twin = path.with_suffix(".parquet")
    return pq.ParquetFile(twin).metadata.num_rows if twin != path and twin.is_file() else None


def _lines_problems(path: Path, name: str) -> list[str]:
    """A JSON Lines table: as many lines (records) as its Parquet twin has rows, counted whole."""
    expected = _twin_rows(path)
    if expected is None:
        return []
    lines, last = 0, b"\n"
    with open(path, "rb") as file:
        while chunk := file.read(16 * 1024 * 1024):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":  # a last line without its line feed
        lines += 1
    return [] if lines == expected else [f"{name}: {lines} lines, the Parquet table has {expected} rows"]


def _parquet_problems(path: Path, name: str, table_schema) -> list[str]:
    types = {
        "string": (pa.string(), pa.large_string()),
        "date": (pa.date32(),),
        "integer": (pa.int64(),),
        "number": (pa.float64(),),
        "boolean": (pa.bool_(),),
    }
    schema = pq.read_schema(path)
    problems = []
    expected = [f.name for f in table_schema.fields]
    if schema.names != expected:
        problems.append(f"{name}: columns {schema.names} != schema {expected}")
    for column in table_schema.fields:
        if column.name in schema.names and schema.field(column.name).type not in types[column.type]:
            problems.append(f"{name}: {column.name} is {schema.field(column.name).type}, schema says {column.type}")
    return problems


def bounds_problems(settings: Settings, catalog: dict[str, Dataset], day: str) -> list[str]:
    """Record counts within each dataset's declared bounds; not too many records vanished — in the
    day, and over the last `retraction_window_days` (so that a slow drip trips too). A retraction
    the operator authorised (`--retract`) for the dataset and day does not count."""
    layout = settings.layout
    built = BuildRecord.load(layout.build_record(day))
    previous = snapshots.record(layout, built.previous) if built.previous else None
    target = dt.date.fromisoformat(built.release)
    problems = []
    for name, dataset in catalog.items():
        count, bounds = built.records[name], dataset.bounds
        if count < bounds.min_records or (bounds.max_records is not None and count > bounds.max_records):
            problems.append(f"{name}: {count} records, outside [{bounds.min_records}, {bounds.max_records}]")
        if retraction.authorised(layout, name, day):
            continue
        retracted = built.changes[name].get("retracted", 0)
        before = previous.records.get(name, 0) if previous else 0
        if before and retracted / before > bounds.max_daily_retraction:
            problems.append(
                f"{name}: {retracted} of {before} records vanished without expiry or takedown "
                f"(more than {bounds.max_daily_retraction:.0%})"
            )
        start = (target - dt.timedelta(days=bounds.retraction_window_days)).isoformat()
        window = [d for d in published_days(layout) if start < d < built.release]
        base_day = max((d for d in published_days(layout) if d <= start), default=None)
        if base_day is None or not window:
            continue
        base = snapshots.record(layout, base_day).records.get(name, 0)
        total = retracted + sum(snapshots.record(layout, d).changes[name].get("retracted", 0) for d in window)
        if base and total / base > bounds.max_window_retraction:
            problems.append(
                f"{name}: {total} of {base} records vanished without expiry or takedown in the "
                f"{bounds.retraction_window_days} days to {built.release} "
                f"(more than {bounds.max_window_retraction:.0%})"
            )
    return problems


# -- begun while the site renders ------------------------------------------------------------------
#
# The blocking checks' work on the data files, begun while the site renders (`begin_early`, from the
# release stage): the leak gate's and the package check's verdicts on the files written before the
# site, taken in a process of its own at the lowest priority — it runs on what the site leaves of the two
# cores (a fifth of them, on a province's first day) — then the gate's on the pages the site wrote,
# while the release describes every file and writes its manifest (one core's work, in this process);
# put in the checks' own caches, by the sha256 of the bytes read, when the manifest is written. The
# checks then do not read those files again.
#
# Nothing is vouched for that was not read: a verdict not reached when the manifest is written (the
# work is then stopped) is not in the caches, and the checks read that file as always; a file that
# holds anything is never in them, and the gate reads it and reports it. The verdicts are the checks'
# own (`leakscan.vouch`: the daily gate's reading with the day's known values; `package_problems`),
# as the caches hold from an earlier day; every file's bytes are still compared with the manifest.

EARLY_ABOVE_ROWS = 100_000  # published rows of a release: fewer are left to the blocking checks
EARLY_WAIT = False  # whether the release waits for the work (tests: every verdict taken), else stops it
EARLY_PAGE_BATCH = 256  # pages read together, as the gate reads them; a verdict lost to the stop: one batch's


@dataclass
class EarlyChecks:
    """What the work begun early added to the checks' caches."""

    gate_files: int = 0  # data files and other files written before the site
    package_resources: int = 0
    page_files: int = 0  # of the site's, read while the release wrote its manifest
    finished: bool = False  # all of it done before the release had written its manifest
    peak_mib: int = 0  # the peak resident memory of its process, as far as it went


class EarlyWork:
    """The work begun early on a build (`begin_early`): it reads the day's known values at once, the
    files to check once `check` names them, and `finish` ends it and keeps what it found clean."""

    def __init__(self, settings: Settings, catalog: dict[str, Dataset], build: Path, rows: int):
        self.settings, self.catalog = settings, catalog
        self.cache = _gate_state(settings)[0]
        self.found = self.cache.parent / f"early-{os.getpid()}.txt"
        self.child: parallel.Background | None = None
        self.sending = None
        self.sent = 0  # lists of files sent: the work is done when it has said "done" as many times
        self.result: EarlyChecks | None = None
        # else the gate keeps no verdicts (`gate_passed`)
        if rows < EARLY_ABOVE_ROWS or not every_cell_in_parquet(catalog):
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.cache.parent.glob("early-*.txt"):  # a run stopped before it could read its own
            stale.unlink(missing_ok=True)
        # a new process from the pipeline's forkserver (its modules imported there), not a copy of
        # this one: what it holds is its own
        context = worker_context()
        receiving, self.sending = context.Pipe(duplex=False)
        self.child = parallel.Background(context, _early_work, settings, catalog, build, receiving, self.found)
        receiving.close()

    def check(self, files: dict[str, dict]) -> None:
        """The files to check (path -> {bytes, sha256}: what is written before the site,
        `datapackage.json` included)."""
        self._send({path: info["sha256"] for path, info in files.items()})

    def pages(self, hashes: dict[str, str]) -> None:
        """The files the site wrote (path -> the sha256 of the bytes written), to read next: while
        this process describes every file of the build and writes its manifest. Not sent while the
        gate's reading of the files named before goes on (a first day's): it would not reach the
        pages before it is stopped, and a first day names 150,000 of them (14 MB through the pipe).
        Sent once that is done, they are read after the package check's work."""
        if not (hashes and self._running()):
            return
        while EARLY_WAIT and self._said("gated") < self.sent and self.child.process.is_alive():
            time.sleep(0.05)  # (tests) every verdict taken: the pages too
        if self._said("gated") >= self.sent:
            self._send(hashes)

    def _running(self) -> bool:
        """Whether the work was begun and not yet stopped (its pipe still open)."""
        return self.sending is not None and self.child is not None and self.child.process is not None

    def _send(self, hashes: dict[str, str]) -> None:
        """A list of files (path -> sha256) to the work, if it runs; counted in `sent`."""
        if self._running():
            try:
                self.sending.send(hashes)
                self.sent += 1
            except OSError:  # it is gone: whatever it found is read by `finish`
                pass

    def _said(self, line: str) -> int:
        """How many times the work has said `line` so far: "gated" as the gate's reading of a list
        sent ends, "done" as all the work on it does."""
        try:
            return self.found.read_text("utf-8").splitlines().count(line)
        except (FileNotFoundError, UnicodeDecodeError):  # a line cut in a character: not done yet
            return 0

    def finish(self) -> EarlyChecks:
        """Stop the work (done or not) and put what it found clean in the checks' caches. Once: later
        calls give the same."""
        if self.result is not None:
            return self.result
        if self.sending is not None:  # nothing more to send: a child still waiting for files ends
            self.sending.close()
        finished = self.child.stop(wait=EARLY_WAIT) if self.child is not None else False
        try:
            lines = self.found.read_text("utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        self.found.unlink(missing_ok=True)
        done, peak = {"gate": set(), "package": set(), "page": set()}, 0
        # it waits for more until the pipe closes: it had finished if it was done with every list sent
        finished = finished or (self.sent > 0 and lines.count("done") == self.sent)
        for line in lines:
            kind, _, key = line.partition(" ")
            if kind in done and len(key) == 64:  # a line cut short by the stop is not a verdict
                done[kind].add(key)
            elif kind == "peak" and key.isdigit():
                peak = max(peak, int(key) // 1024)  # KiB on Linux
        gate = done["gate"] | done["page"]
        for path, keys in ((self.cache, gate), (self.settings.layout.package_passed, done["package"])):
            if keys:
                _keep(path, _cached(path) | keys)
        pages = len(done["page"] - done["gate"])
        self.result = EarlyChecks(len(done["gate"]), len(done["package"]), pages, finished, peak)
        return self.result


def begin_early(settings: Settings, catalog: dict[str, Dataset], build: Path, rows: int) -> EarlyWork:
    """Begin the checks' work on `build` in the background, for a release of `rows` published rows
    (few: none begun); `EarlyWork.check` names the files, `EarlyWork.pages` the site's,
    `EarlyWork.finish` ends it."""
    return EarlyWork(settings, catalog, build, rows)


def _early_work(settings: Settings, catalog: dict[str, Dataset], build: Path, files, found: Path) -> None:
    """The day's known values, then (once `files`, a pipe, gives them: path -> sha256) the gate's
    verdict on each file not in its cache, then the package check's on the resources: each clean one
    a line of `found`, written as it is known."""
    _, known_folder, runs = _gate_state(settings)
    # What the pipe brings is taken off it as it comes, by a thread of its own: the release's process
    # never waits on a send while this one reads files (the site's pages: 150,000 names a first day)
    received: queue.SimpleQueue = queue.SimpleQueue()

    def receive() -> None:
        while True:
            try:
                received.put(files.recv())
            except (EOFError, OSError):  # the release closed its end: nothing more comes
                received.put(None)
                return

    threading.Thread(target=receive, daemon=True).start()
    with found.open("a", encoding="utf-8") as out:

        def peak() -> str:
            return f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n"

        passed = gate_passed(settings, catalog)
        known = known_values(settings, catalog, known_folder)
        runs.mkdir(parents=True, exist_ok=True)
        out.write(peak())
        out.flush()
        hashes = received.get()
        if hashes is None:  # the release ended before its files were written
            return
        previous, vouched = live_build(settings, build), set(passed)

        def gate(listed: dict[str, str], kind: str, batch: int = 1) -> None:
            """The gate's reading of the files of `listed` not vouched for yet: each clean one a line
            `kind digest`, kept as it comes (the work may be stopped at any moment), then "gated"
            (`EarlyWork.pages` waits for it)."""
            unread = {p: d for p, d in sorted(listed.items()) if d not in vouched}
            for digest in vouch(build, unread, known, passed, runs, previous, batch=batch):
                vouched.add(digest)
                out.write(f"{kind} {digest}\n{peak()}")
                out.flush()
            out.write("gated\n")
            out.flush()

        gate(hashes, "gate")
        _, clean = package_problems(build, _cached(settings.layout.package_passed), hashes)
        out.writelines(f"package {key}\n" for key in sorted(clean))
        out.write(f"{peak()}done\n")
        out.flush()
        # then the pages the site wrote, once it has (`EarlyWork.pages`): read while the release
        # describes its files and writes its manifest, on the core that work leaves idle
        while (pages := received.get()) is not None:
            gate(pages, "page", EARLY_PAGE_BATCH)
            out.write(f"{peak()}done\n")
            out.flush()
