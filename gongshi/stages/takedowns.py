"""Stage 9, takedowns: a record withdrawn by a decision (`gongshi withdraw`) is taken out of every
retained release that still shows it — each is rebuilt in the staging area without it, passes the
leak gate and the manifest check, and is switched in atomically — and every rewritten file is
audited with its sha256 before and after. Also what is waiting to be applied, for the command and
the sensor."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshi import snapshots, sync
from gongshi.catalog import Dataset
from gongshi.register import Register
from gongshi.settings import Settings
from gongshi.snapshots import published_days
from gongshi.stages import Json
from gongshi.stages.checks import leak_gate
from gongshi.stages.publish import install, switch, write_root_package
from gongshi.stages.release import SiteStep, build_files, data_files, quality_history, verify_build
from gongshi.storage import write_parquet
from gongshi.tables import row_digests
from gongshi.takedown import audit, lifted, withdrawn


class ReleaseBlocked(Exception):
    """A rebuilt release failed a blocking check: it stays in the staging area, the live one is untouched."""


@dataclass
class TakedownsResult:
    rewritten: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        return {"takedowns_applied_to": Json(self.rewritten)}


def run(settings: Settings, catalog: dict[str, Dataset], skip: str | None = None) -> TakedownsResult:
    """Rebuild every retained release (but `skip`, just built with the takedowns applied) that still
    shows a withdrawn record; switch the rebuilt one in; scrub the kept snapshots; audit."""
    public, layout = settings.public_layout, settings.layout
    withdrawn_by_dataset = {name: withdrawn(layout, name) for name in catalog}
    if not any(withdrawn_by_dataset.values()):
        return TakedownsResult()
    rewritten = []
    for day in public.retained_days():
        if day == skip or not layout.published_record(day).is_file():
            continue
        record = snapshots.record(layout, day)
        tables, found = {}, set()
        for name in catalog:
            table = pq.read_table(layout.published_table(day, name))
            ids = withdrawn_by_dataset[name]
            present = pc.is_in(table["record_id"], value_set=pa.array(sorted(ids), pa.string()))
            found |= set(table.filter(present)["record_id"].to_pylist())
            tables[name] = table.filter(pc.invert(present))
        digests = {name: row_digests(table) for name, table in tables.items()}
        old_build = public.builds / record.build
        data = data_files(settings, catalog, day, tables, digests, old_build, record.parts)
        history, feeds = data.history, data.feeds
        raw_history = {d: {n: snapshots.table(layout.published_changes(d, n)) for n in catalog} for d in history}
        for d, per_dataset in history.items():
            for name, table in per_dataset.items():
                if raw_history[d][name] is not None and table.num_rows != raw_history[d][name].num_rows:
                    found |= set(raw_history[d][name]["record_id"].to_pylist()) & set(withdrawn_by_dataset[name])
        if not found:
            continue
        staged = layout.new_build(day)
        quality = quality_history(settings, catalog, day, day)
        site = SiteStep(
            settings, catalog, day, tables, history, old_build, record.site, quality, digests, record.modified
        )
        files = build_files(staged, catalog, day, data, settings.base_url, site=site)
        scan = leak_gate(settings, catalog, staged)
        problems = [leak.describe() for leak in scan.leaks] + verify_build(staged, scan.verified)
        if problems:
            raise ReleaseBlocked(f"撤下后重建的 {day} 发布未通过检查，未上线：" + "；".join(problems[:20]))
        build = install(public, staged)
        was_latest = public.latest.is_symlink() and public.latest.resolve() == old_build.resolve()
        switch(public, day, build, make_latest=was_latest)
        for name, table in tables.items():
            write_parquet(table, layout.published_table(day, name))
        for d, per_dataset in history.items():
            for name, table in per_dataset.items():
                write_parquet(table, layout.published_changes(d, name))
        for d, per_dataset in feeds.items():
            for name in per_dataset:
                kept = layout.published_sync(d, name)
                write_parquet(sync.scrub(pq.read_table(kept), withdrawn_by_dataset[name]), kept)
        before = record.files
        record.build, record.files, record.site = build.name, files, site.result.fingerprints
        record.parts, record.modified = data.fingerprints, site.result.modified
        record.records = {n: t.num_rows for n, t in tables.items()}
        record.save(layout.published_record(day))
        audit(
            layout,
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
    if rewritten and public.latest.is_symlink():
        newest = max(public.retained_days())
        if newest in rewritten:
            write_root_package(settings, catalog, newest)
    return TakedownsResult(rewritten)


def unapplied_takedowns(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    """Withdrawn record ids still present in some retained release (the next run must act). Only
    the record ids of a dataset with a takedown in force are read: this runs before every publish,
    over every retained release."""
    layout = settings.layout
    retained = set(settings.public_layout.retained_days())
    present = set()
    taken_down = {name: withdrawn(layout, name) for name in catalog}
    for day in (d for d in published_days(layout) if d in retained):
        for name in catalog:
            ids = taken_down[name]
            table = snapshots.table(layout.published_table(day, name), ["record_id"]) if ids else None
            if table is not None:
                hits = table.filter(pc.is_in(table["record_id"], value_set=pa.array(sorted(ids), pa.string())))
                present |= set(hits["record_id"].to_pylist())
    return sorted(present)


def unapplied_lifts(settings: Settings, catalog: dict[str, Dataset]) -> list[str]:
    """Records whose takedown was lifted after the newest release was built (the next run must act)."""
    days = published_days(settings.layout)
    if not days:
        return []
    applied = set(snapshots.record(settings.layout, max(days)).lifted)
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
