"""Releases: what the public sees of the register on a day, built beside the live release and
switched in one step.

Layout of the public directory (the web root):

    public/index.html                  -> a link to latest/ (written once)
    public/latest                      -> symlink to builds/<day>-<id>   (swapped atomically)
    public/releases/<day>              -> symlink to builds/<day>-<id>   (one per retained day)
    public/builds/<day>-<id>/          the files of one release; never changed once switched in

A build is written and checked under a fresh name in the state directory (`state/staging/`), which
is never served; only once every blocking check has passed is it moved into `public/builds/` (one
rename) and made visible by `os.replace` of a symlink, which is atomic. Nothing unchecked is ever
under `public/`. A run killed at any moment leaves the previous release served as it was: at worst
a staged build, or a checked build no link points at, remains; the next run removes both.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi.catalog import Dataset
from gongshi.faults import checkpoint
from gongshi.metadata import CHANGE_FIELDS, datapackage, dcat, published_fields, schema_org
from gongshi.register import ACTIVE, REMOVED, UNMATCHED_REMOVAL
from gongshi.storage import link_or_copy, sha256_file, write_json
from gongshi.writers import REGISTRY, writer_for
from gongshi.writers.sqlite import FILE_NAME, write_database
from gongshi.writers.sqlite import MEDIA_TYPE as SQLITE

LATEST, RELEASES, BUILDS = "latest", "releases", "builds"
# Columns of a published record besides the dataset's own (privacy-filtered) fields.
PUBLIC_META = ["record_id", "status", "first_published", "last_updated", "corrected_on", "expires_on", "flags"]
PUBLISHED_STATUSES = (ACTIVE, REMOVED)


@dataclass(frozen=True)
class PublicLayout:
    root: Path

    @property
    def latest(self) -> Path:
        return self.root / LATEST

    @property
    def builds(self) -> Path:
        return self.root / BUILDS

    def release(self, day: str) -> Path:
        return self.root / RELEASES / day

    def live_builds(self) -> set[Path]:
        """Build directories some symlink points at."""
        links = [self.latest, *(self.root / RELEASES).glob("*")] if (self.root / RELEASES).is_dir() else [self.latest]
        return {link.resolve() for link in links if link.is_symlink()}

    def retained_days(self) -> list[str]:
        folder = self.root / RELEASES
        return sorted(p.name for p in folder.iterdir() if p.is_symlink()) if folder.is_dir() else []


def public_flags(dataset: Dataset) -> set[str]:
    """Flags the public may see: the dataset's declared flags and an unmatched removal; never the
    warnings about values that are not published."""
    return set(dataset.flags) | ({UNMATCHED_REMOVAL} if dataset.removal else set())


def public_view(records: pa.Table, dataset: Dataset, withdrawn: set[str] = frozenset()) -> pa.Table:
    """The register's records the public may see today: in their publicity period, not withdrawn;
    the dataset's fields (still unredacted) and the public metadata, in a deterministic order."""
    keep = pc.is_in(records["status"], value_set=pa.array(PUBLISHED_STATUSES))
    if withdrawn:
        keep = pc.and_(keep, pc.invert(pc.is_in(records["record_id"], value_set=pa.array(sorted(withdrawn)))))
    selected = records.filter(keep)
    flags = _only_public_flags(selected["flags"].combine_chunks(), public_flags(dataset))
    columns = {"record_id": selected["record_id"]}
    columns |= {name: selected[name] for name in dataset.field_names}
    columns |= {
        "status": selected["status"],
        "first_published": selected["first_delivery"],
        "last_updated": selected["last_delivery"],
        "corrected_on": selected["corrected_on"],
        "expires_on": selected["expires_on"],
        "flags": flags,
    }
    table = pa.table(columns)
    order = [(k, "ascending") for k in dataset.primary_key] + [("record_id", "ascending")]
    return table.sort_by(order)


def _only_public_flags(flags: pa.ListArray, allowed: set[str]) -> pa.Array:
    """Each row's flags that the public may see, joined with ';' (empty when none)."""
    flat = pc.list_flatten(flags)
    parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
    keep = pc.is_in(flat, value_set=pa.array(sorted(allowed), pa.string())).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[keep], minlength=len(flags))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pc.binary_join(pa.ListArray.from_arrays(offsets, flat.filter(pa.array(keep))), ";")


def new_build(staging: Path, day: str) -> Path:
    """A fresh, empty build directory under `staging` (in the state directory: never served)."""
    path = staging / f"{day}-{secrets.token_hex(4)}"
    path.mkdir(parents=True)
    return path


def clear_staging(staging: Path) -> None:
    """Remove builds a failed or killed run left in the staging area."""
    if staging.is_dir():
        for leftover in staging.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)


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
        index.write_text(
            '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>公示数据</title>'
            '<meta http-equiv="refresh" content="0; url=latest/"><a href="latest/">最新发布</a></html>\n',
            encoding="utf-8",
        )


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
    (layout.root / RELEASES).mkdir(parents=True, exist_ok=True)
    for stray in (layout.root / RELEASES).glob(".*"):
        if stray.is_symlink():
            stray.unlink()
    return removed


def media_type(path: str) -> str:
    suffix = "." + path.rsplit(".", 1)[-1]
    types = {w.SUFFIX: w.MEDIA_TYPE for w in REGISTRY.values()} | {
        ".sqlite": SQLITE,
        ".json": "application/json",
        ".jsonld": "application/ld+json",
        ".txt": "text/plain",
    }
    return types.get(suffix, "application/octet-stream")


