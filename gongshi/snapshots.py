"""What went out: each release's record and its public and change tables, kept in
`state/published/<day>/`, so that a dated release can be rebuilt without a record taken down later
and the next day's changes can be computed against it. Also which day a run's release is for."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gongshi.faults import StateDamaged
from gongshi.paths import StateLayout
from gongshi.storage import write_json


@dataclass
class BuildRecord:
    """What one release build holds: kept as `build.json` while it is checked, then, once it went
    out, as the release's `release.json`."""

    release: str  # the day it is the release of
    build: str  # its directory under builds/
    files: dict[str, dict]  # path -> bytes, sha256, media type
    hashes: dict[str, str]  # dataset -> sha256 of its public table (unchanged tables are hard-linked)
    changes: dict[str, dict[str, int]]  # dataset -> change counts of the day
    records: dict[str, int]  # dataset -> public records
    previous: str | None  # the release its changes were computed against
    site: dict[str, str] = field(default_factory=dict)  # page -> fingerprint
    lifted: list[str] = field(default_factory=list)  # takedowns lifted when it was built

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> BuildRecord:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{f.name: payload[f.name] for f in fields(cls) if f.name in payload})
        except (ValueError, TypeError, KeyError) as error:
            raise StateDamaged(
                path,
                f"发布记录已损坏，无法读取（{error}）",
                "从备份恢复该文件，或删除 state/published 下该日期的文件夹后重新运行 gongshi publish",
            ) from None


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


def table(path: Path) -> pa.Table | None:
    return pq.read_table(path) if path.is_file() else None
