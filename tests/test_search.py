"""The static search index: every name found by any fragment of it, common fragments capped,
credit-code shards split when large, and a day that adds one entity rewrites only its shards."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import unicodedata
from pathlib import Path
from unittest import mock

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshi.site import search


def _entries(pairs: list[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {"code": pa.array([c for c, _ in pairs], pa.string()), "name": pa.array([n for _, n in pairs], pa.string())}
    )


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def _find(files: dict[str, bytes], query: str) -> tuple[list[str], bool]:
    """What static/search.js does for a name query: (codes found, complete?)."""
    meta = json.loads(files["search/meta.json"])
    chars = _fold(query)
    grams = {chars[i : i + k] for k in (2, 3) for i in range(len(chars) - k + 1)}
    lists = []
    for gram in grams:
        shard = json.loads(files.get(f"search/names/{search.bucket_of(gram, meta['buckets'])}.json", b"{}"))
        if gram not in shard:
            return [], True
        lists.append(shard[gram])
    complete = sorted((x for x in lists if x["n"] <= len(x["e"])), key=lambda x: x["n"])
    base = complete[0] if complete else min(lists, key=lambda x: x["n"])
    return [code for code, name in base["e"] if chars in _fold(name)], bool(complete)


def test_every_fragment_of_a_name_finds_it_and_nothing_else():
    files = search.shards(
        _entries(
            [
                ("91320100205862691T", "南京鑫盛纺织有限公司"),
                ("913201007079003CXE", "南京恒泰电子科技有限公司"),
                ("91320200E8YX606JXB", "无锡瑞丰电子科技有限公司"),
                ("91320300418YH4977E", "徐州新宇物流有限公司"),
            ]
        )
    )
    assert _find(files, "瑞丰") == (["91320200E8YX606JXB"], True)
    assert _find(files, "电子科技") == (["913201007079003CXE", "91320200E8YX606JXB"], True)
    assert _find(files, "南京 恒泰") == (["913201007079003CXE"], True)  # white space folded
    assert _find(files, "恒丰") == ([], True)
    assert _find(files, "京瑞") == ([], True)  # both fragments exist, no name has the pair
    meta = json.loads(files["search/meta.json"])
    assert (meta["buckets"], meta["entities"], meta["common"]) == (64, 4, search.COMMON)


def test_careless_names_do_not_break_the_index():
    entries = pa.table(
        {
            "code": ["91320100205862691T", "913201007079003CXE", None, "91320200E8YX606JXB"],
            "name": [None, "<b>南京</b>&amp;", "无主", "="],
        }
    )
    files = search.shards(entries)
    assert json.loads(files["search/codes/91320100.json"]) == [
        ["91320100205862691T", ""],
        ["913201007079003CXE", "<b>南京</b>&amp;"],
    ]
    assert _find(files, "南京") == (["913201007079003CXE"], True)  # markup is text, found as typed
    assert _find(files, "无主") == ([], True)  # a row without a code is not an entity


def test_python_and_the_index_compute_the_same_bucket():
    files = search.shards(_entries([("91320100205862691T", "𠀋京ＡＢ公司")]))  # astral, full-width
    meta = json.loads(files["search/meta.json"])
    for gram in ("𠀋京", "京a", "ab", "b公", "公司", "𠀋京a", "ab公", "b公司"):
        shard = json.loads(files[f"search/names/{search.bucket_of(gram, meta['buckets'])}.json"])
        assert shard[gram]["e"] == [["91320100205862691T", "𠀋京ＡＢ公司"]]


def test_a_common_fragment_keeps_its_count_and_a_capped_list():
    many = [(f"913201{n:06d}AAAAAA", f"测试{n}有限公司") for n in range(search.COMMON + 5)]
    files = search.shards(_entries([*many, ("91320200E8YX606JXB", "无锡瑞丰有限公司")]))
    codes, complete = _find(files, "有限公司")
    assert not complete and len(codes) == search.COMMON
    codes, complete = _find(files, "瑞丰有限")
    assert (codes, complete) == (["91320200E8YX606JXB"], True)  # a rare fragment decides


def test_a_large_code_prefix_is_split_by_ten_characters():
    pairs = [(f"91320100{n:04d}ABCDEF", f"企业{n}") for n in range(search.CODE_SPLIT_ABOVE + 1)]
    files = search.shards(_entries([*pairs, ("91320200E8YX606JXB", "无锡瑞丰")]))
    assert json.loads(files["search/codes/91320100.json"]) == {"split": 10, "n": search.CODE_SPLIT_ABOVE + 1}
    assert json.loads(files["search/codes/9132010012.json"])[0] == ["913201001200ABCDEF", "企业1200"]
    split = [p for p in files if p.startswith("search/codes/91320100") and len(p) == len("search/codes/") + 15]
    assert sum(len(json.loads(files[p])) for p in split) == search.CODE_SPLIT_ABOVE + 1
    assert json.loads(files["search/codes/91320200.json"]) == [["91320200E8YX606JXB", "无锡瑞丰"]]


def test_a_new_entity_rewrites_only_its_shards():
    pairs = [(f"9132{n % 13 + 1:02d}00{n:06d}AAAA", f"企业{chr(0x4E00 + n)}{chr(0x4F00 + n)}科技") for n in range(400)]
    previous = search.shards(_entries(pairs))
    written = {}
    count = search.write(
        _entries([*pairs, ("91320500000999AAAA", "苏州新企业")]),
        keep=lambda path, sha: path in previous and hashlib.sha256(previous[path]).hexdigest() == sha,
        write_file=written.__setitem__,
    ).written
    grams = {"苏州", "州新", "新企", "企业", "苏州新", "州新企", "新企业"}
    expected_names = {f"search/names/{search.bucket_of(g, 64)}.json" for g in grams}
    assert set(written) == expected_names | {"search/codes/91320500.json", "search/meta.json"}
    assert count == len(written) < len(previous) / 5


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.text(alphabet="南京恒泰瑞丰科技有限公司电子ab 1", min_size=1, max_size=8), min_size=1, max_size=30
    ),
    query=st.text(alphabet="南京恒泰瑞丰科技有限公司电子ab 1", min_size=2, max_size=4),
)
def test_the_index_finds_exactly_the_names_that_contain_the_query(names, query):
    pairs = [(f"91320100{n:06d}AAAA", name) for n, name in enumerate(names)]
    if len(_fold(query)) < 2:
        return
    found, complete = _find(search.shards(_entries(pairs)), query)
    expected = [code for code, name in pairs if _fold(query) in _fold(name)]
    assert complete and found == expected


def test_three_characters_keep_a_query_exact_where_each_pair_is_common():
    common = [(f"913201{n:06d}AAAAAA", f"金陵{n}") for n in range(search.COMMON + 10)]
    common += [(f"913202{n:06d}AAAAAA", f"陵贸{n}") for n in range(search.COMMON + 10)]
    rare = [(f"913203{n:06d}AAAAAA", f"苏州金陵贸易{n}") for n in range(3)]
    files = search.shards(_entries(common + rare))
    assert _find(files, "金陵") == ([c for c, _ in common[: search.COMMON]], False)
    assert _find(files, "金陵贸") == ([c for c, _ in rare], True)


@given(
    pairs=st.lists(
        st.tuples(
            st.text(alphabet=st.sampled_from('"[],\\\n\t 南京9X1{}:'), max_size=8),
            st.text(alphabet=st.sampled_from('"[],\\\n\t 南京9X1{}:'), max_size=8),
        ),
        max_size=12,
    )
)
def test_shards_hold_one_entry_per_line_and_read_back_as_written(pairs):
    """Whatever the names hold (quotes, brackets, backslashes, line breaks), a shard is the same JSON
    read back, with one entry per line (what the leak gate reads line by line)."""
    entries = sorted({f"91320100{n:02d}{code}": name for n, (code, name) in enumerate(pairs)}.items())
    files = search.shards(_entries(entries))
    for data in files.values():
        json.loads(data)  # every shard is JSON
    if entries:
        data = files["search/codes/91320100.json"].decode("utf-8")
        assert json.loads(data) == [list(entry) for entry in entries]
        assert data.count("\n") == len(entries) - 1


def _day(store: Path, before: dict[str, bytes], pairs, built: set[str] | None = None):
    """One day's index written as the site writes it, over the previous build `before` (path ->
    bytes): what the build holds, and what `write` reported. `built`: the paths the previous build
    still has (default: all)."""
    built = set(before) if built is None else built
    fingerprints = {path: hashlib.sha256(data).hexdigest() for path, data in before.items()}
    build: dict[str, bytes] = {}

    def keep(path: str, sha: str) -> bool:
        if fingerprints.get(path) != sha or path not in built:
            return False
        build[path] = before[path]
        return True

    update = search.write(_entries(pairs), keep, build.__setitem__, store=store, previous=fingerprints or None)
    return build, update


def _code(n: int) -> str:
    """Codes of 13 eight-character prefixes, each in up to 7 ten-character parts."""
    return f"9132{n % 13 + 1:02d}00{n % 7:02d}{n:04d}AAAA"


_CODES = st.integers(0, 60).map(_code)
_NAMES = st.text(alphabet="南京恒泰瑞丰科技有限公司电子ab 1", min_size=0, max_size=7)


@settings(max_examples=30, deadline=None)
@given(
    days=st.lists(st.dictionaries(_CODES, st.one_of(st.none(), _NAMES), max_size=12), min_size=1, max_size=5),
    small=st.booleans(),
)
def test_a_day_made_from_the_kept_postings_is_the_index_made_in_full(days, small):
    """Entities added, renamed and gone, day after day: the index made from the previous day's
    postings holds exactly the files (and bytes) of the index made in full from the same entries.
    `small`: common grams and split code prefixes at a few entities, so that lists capped, refilled
    when one of their first entities goes, and prefixes split and joined again all occur."""
    register = {_code(n): f"南京{n}科技" for n in range(0, 60, 2)}
    limits = {"COMMON": 3, "CODE_SPLIT_ABOVE": 2} if small else {"COMMON": search.COMMON}
    with tempfile.TemporaryDirectory() as folder, mock.patch.multiple(search, **limits):
        store = Path(folder)
        build, update = _day(store, {}, sorted(register.items()))
        assert update.mode == "full"
        for changes in days:
            for code, name in changes.items():
                if name is None:
                    register.pop(code, None)
                else:
                    register[code] = name
            build, update = _day(store, build, sorted(register.items()))
            assert build == search.shards(_entries(sorted(register.items())))
            assert update.mode == "incremental"
            assert update.changed <= len(changes)


def test_a_normal_day_writes_only_what_changed_and_keeps_the_rest_unread():
    pairs = [(f"9132{n % 13 + 1:02d}00{n:06d}AAAA", f"企业{chr(0x4E00 + n)}{chr(0x4F00 + n)}科技") for n in range(400)]
    store = Path(tempfile.mkdtemp())
    first, update = _day(store, {}, pairs)
    assert (update.mode, update.changed, update.written) == ("full", 400, len(first))
    renamed = [*pairs[:-1], (pairs[-1][0], "苏州新企业")]
    second, update = _day(store, first, renamed)
    assert (update.mode, update.changed) == ("incremental", 1)
    rewritten = {p for p in second if second[p] != first.get(p)}
    assert update.written == len(rewritten) < 20 and "search/codes/91320700.json" not in rewritten
    assert second == search.shards(_entries(renamed))
    # nothing changed: every shard kept (the entity count in meta.json the same)
    third, update = _day(store, second, renamed)
    assert (update.mode, update.changed, update.written, third) == ("incremental", 0, 0, second)


def test_a_release_that_did_not_go_out_and_a_lost_file_do_not_corrupt_the_index():
    pairs = [(f"9132{n % 13 + 1:02d}00{n:06d}AAAA", f"企业{n}号") for n in range(200)]
    store = Path(tempfile.mkdtemp())
    published, _ = _day(store, {}, pairs)
    # a build made and then blocked (never published): its database is in the store
    _day(store, published, [*pairs, ("91320500000999AAAA", "苏州被拦下的企业")])
    # the next day starts again from what was published
    today = [*pairs[1:], ("91320500000998AAAA", "苏州新企业")]
    build, update = _day(store, published, today)
    assert update.mode == "incremental" and build == search.shards(_entries(today))
    # a shard the previous build should hold is missing: made again from the postings
    lost = sorted(p for p in build if p.startswith("search/names/"))[0]
    again, update = _day(store, build, today, built=set(build) - {lost})
    assert again == build and update.written == 1
    # a damaged database (cut short, overwritten): made in full, as if there were none
    for database in store.glob("*.duckdb"):
        database.write_bytes(b"not a database" * 100)
    build, update = _day(store, build, today)
    assert update.mode == "full" and build == search.shards(_entries(today))
    # a database that opens but fails inside (a table lost): made in full, nothing written twice
    import duckdb

    newest = max(store.glob("*.duckdb"), key=lambda path: path.stat().st_mtime)  # the previous build's
    with duckdb.connect(str(newest)) as db:
        db.execute("DROP TABLE grams")
    build, update = _day(store, build, today)
    assert update.mode == "full" and build == search.shards(_entries(today))
    # no database for the previous build (state restored from elsewhere): made in full
    for database in store.glob("*.duckdb"):
        database.unlink()
    build, update = _day(store, build, today)
    assert update.mode == "full" and build == search.shards(_entries(today))
    assert len(list(store.glob("*.duckdb"))) <= 2 + search.KEEP_OTHERS


def test_a_store_that_cannot_be_written_costs_a_full_index_not_the_release(tmp_path, caplog):
    """The postings' store is a cache: a file where its folder should be (or a full disk) before the
    index is written makes it in memory; a store that fails once the shards are written (the
    database cannot take its name) leaves the index written. Either way the operator's log says so
    in Chinese, and the next day with a store that works makes the index in full and keeps it."""
    import logging

    pairs = [(f"9132{n % 13 + 1:02d}00{n:06d}AAAA", f"企业{n}号") for n in range(120)]
    expected = search.shards(_entries(pairs))
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="gongshi.storage"):
        build, update = _day(blocked, {}, pairs)
    assert build == expected and (update.mode, update.written) == ("full", len(expected))
    assert any("查询索引的中间数据未能保存" in r.getMessage() for r in caplog.records)
    assert blocked.read_text() == "not a folder"

    # the database made cannot take its name (a folder stands there): the shards are written
    learnt = tmp_path / "learnt"
    _day(learnt, {}, pairs)
    (name,) = [p.name for p in learnt.glob("*.duckdb")]
    store = tmp_path / "store"
    (store / name).mkdir(parents=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gongshi.storage"):
        build, update = _day(store, {}, pairs)
    assert build == expected and (update.mode, update.written) == ("full", len(expected))
    assert any("查询索引的中间数据未能保存" in r.getMessage() for r in caplog.records)
    assert [p.name for p in store.iterdir()] == [name]  # no working database left behind
    # the next day: nothing kept to start from, so made in full, and kept this time
    (store / name).rmdir()
    renamed = [*pairs[1:], (pairs[0][0], "苏州新名称企业")]
    again, update = _day(store, build, renamed)
    assert update.mode == "full" and again == search.shards(_entries(renamed))
    more = [*renamed, ("91320500000999AAAA", "苏州又一家企业")]
    after, update = _day(store, again, more)
    assert update.mode == "incremental" and after == search.shards(_entries(more))


def test_the_store_keeps_the_made_the_base_and_the_newest_other_and_drops_what_a_stopped_run_left(tmp_path):
    pairs = [(f"9132{n % 13 + 1:02d}00{n:06d}AAAA", f"企业{n}号") for n in range(60)]
    first, _ = _day(tmp_path, {}, pairs)
    (base,) = tmp_path.glob("*.duckdb")
    left = tmp_path / ".next-0000dead.duckdb"  # a run stopped half-way
    left.write_bytes(b"half")
    left.with_name(left.name + ".wal").write_bytes(b"half")
    made = []
    for day in range(4):  # every day from the first build (a takedown rebuilding, say)
        _, update = _day(tmp_path, first, [*pairs, (f"91320500000{day}99AAAA", f"苏州第{day}家企业")])
        assert update.mode == "incremental"
        made.append(max(tmp_path.glob("*.duckdb"), key=lambda p: (p.stat().st_mtime_ns, p not in made)))
        os.utime(made[-1], ns=(day + 1, day + 1))  # in the order made, whatever the clock's resolution
    assert set(tmp_path.iterdir()) == {base, made[-1], *made[-1 - search.KEEP_OTHERS : -1]}
