"""The day's publication stages as plain functions: redact -> release (build beside the live one)
-> checks -> publish (atomic switch, takedowns applied to every retained release, retention).

Published snapshots are kept in `state/published/<day>/` (the public tables and the day's change
tables as released), so a dated release can be rebuilt without a record that is taken down later.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from frictionless import Package, system

from gongshi import ledger, retraction
from gongshi.catalog import Dataset, load_catalog
from gongshi.changes import changes
from gongshi.faults import checkpoint
from gongshi.leakscan import ScanReport, known_protected_values, scan_directory
from gongshi.metadata import datapackage
from gongshi.pipeline import day_ledger, process_day, value_counts
from gongshi.redaction import pseudonym_key, redact
from gongshi.register import EXPIRED, Register
from gongshi.release import (
    build_files,
    clear_staging,
    collect_garbage,
    install,
    new_build,
    public_view,
    switch,
    verify_build,
)
from gongshi.settings import Settings
from gongshi.site import SiteBuilder, SiteResult
from gongshi.storage import sha256_file, write_json, write_parquet
from gongshi.takedown import audit, lifted, withdrawn

RELEASE_STAGE = "_release"
SAMPLE_ROWS = 10_000


# --- snapshots of what was published -------------------------------------------------------------------


def published_dir(settings: Settings, day: str) -> Path:
    return settings.layout.published_dir(day)


def published_days(settings: Settings) -> list[str]:
    root = settings.state / "published"
    return sorted(p.name for p in root.iterdir() if (p / "release.json").is_file()) if root.is_dir() else []


def previous_published_day(settings: Settings, day: str) -> str | None:
    return max((d for d in published_days(settings) if d < day), default=None)


def _read(path: Path) -> pa.Table | None:
    return pq.read_table(path) if path.is_file() else None


# --- stages ---------------------------------------------------------------------------------------------


def release_day(settings: Settings, day: str) -> str:
    """The day whose release processing `day` builds: `day` itself, or — when a newer day is already
    out (`day` came late, or was corrected) — that newest day, re-published so that latest reflects
    every delivery. Dated releases are what went out on their day; they are not rewritten."""
    return max([*published_days(settings), day])


def redact_stage(settings: Settings, dataset: Dataset, day: str) -> dict:
    """The public view of the register as of the release day (in its publicity period, not
    withdrawn), every column's privacy class applied and published text scanned; counts into the
    ledger of `day`."""
    target = release_day(settings, day)
    with Register(settings.layout.register_path(dataset.id), dataset) as register:
        records = register.records_as_of(target)
    taken_down = withdrawn(settings.layout, dataset.id)
    view = public_view(records, dataset, set(taken_down))
    table, report = redact(view, dataset, pseudonym_key(settings.layout))
    folder = settings.layout.stage_dir(day, dataset.id)
    write_parquet(table, folder / "public.parquet")
    write_json(folder / "redaction.json", report.to_dict())
    expired = pc.equal(records["status"], EXPIRED)
    write_parquet(records.filter(expired).select(["record_id"]), folder / "expired.parquet")
    is_withdrawn = pc.is_in(records["record_id"], value_set=pa.array(sorted(taken_down), pa.string()))
    counts = {
        "records": records.num_rows,
        "published": table.num_rows,
        "expired": int(pc.sum(expired).as_py() or 0),
        "withdrawn": int(pc.sum(pc.and_(is_withdrawn, pc.invert(expired))).as_py() or 0),
    }
    entry = ledger.read(settings.layout, day, dataset.id)
    if entry is not None:
        for key, value in counts.items():
            setattr(entry, key, value)
        ledger.write(settings.layout, entry)
    return {**counts, **report.to_dict(), "release": target, "ledger_problems": entry.problems() if entry else []}


def release_stage(settings: Settings, catalog: dict[str, Dataset], day: str) -> dict:
    """Build the release of the release day (`release_day`) in the staging area of the state
    directory (nothing reaches the public directory here): every format of every dataset, the change
    files (against the day before it that went out), metadata, site and manifest. Unchanged datasets
    and pages are hard-linked from the live build."""
    layout = settings.public_layout
    collect_garbage(layout)
    clear_staging(settings.layout.staging)
    target = release_day(settings, day)
    previous = previous_published_day(settings, target)
    # Files are reused from the release being replaced (a re-publication), else from the day before.
    base = target if target in published_days(settings) else previous
    previous_release = _release_record(settings, base) if base else {}
    previous_build = layout.builds / previous_release["build"] if previous_release else None
    tables, hashes, reuse, today = {}, {}, {}, {}
    for dataset in catalog.values():
        folder = settings.layout.stage_dir(day, dataset.id)
        tables[dataset.id] = pq.read_table(folder / "public.parquet")
        hashes[dataset.id] = sha256_file(folder / "public.parquet")
        if (
            previous_build
            and previous_build.is_dir()
            and previous_release["hashes"].get(dataset.id) == hashes[dataset.id]
        ):
            reuse[dataset.id] = previous_build
        before = _read(published_dir(settings, previous) / f"{dataset.id}.parquet") if previous else None
        change = changes(
            before,
            tables[dataset.id],
            dataset,
            target,
            _statuses(settings, dataset, day),
            withdrawn(settings.layout, dataset.id),
        )
        write_parquet(change, folder / "changes.parquet")
        today[dataset.id] = change
    history = change_history(settings, catalog, target, today)
    build = new_build(settings.layout.staging, target)
    usable_previous = previous_build if previous_build and previous_build.is_dir() else None
    site = _SiteStep(
        settings,
        catalog,
        target,
        tables,
        history,
        usable_previous,
        previous_release.get("site", {}) if previous_release else {},
        quality_history(settings, catalog, day, target),
    )
    files = build_files(build, catalog, target, tables, history, settings.base_url, reuse, site, usable_previous)
    summary = {
        "release": target,
        "build": build.name,
        "files": files,
        "hashes": hashes,
        "changes": {n: value_counts(t["change"]) for n, t in today.items()},
        "records": {n: t.num_rows for n, t in tables.items()},
        "previous": previous,
        "site": site.result.fingerprints,
        "lifted": sorted(set().union(*(lifted(settings.layout, name) for name in catalog))),
    }
    write_json(settings.layout.stage_dir(day, RELEASE_STAGE) / "build.json", summary)
    return {
        **summary,
        "bytes": sum(f["bytes"] for f in files.values()),
        "reused": sorted(reuse),
        **site.result.to_dict(),
    }


class _SiteStep:
    """Renders the site into a build (the `site` step of `build_files`) and keeps what it did."""

    def __init__(
        self,
        settings: Settings,
        catalog: dict[str, Dataset],
        day: str,
        tables: dict[str, pa.Table],
        history: dict[str, dict[str, pa.Table]],
        previous_build: Path | None,
        previous_fingerprints: dict[str, str],
        quality: dict[str, dict],
    ):
        self.settings, self.catalog, self.day, self.tables, self.history = settings, catalog, day, tables, history
        self.previous_build, self.previous_fingerprints, self.quality = previous_build, previous_fingerprints, quality
        self.result = SiteResult()

    def __call__(self, build: Path, files: dict[str, dict]) -> None:
        self.result = SiteBuilder(
            build,
            self.catalog,
            self.day,
            self.settings.base_url,
            self.tables,
            self.history,
            files,
            self.quality,
            self.previous_build,
            self.previous_fingerprints,
        ).build_all()


def quality_history(settings: Settings, catalog: dict[str, Dataset], day: str, target: str) -> dict[str, dict]:
    """The quality reports of the delivery days a release up to `target` covers — from the oldest
    retained release on, late days included — with `day`'s intake from its ledger so far."""
    retained = settings.public_layout.retained_days()
    oldest = min([*retained, target])
    folder = settings.state / "reports"
    history = {}
    for past in sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []:
        path = settings.layout.reports_dir(past) / "quality.json"
        if oldest <= past <= target and past != day and path.is_file():
            history[past] = json.loads(path.read_text(encoding="utf-8"))
    history[day] = {"day": day, "datasets": {name: {"intake": _intake(settings, day, name)} for name in catalog}}
    return history


