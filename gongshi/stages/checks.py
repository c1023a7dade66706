"""Stage 7, checks: every blocking check on the staged release — the leak gate (no protected value in
any file), the Data Package (frictionless, and every file against the manifest), reconciliation
(every registered record published, expired or withdrawn) and bounds (record counts, records
vanishing) — and the day's quality report. A check that fails stops the switch; the staged build
waits in `state/staging/` and nothing of it reaches the public directory."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from frictionless import Package, system

from gongshi import ledger, retraction, snapshots
from gongshi.catalog import Dataset
from gongshi.leakscan import ScanReport, format_report, known_protected_values, scan_directory
from gongshi.register import Register
from gongshi.settings import Settings
from gongshi.snapshots import BuildRecord, published_days
from gongshi.stages import Json, Markdown
from gongshi.stages.release import staged_build, verify_build
from gongshi.storage import write_json

LEAK_GATE, PACKAGE_VALID, RELEASE_RECONCILES, WITHIN_BOUNDS = (
    "leak_gate",
    "package_valid",
    "release_reconciles",
    "within_bounds",
)
DESCRIPTIONS = {
    LEAK_GATE: "泄露闸门：待发布的每个文件中没有任何受保护的个人信息",
    PACKAGE_VALID: "frictionless validate 通过整个数据包（描述、每个资源的数据、字节数与 sha256），清单与文件一致",
    RELEASE_RECONCILES: "登记簿中的每条记录都已公开、公示期满或被撤下，没有丢失",
    WITHIN_BOUNDS: "每个数据集的记录数在 dataset.yaml 声明的范围内，且没有过多记录无故消失",
}
SAMPLE_ROWS = 10_000


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
                "bytes_scanned": self.scan.bytes_scanned,
                "report": Markdown(f"```\n{format_report(self.scan, limit=50)}\n```"),
            }
        return metadata


def run(settings: Settings, catalog: dict[str, Dataset], day: str) -> ChecksResult:
    """Every blocking check on the build staged while processing `day`, and the day's quality report."""
    _, build = staged_build(settings, day)
    scan = leak_gate(settings, catalog, build)
    entries = ledger.read_day(settings.layout, day)
    reconcile = [f"{n}: {p}" for n, e in entries.items() for p in e.problems()]
    reconcile += [f"{n}: no record counts" for n, e in entries.items() if e.records is None]
    result = ChecksResult(
        {
            LEAK_GATE: [leak.describe() for leak in scan.leaks],
            PACKAGE_VALID: package_problems(build) + verify_build(build),
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
            "files_scanned": result.scan.files_scanned,
            "by_kind": result.scan.by_kind(),
        },
        "checks": {name: not problems for name, problems in result.problems.items()},
    }
    write_json(layout.quality_report(day), quality)
    return quality


def leak_gate(settings: Settings, catalog: dict[str, Dataset], directory: Path) -> ScanReport:
    """Scan `directory` for protected values: the patterns, and every value ever delivered in a
    column that is not published as is."""
    registers = []
    for dataset in catalog.values():
        path = settings.layout.register_path(dataset.id)
        if path.exists():
            with Register(path, dataset) as register:
                registers.append((dataset, register.events()))
    return scan_directory(directory, known_protected_values(registers))


def package_problems(build: Path) -> list[str]:
    """frictionless' verdict on the release's Data Package: the descriptor, and every resource's
    data against its Table Schema — in full for the CSV and change files (the canonical
    distribution), the first `SAMPLE_ROWS` rows for JSON Lines and XLSX. frictionless reads Parquet
    by converting the whole file to pandas (minutes a day at a million rows), so Parquet gets a
    structural check here — columns, types and row count against the schema and the CSV — and the
    full frictionless validation in the test suite. Bytes and sha256 of every file are checked
    against the manifest by `verify_build`."""
    problems = []
    with system.use_context(trusted=True):
        descriptor = Package.validate_descriptor(str(build / "datapackage.json"))
        problems += [f"datapackage.json: {kind}: {note}" for kind, note in descriptor.flatten(["type", "note"])]
        package = Package(str(build / "datapackage.json"))
        rows = {}
        for resource in package.resources:
            if resource.format == "parquet":
                continue
            limit = None if resource.format == "csv" or resource.type == "file" else SAMPLE_ROWS
            report = resource.validate(limit_rows=limit, limit_errors=50)
            problems += [f"{resource.name}: {kind}: {note}" for kind, note in report.flatten(["type", "note"])]
            if resource.format == "csv" and report.tasks:
                rows[resource.path.rsplit(".", 1)[0]] = report.tasks[0].stats.get("rows")
        for resource in (r for r in package.resources if r.format == "parquet"):
            problems += _parquet_problems(build / resource.path, resource, rows.get(resource.path.rsplit(".", 1)[0]))
    return problems[:50]


def _parquet_problems(path: Path, resource, csv_rows: int | None) -> list[str]:
    types = {
        "string": (pa.string(), pa.large_string()),
        "date": (pa.date32(),),
        "integer": (pa.int64(),),
        "number": (pa.float64(),),
        "boolean": (pa.bool_(),),
    }
    schema = pq.read_schema(path)
    problems = []
    expected = [f.name for f in resource.schema.fields]
    if schema.names != expected:
        problems.append(f"{resource.name}: columns {schema.names} != schema {expected}")
    for column in resource.schema.fields:
        if column.name in schema.names and schema.field(column.name).type not in types[column.type]:
            problems.append(
                f"{resource.name}: {column.name} is {schema.field(column.name).type}, schema says {column.type}"
            )
    rows = pq.ParquetFile(path).metadata.num_rows
    if csv_rows is not None and rows != csv_rows:
        problems.append(f"{resource.name}: {rows} rows, the CSV has {csv_rows}")
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
