"""The static search index: market entities by name fragment or credit-code prefix, as small JSON
shards a browser fetches — no server, and a day that adds or renames a few entities rewrites only
the shards they fall in.

Why not Pagefind (the index before): it indexes the HTML of every entity page and cannot be updated
in part, so a province's register (hundreds of thousands of entity pages) was re-indexed in full
each day. A search only needs each entity's name and code, which rarely change, so shards of those
stay the same from day to day.

    search/meta.json                   format, shard counts, limits
    search/names/<bucket>.json         {"<two or three characters>": {"n": entities, "e": [[code, name], …]}}
    search/codes/<first 8>.json        [[code, name], …], or {"split": 10, "n": …} when large:
    search/codes/<first 10>.json       then by the first ten characters

Each shard is compact JSON with one `[code, name]` entry per line.

A name is folded (NFKC, lower case, no white space) and indexed by each run of two and of three
adjacent characters (its grams); a gram's bucket is its code points folded as `h = (h × 65599 +
code point) mod buckets`, computed the same way by `static/search.js`. The browser looks up every
gram of the query, takes the shortest complete list and keeps the names that contain the whole
query — exact, since every such name has that gram. A gram shared by more than `COMMON` entities
("有限", "公司") keeps its count and its first `COMMON` entities; a query made only of such grams
says so and shows those. Three-character grams keep longer queries exact where every pair of their
characters is common (`苏州金陵贸易`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import tables
from gongshi.storage import KeptStore, files_digest, with_log

FORMAT = 1
COMMON = 300  # entities kept for a bigram shared by more
CODE_PREFIX, CODE_SPLIT_PREFIX, CODE_SPLIT_ABOVE = 8, 10, 2000
MULTIPLIER = 65599
KEEP_OTHERS = 1  # databases of other builds kept in the store beside the one used and the one made


def buckets_for(entities: int) -> int:
    """Shards of the name index: a power of two, the grams of about 40 entities each (a shard of
    some 20 KB), at least 64."""
    count = 64
    while count * 40 < entities:
        count *= 2
    return count


def fold(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Names as the index and the browser compare them: NFKC, lower case, no white space."""
    folded = pc.utf8_lower(pc.utf8_normalize(pc.fill_null(names, ""), form="NFKC"))
    return pc.replace_substring_regex(folded, r"\s+", "")


def bucket_of(gram: str, buckets: int) -> int:
    value = 0
    for character in gram:
        value = (value * MULTIPLIER + ord(character)) % buckets
    return value


def shards(entries: pa.Table) -> dict[str, bytes]:
    """Every file of the index (path under the release root -> bytes) for `entries` (code, name)."""
    files: dict[str, bytes] = {}

    def collect(path: str, data: bytes) -> bool:
        files[path] = data
        return True

    with tables.connect(memory=tables.BESIDE_MEMORY) as db:
        _full(db, entries, collect)
    return files


def write(
    entries: pa.Table,
    keep: Callable[[str, str], bool],
    write_file: Callable[[str, bytes], None],
    store: Path | None = None,
    previous: dict[str, str] | None = None,
) -> Update:
    """Write the index: each shard whose content did not change is kept (`keep(path, sha256)`
    hard-links it from the previous build), the others written.

    With `store` (a folder of the state), the postings of the index are kept there between days as a
    DuckDB database named by the digest of the shards it made. When `previous` (the previous build's
    fingerprints: sha256 of each file) holds the very shards of a database in `store`, only the
    entities whose name is new, changed or gone are compared: the grams of their old and new names
    and the code shards of their prefixes are made again, every other shard is kept unread — the
    day costs what changed, not the register. Otherwise (the first day, a release that did not go
    out, another version of this module, a change in the number of buckets) the index is made in
    full and its database kept for the next day."""
    started = time.perf_counter()
    previous = {p: f for p, f in (previous or {}).items() if _is_index_file(p)}
    fingerprints: dict[str, str] = {}

    def put(path: str, data: bytes) -> bool:
        sha = hashlib.sha256(data).hexdigest()
        fingerprints[path] = sha
        if keep(path, sha):
            return False
        write_file(path, data)
        return True

    if store is not None:
        done = _with_store(
            KeptStore(store, ".duckdb", KEEP_OTHERS, "查询索引"), entries, previous, keep, put, fingerprints
        )
        if done is not None:
            written, mode, changed = done
            return Update(written, mode, changed, time.perf_counter() - started)
    # in memory: no store, or one that failed before a file was written
    with tables.connect(memory=tables.BESIDE_MEMORY) as db:
        written, changed = _full(db, entries, put)
    return Update(written, "full", changed, time.perf_counter() - started)


