"""Stage 6, release: every file of the release day's release, built in the staging area of the state
directory (never served): each dataset in every declared format, the SQLite database, the change
files of every retained day, metadata (Data Package, DCAT, schema.org), the website and search
index, and the manifest with every file's size and sha256. Unchanged files are hard links to the
release being replaced (or the day before)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import stat
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshi import ledger, parallel, parts, progress, snapshots, sync
from gongshi.catalog import Dataset
from gongshi.changes import changes
from gongshi.faults import checkpoint
from gongshi.metadata import (
    CHANGE_FIELDS,
    DATASETTE_METADATA,
    coverage,
    datapackage,
    datasette_metadata,
    dcat,
    download_files,
    published_fields,
    schema_org,
    search_columns,
)
from gongshi.register import EXPIRED
from gongshi.settings import Settings
from gongshi.site import SiteBuilder, SiteResult
from gongshi.snapshots import BuildRecord, published_days, release_day
from gongshi.stages import Json
from gongshi.stages.redact import public_digests
from gongshi.storage import link_or_copy, read_parquet, sha256_file, write_json, write_parquet, write_text
from gongshi.tables import DIGEST_VERSION, row_digests, value_counts
from gongshi.takedown import lifted, withdrawn
from gongshi.writers import REGISTRY, writer_for
from gongshi.writers.sqlite import FILE_NAME, write_database
from gongshi.writers.sqlite import MEDIA_TYPE as SQLITE


@dataclass
class ReleaseResult:
    record: BuildRecord
    bytes: int
    reused: list[str] = field(default_factory=list)
    site: dict = field(default_factory=dict)
    # the files the checks' caches gained while the site rendered and the manifest was written
    # (`checks.begin_early`)
    checked_early: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {
            "checked_early": Json(self.checked_early),
            "release": self.record.release,
            "build": self.record.build,
            "files": len(self.record.files),
            "bytes": self.bytes,
            "records": Json(self.record.records),
            "changes": Json(self.record.changes),
            "reused_unchanged": Json(self.reused),
            "pages_rendered": self.site.get("pages_rendered", 0),
            "pages_unchanged": self.site.get("pages_unchanged", 0),
            "search_index_seconds": self.site.get("search_index_seconds", 0.0),
            "search_index_mode": self.site.get("search_index_mode", ""),
            "search_shards_written": self.site.get("search_shards_written", 0),
            "check_entries_made": self.site.get("check_entries_made", 0),
        }


@progress.stage("构建发布")
def run(settings: Settings, catalog: dict[str, Dataset], day: str) -> ReleaseResult:
    """Build the release of the release day (`snapshots.release_day`) in the staging area: every
    format of every dataset, the change files (against the day before it that went out), metadata,
    site and manifest. Nothing reaches the public directory here."""
    layout = settings.layout
    clear_staging(layout.staging)
    target = release_day(layout, day)
    previous = snapshots.previous_published_day(layout, target)
    # Files are reused from the release being replaced (a re-publication), else from the day before.
    base = target if target in published_days(layout) else previous
    base_record = snapshots.record(layout, base) if base else None
    base_build = settings.public_layout.builds / base_record.build if base_record else None
    base_build = base_build if base_build is not None and base_build.is_dir() else None
    tables, hashes, reuse, today, digests, feeds = {}, {}, {}, {}, {}, {}
    for dataset in catalog.values():
        public = layout.public_table(day, dataset.id)
        # one chunk per column, once: the site's views then share these buffers instead of copying
        # them to combine chunks (300 MiB of a million-record release held twice)
        tables[dataset.id] = read_parquet(public).combine_chunks()
        hashes[dataset.id] = sha256_file(public)
        if base_build is not None and base_record.hashes.get(dataset.id) == hashes[dataset.id]:
            reuse[dataset.id] = base_build
    parts_before = base_record.parts if base_record else {}
    # What the whole-table spreadsheets and database need is here; the rest of `data` is made by
    # `prepare`, in this process while a second one writes those (`build_files`).
    data = DataFiles(tables, digests, {}, parts_above=settings.parts_above, reuse=reuse, previous_build=base_build)

    def prepare() -> None:
        """The rows' digests, the day's change tables and sync feeds, the change files of the
        retained days: what the parts, change files and pages are made from."""
        for dataset in catalog.values():
            digests[dataset.id] = public_digests(layout, day, dataset.id, tables[dataset.id], hashes[dataset.id])
            before = snapshots.table(layout.published_table(previous, dataset.id)) if previous else None
            expired = pq.read_table(layout.expired(day, dataset.id))
            earlier = kept_digests(layout, dataset.id, previous, before)
            compared = sync.compare(earlier, digests[dataset.id]) if earlier is not None else None
            compared_before, compared_now = unchanged_apart(before, tables[dataset.id], compared)
            change = changes(
                compared_before,
                compared_now,
                dataset,
                target,
                dict.fromkeys(expired["record_id"].to_pylist(), EXPIRED),
                withdrawn(layout, dataset.id),
            )
            write_parquet(change, layout.changes(day, dataset.id))
            today[dataset.id] = change
            feeds[dataset.id] = day_feed(
                layout, dataset.id, day, earlier, tables[dataset.id], digests[dataset.id], change, compared
            )
        data.fill(
            data_files(
                settings,
                catalog,
                target,
                tables,
                digests,
                base_build,
                parts_before,
                reuse,
                today={n: (today[n], feeds[n], layout.changes(day, n), layout.sync(day, n)) for n in today},
            )
        )

    build = layout.new_build(target)
    site = SiteStep(
        settings,
        catalog,
        target,
        tables,
        data.history,  # filled by `prepare`, as `digests`
        base_build,
        base_record.site if base_record else {},
        quality_history(settings, catalog, day, target),
        digests,
        base_record.modified if base_record else {},
    )
    from gongshi.stages import checks  # which reads this module's

    # the checks' work on the data files, begun now (the day's known values) and given the files
    # once they are written: it runs while the site renders
    early = checks.begin_early(settings, catalog, build, sum(t.num_rows for t in tables.values()))

    try:
        files = build_files(build, catalog, target, data, settings.base_url, site, prepare, early.check, early.pages)
    finally:
        checked_early = early.finish()
    record = BuildRecord(
        release=target,
        build=build.name,
        files=files,
        hashes=hashes,
        changes={n: value_counts(t["change"]) for n, t in today.items()},
        records={n: t.num_rows for n, t in tables.items()},
        previous=previous,
        site=site.result.fingerprints,
        modified=site.result.modified,
        parts=data.fingerprints,
        lifted=sorted(set().union(*(lifted(layout, name) for name in catalog))),
    )
    record.save(layout.build_record(day))
    return ReleaseResult(
        record,
        sum(f["bytes"] for f in files.values()),
        sorted(reuse),
        site.result.to_dict(),
        dataclasses.asdict(checked_early),
    )


def staged_build(settings: Settings, day: str) -> tuple[BuildRecord, Path]:
    """The build `run` made while processing `day`, and where it waits in the staging area."""
    record = BuildRecord.load(settings.layout.build_record(day))
    return record, settings.layout.staging / record.build


def clear_staging(staging: Path) -> None:
    """Remove builds a failed or killed run left in the staging area."""
    if staging.is_dir():
        for leftover in staging.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)


class SiteStep:
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
        digests: dict[str, pa.Array] | None = None,
        previous_modified: dict[str, str] | None = None,
    ):
        self.settings, self.catalog, self.day, self.tables, self.history = settings, catalog, day, tables, history
        self.previous_build, self.previous_fingerprints, self.quality = previous_build, previous_fingerprints, quality
        self.digests, self.previous_modified = digests, previous_modified
        self.result = SiteResult()

    def __call__(self, build: Path, files: dict[str, dict]) -> tuple[dict[str, str], set[str], dict[str, int]]:
        """Render the site; the sha256 of every file it wrote, taken as it was written, the files it
        hard-linked from the previous build, and the bytes of every file it wrote."""
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
            self.digests,
            self.previous_modified,
            search_store=self.settings.layout.search_index,
            check_store=self.settings.layout.check_index,
        ).build_all()
        return self.result.hashes, self.result.linked, self.result.sizes


def quality_history(settings: Settings, catalog: dict[str, Dataset], day: str, target: str) -> dict[str, dict]:
    """The quality reports of the delivery days a release up to `target` covers — from the oldest
    retained release on, late days included — with `day`'s intake from its ledger so far."""
    retained = settings.public_layout.retained_days()
    oldest = min([*retained, target])
    folder = settings.state / "reports"
    history = {}
    for past in sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []:
        path = settings.layout.quality_report(past)
        if oldest <= past <= target and past != day and path.is_file():
            history[past] = json.loads(path.read_text(encoding="utf-8"))
    history[day] = {"day": day, "datasets": {n: {"intake": ledger.intake(settings.layout, day, n)} for n in catalog}}
    return history