def change_history(
    settings: Settings, catalog: dict[str, Dataset], day: str, today: dict[str, pa.Table] | None = None
) -> dict[str, dict[str, pa.Table]]:
    """The change tables of every retained published day up to `day` (and `today`'s), with rows
    of withdrawn records other than the withdrawal itself removed."""
    retained = set(settings.public_layout.retained_days())
    history = {}
    for past in published_days(settings):
        if past < day and past in retained:
            history[past] = {
                name: scrub_changes(table, withdrawn(settings.layout, name))
                for name in catalog
                if (table := _read(published_dir(settings, past) / "changes" / f"{name}.parquet")) is not None
            }
    if today is not None:
        history[day] = today
    return history


def scrub_changes(table: pa.Table, withdrawn_ids: dict[str, str]) -> pa.Table:
    if not withdrawn_ids or not table.num_rows:
        return table
    gone = pc.is_in(table["record_id"], value_set=pa.array(sorted(withdrawn_ids)))
    return table.filter(pc.or_(pc.invert(gone), pc.equal(table["change"], "withdrawn")))


def _statuses(settings: Settings, dataset: Dataset, day: str) -> dict[str, str]:
    """The records expired as of `day`, as the redaction stage found them in the register."""
    expired = pq.read_table(settings.layout.stage_dir(day, dataset.id) / "expired.parquet")
    return dict.fromkeys(expired["record_id"].to_pylist(), EXPIRED)


