"""The day's stages as plain functions over the state directory: read -> validate -> register -> ledger.

Each stage reads what the previous one wrote under `state/stages/<day>/<dataset>/` and returns a
summary the orchestrator shows the operator. The Dagster assets are thin calls into these; the
same functions run (and are tested) without Dagster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshi import ledger
from gongshi.catalog import Dataset, load_catalog
from gongshi.ingest import (
    FINDING_SCHEMA,
    Delivery,
    FileResult,
    delivery_days,
    delivery_files,
    fingerprint,
    read_delivery,
)
from gongshi.leakscan import ScanReport, known_protected_values, scan_directory
from gongshi.paths import DEMO_INBOX, StateLayout
from gongshi.pii import mask_text
from gongshi.redaction import pseudonym_key, public_fields, redact
from gongshi.register import Register
from gongshi.release import PublicLayout, collect_garbage, public_view, switch
from gongshi.reports import issue_rows, write_reports
from gongshi.storage import write_json, write_parquet
from gongshi.validation import ISSUE_SCHEMA, Validated, validate
from gongshi.writers import writer_for


@dataclass(frozen=True)
class Settings:
    """Where a run reads deliveries, keeps private state and publishes; how many dated releases stay."""

    inbox: Path = DEMO_INBOX
    public: Path = Path("public")
    state: Path = Path("state")
    keep_releases: int = 30

    @property
    def layout(self) -> StateLayout:
        return StateLayout(self.state)

    @property
    def public_layout(self) -> PublicLayout:
        return PublicLayout(self.public)


# --- which days -------------------------------------------------------------------------------------


def inbox_days(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    return sorted({day for dataset in catalog for day in delivery_days(settings.inbox, dataset)})


def is_processed(settings: Settings, catalog: dict[str, Dataset], day: str) -> bool:
    """A day is processed when every dataset's ledger for it has the inbox's current fingerprint."""
    for dataset in catalog:
        entry = ledger.read(settings.layout, day, dataset)
        current = fingerprint(delivery_files(settings.inbox, dataset, day))
        if entry is None or entry.fingerprint != current or entry.registered is None:
            return False
    return True


def pending_days(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    """Delivery days in the inbox not yet processed (or whose files changed since), oldest first."""
    return [day for day in inbox_days(settings, catalog) if not is_processed(settings, catalog, day)]


# --- stages -----------------------------------------------------------------------------------------


def read_stage(settings: Settings, dataset: Dataset, day: str) -> dict:
    """Read the day's files into rows + findings; record every file's fate."""
    delivery = read_delivery(settings.inbox, dataset, day)
    folder = settings.layout.stage_dir(day, dataset.id)
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(delivery.rows, folder / "rows.parquet")
    write_parquet(delivery.findings, folder / "findings.parquet")
    write_json(
        folder / "files.json", {"fingerprint": delivery.fingerprint, "files": [f.to_dict() for f in delivery.files]}
    )
    rejected = [f for f in delivery.files if f.status == "rejected"]
    return {
        "files": len(delivery.files),
        "files_rejected": len(rejected),
        "rows_in": delivery.rows.num_rows,
        "fingerprint": delivery.fingerprint,
        "rejections": {f.file: f.reason for f in rejected},
        "encodings": {f.file: f.encoding or f.format for f in delivery.files if f.status == "read"},
    }


def load_delivery(settings: Settings, dataset: Dataset, day: str) -> Delivery:
    folder = settings.layout.stage_dir(day, dataset.id)
    manifest = json.loads((folder / "files.json").read_text(encoding="utf-8"))
    return Delivery(
        dataset=dataset.id,
        day=day,
        rows=pq.read_table(folder / "rows.parquet"),
        findings=pq.read_table(folder / "findings.parquet", schema=FINDING_SCHEMA),
        files=[FileResult(**f) for f in manifest["files"]],
        fingerprint=manifest["fingerprint"],
    )


def validate_stage(settings: Settings, dataset: Dataset, day: str) -> dict:
    """Validate the read rows: accepted rows to the stage, the rest to quarantine with reasons;
    write the department reports and the dataset's ledger entry."""
    delivery = load_delivery(settings, dataset, day)
    result = validate(delivery, dataset)
    folder = settings.layout.stage_dir(day, dataset.id)
    write_parquet(result.accepted, folder / "accepted.parquet")
    write_parquet(result.issues, folder / "issues.parquet")
    quarantine = settings.layout.quarantine_path(day, dataset.id)
    quarantine.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(result.quarantined, quarantine)
    issues = issue_rows(dataset, delivery.rows, result)
    reports_dir = settings.layout.reports_dir(day)
    for stale in reports_dir.glob(f"*_{dataset.title}_{day}_退回报告.xlsx") if reports_dir.is_dir() else []:
        stale.unlink()
    reports = write_reports(reports_dir, dataset, day, issues, delivery.files)
    entry = _ledger_entry(dataset, day, delivery, result)
    ledger.write(settings.layout, entry)
    return {
        "rows_in": entry.rows_in,
        "accepted": entry.accepted,
        "quarantined": entry.quarantined,
        "warnings": entry.warnings,
        "files_rejected": entry.files_rejected,
        "reasons": entry.reasons,
        "warning_kinds": _warning_counts(result),
        "reports": [p.name for p in reports],
        "ledger_problems": entry.problems(),
        "preview": quarantine_preview(issues),
    }