def change_history(
    settings: Settings,
    catalog: dict[str, Dataset],
    day: str,
    today: dict[str, pa.Table] | None = None,
    feed: bool = False,
) -> tuple[dict[str, dict[str, pa.Table]], dict[str, str]]:
    """The change tables (`feed`: the sync feeds) of every retained published day up to `day` (and
    `today`'s), with rows of withdrawn records other than the withdrawal itself removed; and a
    fingerprint of each past day's table (`changes/<day>/<dataset>`, `….sync` for a feed -> the table
    it was scrubbed from and what was removed), so that its files are written again only when a
    withdrawal or a lifted one changed it."""
    layout = settings.layout
    retained = set(settings.public_layout.retained_days())
    kept, scrub, suffix = (
        (layout.published_sync, sync.scrub, ".sync") if feed else (layout.published_changes, scrub_changes, "")
    )
    history: dict[str, dict[str, pa.Table]] = {}
    fingerprints: dict[str, str] = {}
    for past in published_days(layout):
        # without `today`, `day` is a release being rebuilt: its own kept tables are part of it
        if (past < day or (today is None and past == day)) and past in retained:
            history[past] = {}
            for name in catalog:
                path = kept(past, name)
                if not path.is_file():
                    continue
                # a feed holds whole records: only its operations are read here; `kept_feed` reads
                # the rest if its file must be written again
                table = pq.read_table(path, columns=["op", "record_id"] if feed else None)
                scrubbed = scrub(table, withdrawn(layout, name))
                removed = (
                    sorted(set(table["record_id"].to_pylist()) - set(scrubbed["record_id"].to_pylist()))
                    if (scrubbed.num_rows != table.num_rows)
                    else []
                )
                fingerprints[f"changes/{past}/{name}{suffix}"] = changes_fingerprint(path, removed)
                history[past][name] = scrubbed
    if today is not None:
        history[day] = today
    return history, fingerprints