def _release_record(settings: Settings, day: str) -> dict:
    return json.loads((published_dir(settings, day) / "release.json").read_text(encoding="utf-8"))


def current_build(settings: Settings, day: str) -> Path:
    """The day's build as staged for its checks (in the state directory, not yet public)."""
    summary = json.loads((settings.layout.stage_dir(day, RELEASE_STAGE) / "build.json").read_text(encoding="utf-8"))
    return settings.layout.staging / summary["build"]


# --- the checks before the switch ---------------------------------------------------------------------


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
    for field in resource.schema.fields:
        if field.name in schema.names and schema.field(field.name).type not in types[field.type]:
            problems.append(
                f"{resource.name}: {field.name} is {schema.field(field.name).type}, schema says {field.type}"
            )
    rows = pq.ParquetFile(path).metadata.num_rows
    if csv_rows is not None and rows != csv_rows:
        problems.append(f"{resource.name}: {rows} rows, the CSV has {csv_rows}")
    return problems


def bounds_problems(settings: Settings, catalog: dict[str, Dataset], day: str) -> list[str]:
    """Record counts within each dataset's declared bounds; not too many records vanished — in the
    day, and over the last `retraction_window_days` (so that a slow drip trips too). A retraction
    the operator authorised (`--retract`) for the dataset and day does not count."""
    summary = json.loads((settings.layout.stage_dir(day, RELEASE_STAGE) / "build.json").read_text(encoding="utf-8"))
    previous = _release_record(settings, summary["previous"]) if summary["previous"] else None
    target = dt.date.fromisoformat(summary["release"])
    problems = []
    for name, dataset in catalog.items():
        count, bounds = summary["records"][name], dataset.bounds
        if count < bounds.min_records or (bounds.max_records is not None and count > bounds.max_records):
            problems.append(f"{name}: {count} records, outside [{bounds.min_records}, {bounds.max_records}]")
        if retraction.authorised(settings.layout, name, day):
            continue
        retracted = summary["changes"][name].get("retracted", 0)
        before = previous["records"].get(name, 0) if previous else 0
        if before and retracted / before > bounds.max_daily_retraction:
            problems.append(
                f"{name}: {retracted} of {before} records vanished without expiry or takedown "
                f"(more than {bounds.max_daily_retraction:.0%})"
            )
        start = (target - dt.timedelta(days=bounds.retraction_window_days)).isoformat()
        window = [d for d in published_days(settings) if start < d < summary["release"]]
        base_day = max((d for d in published_days(settings) if d <= start), default=None)
        if base_day is None or not window:
            continue
        base = _release_record(settings, base_day)["records"].get(name, 0)
        total = retracted + sum(_release_record(settings, d)["changes"][name].get("retracted", 0) for d in window)
        if base and total / base > bounds.max_window_retraction:
            problems.append(
                f"{name}: {total} of {base} records vanished without expiry or takedown in the "
                f"{bounds.retraction_window_days} days to {summary['release']} "
                f"(more than {bounds.max_window_retraction:.0%})"
            )
    return problems


