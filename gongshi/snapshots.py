"""What went out: each release's record and its public and change tables, kept in
`state/published/<day>/`, so that a dated release can be rebuilt without a record taken down later
and the next day's changes can be computed against it. Also which day a run's release is for."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshi.faults import StateDamaged
from gongshi.paths import StateLayout
from gongshi.storage import keep_file, write_json, write_parquet


@dataclass
class BuildRecord:
    """What one release build holds: kept as `build.json` while it is checked, then, once it went
    out, as the release's `release.json`. The two per-file tables — every file with its bytes and
    sha256, every page with its fingerprint — can hold millions of rows: they are kept beside it as
    Parquet (`<name>.files.parquet`, `<name>.site.parquet`) and read only when asked for."""

    release: str  # the day it is the release of
    build: str  # its directory under builds/
    files: dict[str, dict] | None  # path -> bytes, sha256, media type (None: not read yet)
    hashes: dict[str, str]  # dataset -> sha256 of its public table (unchanged tables are hard-linked)
    changes: dict[str, dict[str, int]]  # dataset -> change counts of the day
    records: dict[str, int]  # dataset -> public records
    previous: str | None  # the release its changes were computed against
    site: dict[str, str] | None = field(default_factory=dict)  # page -> fingerprint (None: not read yet)
    modified: dict[str, str] | None = field(default_factory=dict)  # page -> day its content last changed
    lifted: list[str] = field(default_factory=list)  # takedowns lifted when it was built
    # download parts and past days' change files (path without suffix) -> fingerprint of their rows
    parts: dict[str, str] = field(default_factory=dict)
    source: Path | None = field(default=None, repr=False, compare=False)  # where it was loaded from

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if value is None and name in _SIDE_TABLES and object.__getattribute__(self, "source") is not None:
            value = _read_side_table(object.__getattribute__(self, "source"), name)
            object.__setattr__(self, name, value)
        return value

    def save(self, path: Path) -> None:
        payload = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _SIDE_TABLES | {"source"}}
        for name in sorted(_SIDE_TABLES):
            _write_side_table(path, name, getattr(self, name))
        write_json(path, payload)

    @classmethod
    def load(cls, path: Path) -> BuildRecord:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            values = {f.name: payload[f.name] for f in fields(cls) if f.name in payload}
            values |= {name: values.get(name) for name in _SIDE_TABLES}  # in the Parquet beside it
            return cls(**values, source=path)
        except (ValueError, TypeError, KeyError) as error:
            raise StateDamaged(
                path,
                f"发布记录已损坏，无法读取（{error}）",
                "从备份恢复该文件，或删除 state/published 下该日期的文件夹后重新运行 gongshi publish",
            ) from None


_SIDE_TABLES = {"files", "site", "modified"}


def copy_record(source: Path, target: Path) -> None:
    """The record saved at `source` (its JSON and the tables beside it) kept again at `target`, file
    by file, without reading it (its tables hold a row per file of the release). The JSON last:
    where it is, the record is (`published_days`)."""
    for name in sorted(_SIDE_TABLES):
        side = _side_path(source, name)
        if side.is_file():
            keep_file(side, _side_path(target, name))
        else:
            _side_path(target, name).unlink(missing_ok=True)
    keep_file(source, target)


def _side_path(path: Path, name: str) -> Path:
    return path.with_name(f"{path.stem}.{name}.parquet")


def _write_side_table(path: Path, name: str, value: dict) -> None:
    if name == "files":
        table = pa.table(
            {
                "path": pa.array(list(value), pa.string()),
                "bytes": pa.array([i["bytes"] for i in value.values()], pa.int64()),
                "sha256": pa.array([i["sha256"] for i in value.values()], pa.string()),
                "media_type": pa.array([i["media_type"] for i in value.values()], pa.string()),
            }
        )
    else:
        table = pa.table({"path": pa.array(list(value), pa.string()), "fingerprint": pa.array(list(value.values()))})
    path.parent.mkdir(parents=True, exist_ok=True)
    # the same content, the same bytes: rows by path (sorted in Arrow: a sort of 150,000 Python
    # tuples cost half a second per table)
    write_parquet(table.sort_by("path"), _side_path(path, name))


def _read_side_table(path: Path, name: str, prefix: str = "") -> dict:
    """A side table of the record at `path` as a dict by path (only the paths that start with
    `prefix`, when given: the others never become Python objects)."""
    side = _side_path(path, name)
    if name == "modified" and not side.is_file():
        return {}  # a record made before pages carried the day they changed
    try:
        table = pq.read_table(side)
    except (OSError, pa.ArrowInvalid) as error:
        raise StateDamaged(
            side,
            f"发布记录的文件清单已损坏或缺失，无法读取（{error}）",
            "从备份恢复该文件，或删除 state/published 下该日期的文件夹后重新运行 gongshi publish",
        ) from None
    if prefix:
        table = table.filter(pc.starts_with(table["path"], prefix))
    columns = table.to_pydict()
    if name == "files":
        return {
            p: {"bytes": b, "sha256": h, "media_type": m}
            for p, b, h, m in zip(
                columns["path"], columns["bytes"], columns["sha256"], columns["media_type"], strict=True
            )
        }
    return dict(zip(columns["path"], columns["fingerprint"], strict=True))


def published_days(layout: StateLayout) -> list[str]:
    """Days whose release went out (and is still kept), oldest first."""
    root = layout.published_root
    return sorted(p.name for p in root.iterdir() if (p / "release.json").is_file()) if root.is_dir() else []


def previous_published_day(layout: StateLayout, day: str) -> str | None:
    return max((d for d in published_days(layout) if d < day), default=None)


def release_day(layout: StateLayout, day: str) -> str:
    """The day whose release processing `day` builds: `day` itself, or — when a newer day is already
    out (`day` came late, or was corrected) — that newest day, re-published so that latest reflects
    every delivery. Dated releases are what went out on their day; they are not rewritten."""
    return max([*published_days(layout), day])


def record(layout: StateLayout, day: str) -> BuildRecord:
    return BuildRecord.load(layout.published_record(day))


def files_under(layout: StateLayout, day: str, prefix: str) -> dict[str, dict]:
    """The files of the release of `day` whose path starts with `prefix`, as its record lists them
    (a release lists 148,000 files: made into a dict whole, 0.4 s)."""
    return _read_side_table(layout.published_record(day), "files", prefix)


def table(path: Path, columns: list[str] | None = None) -> pa.Table | None:
    """A kept table (only `columns`, when given), or None where there is none."""
    return pq.read_table(path, columns=columns) if path.is_file() else None
