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

import hashlib
import json
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from gongshi import tables

FORMAT = 1
COMMON = 300  # entities kept for a bigram shared by more
CODE_PREFIX, CODE_SPLIT_PREFIX, CODE_SPLIT_ABOVE = 8, 10, 2000
MULTIPLIER = 65599


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
    buckets = buckets_for(entries.num_rows)
    meta = {
        "format": FORMAT,
        "buckets": buckets,
        "multiplier": MULTIPLIER,
        "common": COMMON,
        "code_prefix": CODE_PREFIX,
        "code_split_prefix": CODE_SPLIT_PREFIX,
        "entities": entries.num_rows,
    }
    files["search/meta.json"] = _json(meta)
    names = pc.fill_null(entries["name"], "")  # a name never delivered is still found by its code
    table = pa.table({"code": entries["code"], "name": names, "folded": fold(names)}).filter(
        pc.is_valid(entries["code"])
    )
    with tables.connect() as db:
        db.register("entries", table)
        postings = db.sql(
            f"""
            WITH grams AS (
                SELECT DISTINCT substr(folded, i, k) AS gram, code
                FROM entries, range(2, 4) AS g(k), range(1, length(folded) - k + 2) AS r(i)
            ), ranked AS (
                SELECT gram, code, count(*) OVER (PARTITION BY gram) AS n,
                       row_number() OVER (PARTITION BY gram ORDER BY code) AS place
                FROM grams
            ), lists AS (
                -- names joined to the first {COMMON} codes of a gram only: a common gram ("有限") is
                -- in most names, and its whole list of names cost hundreds of megabytes
                SELECT gram, any_value(n) AS n, list([code, name] ORDER BY code) AS e
                FROM ranked JOIN entries USING (code) WHERE place <= {COMMON} GROUP BY gram
            ), hashed AS (
                SELECT *, (unicode(gram[1])::BIGINT % {buckets} * {MULTIPLIER} + unicode(gram[2])) % {buckets} AS h2
                FROM lists
            )
            SELECT CASE WHEN length(gram) = 2 THEN h2
                        ELSE (h2 * {MULTIPLIER} + unicode(gram[3])) % {buckets} END AS bucket, gram, n, e
            FROM hashed ORDER BY bucket, gram
            """
        ).to_arrow_table()
        codes = db.sql(
            f"""
            SELECT substr(code, 1, {CODE_PREFIX}) AS short, substr(code, 1, {CODE_SPLIT_PREFIX}) AS long,
                   code, name
            FROM entries ORDER BY code
            """
        ).to_arrow_table()
    current, content = None, {}
    for bucket, gram, n, e in zip(*(postings[c].to_pylist() for c in ("bucket", "gram", "n", "e")), strict=True):
        if bucket != current:
            if current is not None:
                files[f"search/names/{current}.json"] = _json(content)
            current, content = bucket, {}
        content[gram] = {"n": n, "e": e}
    if current is not None:
        files[f"search/names/{current}.json"] = _json(content)
    groups: dict[str, list[list[str]]] = {}
    for short, code, name in zip(*(codes[c].to_pylist() for c in ("short", "code", "name")), strict=True):
        groups.setdefault(short, []).append([code, name])
    for short, members in groups.items():
        if len(members) <= CODE_SPLIT_ABOVE:
            files[f"search/codes/{short}.json"] = _json(members)
            continue
        files[f"search/codes/{short}.json"] = _json({"split": CODE_SPLIT_PREFIX, "n": len(members)})
        longer: dict[str, list[list[str]]] = {}
        for code, name in members:
            longer.setdefault(code[:CODE_SPLIT_PREFIX], []).append([code, name])
        for prefix, part in longer.items():
            files[f"search/codes/{prefix}.json"] = _json(part)
    return files


def write(entries: pa.Table, keep: Callable[[str, str], bool], write_file: Callable[[str, bytes], None]) -> int:
    """Write the index: each shard whose content did not change is kept (`keep(path, sha256)`
    hard-links it from the previous build), the others written. Returns the shards written."""
    written = 0
    for path, data in shards(entries).items():
        if not keep(path, hashlib.sha256(data).hexdigest()):
            write_file(path, data)
            written += 1
    return written


def _json(value) -> bytes:
    """Compact JSON with one `[code, name]` entry per line: a reader of lines (the leak gate, grep,
    diff) sees a short line per entity, not one line of hundreds of codes. `"],["` is only ever
    between two entries: inside a JSON string a quote is escaped, so it cannot follow `[` there."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace('"],["', '"],\n["').encode("utf-8")