def release_checks(settings: Settings, catalog: dict[str, Dataset], day: str) -> dict[str, list[str]]:
    """Every blocking check on a built release, by name: a non-empty list stops the switch."""
    build = current_build(settings, day)
    scan = leak_gate(settings, catalog, build)
    entries = ledger.read_day(settings.layout, day)
    reconcile = [f"{n}: {p}" for n, e in entries.items() for p in e.problems()]
    reconcile += [f"{n}: no record counts" for n, e in entries.items() if e.records is None]
    return {
        "leak_gate": [leak.describe() for leak in scan.leaks],
        "package_valid": package_problems(build) + verify_build(build),
        "release_reconciles": reconcile,
        "within_bounds": bounds_problems(settings, catalog, day),
    }, scan


def write_quality_report(
    settings: Settings, catalog: dict[str, Dataset], day: str, checks: dict, scan: ScanReport
) -> dict:
    """The day's quality report (counts only, no personal data): intake by department, quarantine
    reasons, redaction, changes, and the verdict of every check."""
    summary = json.loads((settings.layout.stage_dir(day, RELEASE_STAGE) / "build.json").read_text(encoding="utf-8"))
    quality = {
        "day": day,
        "datasets": {
            name: {
                "intake": _intake(settings, day, name),
                "redaction": json.loads((settings.layout.stage_dir(day, name) / "redaction.json").read_text("utf-8")),
                "published": summary["records"][name],
                "changes": summary["changes"][name],
            }
            for name in catalog
        },
        "leak_gate": {"clean": scan.clean, "files_scanned": scan.files_scanned, "by_kind": scan.by_kind()},
        "checks": {name: not problems for name, problems in checks.items()},
    }
    write_json(settings.layout.reports_dir(day) / "quality.json", quality)
    return quality


def _intake(settings: Settings, day: str, dataset: str) -> dict:
    entry = ledger.read(settings.layout, day, dataset)
    if entry is None:
        return {}
    departments: dict[str, dict] = {}
    for f in entry.files:
        counts = departments.setdefault(
            f["department"], {"files": 0, "files_rejected": 0, "rows_in": 0, "accepted": 0, "quarantined": 0}
        )
        counts["files"] += 1
        counts["files_rejected"] += f["status"] == "rejected"
        for key in ("rows_in", "accepted", "quarantined"):
            counts[key] += f.get(key, 0)
    return {
        "rows_in": entry.rows_in,
        "accepted": entry.accepted,
        "quarantined": entry.quarantined,
        "warnings": entry.warnings,
        "files_rejected": entry.files_rejected,
        "reasons": entry.reasons,
        "by_department": departments,
        "published": entry.published,
        "expired": entry.expired,
        "withdrawn": entry.withdrawn,
    }


# --- the switch -------------------------------------------------------------------------------------------