def build_files(
    build: Path,
    catalog: dict[str, Dataset],
    day: str,
    tables: dict[str, pa.Table],
    change_history: dict[str, dict[str, pa.Table]],
    base_url: str,
    reuse: dict[str, Path] | None = None,
    site: Callable[[Path, dict[str, dict]], None] | None = None,
    previous_build: Path | None = None,
) -> dict[str, dict]:
    """Write every file of a release into `build`; return path -> {bytes, sha256, media_type}.

    `reuse` names, per dataset, a previous build whose files of that dataset are identical (the
    public table did not change): those files are hard-linked, not written again. `site`, if given,
    renders the website into the build once the data files and their metadata exist; pages it
    hard-links from `previous_build` keep their recorded sha256.
    """
    reuse = reuse or {}
    linked: dict[str, str] = {}  # hard-linked file -> its sha256 from the previous manifest
    written: list[str] = []
    for dataset in catalog.values():
        table, fields = tables[dataset.id], published_fields(dataset)
        folder = build / "datasets" / dataset.id
        folder.mkdir(parents=True, exist_ok=True)
        source = reuse.get(dataset.id)
        known = _manifest_hashes(source) if source is not None else {}
        for name in (n for n in dataset.exports if n != "sqlite"):
            writer = writer_for(name)
            if not writer.fits(table):
                continue
            relative = f"datasets/{dataset.id}/{dataset.id}{writer.SUFFIX}"
            if relative in known and (source / relative).is_file():
                link_or_copy(source / relative, build / relative)
                linked[relative] = known[relative]
            else:
                writer.write(table, fields, build / relative)
            written.append(relative)
    checkpoint("build:datasets_written")
    in_database = {d.id: (tables[d.id], published_fields(d)) for d in catalog.values() if "sqlite" in d.exports}
    if in_database:
        write_database(in_database, build / FILE_NAME)
        written.append(FILE_NAME)
    csv_writer, jsonl_writer = writer_for("csv"), writer_for("jsonl")
    for change_day, per_dataset in sorted(change_history.items()):
        for name, table in sorted(per_dataset.items()):
            for writer in (csv_writer, jsonl_writer):
                relative = f"changes/{change_day}/{name}{writer.SUFFIX}"
                (build / relative).parent.mkdir(parents=True, exist_ok=True)
                writer.write(table, CHANGE_FIELDS, build / relative)
                written.append(relative)
    files = {p: _describe(build / p, linked.get(p)) for p in written}
    for dataset in catalog.values():
        relative = f"datasets/{dataset.id}/schema-org.jsonld"
        write_json(build / relative, schema_org(dataset, day, files, base_url), sort_keys=False)
        files[relative] = _describe(build / relative)
    write_json(build / "dcat.jsonld", dcat(catalog, day, files, base_url), sort_keys=False)
    files["dcat.jsonld"] = _describe(build / "dcat.jsonld")
    write_json(build / "datapackage.json", datapackage(catalog, day, files), sort_keys=False)
    files["datapackage.json"] = _describe(build / "datapackage.json")
    if site is not None:
        site(build, dict(files))
        files |= _describe_rest(build, files, previous_build)
    write_manifest(build, day, files)
    return files


def _describe_rest(build: Path, known: dict[str, dict], previous: Path | None) -> dict[str, dict]:
    """Every file under `build` not yet described; a file hard-linked from `previous` (an unchanged
    page) keeps the sha256 the previous manifest recorded instead of being read again."""
    hashes = _manifest_hashes(previous) if previous is not None else {}
    described = {}
    for path in sorted(p for p in build.rglob("*") if p.is_file()):
        relative = path.relative_to(build).as_posix()
        if relative in known or relative in {"manifest.json", "SHA256SUMS"}:
            continue
        source = previous / relative if previous is not None else None
        same = (
            source is not None
            and relative in hashes
            and source.is_file()
            and source.stat().st_ino == path.stat().st_ino
        )
        described[relative] = _describe(path, hashes[relative] if same else None)
    return described


def write_manifest(build: Path, day: str, files: dict[str, dict]) -> None:
    """manifest.json (every other file with bytes and sha256) and SHA256SUMS for `sha256sum -c`."""
    write_json(
        build / "manifest.json",
        {
            "release": day,
            "files": {p: {"bytes": i["bytes"], "sha256": i["sha256"]} for p, i in sorted(files.items())},
        },
    )
    (build / "SHA256SUMS").write_text(
        "".join(f"{i['sha256']}  {p}\n" for p, i in sorted(files.items())), encoding="utf-8"
    )


def verify_build(build: Path) -> list[str]:
    """Every way the build differs from its manifest (missing files, wrong size or hash)."""

    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    problems = []
    for relative, info in manifest["files"].items():
        path = build / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif _describe(path)["sha256"] != info["sha256"]:
            problems.append(f"{relative}: sha256 differs")
    return problems


def _manifest_hashes(build: Path) -> dict[str, str]:
    path = build / "manifest.json"
    if not path.is_file():
        return {}
    return {p: i["sha256"] for p, i in json.loads(path.read_text(encoding="utf-8"))["files"].items()}


def _describe(path: Path, known_sha256: str | None = None) -> dict:
    sha256 = known_sha256 or sha256_file(path)
    return {"bytes": path.stat().st_size, "sha256": sha256, "media_type": media_type(path.name)}