def data_files(
    settings: Settings,
    catalog: dict[str, Dataset],
    day: str,
    tables: dict[str, pa.Table],
    digests: dict[str, pa.Array],
    previous_build: Path | None,
    previous_fingerprints: dict[str, str],
    reuse: dict[str, Path] | None = None,
    today: dict[str, tuple[pa.Table, pa.Table, Path, Path]] | None = None,
) -> DataFiles:
    """What the data files of the release of `day` are made from: its tables, the change tables and
    sync feeds of every retained day with their fingerprints, where a sync consumer starts. `today`
    (a new release) gives per dataset the day's change table and feed and the files they are kept
    in; without it, `day` is a release being rebuilt from what was kept (a takedown)."""
    changes_today = {n: t[0] for n, t in today.items()} if today is not None else None
    feeds_today = {n: t[1] for n, t in today.items()} if today is not None else None
    history, fingerprints = change_history(settings, catalog, day, changes_today)
    feeds, feed_fingerprints = change_history(settings, catalog, day, feeds_today, feed=True)
    fingerprints |= feed_fingerprints
    for name, (_, _, changes_file, feed_file) in (today or {}).items():
        # kept as the published tables of `day` once the release goes out
        fingerprints[f"changes/{day}/{name}"] = changes_fingerprint(changes_file)
        fingerprints[f"changes/{day}/{name}.sync"] = changes_fingerprint(feed_file)
    return DataFiles(
        tables,
        digests,
        history,
        fingerprints,
        settings.parts_above,
        reuse or {},
        previous_build,
        previous_fingerprints,
        first_release=min(published_days(settings.layout), default=None),
        feeds=feeds,
        feed_sources=kept_feeds(settings, catalog, feeds, day if today is not None else None),
        **base_of_feed(settings, catalog, day),
    )


def kept_feeds(
    settings: Settings, catalog: dict[str, Dataset], feeds: dict[str, dict[str, pa.Table]], day: str | None
) -> dict[str, dict[str, tuple[Path, dict]]]:
    """Where each past day's feed (read as its operations only) is kept, with the withdrawn ids to
    scrub from it when its file is written again."""
    layout = settings.layout
    return {
        past: {name: (layout.published_sync(past, name), withdrawn(layout, name)) for name in per_dataset}
        for past, per_dataset in feeds.items()
        if past != day
    }


def base_of_feed(settings: Settings, catalog: dict[str, Dataset], day: str, files: dict | None = None) -> dict:
    """Where a sync consumer starts: the oldest retained release up to `day` (`day` itself when none
    is older) and its Parquet files, from the web root (`files`: the build of `day`, when it is the
    base and not out yet)."""
    base = min((d for d in settings.public_layout.retained_days() if d <= day), default=day)
    if base != day and settings.layout.published_record(base).is_file():
        files = snapshots.files_under(settings.layout, base, "datasets/")
    tables = {
        name: [f"releases/{base}/{p}" for p, _, _ in download_files(dataset, files or {}) if p.endswith(".parquet")]
        for name, dataset in catalog.items()
    }
    return {"base_release": base, "base_tables": {base: tables}}


def kept_digests(layout, dataset: str, previous: str | None, before: pa.Table | None) -> pa.Table | None:
    """The previous release's record ids and row digests, kept when it went out (computed from its
    table for a release kept before digests were, or by another version of `row_digests`); None for
    a first release."""
    kept = layout.published_digests(previous, dataset) if previous else None
    if kept is not None and kept.is_file():
        table = pq.read_table(kept)
        if sync.kept_version(table) == DIGEST_VERSION:
            return table
    return sync.digests_table(before, row_digests(before)) if before is not None else None


def unchanged_apart(
    before: pa.Table | None, table: pa.Table, compared: sync.Compared | None
) -> tuple[pa.Table | None, pa.Table]:
    """`before` and `table` without the records whose row is the same in both, for the change table:
    a row's digest covers every column, its record id included, so a digest of the previous release
    (`kept_digests`, compared with today's in `sync.compare`) is the same record unchanged — the
    comparison then joins what changed, not the register. Both whole without a comparison.

    A record of `before` is the same today when its digest is one of today's; the others are those
    the comparison left (`Compared.left`: changed or gone, a day's few) — looked for in `before`
    as a set of those few, not of every unchanged record (a hash set of 660,000 ids built each day,
    0.7 s). `before` may lack records the kept digests still hold (taken down since): they are not
    looked for."""
    if before is None or compared is None or not pc.any(compared.same).as_py():
        return before, table
    return (
        before.filter(pc.is_in(before["record_id"], value_set=compared.left)),
        table.filter(pc.invert(compared.same)),
    )