def publish_stage(settings: Settings, catalog: dict[str, Dataset], day: str) -> dict:
    """Switch the checked build in as the release of its day (and latest, unless a newer day is
    out), keep its snapshot, record that `day`'s deliveries went out in it, take withdrawn records
    out of every retained release, apply the retention."""
    layout = settings.public_layout
    summary = json.loads((settings.layout.stage_dir(day, RELEASE_STAGE) / "build.json").read_text(encoding="utf-8"))
    target = summary["release"]
    build = install(layout, settings.layout.staging / summary["build"])
    newest = max([*layout.retained_days(), target])
    switch(layout, target, build, make_latest=target == newest)
    checkpoint("publish:switched")
    _keep_snapshot(settings, catalog, day, target, summary)
    ledger.mark_published(settings.layout, day, target)
    rewritten = apply_takedowns(settings, catalog, skip=target)
    if target == newest:
        _write_root_package(settings, catalog, target)
    dropped = collect_garbage(layout, settings.keep_releases)
    for old in dropped:
        shutil.rmtree(published_dir(settings, old), ignore_errors=True)
    return {
        "release": target,
        "build": build.name,
        "latest": target == newest,
        "retained": layout.retained_days(),
        "dropped": dropped,
        "takedowns_applied_to": rewritten,
    }


def _keep_snapshot(settings: Settings, catalog: dict[str, Dataset], day: str, release: str, summary: dict) -> None:
    """What went out as `release` (built while processing `day`): public and change tables."""
    target = published_dir(settings, release)
    (target / "changes").mkdir(parents=True, exist_ok=True)
    for name in catalog:
        stage = settings.layout.stage_dir(day, name)
        shutil.copyfile(stage / "public.parquet", target / f"{name}.parquet")
        shutil.copyfile(stage / "changes.parquet", target / "changes" / f"{name}.parquet")
    write_json(target / "release.json", summary)


def _write_root_package(settings: Settings, catalog: dict[str, Dataset], day: str) -> None:
    """public/datapackage.json: the newest release's package, paths into releases/<day>/."""
    files = _release_record(settings, day)["files"]
    write_json(
        settings.public / "datapackage.json",
        datapackage(catalog, day, files, prefix=f"releases/{day}/"),
        sort_keys=False,
    )


def apply_takedowns(settings: Settings, catalog: dict[str, Dataset], skip: str | None = None) -> list[str]:
    """Rebuild every retained release (but `skip`) that still shows a withdrawn record; switch the
    rebuilt one in; scrub the kept snapshots; audit every rewritten file."""
    layout = settings.public_layout
    withdrawn_by_dataset = {name: withdrawn(settings.layout, name) for name in catalog}
    if not any(withdrawn_by_dataset.values()):
        return []
    rewritten = []
    for day in layout.retained_days():
        if day == skip or not (published_dir(settings, day) / "release.json").is_file():
            continue
        record = _release_record(settings, day)
        tables, found = {}, set()
        for name in catalog:
            table = pq.read_table(published_dir(settings, day) / f"{name}.parquet")
            ids = withdrawn_by_dataset[name]
            present = pc.is_in(table["record_id"], value_set=pa.array(sorted(ids), pa.string()))
            found |= set(table.filter(present)["record_id"].to_pylist())
            tables[name] = table.filter(pc.invert(present))
        history = change_history(settings, catalog, day)
        raw_history = {
            d: {n: _read(published_dir(settings, d) / "changes" / f"{n}.parquet") for n in catalog} for d in history
        }
        for d, per_dataset in history.items():
            for name, table in per_dataset.items():
                if raw_history[d][name] is not None and table.num_rows != raw_history[d][name].num_rows:
                    found |= set(raw_history[d][name]["record_id"].to_pylist()) & set(withdrawn_by_dataset[name])
        if not found:
            continue
        old_build = layout.builds / record["build"]
        staged = new_build(settings.layout.staging, day)
        quality = quality_history(settings, catalog, day, day)
        site = _SiteStep(settings, catalog, day, tables, history, old_build, record.get("site", {}), quality)
        files = build_files(
            staged, catalog, day, tables, history, settings.base_url, site=site, previous_build=old_build
        )
        problems = _rebuild_problems(settings, catalog, staged)
        if problems:
            raise ReleaseBlocked(f"撤下后重建的 {day} 发布未通过检查，未上线：" + "；".join(problems[:20]))
        build = install(layout, staged)
        was_latest = layout.latest.is_symlink() and layout.latest.resolve() == old_build.resolve()
        switch(layout, day, build, make_latest=was_latest)
        for name, table in tables.items():
            write_parquet(table, published_dir(settings, day) / f"{name}.parquet")
        for d, per_dataset in history.items():
            for name, table in per_dataset.items():
                write_parquet(table, published_dir(settings, d) / "changes" / f"{name}.parquet")
        before = record["files"]
        record.update(
            {
                "build": build.name,
                "files": files,
                "site": site.result.fingerprints,
                "records": {n: t.num_rows for n, t in tables.items()},
            }
        )
        write_json(published_dir(settings, day) / "release.json", record)
        audit(
            settings.layout,
            {
                "release": day,
                "records": sorted(found),
                "build_before": old_build.name,
                "build_after": build.name,
                "files": {
                    p: {"sha256_before": before.get(p, {}).get("sha256"), "sha256_after": i["sha256"]}
                    for p, i in sorted(files.items())
                    if before.get(p, {}).get("sha256") != i["sha256"]
                },
            },
        )
        rewritten.append(day)
    if rewritten and layout.latest.is_symlink():
        newest = max(layout.retained_days())
        if newest in rewritten:
            _write_root_package(settings, catalog, newest)
    return rewritten