def _with_store(
    store: KeptStore,
    entries: pa.Table,
    previous: dict[str, str],
    keep: Callable[[str, str], bool],
    put: Callable[[str, bytes], bool],
    fingerprints: dict[str, str],
) -> tuple[int, str, int] | None:
    """`write` with the postings kept in `store`: (written, mode, entities changed), or None when the
    store failed before any file of the index was written (a full disk, a file where the folder
    should be): the index is then made in memory. A store that fails after is said in the log; the
    index is written, and the next day makes it in full."""
    base = store.path(files_digest(previous)) if previous else None
    working = store.working()
    mode, written, changed, made = "full", None, 0, None
    try:
        store.folder.mkdir(parents=True, exist_ok=True)
        if base is not None and base.is_file():
            shutil.copyfile(base, working)
            db = _open_kept(working)
            if db is not None:
                with db:
                    if _info(db) == _expected(entries):
                        done = _incremental(db, entries, previous, keep, put, fingerprints)
                        if done is not None:
                            mode, (written, changed) = "incremental", done
            if written is None:
                _remove(working)
        if written is None:
            with tables.connect(working, memory=tables.BESIDE_MEMORY) as db:
                written, changed = _full(db, entries, put)
        made = store.path(files_digest(fingerprints))
        os.replace(working, made)
    except (OSError, duckdb.Error) as error:
        made = None
        if written is None and fingerprints:  # half an index written: the build cannot go on with it
            raise
        store.unsaved(error)
        if written is None:  # nothing written yet: the index is made in memory
            return None
    finally:
        _remove(working)
    store.tidy({p for p in (made, base) if p is not None})
    return written, mode, changed


def _remove(database: Path) -> None:
    """A working database and its write-ahead log gone (a store that cannot be used has none)."""
    for path in with_log(database):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


@dataclass
class Update:
    """What `write` did: shards written, how (`full` or `incremental`), entities whose entry changed
    (every entity when made in full), seconds."""

    written: int
    mode: str
    changed: int
    seconds: float


VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _is_index_file(path: str) -> bool:
    return path == "search/meta.json" or path.startswith(("search/names/", "search/codes/"))


def _expected(entries: pa.Table) -> tuple[str, int]:
    return VERSION, buckets_for(_valid(entries).num_rows)


def _open_kept(path: Path):
    """A kept database, or None when it cannot be opened as one (damaged, cut short): the index is
    then made in full — a cache must not stop a release."""
    try:
        return tables.connect(path, memory=tables.BESIDE_MEMORY)
    except duckdb.Error:
        return None


def _info(db) -> tuple[str, int] | None:
    try:
        rows = db.execute("SELECT version, buckets FROM info").fetchall()
    except duckdb.Error:  # a database of another layout: made again in full
        return None
    return (rows[0][0], rows[0][1]) if rows else None


def _valid(entries: pa.Table) -> pa.Table:
    """(code, name, folded) of every entry with a code: a name never delivered is still found by its code."""
    names = pc.fill_null(entries["name"], "")
    table = pa.table({"code": pc.cast(entries["code"], pa.string()), "name": names, "folded": fold(names)})
    return table.filter(pc.is_valid(table["code"]))


def _load(db, entries: pa.Table) -> int:
    """The entries, their postings (each distinct gram of a name with its entity's code) and each
    gram's shard text, made in full in `db`. Returns the number of buckets."""
    table = _valid(entries)
    buckets = buckets_for(table.num_rows)
    db.register("given", table)
    db.execute("CREATE OR REPLACE TABLE entries AS SELECT code, name, folded FROM given ORDER BY code")
    db.unregister("given")
    db.execute(f"CREATE OR REPLACE TABLE postings AS {_GRAMS.format(source='entries')}")
    db.execute("CREATE OR REPLACE TABLE grams (gram VARCHAR, bucket BIGINT, n BIGINT, codes VARCHAR[], text VARCHAR)")
    _grams_of(db, "SELECT gram, code FROM postings", buckets)
    db.execute("CREATE OR REPLACE TABLE info AS SELECT ? AS version, ? AS buckets", [VERSION, buckets])
    return buckets


# each distinct gram (two and three adjacent characters) of each folded name, with its entity's code
_GRAMS = """
    SELECT DISTINCT substr(folded, i, k) AS gram, code
    FROM {source}, range(2, 4) AS g(k), range(1, length(folded) - k + 2) AS r(i)
"""


