"""The static search index: every name found by any fragment of it, common fragments capped,
credit-code shards split when large, and a day that adds one entity rewrites only its shards."""

from __future__ import annotations

import hashlib
import json
import unicodedata

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshi.site import search


def _entries(pairs: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"code": [c for c, _ in pairs], "name": [n for _, n in pairs]})


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
    )
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
    entries=st.lists(
        st.lists(st.text(alphabet=st.sampled_from('"[],\\\n\t 南京9X1{}:'), max_size=8), min_size=2, max_size=2),
        max_size=12,
    )
)
def test_shards_hold_one_entry_per_line_and_read_back_as_written(entries):
    """Whatever the names hold (quotes, brackets, backslashes, line breaks), a shard is the same JSON
    read back, with one entry per line (what the leak gate reads line by line)."""
    from gongshi.site.search import _json

    for value in (entries, {"南京": {"n": len(entries), "e": entries}}):
        data = _json(value).decode("utf-8")
        assert json.loads(data) == value
        assert data.count("\n") == max(0, len(entries) - 1)