def _ledger_entry(dataset: Dataset, day: str, delivery: Delivery, result: Validated) -> ledger.DatasetLedger:
    accepted_by_file = _count_by_file(result.accepted)
    quarantined_by_file = _count_by_file(result.quarantined)
    files = []
    for f in delivery.files:
        entry = f.to_dict()
        entry["accepted"] = accepted_by_file.get(f.file, 0)
        entry["quarantined"] = quarantined_by_file.get(f.file, 0)
        files.append(entry)
    warning_rows = result.issues.filter(pc.equal(result.issues["severity"], "warning"))
    return ledger.DatasetLedger(
        dataset=dataset.id,
        day=day,
        fingerprint=delivery.fingerprint,
        files=files,
        rows_in=delivery.rows.num_rows,
        accepted=result.accepted.num_rows,
        quarantined=result.quarantined.num_rows,
        warnings=warning_rows.num_rows,
        files_rejected=sum(1 for f in delivery.files if f.status == "rejected"),
        reasons=result.reason_counts(),
    )


def _count_by_file(table: pa.Table) -> dict[str, int]:
    if not table.num_rows:
        return {}
    counts = pc.value_counts(table.column("_source_file").combine_chunks())
    return {c["values"].as_py(): c["counts"].as_py() for c in counts}


def _warning_counts(result: Validated) -> dict[str, int]:
    warnings = result.issues.filter(pc.equal(result.issues["severity"], "warning"))
    counts = pc.value_counts(warnings.column("code").combine_chunks()) if warnings.num_rows else []
    return {c["values"].as_py(): c["counts"].as_py() for c in counts}