def _grams_of(db, postings: str, buckets: int, counts: str | None = None) -> None:
    """Insert into `grams` each gram of `postings` (a query of gram and code): its number of
    entities, its first `COMMON` codes and its text in the shard (those codes with their names).
    `counts` (a query of gram and n), when given, says each gram's number of entities and `postings`
    holds only candidates for its first codes; otherwise every posting is there to be counted."""
    counted = (
        f"SELECT gram, count(*) AS n, min(code, {COMMON}) AS codes FROM ({postings}) GROUP BY gram"
        if counts is None
        else f"SELECT gram, any_value(n) AS n, min(code, {COMMON}) AS codes "
        f"FROM ({postings}) JOIN ({counts}) USING (gram) GROUP BY gram"
    )
    db.execute(
        f"""
        INSERT INTO grams
        WITH counted AS ({counted}),
        listed AS (
            -- names joined to the first {COMMON} codes of a gram only: a common gram ("有限") is in
            -- most names, and its whole list of names cost hundreds of megabytes
            SELECT gram, any_value(n) AS n, list(code ORDER BY code) AS codes, list([code, name] ORDER BY code) AS e
            FROM (SELECT gram, n, unnest(codes) AS code FROM counted) JOIN entries USING (code)
            GROUP BY gram
        ), hashed AS (
            SELECT *, (unicode(gram[1])::BIGINT % {buckets} * {MULTIPLIER} + unicode(gram[2])) % {buckets} AS h2
            FROM listed
        )
        SELECT gram,
               CASE WHEN length(gram) = 2 THEN h2 ELSE (h2 * {MULTIPLIER} + unicode(gram[3])) % {buckets} END,
               n, codes,
               -- compact, one [code, name] entry per line (`_ENTRIES_JSON`)
               to_json(gram) || ':{{"n":' || n || ',"e":' || {_ENTRIES_JSON.format(entries="e")} || '}}'
        FROM hashed
        """
    )


def _name_files(db, wanted: list[int] | None) -> dict[str, bytes]:
    """The name shards (all, or the buckets `wanted`): each gram's text, in the order of the grams."""
    if wanted is not None:
        db.register("wanted", pa.table({"bucket": pa.array(wanted, pa.int64())}))
    where = "" if wanted is None else "WHERE bucket IN (SELECT bucket FROM wanted)"
    made = db.sql(
        f"SELECT bucket, '{{' || string_agg(text, ',' ORDER BY gram) || '}}' AS text FROM grams {where} GROUP BY bucket"
    ).to_arrow_table()
    return {
        f"search/names/{bucket}.json": text.encode("utf-8")
        for bucket, text in zip(made["bucket"].to_pylist(), made["text"].to_pylist(), strict=True)
    }


def _code_files(
    db, wanted: list[str] | None, parts: list[str] | None = None, whole: set[str] | None = None
) -> dict[str, bytes]:
    """The code shards: all, or those of the eight-character prefixes `wanted` — of a prefix that is
    split (by ten characters), its count and, of its ten-character parts, only those in `parts`
    unless the prefix is in `whole`. Written in DuckDB (`_ENTRIES_JSON`)."""
    if wanted is None:
        db.execute(
            "CREATE OR REPLACE TEMP TABLE prefixes AS "
            f"SELECT DISTINCT substr(code, 1, {CODE_PREFIX}) AS short, true AS whole FROM entries"
        )
    else:
        whole = whole or set()
        db.register(
            "asked", pa.table({"short": pa.array(wanted, pa.string()), "whole": pa.array([w in whole for w in wanted])})
        )
        db.execute("CREATE OR REPLACE TEMP TABLE prefixes AS SELECT * FROM asked")
        db.unregister("asked")
    db.register("parts", pa.table({"part": pa.array(parts or [], pa.string())}))
    made = db.sql(
        f"""
        WITH sized AS (
            SELECT w.short, count(*) AS n, any_value(w.whole) AS whole
            FROM entries JOIN prefixes w ON substr(code, 1, {CODE_PREFIX}) = w.short GROUP BY w.short
        ), picked AS (
            SELECT CASE WHEN n <= {CODE_SPLIT_ABOVE} THEN short ELSE substr(code, 1, {CODE_SPLIT_PREFIX}) END AS file,
                   code, name
            FROM entries JOIN sized ON substr(code, 1, {CODE_PREFIX}) = short
            WHERE whole OR n <= {CODE_SPLIT_ABOVE} OR substr(code, 1, {CODE_SPLIT_PREFIX}) IN (SELECT part FROM parts)
        )
        SELECT file, {_ENTRIES_JSON.format(entries="list([code, name] ORDER BY code)")} AS text
        FROM picked GROUP BY file
        UNION ALL  -- a split prefix: its count
        SELECT short, '{{"split":{CODE_SPLIT_PREFIX},"n":' || n || '}}' FROM sized WHERE n > {CODE_SPLIT_ABOVE}
        """
    ).to_arrow_table()
    db.unregister("parts")
    return {
        f"search/codes/{file}.json": text.encode("utf-8")
        for file, text in zip(made["file"].to_pylist(), made["text"].to_pylist(), strict=True)
    }