def day_feed(
    layout,
    dataset: str,
    day: str,
    earlier: pa.Table | None,
    table: pa.Table,
    digests: pa.Array,
    change: pa.Table,
    compared: sync.Compared | None = None,
) -> pa.Table:
    """The sync feed of the release built while processing `day` (kept with its digests for the
    next day's): against the previous release's digests (`kept_digests`; `compared` with today's
    already, `sync.compare`)."""
    write_parquet(sync.digests_table(table, digests), layout.digests(day, dataset))
    withdrawn_today = change.filter(pc.equal(change["change"], "withdrawn"))["record_id"].to_pylist()
    feed = sync.sync_rows(earlier, table, digests, withdrawn_today, compared)
    write_parquet(feed, layout.sync(day, dataset))
    return feed


def changes_fingerprint(table_file: Path, removed: list[str] | None = None) -> str:
    """What a day's change files are made of: the kept change table, less the withdrawn `removed`."""
    text = "|".join([parts.VERSION, sha256_file(table_file), *(removed or [])])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def scrub_changes(table: pa.Table, withdrawn_ids: dict[str, str]) -> pa.Table:
    if not withdrawn_ids or not table.num_rows:
        return table
    gone = pc.is_in(table["record_id"], value_set=pa.array(sorted(withdrawn_ids)))
    return table.filter(pc.or_(pc.invert(gone), pc.equal(table["change"], "withdrawn")))


# --- the files of a release ------------------------------------------------------------------------------


def media_type(path: str) -> str:
    return _media_type("." + path.rsplit(".", 1)[-1])


@functools.lru_cache(maxsize=64)
def _media_type(suffix: str) -> str:
    types = {w.SUFFIX: w.MEDIA_TYPE for w in REGISTRY.values()} | {
        ".sqlite": SQLITE,
        ".json": "application/json",
        ".jsonld": "application/ld+json",
        ".txt": "text/plain",
    }
    return types.get(suffix, "application/octet-stream")


@dataclass
class DataFiles:
    """What the data files of a release are made from, and what they can reuse.

    `reuse` names, per dataset, a previous build whose whole-table files of that dataset are
    identical (the public table did not change). Parts (`gongshi.parts`) and past days' change files
    whose fingerprint equals the one `previous_fingerprints` recorded are hard-linked from
    `previous_build`. `fingerprints` is filled as the files are made (kept in the build record)."""

    tables: dict[str, pa.Table]
    digests: dict[str, pa.Array]
    history: dict[str, dict[str, pa.Table]]
    history_fingerprints: dict[str, str] = field(default_factory=dict)
    parts_above: int = parts.ABOVE
    reuse: dict[str, Path] = field(default_factory=dict)
    previous_build: Path | None = None
    previous_fingerprints: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    first_release: str | None = None  # the first day a release went out (DCAT's dct:issued)
    feeds: dict[str, dict[str, pa.Table]] = field(default_factory=dict)  # day -> dataset -> sync feed
    # a past day's feed above holds only `op` and `record_id`: its kept file and the withdrawn ids
    feed_sources: dict[str, dict[str, tuple[Path, dict]]] = field(default_factory=dict)
    base_release: str | None = None  # the oldest retained release: where a sync consumer starts
    base_tables: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # base -> dataset -> Parquet files

    def parted(self, dataset: str) -> bool:
        return parts.is_parted(self.tables[dataset], self.parts_above)

    def fill(self, other: DataFiles) -> None:
        """Take every field of `other`; a dict is updated in place, so that whoever holds it (the
        site's step) sees the filled one."""
        for item in dataclasses.fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if isinstance(mine, dict) and isinstance(theirs, dict):
                if mine is not theirs:
                    mine.clear()
                    mine.update(theirs)
            else:
                setattr(self, item.name, theirs)


def build_files(
    build: Path,
    catalog: dict[str, Dataset],
    day: str,
    data: DataFiles,
    base_url: str,
    site: Callable[[Path, dict[str, dict]], tuple[dict[str, str], set[str], dict[str, int]]] | None = None,
    prepare: Callable[[], None] | None = None,
    before_site: Callable[[dict[str, dict]], None] | None = None,
    after_site: Callable[[dict[str, str]], None] | None = None,
) -> dict[str, dict]:
    """Write every file of a release into `build`; return path -> {bytes, sha256, media_type}.

    `prepare`, if given, completes `data` (all but its tables, reuse and previous build): it runs
    first in this process while the whole-table spreadsheets and database, which need only the
    tables, are being written by a second one.

    Files that did not change are hard-linked from the previous build (see `DataFiles`). `site`, if
    given, renders the website into the build once the data files and their metadata exist, and
    returns the sha256 of the files it wrote, the files it hard-linked from the previous build
    (which keep their recorded sha256) and the bytes of the files it wrote. `before_site`, if
    given, is called with the files written before the site (path -> description) as the site
    begins: work on them while the site renders (`checks.begin_early`); `after_site` with the files
    the site wrote (path -> sha256), before every file of the build is described: work on those
    while that is done.
    """
    linked: dict[str, str] = {}  # hard-linked file -> its sha256 from the previous manifest
    before = manifest_files(data.previous_build) if data.previous_build is not None else {}
    known = {path: info["sha256"] for path, info in before.items()}
    with progress.step("数据文件", unit="个文件") as bar:
        written = _data_files(build, catalog, data, known, linked, bar.advance, prepare)
    files = _describe_all(build, written, linked)
    if data.feeds:
        if data.base_release == day:  # this release is where consumers start: its own files
            tables = {
                name: [f"releases/{day}/{p}" for p, _, _ in download_files(d, files) if p.endswith(".parquet")]
                for name, d in catalog.items()
            }
            data.base_tables[day] = tables
        write_json(build / sync.INDEX, sync_index(catalog, day, data, files), sort_keys=False)
        files[sync.INDEX] = _describe(build / sync.INDEX)
    spans = {d.id: coverage(d, data.tables[d.id]) for d in catalog.values()}
    for dataset in catalog.values():
        relative = f"datasets/{dataset.id}/schema-org.jsonld"
        write_json(build / relative, schema_org(dataset, day, files, base_url, spans[dataset.id]), sort_keys=False)
        files[relative] = _describe(build / relative)
    first_release = min(filter(None, [day, data.first_release]))
    write_json(build / "dcat.jsonld", dcat(catalog, day, files, base_url, spans, first_release), sort_keys=False)
    files["dcat.jsonld"] = _describe(build / "dcat.jsonld")
    write_json(build / "datapackage.json", datapackage(catalog, day, files), sort_keys=False)
    files["datapackage.json"] = _describe(build / "datapackage.json")
    if site is not None:
        if before_site is not None:
            before_site(dict(files))
        written_hashes, linked, sizes = site(build, dict(files))
        if after_site is not None:
            after_site(written_hashes)
        files |= _describe_rest(build, files, data.previous_build, written_hashes, known, linked, before, sizes)
    write_manifest(build, day, files)
    return files