class ReleaseBlocked(Exception):
    """A build failed a blocking check: it stays in the staging area, the live release is untouched."""


def _rebuild_problems(settings: Settings, catalog: dict[str, Dataset], build: Path) -> list[str]:
    """The leak gate and the manifest check on a release rebuilt for a takedown: what is rebuilt is
    a subset of what was live, but its pages and metadata are new files."""
    scan = leak_gate(settings, catalog, build)
    return [leak.describe() for leak in scan.leaks] + verify_build(build)


def unapplied_takedowns(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    """Withdrawn record ids still present in some retained release (the next run must act)."""
    retained = set(settings.public_layout.retained_days())
    present = set()
    for day in (d for d in published_days(settings) if d in retained):
        for name in catalog:
            ids = withdrawn(settings.layout, name)
            table = _read(published_dir(settings, day) / f"{name}.parquet")
            if ids and table is not None:
                hits = table.filter(pc.is_in(table["record_id"], value_set=pa.array(sorted(ids), pa.string())))
                present |= set(hits["record_id"].to_pylist())
    return sorted(present)


def unapplied_lifts(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    """Records whose takedown was lifted after the newest release was built (the next run must act)."""
    days = published_days(settings)
    if not days:
        return []
    applied = set(_release_record(settings, max(days)).get("lifted", []))
    return sorted(set().union(*(lifted(settings.layout, name) for name in catalog)) - applied)


def find_record(settings: Settings, catalog: dict[str, Dataset], record_id: str) -> Dataset | None:
    """The dataset whose register holds `record_id`."""
    for dataset in catalog.values():
        path = settings.layout.register_path(dataset.id)
        if path.exists():
            with Register(path, dataset) as register:
                if register.events(record_id).num_rows:
                    return dataset
    return None


# --- without an orchestrator ------------------------------------------------------------------------------


def process_and_publish(settings: Settings, day: str, catalog: dict[str, Dataset] | None = None) -> dict:
    """Every stage of `day` without Dagster (tests, benchmarks), publishing only if every check passes."""
    catalog = catalog or load_catalog()
    summary = process_day(settings, day, catalog)
    for dataset in catalog.values():
        redact_stage(settings, dataset, day)
    release_stage(settings, catalog, day)
    checks, scan = release_checks(settings, catalog, day)
    write_quality_report(settings, catalog, day, checks, scan)
    failed = {name: problems for name, problems in checks.items() if problems}
    if not failed and not summary["problems"]:
        publish_stage(settings, catalog, day)
    return {**day_ledger(settings, catalog, day), "failed_checks": failed, "leak_gate_clean": scan.clean}