# A list of [code, name] as compact JSON with one entry per line: a reader of lines (the leak gate,
# grep, diff) sees a short line per entity, not one line of hundreds of codes. `"],["` is only ever
# between two entries: inside a JSON string a quote is escaped, so it cannot follow `[` there.
_ENTRIES_JSON = """replace(to_json({entries})::VARCHAR, '"],["', '"],' || chr(10) || '["')"""


def _meta(buckets: int, entities: int) -> bytes:
    return _text(
        {
            "format": FORMAT,
            "buckets": buckets,
            "multiplier": MULTIPLIER,
            "common": COMMON,
            "code_prefix": CODE_PREFIX,
            "code_split_prefix": CODE_SPLIT_PREFIX,
            "entities": entities,
        }
    )


def _full(db, entries: pa.Table, put: Callable[[str, bytes], bool]) -> tuple[int, int]:
    buckets = _load(db, entries)
    entities = db.execute("SELECT count(*) FROM entries").fetchall()[0][0]
    written = put("search/meta.json", _meta(buckets, entities))
    for files in (_name_files(db, None), _code_files(db, None)):
        written += sum(put(path, data) for path, data in files.items())
    return written, entities


def _update(db, entries: pa.Table):
    """The postings in `db` brought to `entries`, and the shards that changed: (entities changed,
    buckets, entities, buckets made again, code parts changed, code prefixes made whole, files)."""
    buckets = _info(db)[1]
    given = pa.table({"code": pc.cast(entries["code"], pa.string()), "name": pc.fill_null(entries["name"], "")})
    db.register("given", given.filter(pc.is_valid(given["code"])))
    # entities whose entry is new, renamed or gone (compared by name: only theirs are folded)
    db.execute(
        """
        CREATE TEMP TABLE changed AS
        SELECT code, n.name AS name, o.folded AS old FROM given n FULL OUTER JOIN entries o USING (code)
        WHERE n.name IS DISTINCT FROM o.name
        """
    )
    db.unregister("given")
    renamed = db.sql("SELECT code, name FROM changed WHERE name IS NOT NULL").to_arrow_table()
    db.register("renamed", renamed.append_column("new", fold(renamed["name"])))
    db.execute("ALTER TABLE changed ADD COLUMN new VARCHAR")
    db.execute("UPDATE changed SET new = renamed.new FROM renamed WHERE changed.code = renamed.code")
    db.unregister("renamed")
    changed = db.execute("SELECT count(*) FROM changed").fetchall()[0][0]
    # each (gram, entity) that comes (+1) or goes (-1); 0: a renamed entity keeps the gram
    db.execute(
        f"""
        CREATE TEMP TABLE net AS
        SELECT gram, code, sum(sign) AS s FROM (
            SELECT *, 1 AS sign FROM ({_GRAMS.format(source=_names_of("new"))})
            UNION ALL
            SELECT *, -1 AS sign FROM ({_GRAMS.format(source=_names_of("old"))})
        ) GROUP BY gram, code
        """
    )
    shorts = _distinct(db, f"SELECT DISTINCT substr(code, 1, {CODE_PREFIX}) FROM changed")
    parts = _distinct(db, f"SELECT DISTINCT substr(code, 1, {CODE_SPLIT_PREFIX}) FROM changed")
    sizes = f"""
        SELECT substr(code, 1, {CODE_PREFIX}) AS short, count(*) FROM entries
        WHERE substr(code, 1, {CODE_PREFIX}) IN (SELECT DISTINCT substr(code, 1, {CODE_PREFIX}) FROM changed)
        GROUP BY short
    """
    before = dict(db.execute(sizes).fetchall())
    db.execute("DELETE FROM entries WHERE code IN (SELECT code FROM changed)")
    db.execute("INSERT INTO entries SELECT code, name, new FROM changed WHERE new IS NOT NULL")
    after = dict(db.execute(sizes).fetchall())
    # A prefix in one file before or now is made again whole (a split came or went, or it is gone);
    # of one split before and now, its count and the parts that changed.
    whole = {s for s in shorts if min(before.get(s, 0), after.get(s, 0)) <= CODE_SPLIT_ABOVE}
    db.execute(
        "DELETE FROM postings USING net WHERE postings.gram = net.gram AND postings.code = net.code AND net.s < 0"
    )
    db.execute("INSERT INTO postings SELECT gram, code FROM net WHERE s > 0")
    # Each touched gram's count moves by what came and went; its first codes are the first of those
    # it had and those that came — unless one that went was among them while more are beyond them:
    # those grams' postings are read again.
    db.execute(
        f"""
        CREATE TEMP TABLE moved AS
        SELECT gram, coalesce(any_value(g.n), 0) + sum(s) AS n, any_value(g.codes) AS codes,
               coalesce(any_value(g.n), 0) > {COMMON}
                   AND coalesce(list_has_any(any_value(g.codes), list(code) FILTER (WHERE s < 0)), false) AS reread,
               any_value(g.bucket) AS bucket
        FROM net LEFT JOIN grams g USING (gram) GROUP BY gram
        """
    )
    names = {r[0] for r in db.execute("SELECT DISTINCT bucket FROM moved WHERE bucket IS NOT NULL").fetchall()}
    db.execute("DELETE FROM grams WHERE gram IN (SELECT gram FROM moved)")
    _grams_of(db, "SELECT gram, code FROM postings WHERE gram IN (SELECT gram FROM moved WHERE reread)", buckets)
    _grams_of(
        db,
        """
        SELECT gram, code FROM (
            SELECT gram, unnest(codes) AS code FROM moved WHERE NOT reread AND codes IS NOT NULL
            UNION ALL  -- a gram that comes to an entity was not in its postings: no duplicates
            SELECT gram, code FROM net WHERE s > 0
        ) ANTI JOIN (SELECT gram, code FROM net WHERE s < 0) USING (gram, code)
        WHERE gram IN (SELECT gram FROM moved WHERE NOT reread AND n > 0)
        """,
        buckets,
        counts="SELECT gram, n FROM moved WHERE NOT reread AND n > 0",
    )
    names |= {
        r[0] for r in db.execute("SELECT DISTINCT bucket FROM grams WHERE gram IN (SELECT gram FROM moved)").fetchall()
    }
    names = sorted(names)
    entities = db.execute("SELECT count(*) FROM entries").fetchall()[0][0]
    made = _name_files(db, names) | _code_files(db, shorts, parts, whole)
    return changed, buckets, entities, names, parts, whole, made


