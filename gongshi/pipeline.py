"""The day's stages as plain functions over the state directory: read -> validate -> register -> ledger.

Each stage reads what the previous one wrote under `state/stages/<day>/<dataset>/` and returns a
summary the orchestrator shows the operator. The Dagster assets are thin calls into these; the
same functions run (and are tested) without Dagster.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshi import ledger, retraction, sources
from gongshi.catalog import Dataset, load_catalog
from gongshi.ingest import (
    FINDING_SCHEMA,
    Delivery,
    FileResult,
    delivery_days,
    delivery_files,
    fingerprint,
    ignored_in_inbox,
    read_delivery,
)
from gongshi.pii import mask_text
from gongshi.register import Register, registered_days_of
from gongshi.reports import issue_rows, write_reports
from gongshi.sandbox import read_file_contained
from gongshi.settings import Settings
from gongshi.storage import write_json, write_parquet
from gongshi.validation import ISSUE_SCHEMA, Validated, validate

# --- which days -------------------------------------------------------------------------------------


def inbox_days(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    return sorted({day for dataset in catalog for day in delivery_days(settings.inbox, dataset)})


def is_processed(
    settings: Settings, catalog: dict[str, Dataset], day: str, registered: dict[str, set[str]] | None = None
) -> bool:
    """A day is processed when its deliveries went live (in its own release, or in a newer day's
    re-published because it came late), every dataset's ledger for it has the inbox's current
    fingerprint, and every register holds it. A day stopped by a check, killed before its release
    was kept, or missing from a register that was lost or moved away stays pending."""
    if ledger.published_in(settings.layout, day) is None:
        return False
    registered = registered if registered is not None else registered_days(settings, catalog)
    for dataset in catalog:
        entry = ledger.read(settings.layout, day, dataset)
        current = fingerprint(delivery_files(settings.inbox, dataset, day))
        if entry is None or entry.fingerprint != current or entry.registered is None:
            return False
        if day not in registered[dataset]:
            return False
    return True


def registered_days(settings: Settings, catalog: dict[str, Dataset]) -> dict[str, set[str]]:
    """The days each dataset's register holds, from the list it keeps beside itself (so that a
    sensor need not open a database a run is writing); none when the register file is missing."""
    return {name: registered_days_of(settings.layout.register_path(name)) for name in catalog}


def pending_days(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    """Delivery days in the inbox not yet processed (or whose files changed since), oldest first."""
    registered = registered_days(settings, catalog)
    return [day for day in inbox_days(settings, catalog) if not is_processed(settings, catalog, day, registered)]


# --- stages -----------------------------------------------------------------------------------------


def read_stage(settings: Settings, dataset: Dataset, day: str) -> dict:
    """Read the day's files into rows + findings; record every file's fate."""
    delivery = read_delivery(
        settings.inbox,
        dataset,
        day,
        sources.pulled_dir(settings.layout, dataset.id, day),
        sources.failures(settings.layout, dataset.id, day),
        reader=partial(read_file_contained, limits=settings.read_limits),
    )
    vanished = vanished_deliveries(settings, dataset, day, delivery)
    if vanished and not settings.retract:
        ledger.refuse(settings.layout, dataset.id, day, vanished)
        raise DeliveryVanished(dataset, day, vanished)
    if vanished:
        retraction.record(settings.layout, dataset.id, day, vanished, settings.retract_reason)
    folder = settings.layout.stage_dir(day, dataset.id)
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet(delivery.rows, folder / "rows.parquet")
    write_parquet(delivery.findings, folder / "findings.parquet")
    write_json(
        folder / "files.json", {"fingerprint": delivery.fingerprint, "files": [f.to_dict() for f in delivery.files]}
    )
    rejected = [f for f in delivery.files if f.status not in ("read", "ignored")]
    ignored = [f for f in delivery.files if f.status == "ignored"]
    return {
        "files": len(delivery.files),
        "files_rejected": len(rejected),
        "ignored": {f.file: f.reason for f in ignored},
        "retracted": vanished,
        "rows_in": delivery.rows.num_rows,
        "fingerprint": delivery.fingerprint,
        "rejections": {f.file: f.reason for f in rejected},
        "encodings": {f.file: f.encoding or f.format for f in delivery.files if f.status == "read"},
    }


class DeliveryVanished(Exception):
    """A day already registered lost files or rows since: a silent retraction, refused."""

    def __init__(self, dataset: Dataset, day: str, vanished: list[str]):
        self.dataset, self.day, self.vanished = dataset, day, vanished
        super().__init__(
            f"{dataset.title}（{dataset.id}）{day} 的报送已经处理并发布过，现在{'；'.join(vanished)}。"
            f"已拒绝处理，上线的发布保持不变。如果文件是被误移走的，请放回 {dataset.id}/{day}/ 后重新运行；"
            f"如果部门确实撤回了这些数据，请运行 gongshi publish --date {day} --retract --reason 撤回原因，"
            "撤回将像撤下决定一样记入审计记录。"
        )


def vanished_deliveries(settings: Settings, dataset: Dataset, day: str, delivery: Delivery) -> list[str]:
    """What a registered day lost since it was last read: files that are gone, files with fewer rows."""
    before = ledger.read(settings.layout, day, dataset.id)
    if before is None or before.registered is None:
        return []
    now = {f.file: f.rows_in for f in delivery.files if f.status == "read"}
    lost = []
    for entry in before.files:
        name, rows = entry["file"], entry["rows_in"]
        if entry["status"] != "read":
            continue
        if name not in now:
            lost.append(f"文件“{name}”（{rows} 行）不见了")
        elif now[name] < rows:
            lost.append(f"文件“{name}”从 {rows} 行减少到 {now[name]} 行")
    return lost


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
    accepted_by_file = value_counts(result.accepted["_source_file"])
    quarantined_by_file = value_counts(result.quarantined["_source_file"])
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
        sources_failed=sum(1 for f in delivery.files if f.status == "not_received"),
        files_ignored=sum(1 for f in delivery.files if f.status == "ignored"),
        reasons=result.reason_counts(),
    )


def value_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """How often each value occurs in `column`."""
    if not len(column):
        return {}
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return {c["values"].as_py(): c["counts"].as_py() for c in pc.value_counts(column)}


def _warning_counts(result: Validated) -> dict[str, int]:
    return value_counts(result.issues.filter(pc.equal(result.issues["severity"], "warning"))["code"])


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
    if registered == entry.accepted:
        sources.commit(settings.layout, dataset.id, day)  # pulled rows are safely in: the watermarks may advance
    summary = update.to_dict()
    summary["registered"] = registered
    summary["ledger_problems"] = entry.problems()
    return summary


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
        # Entries of the inbox outside any dataset's day folder that were not read, and why.
        "inbox_ignored": [asdict(i) for i in ignored_in_inbox(settings.inbox, list(catalog))],
    }
    write_json(settings.layout.ledger_dir(day) / ledger.DAY_FILE, summary)
    return summary


def process_day(settings: Settings, day: str, catalog: dict[str, Dataset] | None = None) -> dict:
    """Run every stage for every dataset for `day` without an orchestrator (tests, benchmarks)."""
    catalog = catalog or load_catalog()
    for dataset in catalog.values():
        read_stage(settings, dataset, day)
        validate_stage(settings, dataset, day)
        register_stage(settings, dataset, day)
    return day_ledger(settings, catalog, day)