def quarantine_preview(issues, limit: int = 10) -> str:
    """A markdown table of the first held-back rows, values masked, for the operator's UI."""
    errors = issues[issues["级别"].str.startswith("退回")].head(limit)
    if errors.empty:
        return "（无退回数据）"
    lines = ["| 文件 | 行号 | 字段 | 问题 |", "|---|---|---|---|"]
    for row in errors.itertuples(index=False):
        cells = [row.文件, str(row.行号), row.字段, row.问题]
        lines.append("| " + " | ".join(mask_text(str(c))[0].replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def register_stage(settings: Settings, dataset: Dataset, day: str) -> dict:
    """Fold the day's accepted rows into the register and record the count in the ledger."""
    accepted = pq.read_table(settings.layout.stage_dir(day, dataset.id) / "accepted.parquet")
    validated = Validated(dataset.id, day, accepted, accepted.schema.empty_table(), ISSUE_SCHEMA.empty_table())
    with Register(settings.layout.register_path(dataset.id), dataset) as register:
        update = register.apply(validated)
        registered = register.events_on(day)
    entry = ledger.read(settings.layout, day, dataset.id)
    entry.registered = registered
    ledger.write(settings.layout, entry)
    summary = update.to_dict()
    summary["registered"] = registered
    summary["ledger_problems"] = entry.problems()
    return summary


def redact_stage(settings: Settings, dataset: Dataset, day: str) -> dict:
    """The public view of the register (in its publicity period, not withdrawn), with every
    column's privacy class applied and published text scanned; written to the stage directory."""
    with Register(settings.layout.register_path(dataset.id), dataset) as register:
        records = register.records_as_of(day)
    view = public_view(records, dataset)
    table, report = redact(view, dataset, pseudonym_key(settings.layout))
    folder = settings.layout.stage_dir(day, dataset.id)
    write_parquet(table, folder / "public.parquet")
    write_json(folder / "redaction.json", report.to_dict())
    return {"published_records": table.num_rows, "withheld_records": records.num_rows - view.num_rows,
            **report.to_dict()}  # fmt: skip


def release_stage(settings: Settings, catalog: dict[str, Dataset], day: str) -> dict:
    """Build the day's release beside the live one (nothing is switched here)."""
    layout = settings.public_layout
    collect_garbage(layout)
    build = layout.new_build(day)
    files = {}
    for dataset in catalog.values():
        table = pq.read_table(settings.layout.stage_dir(day, dataset.id) / "public.parquet")
        fields = public_fields(dataset)
        folder = build / "datasets" / dataset.id
        folder.mkdir(parents=True, exist_ok=True)
        for name in dataset.exports:
            writer = writer_for(name)
            path = folder / f"{dataset.id}{writer.SUFFIX}"
            writer.write(table, fields, path)
            files[path.relative_to(build).as_posix()] = path.stat().st_size
    write_json(settings.layout.stage_dir(day, "_release") / "build.json", {"build": str(build), "files": files})
    return {"build": str(build), "files": len(files), "bytes": sum(files.values())}


def process_and_publish(settings: Settings, day: str, catalog: dict[str, Dataset] | None = None) -> dict:
    """Every stage of `day` without an orchestrator, through publication unless the gate finds a leak."""
    catalog = catalog or load_catalog()
    summary = process_day(settings, day, catalog)
    for dataset in catalog.values():
        redact_stage(settings, dataset, day)
    _, scan = build_release(settings, catalog, day)
    if scan.clean and not summary["problems"]:
        publish_stage(settings, day)
    return {**summary, "leak_gate_clean": scan.clean}


def current_build(settings: Settings, day: str) -> Path:
    manifest = json.loads((settings.layout.stage_dir(day, "_release") / "build.json").read_text(encoding="utf-8"))
    return Path(manifest["build"])


def leak_gate(settings: Settings, catalog: dict[str, Dataset], directory: Path) -> ScanReport:
    """Scan `directory` for protected values: patterns, and every value delivered in a column
    that is not published as is."""
    registers = []
    for dataset in catalog.values():
        path = settings.layout.register_path(dataset.id)
        if path.exists():
            with Register(path, dataset) as register:
                registers.append((dataset, register.events()))
    return scan_directory(directory, known_protected_values(registers))


def build_release(settings: Settings, catalog: dict[str, Dataset], day: str) -> tuple[dict, ScanReport]:
    """Build the release beside the live one, run the leak gate over it, and write the day's
    quality report (intake, quarantine reasons, redaction, gate verdict — counts only)."""
    summary = release_stage(settings, catalog, day)
    scan = leak_gate(settings, catalog, Path(summary["build"]))
    quality = {
        "day": day,
        "datasets": {
            name: {
                "intake": _intake(settings, day, name),
                "redaction": json.loads(
                    (settings.layout.stage_dir(day, name) / "redaction.json").read_text(encoding="utf-8")
                ),
            }
            for name in catalog
        },
        "leak_gate": {"clean": scan.clean, "files_scanned": scan.files_scanned, "by_kind": scan.by_kind()},
    }
    write_json(settings.layout.reports_dir(day) / "quality.json", quality)
    return summary, scan


def _intake(settings: Settings, day: str, dataset: str) -> dict:
    entry = ledger.read(settings.layout, day, dataset)
    if entry is None:
        return {}
    departments: dict[str, dict] = {}
    for f in entry.files:
        counts = departments.setdefault(f["department"], {"files": 0, "files_rejected": 0, "rows_in": 0,
                                                           "accepted": 0, "quarantined": 0})  # fmt: skip
        counts["files"] += 1
        counts["files_rejected"] += f["status"] == "rejected"
        for key in ("rows_in", "accepted", "quarantined"):
            counts[key] += f.get(key, 0)
    return {"rows_in": entry.rows_in, "accepted": entry.accepted, "quarantined": entry.quarantined,
            "warnings": entry.warnings, "files_rejected": entry.files_rejected, "reasons": entry.reasons,
            "by_department": departments}  # fmt: skip


def publish_stage(settings: Settings, day: str) -> dict:
    """Switch the checked build in as the day's release and as latest; apply the retention."""
    layout = settings.public_layout
    build = current_build(settings, day)
    # Re-running an older day replaces that dated release; latest stays on the newest day.
    newest = max(layout.retained_days(), default=day)
    switch(layout, day, build, make_latest=day >= newest)
    dropped = collect_garbage(layout, settings.keep_releases)
    return {"release": day, "build": build.name, "retained": layout.retained_days(), "dropped": dropped}


def day_ledger(settings: Settings, catalog: dict[str, Dataset], day: str) -> dict:
    """The whole day across datasets, written to `ledger/<day>/day.json`, with any problems."""
    entries = ledger.read_day(settings.layout, day)
    problems = [f"{name}: no ledger entry" for name in catalog if name not in entries]
    problems += [f"{name}: {p}" for name, entry in entries.items() for p in entry.problems()]
    problems += [f"{name}: not registered" for name, entry in entries.items() if entry.registered is None]
    totals = {
        key: sum(getattr(e, key) for e in entries.values())
        for key in ("rows_in", "accepted", "quarantined", "warnings", "files_rejected")
    }
    summary = {
        "day": day,
        "totals": totals,
        "problems": problems,
        "datasets": {name: e.to_dict() for name, e in entries.items()},
    }
    write_json(settings.layout.ledger_dir(day) / "day.json", summary)
    return summary


def process_day(settings: Settings, day: str, catalog: dict[str, Dataset] | None = None) -> dict:
    """Run every stage for every dataset for `day` without an orchestrator (tests, benchmarks)."""
    catalog = catalog or load_catalog()
    for dataset in catalog.values():
        read_stage(settings, dataset, day)
        validate_stage(settings, dataset, day)
        register_stage(settings, dataset, day)
    return day_ledger(settings, catalog, day)