def _incremental(
    db,
    entries: pa.Table,
    previous: dict[str, str],
    keep: Callable[[str, str], bool],
    put: Callable[[str, bytes], bool],
    fingerprints: dict[str, str],
) -> tuple[int, int] | None:
    """Bring the postings in `db` (those of the previous build's index) to `entries`, write the shards
    of what changed and keep the rest from the previous build: the work grows with the entities
    whose entry changed, not with the index. None, with nothing written, when the database fails
    before anything is written (damaged inside): the index is then made in full."""
    try:
        changed, buckets, entities, names, parts, whole, files = _update(db, entries)
    except duckdb.Error:
        return None
    written = put("search/meta.json", _meta(buckets, entities))
    written += sum(put(path, data) for path, data in files.items())
    remade = {f"search/names/{b}.json" for b in names} | files.keys()
    remade_buckets, changed_parts = set(names), set(parts)
    for path, fingerprint in previous.items():
        if path == "search/meta.json" or path in remade:
            continue
        stem = path.rpartition("/")[2].removesuffix(".json")
        if path.startswith("search/codes/") and (stem[:CODE_PREFIX] in whole or stem in changed_parts):
            continue  # made again: its files are those just made (a split or a part came or went)
        if path.startswith("search/names/") and int(stem) in remade_buckets:
            continue  # a bucket now empty
        if keep(path, fingerprint):
            fingerprints[path] = fingerprint
            continue
        # not in the previous build after all: made from the postings, which hold every entity
        if path.startswith("search/names/"):
            made = _name_files(db, [int(stem)])
        else:
            made = _code_files(db, [stem[:CODE_PREFIX]], [stem[:CODE_SPLIT_PREFIX]])
        if path in made:
            written += put(path, made[path])
    db.execute("CHECKPOINT")
    return written, changed


def _names_of(column: str) -> str:
    """The changed entities' folded names, new or old, as `_GRAMS` reads them."""
    return f"(SELECT {column} AS folded, code FROM changed WHERE {column} IS NOT NULL)"


def _distinct(db, query: str) -> list:
    return sorted(row[0] for row in db.execute(query).fetchall())


def _text(value) -> bytes:
    """Compact JSON (meta.json; the shards are written in DuckDB, `_ENTRIES_JSON`)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