def _data_files(
    build: Path,
    catalog: dict[str, Dataset],
    data: DataFiles,
    known: dict[str, str],
    linked: dict[str, str],
    advance: Callable[[int], None],
    prepare: Callable[[], None] | None = None,
) -> list[str]:
    """Every dataset in every format (whole, or in parts), the SQLite database and the change files;
    what was written or linked. The whole-table spreadsheets and the SQLite database (a few microseconds
    a cell in Python) are taken one at a time by a second process from the start, and by this one
    once it has run `prepare` and written the rest (`parallel.share`)."""
    out = _Writing(build, data, known, linked, advance)
    beside: list[tuple[int, Callable[[], None]]] = []  # (cost, job): the slow whole-table files
    # First what is shared between the two processes: each whole-table spreadsheet not linked from an
    # earlier build, and the SQLite database.
    for dataset in catalog.values():
        (build / "datasets" / dataset.id).mkdir(parents=True, exist_ok=True)
        if not data.parted(dataset.id):
            cost = _cells(data.tables[dataset.id])
            formats = [n for n in dataset.exports if n in WRITTEN_BESIDE]
            _whole_table_files(out, dataset, formats, lambda job, cost=cost: beside.append((cost, job)))
    in_database = {
        d.id: (data.tables[d.id], published_fields(d))
        for d in catalog.values()
        if "sqlite" in d.exports and not data.parted(d.id)
    }
    if in_database:
        search = {d: search_columns(catalog[d]) for d in in_database}
        database = functools.partial(write_database, in_database, build / FILE_NAME, search)
        beside.append((sum(_cells(t) for t, _ in in_database.values()) // SQLITE_CHEAPER, database))
        write_json(build / DATASETTE_METADATA, datasette_metadata(catalog, list(in_database), search), sort_keys=False)
        out.done(FILE_NAME)
        out.done(DATASETTE_METADATA)

    def the_rest() -> None:
        if prepare is not None:
            prepare()
        # The change files (a first day's are every record again) beside the datasets' files, in a
        # forked process, when they are large: what it wrote, linked and fingerprinted comes back.
        changed = _change_cells_to_write(data)
        _, (written, linked_there, prints) = parallel.both(
            lambda: _dataset_files(out, catalog),
            lambda: _beside(out, _change_files),
            parallel=changed >= BESIDE_ABOVE_CELLS and not beside,
        )
        out.written += written
        out.linked.update(linked_there)
        out.data.fingerprints.update(prints)
        out.advance(len(written))

    cells = sum(_cells(data.tables[d]) for d in catalog if not data.parted(d))
    # the costliest first, so that the last job taken is a short one
    jobs = [job for _, job in sorted(beside, key=lambda pair: -pair[0])]
    parallel.share(the_rest, jobs, parallel=cells >= BESIDE_ABOVE_CELLS)
    checkpoint("build:datasets_written")
    return out.written


def _change_cells_to_write(data: DataFiles) -> int:
    """Cells of the change tables and sync feeds whose files the previous build does not have."""
    cells = 0
    for suffix, history in (("", data.history), (".sync", data.feeds)):
        for change_day, per_dataset in history.items():
            for name, table in per_dataset.items():
                key = f"changes/{change_day}/{name}{suffix}"
                fingerprint = data.history_fingerprints.get(key)
                if fingerprint is None or data.previous_fingerprints.get(key) != fingerprint:
                    cells += _cells(table)
    return cells


def _beside(out: _Writing, write: Callable[[_Writing], None]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """`write(out)` on a `_Writing` of its own — run in a forked process, what it did is given back:
    the files written, those hard-linked (with their sha256) and the fingerprints recorded."""
    before = dict(out.data.fingerprints)
    mine = dataclasses.replace(out, linked={}, advance=lambda count: None, written=[])
    write(mine)
    prints = {key: value for key, value in out.data.fingerprints.items() if before.get(key) != value}
    return mine.written, mine.linked, prints


def _cells(table: pa.Table) -> int:
    return table.num_rows * table.num_columns


WRITTEN_BESIDE = {"xlsx"}  # formats shared between two processes (with the SQLite database)
SQLITE_CHEAPER = 4  # a cell costs a spreadsheet (xlsxwriter) about four times what it costs SQLite
BESIDE_ABOVE_CELLS = 500_000  # cells of whole tables: fewer are written in one process (a fork costs more)


@dataclass
class _Writing:
    """The data files of a build as they are written: where, from what, what the previous build's
    manifest recorded (`known`), which were hard-linked from it (`linked`) and every file so far."""

    build: Path
    data: DataFiles
    known: dict[str, str]
    linked: dict[str, str]
    advance: Callable[[int], None]
    written: list[str] = field(default_factory=list)

    def done(self, relative: str) -> None:
        self.written.append(relative)
        self.advance(1)

    def reused(self, relative: str, source: Path | None, hashes: dict[str, str]) -> bool:
        """Hard-link `relative` from the build `source` if `hashes` (its manifest) lists it."""
        if source is None or relative not in hashes or not (source / relative).is_file():
            return False
        (self.build / relative).parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(source / relative, self.build / relative)
        self.linked[relative] = hashes[relative]
        return True

    def same_as_before(self, key: str, fingerprint: str | None, relative: str) -> bool:
        """Whether `relative` was made from `fingerprint` (kept under `key`) in the previous build, and
        could be hard-linked from it."""
        if fingerprint is not None:
            self.data.fingerprints[key] = fingerprint
        same = fingerprint is not None and self.data.previous_fingerprints.get(key) == fingerprint
        return same and self.reused(relative, self.data.previous_build, self.known)

    def whole_table_source(self, dataset: str) -> tuple[Path | None, dict[str, str]]:
        """Where a dataset's whole-table files can be linked from, and their recorded sha256."""
        source = self.data.reuse.get(dataset)
        if source is not None and source != self.data.previous_build:
            return source, manifest_hashes(source)
        return source, self.known


def _dataset_files(out: _Writing, catalog: dict[str, Dataset]) -> None:
    """Every dataset in every format but those written beside: whole, or in parts."""
    data = out.data
    for dataset in catalog.values():
        table, fields = data.tables[dataset.id], published_fields(dataset)
        if data.parted(dataset.id):
            salt = ",".join(f.name for f in fields)
            formats = [n for n in dataset.exports if n in parts.FORMATS]
            (out.build / "datasets" / dataset.id / "parts").mkdir(exist_ok=True)
            for part in parts.split(table, data.digests[dataset.id], salt):
                stem = part.stem(dataset.id)
                for name in formats:
                    writer = writer_for(name)
                    relative = stem + writer.SUFFIX
                    if not out.same_as_before(stem, part.fingerprint, relative):
                        writer.write(part.rows, fields, out.build / relative)
                    out.done(relative)
            continue
        here = [n for n in dataset.exports if n != "sqlite" and n not in WRITTEN_BESIDE]
        _whole_table_files(out, dataset, here, lambda write: write())


def _whole_table_files(
    out: _Writing, dataset: Dataset, formats: list[str], write: Callable[[Callable[[], None]], None]
) -> None:
    """A dataset's whole table in each of `formats` that can hold it: hard-linked from an earlier
    build where it is the same, else handed to `write` (call it now, or later elsewhere)."""
    table, fields = out.data.tables[dataset.id], published_fields(dataset)
    source, hashes = out.whole_table_source(dataset.id)
    for name in formats:
        writer = writer_for(name)
        if not writer.fits(table):
            continue
        relative = f"datasets/{dataset.id}/{dataset.id}{writer.SUFFIX}"
        if not out.reused(relative, source, hashes):
            write(functools.partial(writer.write, table, fields, out.build / relative))
        out.done(relative)


def _change_files(out: _Writing) -> None:
    """The change files and sync feeds of every retained day."""
    data, build = out.data, out.build
    csv_writer, jsonl_writer = writer_for("csv"), writer_for("jsonl")
    for change_day, per_dataset in sorted(data.history.items()):
        for name, table in sorted(per_dataset.items()):
            stem = f"changes/{change_day}/{name}"
            for writer in (csv_writer, jsonl_writer):
                relative = stem + writer.SUFFIX
                (build / relative).parent.mkdir(parents=True, exist_ok=True)
                if not out.same_as_before(stem, data.history_fingerprints.get(stem), relative):
                    writer.write(table, CHANGE_FIELDS, build / relative)
                out.done(relative)
    for feed_day, per_dataset in sorted(data.feeds.items()):
        for name, table in sorted(per_dataset.items()):
            key = f"changes/{feed_day}/{name}.sync"
            relative = f"changes/{feed_day}/{name}{sync.SUFFIX}"
            (build / relative).parent.mkdir(parents=True, exist_ok=True)
            if not out.same_as_before(key, data.history_fingerprints.get(key), relative):
                if data.feed_sources.get(feed_day, {}).get(name) is not None:
                    path, withdrawn_ids = data.feed_sources[feed_day][name]
                    table = sync.scrub(pq.read_table(path), withdrawn_ids)
                jsonl_writer.write(table, [], build / relative)
            out.done(relative)


def sync_index(catalog: dict[str, Dataset], day: str, data: DataFiles, files: dict[str, dict]) -> dict:
    """changes/index.json: every retained day with, per dataset, its sync feed, change files, counts
    and checksums; and where a consumer starts — the oldest retained release (`base`, its tables),
    after which the days are applied in order."""
    base = data.base_release if data.base_release and data.base_release <= day else day

    def described(path: str) -> dict | None:
        info = files.get(path)
        return {"path": path, "bytes": info["bytes"], "sha256": info["sha256"]} if info else None

    days = []
    for feed_day in sorted(set(data.feeds) | set(data.history)):
        datasets = {}
        for name in sorted(catalog):
            feed = data.feeds.get(feed_day, {}).get(name)
            changes = data.history.get(feed_day, {}).get(name)
            ops = value_counts(feed["op"]) if feed is not None and feed.num_rows else {}
            entry = {
                "changes": {
                    kind: described(f"changes/{feed_day}/{name}.{kind}")
                    for kind in ("csv", "jsonl")
                    if f"changes/{feed_day}/{name}.{kind}" in files
                },
                "counts": value_counts(changes["change"]) if changes is not None and changes.num_rows else {},
            }
            if feed_day > base and feed is not None:
                entry["sync"] = described(f"changes/{feed_day}/{name}{sync.SUFFIX}") | {
                    "upserts": ops.get(sync.UPSERT, 0),
                    "deletes": ops.get(sync.DELETE, 0),
                }
            datasets[name] = entry
        days.append({"day": feed_day, "base": feed_day == base, "datasets": datasets})
    return {
        "format": sync.FORMAT,
        "release": day,
        "description": (
            "从 base 指定的发布的各数据集表开始，按日期顺序应用其后每一天的 sync 文件："
            "op 为 upsert 的行是该记录发布后的完整内容（新增或有变化），op 为 delete 的行表示该记录不再公开；"
            "应用完即得本发布的各数据集公开表。"
        ),
        "base": {"release": base, "tables": data.base_tables.get(base, {})},
        "days": days,
    }


def _describe_rest(
    build: Path,
    known: dict[str, dict],
    previous: Path | None,
    written: dict[str, str] | None = None,
    hashes: dict[str, str] | None = None,
    linked: set[str] | None = None,
    before: dict[str, dict] | None = None,
    sizes: dict[str, int] | None = None,
) -> dict[str, dict]:
    """Every file under `build` not yet described; a file hard-linked from `previous` (an unchanged
    page) keeps the sha256 the previous manifest recorded (`hashes`), and one whose sha256 was taken
    as it was written (`written`) keeps that: neither is read again. A file in `linked` was linked
    from `previous` by this build: that is not checked again (another file is compared by inode),
    and with `before` (the previous manifest's entries) its size is taken from there, without a stat
    (`verify_build` compares every size with the disk before the release goes out); so is a file
    in `sizes` (written by this build, its bytes counted as they were written: a first day's
    147,000 stats)."""
    written = written or {}
    sizes = sizes or {}
    linked = linked or set()
    before = before or {}
    if hashes is None:
        hashes = manifest_hashes(previous) if previous is not None else {}
    described = {}
    # os.walk and os.stat on strings: a release has a file per market entity, and pathlib's objects
    # cost more than the system calls
    root = str(build)
    for folder, _, names in os.walk(root):
        prefix = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in names:
            relative = name if prefix == "." else f"{prefix}/{name}"
            if relative in known or relative in {"manifest.json", "SHA256SUMS"}:
                continue
            without_stat = None  # (bytes, sha256) without a stat
            if relative in linked and relative in before and relative not in written:
                without_stat = before[relative]["bytes"], before[relative]["sha256"]
            elif relative in sizes and relative in written:
                without_stat = sizes[relative], written[relative]
            if without_stat is not None:
                size, sha256 = without_stat
                described[relative] = {"bytes": size, "sha256": sha256, "media_type": media_type(name)}
                continue
            try:
                info = os.stat(os.path.join(folder, name))
            except FileNotFoundError:  # a dangling link is not a file of the release
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            sha256 = written.get(relative)
            if sha256 is None and relative in hashes and previous is not None:
                try:
                    if os.stat(os.path.join(previous, relative)).st_ino == info.st_ino:
                        sha256 = hashes[relative]
                except FileNotFoundError:
                    pass
            described[relative] = _describe(build / relative, sha256, info.st_size)
    return dict(sorted(described.items()))


def write_manifest(build: Path, day: str, files: dict[str, dict]) -> None:
    """manifest.json (every other file with bytes and sha256, one a line) and SHA256SUMS for
    `sha256sum -c`. Written line by line: json's indenting encoder is pure Python, and a release
    lists a file per market entity and per list page (37 MB at a million records)."""
    ordered = sorted(files.items())
    quoted = json.encoder.encode_basestring  # a JSON string, as json.dumps(..., ensure_ascii=False) writes it
    entries = ",\n".join(
        f'  {quoted(p)}: {{"bytes": {int(i["bytes"])}, "sha256": {quoted(i["sha256"])}}}' for p, i in ordered
    )
    text = f'{{\n "release": {json.dumps(day)},\n "files": {{\n{entries}\n }}\n}}\n'
    write_text(build / "manifest.json", text)
    write_text(build / "SHA256SUMS", "".join(f"{i['sha256']}  {p}\n" for p, i in ordered))
    # what `manifest_files` would read back, kept for the file as it now is: the checks read it next
    # (19 MB of JSON at a million records, 0.7 s a reading), as does a process forked for them
    _remember_manifest(
        build / "manifest.json", {p: {"bytes": int(i["bytes"]), "sha256": i["sha256"]} for p, i in ordered}
    )


def verify_build(build: Path, verified: Collection[str] = frozenset()) -> list[str]:
    """Every way the build differs from its manifest (missing files, wrong size or hash). A file
    hard-linked from an earlier build (unchanged bytes) is checked by size: its sha256 was checked
    when that build was; so is a file in `verified`, whose bytes were read and hashed by the leak
    gate (`ScanReport.verified`)."""
    problems, _ = check_against_manifest(build, lambda relative, _: relative in verified)
    return problems


def check_against_manifest(
    build: Path, leave: Callable[[str, str], bool] = lambda relative, sha256: False
) -> tuple[list[str], list[str]]:
    """`verify_build`'s problems, but the sha256 of a file for which `leave(path, manifest sha256)`
    is true is not taken here: those files come back second, for the caller to confirm (the leak
    gate reads them beside this, and hashes them as it reads)."""
    if not (build / "manifest.json").is_file():
        return ["manifest.json: missing"], []
    problems, left, to_hash = [], [], []
    root = str(build)  # one os.stat a file, on strings: a release has a file per market entity
    for relative, info in manifest_files(build).items():
        try:
            found = os.stat(f"{root}/{relative}")
        except (FileNotFoundError, NotADirectoryError):
            found = None
        if found is None or not stat.S_ISREG(found.st_mode):
            problems.append(f"{relative}: missing")
        elif found.st_size != info["bytes"]:
            problems.append(f"{relative}: {found.st_size} bytes, the manifest says {info['bytes']}")
        elif found.st_nlink == 1:
            (left if leave(relative, info["sha256"]) else to_hash).append(relative)
    return problems + hash_problems(build, to_hash), left


def hash_problems(build: Path, relatives: list[str]) -> list[str]:
    """The files of `relatives` whose bytes do not have the sha256 the build's manifest gives (or that
    can no longer be read)."""
    files, problems = manifest_files(build), []
    for relative in relatives:
        try:
            if sha256_file(build / relative) != files[relative]["sha256"]:
                problems.append(f"{relative}: sha256 differs")
        except OSError as error:
            problems.append(f"{relative}: cannot be read ({error.strerror or error})")
    return problems


def manifest_files(build: Path) -> dict[str, dict]:
    """path -> {bytes, sha256} of every file the build's manifest lists ({} without a manifest).
    The manifest is parsed once while its file stays the same (inode, size, time of change): the
    release reads the previous build's, the checks the new one's, several times a day — 37 MB at a
    million records. The dict is shared: read it, do not change it."""
    path = build / "manifest.json"
    key = _manifest_key(path)
    if key is None:
        return {}
    with _MANIFESTS_LOCK:
        if key in _MANIFESTS:
            return _MANIFESTS[key]
    files = json.loads(path.read_text(encoding="utf-8"))["files"]
    _remember_manifest(path, files, key)
    return files


def _manifest_key(path: Path) -> tuple | None:
    """What a manifest's parsed entries are kept under: the file as it is (inode, size, times of
    change); None if it is not a regular file."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (str(path), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _remember_manifest(path: Path, files: dict[str, dict], key: tuple | None = None) -> None:
    key = key or _manifest_key(path)
    if key is None:
        return
    with _MANIFESTS_LOCK:
        _MANIFESTS[key] = files
        while len(_MANIFESTS) > 2:  # the previous build's and the new one's
            del _MANIFESTS[next(iter(_MANIFESTS))]


_MANIFESTS: dict[tuple, dict[str, dict]] = {}
_MANIFESTS_LOCK = threading.Lock()


def manifest_hashes(build: Path) -> dict[str, str]:
    """path -> sha256 of every file the build's manifest lists."""
    return {p: i["sha256"] for p, i in manifest_files(build).items()}


def _describe_all(build: Path, written: list[str], linked: dict[str, str]) -> dict[str, dict]:
    """`_describe` of each of the data files `written` (those `linked` keep their sha256), in that
    order. Read by a thread per processor, the largest first: the reads and sha256 release the GIL.
    One after another, a first day's 1.3 GB of data files kept one core of two busy between the data
    files and the site (three runs each way, 2026-12-04: that interval 2.0–2.6 s at 1.45–1.52 cores
    busy, against 1.6–2.0 s at 1.69–1.94)."""
    sizes = {p: (build / p).stat().st_size for p in written}
    with concurrent.futures.ThreadPoolExecutor(parallel.cores()) as pool:
        described = {
            p: pool.submit(_describe, build / p, linked.get(p), sizes[p])
            for p in sorted(written, key=lambda p: -sizes[p])
        }
        return {p: described[p].result() for p in written}


def _describe(path: Path, known_sha256: str | None = None, size: int | None = None) -> dict:
    """A file of the release: bytes (`size` if already known), sha256 (read unless known), media type."""
    sha256 = known_sha256 or sha256_file(path)
    return {
        "bytes": path.stat().st_size if size is None else size,
        "sha256": sha256,
        "media_type": media_type(path.name),
    }
