"""Stage 8, publish: the checked build moved from the staging area into `public/builds/` and switched
in — as the release of its day, and as `latest` unless a newer day is out — each by one atomic
rename of a symlink, so a run killed at any moment leaves the previous release served as it was.
The release's tables are kept as its snapshot, the ledger notes which release each day went out
in, `public/datapackage.json` follows the newest release, and releases beyond the retention go."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from gongshi import ledger, progress, snapshots
from gongshi.catalog import Dataset
from gongshi.faults import checkpoint
from gongshi.metadata import datapackage
from gongshi.paths import PublicLayout
from gongshi.settings import Settings
from gongshi.site.feeds import robots, root_sitemap
from gongshi.snapshots import BuildRecord
from gongshi.stages import Json
from gongshi.stages.release import clear_staging, staged_build
from gongshi.storage import keep_file, write_json, write_text

INDEX_PAGE = (
    '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>公示数据</title>'
    '<meta http-equiv="refresh" content="0; url=latest/"><a href="latest/">最新发布</a></html>\n'
)


@dataclass
class PublishResult:
    release: str
    build: str
    latest: bool
    retained: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        return {
            "release": self.release,
            "build": self.build,
            "is_latest": self.latest,
            "retained_releases": Json(self.retained),
            "dropped_releases": Json(self.dropped),
        }


@progress.stage("上线")
def run(settings: Settings, catalog: dict[str, Dataset], day: str) -> PublishResult:
    """Switch the build checked while processing `day` in as the release of its day."""
    public = settings.public_layout
    record, staged = staged_build(settings, day)
    build = install(public, staged)
    newest = max([*public.retained_days(), record.release])
    switch(public, record.release, build, make_latest=record.release == newest)
    checkpoint("publish:switched")
    keep_snapshot(settings, catalog, day, record)
    ledger.mark_published(settings.layout, day, record.release)
    if record.release == newest:
        write_root_package(settings, catalog, record.release)
    dropped = collect_garbage(public, settings.keep_releases)
    for old in dropped:
        shutil.rmtree(settings.layout.published_dir(old), ignore_errors=True)
    return PublishResult(record.release, build.name, record.release == newest, public.retained_days(), dropped)


def tidy(settings: Settings) -> None:
    """Remove what an interrupted run left: builds in the staging area, and checked builds under
    `public/builds/` that no link points at. Safe at any time the state lock is held."""
    clear_staging(settings.layout.staging)
    collect_garbage(settings.public_layout)


def keep_snapshot(settings: Settings, catalog: dict[str, Dataset], day: str, record: BuildRecord) -> None:
    """What went out as the release (built while processing `day`): public and change tables, and
    the build's record — each file linked (`storage.keep_file`), not copied or written again."""
    layout = settings.layout
    layout.published_changes(record.release, "_").parent.mkdir(parents=True, exist_ok=True)
    layout.published_sync(record.release, "_").parent.mkdir(parents=True, exist_ok=True)
    for name in catalog:
        keep_file(layout.public_table(day, name), layout.published_table(record.release, name))
        keep_file(layout.changes(day, name), layout.published_changes(record.release, name))
        keep_file(layout.digests(day, name), layout.published_digests(record.release, name))
        keep_file(layout.sync(day, name), layout.published_sync(record.release, name))
    snapshots.copy_record(layout.build_record(day), layout.published_record(record.release))


def write_root_package(settings: Settings, catalog: dict[str, Dataset], day: str) -> None:
    """What the web root says about the newest release: public/datapackage.json (paths into
    releases/<day>/), and for search engines robots.txt and sitemap.xml (an index of the newest
    release's sitemaps), which only count at the root."""
    public = settings.public_layout
    files = snapshots.record(settings.layout, day).files
    write_json(public.datapackage, datapackage(catalog, day, files, prefix=f"releases/{day}/"), sort_keys=False)
    base_url = settings.base_url.rstrip("/") + "/"
    write_text(public.root / "robots.txt", robots(base_url))
    write_text(public.root / "sitemap.xml", root_sitemap(base_url, public.release(day)))


def install(layout: PublicLayout, staged: Path) -> Path:
    """Move a checked build from the staging area into `public/builds/` (still unlinked: nothing
    points at it until `switch`). One rename on one file system; across file systems a copy is made
    under a hidden name and renamed into place."""
    target = layout.builds / staged.name
    layout.builds.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staged, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        incoming = layout.builds / f".incoming-{staged.name}"
        shutil.copytree(staged, incoming, symlinks=True)
        os.rename(incoming, target)
        shutil.rmtree(staged)
    checkpoint("install:moved")
    return target


def switch(layout: PublicLayout, day: str, build: Path, make_latest: bool = True) -> None:
    """Make `build` the release of `day` (and the latest release), each by one atomic rename."""
    for link in (layout.release(day), *([layout.latest] if make_latest else [])):
        link.parent.mkdir(parents=True, exist_ok=True)
        temporary = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
        temporary.symlink_to(os.path.relpath(build, link.parent))
        checkpoint("switch:latest" if link == layout.latest else "switch:release")
        os.replace(temporary, link)
    index = layout.root / "index.html"
    if not index.exists():
        index.write_text(INDEX_PAGE, encoding="utf-8")


def collect_garbage(layout: PublicLayout, keep_days: int | None = None) -> list[str]:
    """Drop dated releases beyond the retention and build directories nothing points at."""
    removed = []
    days = layout.retained_days()
    if keep_days is not None and len(days) > keep_days:
        for day in days[: len(days) - keep_days]:
            layout.release(day).unlink()
            removed.append(day)
    live = layout.live_builds()
    if layout.builds.is_dir():
        for build in layout.builds.iterdir():
            if build.resolve() not in live:
                shutil.rmtree(build, ignore_errors=True)
    for stray in layout.root.glob(".*.*"):  # half-made symlinks of a killed switch
        if stray.is_symlink():
            stray.unlink()
    layout.releases.mkdir(parents=True, exist_ok=True)
    for stray in layout.releases.glob(".*"):
        if stray.is_symlink():
            stray.unlink()
    return removed
