"""批量核查's static index (`gongshi.checking`) made from what the previous build kept: each entity's
entry (its "body": name, current standings, problems of the last 12 months) is a function of its
rows, the datasets' declarations and the day's 12-month window, so a day keeps the bodies of the
entities whose rows did not change and makes again only the others' — and writes again only the
buckets that hold one of them; every other bucket is linked from the previous build unread.

The bodies are kept in the state (`StateLayout.check_index`) as a Parquet table per index made,
named by the digest of the bucket files it made: a day starts from the one whose bucket files are
the previous build's (the release replaced, or the day before). Without one — the first day, a
build that did not go out, other declarations or another version of this module — every body is
made and the table kept for the next day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshi import checking
from gongshi.storage import KeptStore, files_digest

VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
KEEP_OTHERS = 2  # besides the one made and the one it started from: a takedown rebuilds an older release
BODIES = pa.schema([("code", pa.string()), ("f", pa.string()), ("body", pa.string())])


def year_ago(day: str) -> str:
    """The first day of the 12-month window of problems, as the index compares dates (ISO text)."""
    return (dt.date.fromisoformat(day) - dt.timedelta(days=365)).isoformat()


def is_bucket_file(path: str) -> bool:
    return path.startswith(f"{checking.FOLDER}/") and path.endswith(".json") and path != checking.META


def digest(fingerprints: dict[str, str]) -> str:
    """What names a kept table: the bucket files (path and sha256) of the index it made."""
    return files_digest({p: f for p, f in fingerprints.items() if is_bucket_file(p)})


def kept_store(folder: Path) -> KeptStore:
    return KeptStore(folder, ".parquet", KEEP_OTHERS, "批量核查索引")


@dataclass
class Kept:
    """The bodies of the index a build has (`bodies`: code, entity fingerprint, body), the day they
    were made for and the number of code characters that named its buckets."""

    bodies: pa.Table
    day: str
    chars: int


def load(store: Path | None, previous: dict[str, str], salt: str) -> Kept | None:
    """The kept bodies of the index in the previous build (`previous`: its files' sha256), made with
    the same `salt` (declarations, this module); None when there are none to trust."""
    if store is None or not any(is_bucket_file(p) for p in previous):
        return None
    path = kept_store(store).path(digest(previous))
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        return None
    meta = table.schema.metadata or {}
    if meta.get(b"gongshi.salt") != salt.encode() or table.schema.remove_metadata() != BODIES:
        return None
    try:
        return Kept(table.replace_schema_metadata(None), meta[b"gongshi.day"].decode(), int(meta[b"gongshi.chars"]))
    except (KeyError, ValueError):
        return None


def save(
    store: Path, bodies: pa.Table, salt: str, day: str, chars: int, fingerprints: dict[str, str], base: str | None
) -> None:
    """Keep `bodies` for the next day, named by the bucket files of the index they made; the one the
    day started from (`base`, a digest) and the newest others stay, older ones go."""
    kept = kept_store(store)
    made = kept.path(digest(fingerprints))
    # in code order: the same entries are the same bytes however many were made again (a re-run)
    bodies = bodies.take(pc.sort_indices(bodies, sort_keys=[("code", "ascending")]))
    table = bodies.cast(BODIES).replace_schema_metadata(
        {"gongshi.salt": salt, "gongshi.day": day, "gongshi.chars": str(chars)}
    )
    temporary = kept.working()
    try:
        store.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, temporary, compression="zstd", write_statistics=False)
        temporary.replace(made)
    except OSError as error:  # a full disk, say: the index is written; the next day makes every entry
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        kept.unsaved(error)
        return
    kept.tidy({made, kept.path(base)} if base else {made})


def to_make(prints: pa.Table, kept: Kept, moved: pa.Array) -> tuple[pa.Array, pa.Table]:
    """Which entities' bodies must be made again — new, rows changed (fingerprint differs), or one of
    their problems entered or left the 12-month window (`moved`) — and the kept bodies of the rest
    (code, f, body) of the entities there are now."""
    position = pc.index_in(prints["code"], value_set=kept.bodies["code"])
    same = pc.fill_null(pc.equal(prints["f"], pc.take(kept.bodies["f"], position)), False)
    if len(moved):
        same = pc.and_(same, pc.invert(pc.is_in(prints["code"], value_set=moved)))
    reused = pc.take(kept.bodies, pc.filter(position, same))
    remake = pc.filter(prints["code"], pc.invert(same))
    return pa.chunked_array(_chunks(remake), pa.string()).combine_chunks(), reused


def touched_codes(kept: Kept, prints: pa.Table, remade: pa.Array) -> pa.Array:
    """The codes whose bucket's file changes: those made again and those kept that are gone."""
    gone = pc.filter(kept.bodies["code"], pc.invert(pc.is_in(kept.bodies["code"], value_set=prints["code"])))
    return pa.chunked_array([*_chunks(remade), *_chunks(gone)], pa.string()).combine_chunks()


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    values = values.cast(pa.string())
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


def bucket_sql(chars: int, column: str = "code") -> str:
    """The bucket of a code, as `checking.bucket_of` names it."""
    return (
        f"CASE WHEN length({column}) >= {checking.START + chars} "
        f"THEN substr({column}, {checking.START + 1}, {chars}) ELSE '_' END"
    )


BUCKETS_AT_ONCE = 128  # buckets made by one query: a first day's 963 at once held 250 MiB more


def bucket_files(db, chars: int, only: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """(bucket, JSON text) of every bucket of the registered `bodies` (code, body) — of the buckets
    `only` names, with it — in the order of the buckets, made `BUCKETS_AT_ONCE` at a time."""
    wanted = all_buckets(db, chars) if only is None else sorted(set(only))
    for start in range(0, len(wanted), BUCKETS_AT_ONCE):
        yield from db.execute(
            f"""
            SELECT bucket, '{{' || string_agg(to_json(code)::VARCHAR || ':' || body, ',' ORDER BY code) || '}}'
            FROM (SELECT code, body, {bucket_sql(chars)} AS bucket FROM bodies WHERE code IS NOT NULL)
            WHERE bucket IN (SELECT unnest(?::VARCHAR[])) GROUP BY bucket ORDER BY bucket
            """,
            [wanted[start : start + BUCKETS_AT_ONCE]],
        ).fetchall()


def buckets_of(db, chars: int, codes: pa.Array) -> list[str]:
    """The buckets of `codes` (sorted)."""
    db.register("touched", pa.table({"code": codes.cast(pa.string())}))
    try:
        return [r[0] for r in db.execute(f"SELECT DISTINCT {bucket_sql(chars)} FROM touched ORDER BY 1").fetchall()]
    finally:
        db.unregister("touched")


def all_buckets(db, chars: int) -> list[str]:
    """Every bucket of the registered `bodies` (sorted)."""
    return [
        r[0]
        for r in db.execute(
            f"SELECT DISTINCT {bucket_sql(chars)} FROM bodies WHERE code IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
