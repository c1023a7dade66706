"""The public website as files: escaping, language, sizes, canonical URLs, the JSON twins, feeds,
sitemap, incremental rendering, and documented template contexts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import time
import xml.etree.ElementTree as ET

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshi.site import context as site_context

from .conftest import DAY1, DAY2

XSS_ENTITY = "91320300418YH4977E"  # 徐州新宇物流有限公司: handling starts with <img onerror=…>
ATOM = "{http://www.w3.org/2005/Atom}"


def latest(settings):
    return settings.public / "latest"


def pages(settings):
    return sorted(latest(settings).resolve().rglob("*.html"))


def test_every_template_context_field_is_documented():
    classes = [c for c in vars(site_context).values() if dataclasses.is_dataclass(c) and isinstance(c, type)]
    assert len(classes) >= 10
    for cls in classes:
        assert cls.__doc__, cls
        for field in dataclasses.fields(cls):
            assert field.metadata.get("doc"), f"{cls.__name__}.{field.name} is not documented"


def test_markup_in_source_fields_is_shown_as_text(published_demo):
    html = (latest(published_demo) / "entity" / f"{XSS_ENTITY}.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;商户称已整改" in html
    assert "<img" not in html
    approvals = (latest(published_demo) / "inspections" / "city" / "huaian" / "index.html").read_text("utf-8")
    assert "=HYPERLINK(&#34;http://example.invalid&#34;" in approvals  # a formula is just text on a page


def test_pages_are_chinese_small_and_canonical(published_demo):
    css = (latest(published_demo) / "static" / "style.css").stat().st_size
    html_pages = pages(published_demo)
    assert len(html_pages) > 60
    for path in html_pages:
        text = path.read_text(encoding="utf-8")
        assert text.startswith('<!doctype html>\n<html lang="zh-CN">'), path
        assert path.stat().st_size + css < 50_000, (path, path.stat().st_size)
        relative = path.relative_to(latest(published_demo).resolve()).as_posix()
        canonical = re.search(r'<link rel="canonical" href="([^"]+)">', text).group(1)
        assert canonical == "http://localhost:8000/latest/" + relative.removesuffix("index.html"), path


def test_entity_page_and_its_json_twin(published_demo):
    entity = latest(published_demo) / "entity"
    html = (entity / "913201007079003CXE.html").read_text(encoding="utf-8")
    assert "<h1>南京恒泰电子科技有限公司</h1>" in html
    assert "已移出" in html and "依法补报了未报年份的年度报告并公示" in html
    twin = json.loads((latest(published_demo) / "entity" / "913201007079003CXE.json").read_text(encoding="utf-8"))
    assert twin["credit_code"] == "913201007079003CXE" and twin["city"] == "南京市"
    (listing,) = twin["records"]["blacklist_entries"]
    assert listing["status"] == "removed" and listing["removed_on"] == "2026-11-27"
    assert twin["standing"] == {"名单状态": "已移出全部名单", "守信红名单": "守合同重信用企业（有效期至 2028-11-24）"}
    assert set(twin["records"]) == {"blacklist_entries", "honour_list", "inspection_results"}
    assert twin["html"] == "http://localhost:8000/latest/entity/913201007079003CXE.html"
    # the ID number never; its keyed pseudonym, as in every download
    assert '"legal_representative_id_number"' not in json.dumps(twin)
    assert listing["legal_representative_id_number_pseudonym"].startswith("p")


def test_individual_business_operator_is_generalised_on_the_site(published_demo):
    html = (latest(published_demo) / "entity" / "923205009232T5707K.html").read_text(encoding="utf-8")
    assert "陈某" in html and "陈桂兰" not in html


def test_lists_by_city_month_and_status(published_demo):
    root = latest(published_demo)
    abnormal = (root / "lists" / "abnormal" / "index.html").read_text(encoding="utf-8")
    assert abnormal.count('<td data-label="市场主体">') == 12
    removals = (root / "lists" / "removals" / "index.html").read_text(encoding="utf-8")
    assert "南京恒泰电子科技有限公司" in removals
    for slug in (
        "nanjing",
        "wuxi",
        "xuzhou",
        "changzhou",
        "suzhou",
        "nantong",
        "lianyungang",
        "huaian",
        "yancheng",
        "yangzhou",
        "zhenjiang",
        "taizhou",
        "suqian",
    ):
        assert (root / "inspections" / "city" / slug / "index.html").is_file()
    assert (root / "inspections" / "month" / "2026-11" / "index.html").is_file()
    zhenjiang = (root / "inspections" / "city" / "zhenjiang" / "index.html").read_text(encoding="utf-8")
    assert zhenjiang.count('<td data-label="检查日期">') == 14


def test_approvals_show_measures_and_the_gaps(published_demo):
    root = latest(published_demo)
    page = (root / "approvals" / "index.html").read_text(encoding="utf-8")
    assert "建立项目在线监管平台" in page and "未报送监管措施" in page and "苏政发〔2015〕39号" in page
    gaps = (root / "approvals" / "without-measures" / "index.html").read_text(encoding="utf-8")
    assert "省级示范性物流园区认定" in gaps and "企业投资项目核准" not in gaps


def test_dataset_page_has_dictionary_downloads_and_change_log(published_demo):
    page = (latest(published_demo) / "datasets" / "blacklist_entries" / "index.html").read_text(encoding="utf-8")
    manifest = json.loads((latest(published_demo) / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert manifest["datasets/blacklist_entries/blacklist_entries.csv"]["sha256"] in page
    assert "legal_representative_id_number_pseudonym" in page and "CC-BY-4.0" in page
    assert f'href="changes/{DAY2}/">{DAY2}</a>：新增 1、移出 1' in page
    assert '<script type="application/ld+json">{"@context": "https://schema.org"' in page
    changes = (latest(published_demo) / "datasets/blacklist_entries/changes" / DAY2 / "index.html").read_text("utf-8")
    assert "移出" in changes and "南京恒泰电子科技有限公司" in changes


def test_quality_page_counts_without_personal_data(published_demo):
    page = (latest(published_demo) / "quality" / "index.html").read_text(encoding="utf-8")
    assert "江苏省市场监管局" in page and "信用代码校验位错误 1" in page and "日期不存在 1" in page
    assert DAY1 in page and DAY2 in page


def test_charts_are_svg_with_a_data_table(published_demo):
    page = (latest(published_demo) / "index.html").read_text(encoding="utf-8")
    # each dataset's declared daily-changes chart (black lists, red list), then the inspections by city
    assert page.count('role="img"') == 3 and "<summary>查看数据表</summary>" in page
    assert page.index("每日新增列入与移出名单数") < page.index("每日新增守信红名单认定数") < page.index("各设区市")
    assert ">镇江市</text>" in page


def test_feeds_and_sitemap(published_demo):
    root = latest(published_demo)
    feed = ET.parse(root / "feeds" / "all.atom").getroot()
    titles = [e.find(f"{ATOM}title").text for e in feed.findall(f"{ATOM}entry")]
    assert f"{DAY2} 经营异常名录与严重违法失信名单：新增 1、移出 1" in titles
    per_dataset = ET.parse(root / "feeds" / "approval_item_changes.atom").getroot()
    assert len(per_dataset.findall(f"{ATOM}entry")) == 1  # day 2's delivery was rejected: no change
    sitemap = ET.parse(root / "sitemap.xml").getroot()
    locations = {u.find("{http://www.sitemaps.org/schemas/sitemap/0.9}loc").text for u in sitemap}
    assert "http://localhost:8000/latest/entity/913201007079003CXE.html" in locations
    assert len(locations) == len(pages(published_demo))


def test_unchanged_pages_are_not_rendered_again(published_demo):
    from gongshi.snapshots import BuildRecord

    record = BuildRecord.load(published_demo.state / "published" / DAY2 / "release.json")
    day1 = published_demo.public / "releases" / DAY1
    day2 = published_demo.public / "releases" / DAY2
    unchanged = day2 / "entity" / "91320200E8YX606JXB.html"  # nothing new about it on day 2
    assert unchanged.stat().st_ino == (day1 / "entity" / "91320200E8YX606JXB.html").stat().st_ino
    changed = day2 / "entity" / "913201007079003CXE.html"  # removed from its list on day 2
    assert changed.stat().st_ino != (day1 / "entity" / "913201007079003CXE.html").stat().st_ino
    assert len(record.site) > 60 and record.site["entity/91320200E8YX606JXB.html"]
    assert len(record.files) == len(json.loads((day2 / "manifest.json").read_text("utf-8"))["files"])


@pytest.mark.parametrize("path", ["index.html", "search/index.html", "sitemap.xml"])
def test_search_assets_and_crawlers(published_demo, path):
    assert (latest(published_demo) / path).is_file()
    assert (latest(published_demo) / "search" / "meta.json").is_file()
    assert (latest(published_demo) / "static" / "search.js").is_file()


def test_robots_and_the_sitemap_are_at_the_web_root(published_demo):
    """Crawlers read robots.txt only at the root; its sitemap indexes the newest release's, whose
    pages carry the day their content last changed."""
    root = published_demo.public
    robots = (root / "robots.txt").read_text("utf-8")
    assert robots.endswith("Sitemap: http://localhost:8000/sitemap.xml\n")
    index = ET.parse(root / "sitemap.xml").getroot()
    loc = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    assert [e.text for e in index.iter(f"{loc}loc")] == ["http://localhost:8000/latest/sitemap.xml"]
    urls = {
        u.find(f"{loc}loc").text: u.find(f"{loc}lastmod").text
        for u in ET.parse(latest(published_demo) / "sitemap.xml").getroot()
    }
    # an entity nothing new happened to on day 2 keeps day 1; one removed from its list on day 2 has day 2
    assert urls["http://localhost:8000/latest/entity/91320200E8YX606JXB.html"] == DAY1
    assert urls["http://localhost:8000/latest/entity/913201007079003CXE.html"] == DAY2
    assert not (latest(published_demo) / "robots.txt").exists()


def test_an_entity_on_a_black_list_and_the_red_list_shows_both(published_demo):
    root = latest(published_demo)
    html = (root / "entity" / "91320200A270313CX1.html").read_text(encoding="utf-8")
    assert '<dt>名单状态</dt><dd class="problem">在列：经营异常名录（2026-11-03 列入）</dd>' in html
    assert '<dt>守信红名单</dt><dd class="good">诚信示范企业（有效期至 2027-11-25）</dd>' in html
    assert html.index("<h2>经营异常名录与严重违法失信名单</h2>") < html.index("<h2>守信红名单</h2>")
    twin = json.loads((root / "entity" / "91320200A270313CX1.json").read_text(encoding="utf-8"))
    assert twin["standing"] == {
        "名单状态": "在列：经营异常名录（2026-11-03 列入）",
        "守信红名单": "诚信示范企业（有效期至 2027-11-25）",
    }
    (recognition,) = twin["records"]["honour_list"]
    assert recognition["recognising_authority"] == "江苏省发展和改革委员会" and "has_problem" not in recognition


def test_the_honour_list_is_a_list_page_with_its_downloads_feed_and_search(published_demo):
    root = latest(published_demo)
    page = (root / "lists" / "honour" / "index.html").read_text(encoding="utf-8")
    assert page.count('<td data-label="市场主体">') == 5 and "南京恒泰电子科技有限公司" in page
    assert '<li><a href="lists/honour/">守信红名单</a></li>' in (root / "index.html").read_text(encoding="utf-8")
    assert (root / "datasets" / "honour_list" / "honour_list.csv").is_file()
    assert (root / "feeds" / "honour_list.atom").is_file()
    assert "守信红名单" in (root / "datasets" / "honour_list" / "index.html").read_text(encoding="utf-8")
    dcat = json.loads((root / "dcat.jsonld").read_text(encoding="utf-8"))
    assert any(d["dct:identifier"] == "honour_list" for d in dcat["dcat:dataset"])


def _paginate(tmp_path, total: int, rows: list[dict] | None = None, **context) -> dict[str, dict]:
    """The pages `paginated` asks for, for `total` rows numbered newest first (or `rows`): path ->
    context, with what the page is compared by ("compared": the data or the fingerprint given)."""
    from gongshi.catalog import load_catalog
    from gongshi.site import SiteBuilder
    from gongshi.site.rows import Lazy

    builder = SiteBuilder(tmp_path, load_catalog(), DAY1, "https://example.org/", {}, {}, {}, {})
    asked = {}

    def page(path, template, title, description, fingerprint_data=None, fingerprint=None, **context):
        context = {k: v() if isinstance(v, Lazy) else v for k, v in context.items()}
        asked[path] = {"title": title, "compared": fingerprint_data or fingerprint, **context}

    builder.page = page
    rows = rows if rows is not None else [{"n": n} for n in range(total, 0, -1)]  # newest (highest) first
    builder.paginated("lists/x", "records.html", "列表", "说明", rows, **context)
    return asked


def test_a_numbered_page_is_compared_by_its_rows_and_the_lists_context(tmp_path):
    from gongshi.site import PAGE_SIZE

    rows = [{"n": n} for n in range(180, 0, -1)]
    before = _paginate(tmp_path, 0, rows)
    prints = {p: v["compared"] for p, v in before.items() if p != "lists/x/index.html"}
    assert len(set(prints.values())) == 3 and all(isinstance(v, str) and len(v) == 64 for v in prints.values())
    changed = [dict(r) for r in rows]
    changed[-1]["n"] = -1  # the oldest row, on page 1
    after = _paginate(tmp_path, 0, changed)
    assert after["lists/x/1.html"]["compared"] != prints["lists/x/1.html"]
    assert [after[f"lists/x/{n}.html"]["compared"] for n in (2, 3)] == [prints[f"lists/x/{n}.html"] for n in (2, 3)]
    other = _paginate(tmp_path, 0, rows, empty="无记录")  # the list's context is on every page
    assert all(other[p]["compared"] != v for p, v in prints.items())
    assert len(rows) // PAGE_SIZE == 3


def test_table_rows_digests_of_many_slices_are_each_slices_digest():
    import numpy as np
    import pyarrow as pa

    from gongshi.site.rows import TableRows

    class View:
        digests = pa.array([f"{n:032x}" for n in range(300)])

    rows = TableRows(View(), np.array([5, 3, 299, *range(100, 200), 7], dtype=np.int64))
    bounds = [(0, 2), (2, 50), (50, 103), (101, 103)]
    assert rows.digests(bounds) == [rows.digest(s, e) for s, e in bounds]
    assert rows.digests([]) == []


def _blacklist_view(count: int):
    import datetime as dt

    import pyarrow as pa

    from gongshi.catalog import load_catalog
    from gongshi.metadata import published_fields
    from gongshi.site.rows import TableView

    dataset = load_catalog()["blacklist_entries"]
    names = [f.name for f in published_fields(dataset)]
    columns = {name: [f"{name}-{i}" if i % 7 else None for i in range(count)] for name in names}
    columns["status"] = ["active" if i % 3 else "removed" for i in range(count)]
    columns["flags"] = ["" if i % 5 else "removal_without_listing;x" for i in range(count)]
    columns["listed_on"] = [dt.date(2026, 1, 1) + dt.timedelta(days=i % 300) for i in range(count)]
    columns["publication_delay"] = list(range(count))
    table = pa.table({n: columns[n] for n in names})
    return TableView(table, dataset), dataset


@given(
    st.lists(st.integers(0, 299), min_size=1, max_size=120),
    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 120)), max_size=12),
    st.integers(1, 80),
)
def test_table_rows_gathered_ahead_are_the_rows_of_each_slice(positions, slices, batch):
    """Whatever the slices announced (in any order, repeated, overlapping, some never asked for),
    each slice asked for gives the view's rows at its positions, with the fields asked for."""
    import numpy as np

    from gongshi.site import rows as site_rows

    view, _ = _blacklist_view(300)
    fields = frozenset({"entity_name", "listed_on", "status_label"})
    positions = np.array(positions, dtype=np.int64)
    asked = [(min(a, b, len(positions)), min(max(a, b), len(positions))) for a, b in slices]
    rows = site_rows.TableRows(view, positions, fields)
    rows.prefetch(asked[::2] + asked)
    original, site_rows.PREFETCH_ROWS = site_rows.PREFETCH_ROWS, batch
    try:
        for start, end in asked:
            expected = view.dicts(positions[start:end])
            got = rows.dicts(start, end)
            assert [r["entity_name"] for r in got] == [r["entity_name"] for r in expected]
            assert [r["listed_on"] for r in got] == [r["listed_on"] for r in expected]
            for mine, whole in zip(got, expected, strict=True):
                assert set(mine) == {"entity_name", "listed_on", "status", "flags", *site_rows.TEMPLATE_HELPERS}
                assert {k: whole[k] for k in mine} == mine
    finally:
        site_rows.PREFETCH_ROWS = original


def test_a_rows_template_says_which_fields_it_reads_or_that_it_may_read_any():
    import jinja2

    from gongshi.catalog import load_catalog
    from gongshi.site import environment, template_fields

    env = environment(load_catalog())
    inspections = template_fields(env, "inspection_results/rows.html")
    assert {"inspection_date", "entity_name", "credit_code", "has_problem", "handling"} <= inspections
    assert not {"record_id", "legal_representative", "first_published"} & inspections
    templates = {
        "plain": "{% for r in rows %}{{ r.a }}{{ r['b'] }}{% endfor %}",
        "by_variable": "{% for r in rows %}{{ r[key] }}{% endfor %}",
        "include": "{% include 'plain' %}",
        "methods": "{% for r in rows %}{% for k, v in r.items() %}{{ v }}{% endfor %}{% endfor %}",
        "filter": "{{ rows | map(attribute='a') | join }}",
        "whole_row": "{% for r in rows %}{{ r.a }}{{ r | tojson }}{% endfor %}",
        "key_test": "{% for r in rows %}{% if 'b' in r %}{{ r.a }}{% endif %}{% endfor %}",
        "printed": "{% for r in rows %}{{ r.a }}{{ r }}{% endfor %}",
        "passed_on": "{% for r in rows %}{% set first = r %}{{ first.a }}{% endfor %}",
        "unpacked": "{% for i, r in rows %}{{ r.a }}{{ caller(r) }}{% endfor %}",
        "value_filters": "{% for r in rows %}{{ r.a | default('—') | upper }}{% if 'x' in r.b %}-{% endif %}"
        "{% endfor %}",
    }
    env = jinja2.Environment(loader=jinja2.DictLoader(templates))
    assert template_fields(env, "plain") == template_fields(env, "value_filters") == {"a", "b"}
    assert all(template_fields(env, name) is None for name in templates if name not in {"plain", "value_filters"})


def test_pages_are_numbered_from_the_oldest_so_old_pages_do_not_change(tmp_path):
    from gongshi.site import PAGE_SIZE

    before, after = _paginate(tmp_path, 173), _paginate(tmp_path, 180)
    assert sorted(before) == [
        "lists/x/1.html",
        "lists/x/2.html",
        "lists/x/3.html",
        "lists/x/index.html",
    ]
    assert [r["n"] for r in before["lists/x/1.html"]["rows"]] == list(range(PAGE_SIZE, 0, -1))
    assert [r["n"] for r in before["lists/x/index.html"]["rows"]] == list(range(173, 150, -1))
    for path in ("lists/x/1.html", "lists/x/2.html"):
        assert after[path] == before[path]  # seven rows added at the top: numbered pages stay as they were
    assert after["lists/x/index.html"]["rows"][0] == {"n": 180}
    every = sorted(r["n"] for page in after.values() for r in page["rows"])
    assert every == list(range(1, 181))  # each row on exactly one page
    newest = after["lists/x/index.html"]["pagination"]
    assert (newest.total, newest.older, [n for n, _ in newest.pages]) == (180, "../../lists/x/3.html", [3, 2, 1])
    third = after["lists/x/3.html"]["pagination"]
    assert (third.number, third.total, third.newer, third.older, third.first) == (
        3,
        None,
        "../../lists/x/",
        "../../lists/x/2.html",
        "../../lists/x/1.html",
    )
    assert _paginate(tmp_path, PAGE_SIZE).keys() == {"lists/x/index.html"}
    assert _paginate(tmp_path, 0)["lists/x/index.html"]["rows"] == []


def test_a_long_list_links_a_window_of_pages_not_every_page(tmp_path):
    from gongshi.catalog import load_catalog
    from gongshi.site import environment

    asked = _paginate(tmp_path, 50 * 400 + 3)
    assert len(asked) == 401
    pagination = asked["lists/x/index.html"]["pagination"]
    assert [n for n, _ in pagination.pages] == [400, 399, 398, 1]
    macro = environment(load_catalog()).from_string(
        '{% from "_macros.html" import pagination_nav %}{{ pagination_nav(p) }}'
    )
    html = macro.render(p=pagination)
    assert "共 20,003 条" in html and html.count("<li") == 6 and 'aria-hidden="true">…' in html
    html = macro.render(p=asked["lists/x/200.html"]["pagination"])
    assert "第 200 页" in html and 'href="../../lists/x/201.html" rel="prev">较新' in html
    assert 'href="../../lists/x/199.html" rel="next">较早' in html and "共" not in html


def test_a_sitemap_above_fifty_thousand_pages_becomes_an_index(tmp_path):
    from gongshi.site.feeds import SITEMAP_LIMIT, write_sitemap

    pages = {f"entity/{n:018d}.html": DAY1 for n in range(SITEMAP_LIMIT + 1)}
    write_sitemap(tmp_path, "https://x.org/latest/", pages, DAY2)
    index = ET.parse(tmp_path / "sitemap.xml").getroot()
    assert index.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}sitemapindex"
    parts = [e.text for e in index.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert parts == ["https://x.org/latest/sitemap-1.xml", "https://x.org/latest/sitemap-2.xml"]
    counts = [len(ET.parse(tmp_path / f"sitemap-{n}.xml").getroot()) for n in (1, 2)]
    assert counts == [SITEMAP_LIMIT, 1]


def test_an_entity_with_hundreds_of_records_has_a_small_page_and_a_complete_twin(tmp_path):
    import datetime as dt

    import pyarrow as pa

    from gongshi.catalog import load_catalog
    from gongshi.metadata import published_fields
    from gongshi.site import ENTITY_SECTION_LIMIT, SiteBuilder

    catalog, code, n = load_catalog(), "913201007079003CXE", 240
    types = {"date": pa.date32(), "integer": pa.int64(), "boolean": pa.bool_()}
    tables = {}
    for name, dataset in catalog.items():
        fields = published_fields(dataset)
        tables[name] = pa.table({f.name: pa.array([], types.get(f.type, pa.string())) for f in fields})
    columns = {f.name: f for f in published_fields(catalog["inspection_results"])}
    day = dt.date(2026, 11, 26)
    values = {
        "record_id": [f"i{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}{'a' * 14}" for i in range(n)],
        "task_id": [f"JS2026{i:06d}" for i in range(n)],
        "inspection_date": [day - dt.timedelta(days=i) for i in range(n)],
        "entity_name": ["南京恒泰电子科技有限公司"] * n,
        "credit_code": [code] * n,
        "status": ["active"] * n,
        "result": ["未发现问题"] * n,
    }
    tables["inspection_results"] = pa.table(
        {name: pa.array(values.get(name, [None] * n), types.get(f.type, pa.string())) for name, f in columns.items()}
    )
    SiteBuilder(tmp_path, catalog, "2026-11-26", "https://x.org/", tables, {}, {}, {}).build_all()
    page = (tmp_path / "entity" / f"{code}.html").read_text(encoding="utf-8")
    assert f"共 {n} 条，本页列出最近的 {ENTITY_SECTION_LIMIT} 条" in page
    assert "JS2026000000" in page and f"JS2026{ENTITY_SECTION_LIMIT - 1:06d}" in page
    assert f"JS2026{ENTITY_SECTION_LIMIT:06d}" not in page
    css = (tmp_path / "static" / "style.css").stat().st_size
    assert len(page.encode()) + css < 50 * 1024
    text = (tmp_path / "entity" / f"{code}.json").read_text(encoding="utf-8")
    twin = json.loads(text)
    assert len(twin["records"]["inspection_results"]) == n
    # one value a line, Chinese as it is: the leak gate scans a repeated line once
    assert text.count("\n") > 20 * n and "南京恒泰电子科技有限公司" in text and text.endswith("}\n")
    assert '      "result": "未发现问题",\n' in text


def test_a_row_field_in_a_template_is_the_dicts_key_and_dict_methods_stay_methods():
    import jinja2

    from gongshi.catalog import load_catalog
    from gongshi.site import environment

    env = environment(load_catalog())
    row = {"name": "<b>甲</b>", "items": "事项", "none": None}
    template = env.from_string("{{ r.name }}|{{ r.none }}|{{ r.items()|list|length }}|{{ r['items'] }}|{{ d.year }}")
    import datetime as dt

    assert template.render(r=row, d=dt.date(2026, 11, 30)) == "&lt;b&gt;甲&lt;/b&gt;|None|3|事项|2026"
    with pytest.raises(jinja2.UndefinedError, match="missing"):
        env.from_string("{{ r.missing }}").render(r=row)
    # compiled to the template's own function, not to the environment's method looked up each time
    source = env.compile("{{ r.name }}{{ d.year }}", raw=True)
    assert source.count("_getattr(") == 2 and "environment.getattr(" not in source


def test_the_site_rendered_in_two_processes_is_the_site_rendered_in_one(published_demo, tmp_path, monkeypatch):
    """Entity pages in this process and every other page in a forked one, the entity pages to render
    and the unchanged ones to link shared between both as jobs: the same files, the same
    fingerprints, dates and links, the same sitemap, as one process makes."""

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import gongshi.site as site
    from gongshi.catalog import load_catalog
    from gongshi.tables import row_digests

    catalog = load_catalog()
    latest = published_demo.public / "latest"
    tables = {n: pq.read_table(latest / "datasets" / n / f"{n}.parquet") for n in catalog}
    digests = {n: row_digests(t) for n, t in tables.items()}
    files = json.loads((latest / "manifest.json").read_text("utf-8"))["files"]
    built, again = {}, {}
    renderers = tmp_path / "renderers.txt"  # the process that rendered each batch of entity pages
    linkers = tmp_path / "linkers.txt"  # the process that linked each run of unchanged entity pages
    batch, link, entities = (
        site.SiteBuilder._entity_batch,
        site.SiteBuilder._link_entities,
        site.SiteBuilder._timed_entities,
    )

    def recorded_batch(self, views, plan, codes):
        if codes:
            with renderers.open("a") as out:
                out.write(f"{os.getpid()}\n")
        return batch(self, views, plan, codes)

    def recorded_link(self, codes, plan):
        with linkers.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return link(self, codes, plan)

    def slow_entities(self, *args):  # this process starts late: the other takes entity pages too
        time.sleep(1.5)
        return entities(self, *args)

    monkeypatch.setattr(site.SiteBuilder, "_entity_batch", recorded_batch)
    monkeypatch.setattr(site.SiteBuilder, "_link_entities", recorded_link)
    monkeypatch.setattr(site.SiteBuilder, "_timed_entities", slow_entities)
    monkeypatch.setattr(site, "ENTITY_BATCH", 2)
    monkeypatch.setattr(site, "LINK_BATCH", 2)
    for name, above in (("one", 10**12), ("two", 0)):
        monkeypatch.setattr(site, "PARALLEL_ABOVE", above)
        folder = tmp_path / name
        (folder / "datasets").mkdir(parents=True)
        result = site.SiteBuilder(
            folder, catalog, "2026-11-26", "https://x.org/", tables, {}, files, {}, digests=digests
        ).build_all()
        built[name] = (_contents(folder), result.fingerprints, result.modified, result.rendered, result.hashes)
        # The next day, on top of that build, with one record changed: few entity pages to render, so
        # the check index is built beside them rather than beside the other pages.
        changed = dict(tables)
        first = changed["inspection_results"]
        mine = pc.equal(first["credit_code"], first["credit_code"][0])  # every row of one entity
        changed["inspection_results"] = first.set_column(
            first.column_names.index("entity_name"),
            "entity_name",
            pc.if_else(mine, pa.scalar("改了名的公司"), first["entity_name"]),
        )
        changed_digests = {n: row_digests(t) for n, t in changed.items()}
        folder2 = tmp_path / f"{name}-next"
        (folder2 / "datasets").mkdir(parents=True)
        builder = site.SiteBuilder(
            folder2,
            catalog,
            "2026-11-27",
            "https://x.org/",
            changed,
            {},
            files,
            {},
            folder,
            result.fingerprints,
            changed_digests,
            result.modified,
        )
        assert (
            0
            < builder._entity_plan(
                {d.id: site.TableView(changed[d.id], d, changed_digests[d.id]) for d in site.ordered(catalog)}
            ).to_render
            < site.CHECK_WITH_ENTITIES_BELOW * 50
        )
        linkers.unlink(missing_ok=True)
        next_result = builder.build_all()
        again[name] = (
            _contents(folder2),
            next_result.fingerprints,
            next_result.modified,
            next_result.hashes,
            next_result.linked,
        )
        assert next_result.entity_pages_rendered == 1 and next_result.search_shards_written
        assert sum(p.startswith("entity/") for p in next_result.linked) == 2 * (next_result.entity_pages - 1)
        # every entity page but the changed one's is a link to the first day's file
        for path in (p for p in next_result.linked if p.startswith("entity/")):
            assert os.stat(folder2 / path).st_ino == os.stat(folder / path).st_ino
        if name == "two":
            assert set(linkers.read_text().split()) - {str(os.getpid())}, "the forked process linked no page"
    assert built["one"] == built["two"]
    assert again["one"] == again["two"]
    assert set(renderers.read_text().split()) - {str(os.getpid())}, "the forked process rendered no entity page"
    contents = built["two"][0]
    assert any(p.startswith("entity/") for p in contents) and "search/index.html" in built["two"][1]
    assert "sitemap.xml" in contents and "check/index.html" in contents
    assert any(
        "改了名的公司" in (tmp_path / "two-next" / p).read_text("utf-8")
        for p in again["two"][0]
        if p.startswith("search/") and p.endswith(".json")
    )


def _contents(folder):
    import hashlib

    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_work_beside_fails_loudly():
    import errno
    import os

    from gongshi import parallel

    def boom():
        raise ValueError("bad row")

    with pytest.raises(parallel.ChildFailed, match="bad row"):
        parallel.both(lambda: 1, boom)
    with pytest.raises(parallel.ChildFailed, match="exit code 3"):
        parallel.both(lambda: 1, lambda: os._exit(3))

    def full_disk():
        raise OSError(errno.ENOSPC, "No space left on device", "/srv/build/x.xlsx")

    with pytest.raises(OSError) as raised:
        parallel.both(lambda: 1, full_disk)
    assert (raised.value.errno, raised.value.filename) == (errno.ENOSPC, "/srv/build/x.xlsx")
    assert "full_disk" in "".join(raised.value.__notes__)  # the child's traceback
    assert parallel.both(lambda: 1, lambda: {"a": [2]}) == (1, {"a": [2]})
    assert parallel.both(lambda: 1, lambda: 2, parallel=False) == (1, 2)


def test_a_flag_count_changes_the_newest_list_page_only(tmp_path):
    """A list with a notice ("N items without supervision measures"): the count stands on the newest
    page; older pages link to the flagged records without it, so a day that adds one flagged
    record does not make every numbered page new."""
    from gongshi.site.context import Notice

    asked = {}
    from gongshi.catalog import load_catalog
    from gongshi.site import SiteBuilder
    from gongshi.site.rows import Lazy

    builder = SiteBuilder(tmp_path, load_catalog(), DAY1, "https://example.org/", {}, {}, {}, {})

    def page(path, template, title, description, fingerprint_data=None, fingerprint=None, **context):
        asked[path] = {k: v() if isinstance(v, Lazy) else v for k, v in context.items()}

    builder.page = page
    newest, older = Notice("lists/y", "7 项未报送", "。", 7), Notice("lists/y", "未报送的事项", "", 1)
    rows = [{"n": n} for n in range(120, 0, -1)]
    builder.paginated("lists/x", "records.html", "列表", "说明", rows, numbered={"notice": older}, notice=newest)
    assert asked["lists/x/index.html"]["notice"] == newest
    assert asked["lists/x/1.html"]["notice"] == asked["lists/x/2.html"]["notice"] == older


def test_approval_pages_carry_the_notice_count_on_the_newest_page_only(published_demo, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import gongshi.site as site
    from gongshi.catalog import load_catalog
    from gongshi.tables import row_digests

    monkeypatch.setattr(site, "PAGE_SIZE", 1)  # the demo's few approvals, one per page
    catalog = load_catalog()
    latest = published_demo.public / "latest"
    tables = {n: pq.read_table(latest / "datasets" / n / f"{n}.parquet") for n in catalog}
    digests = {n: row_digests(t) for n, t in tables.items()}
    (tmp_path / "datasets").mkdir()
    site.SiteBuilder(tmp_path, catalog, DAY2, "https://x.org/", tables, {}, {}, {}, digests=digests).build_all()
    newest = (tmp_path / "approvals" / "index.html").read_text(encoding="utf-8")
    assert re.search(r"\d+ 项已调整的审批事项未报送事中事后监管措施", newest)
    numbered = sorted((tmp_path / "approvals").glob("[0-9]*.html"))
    assert len(numbered) >= 2
    for path in numbered:
        text = path.read_text(encoding="utf-8")
        assert "未报送监管措施的审批事项</a>" in text and "项已调整的审批事项未报送" not in text


def test_an_entity_whose_twin_is_lost_from_the_previous_build_is_made_again(published_demo, tmp_path):
    import os

    import pyarrow.parquet as pq

    from gongshi import site
    from gongshi.catalog import load_catalog
    from gongshi.tables import row_digests

    catalog = load_catalog()
    latest = published_demo.public / "latest"
    tables = {n: pq.read_table(latest / "datasets" / n / f"{n}.parquet") for n in catalog}
    digests = {n: row_digests(t) for n, t in tables.items()}
    files = json.loads((latest / "manifest.json").read_text("utf-8"))["files"]
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        (folder / "datasets").mkdir(parents=True)
    first = site.SiteBuilder(one, catalog, DAY2, "https://x.org/", tables, {}, files, {}, digests=digests).build_all()
    twins = sorted(p[: -len(".json")] for p in first.fingerprints if p.startswith("entity/") and p.endswith(".json"))
    lost, kept = twins[0], twins[1]
    (one / f"{lost}.json").unlink()  # the page is there, its twin is not: the entity is made again
    again = site.SiteBuilder(
        two, catalog, DAY2, "https://x.org/", tables, {}, files, {}, one, first.fingerprints, digests, first.modified
    ).build_all()
    assert again.entity_pages_rendered == 1 and again.entity_pages == len(twins)
    # made again: the twin rendered, the page taken from the previous build (it is there, and the same)
    assert (two / f"{lost}.html").read_bytes() == (one / f"{lost}.html").read_bytes()
    assert json.loads((two / f"{lost}.json").read_text("utf-8")) and f"{lost}.json" not in again.linked
    for suffix in (".html", ".json"):
        path = f"{kept}{suffix}"
        assert os.stat(two / path).st_ino == os.stat(one / path).st_ino
        assert path in again.linked and again.fingerprints[path] == first.fingerprints[path]


def test_entity_pages_found_by_a_sort_are_those_found_by_a_mask(published_demo, tmp_path, monkeypatch):
    """A first day renders every entity in batches, each batch's rows found by one sort of the credit
    codes (`RowsByCode`); a few batches, by a mask over the column: the same pages either way."""
    import pyarrow.parquet as pq

    from gongshi import site
    from gongshi.catalog import load_catalog
    from gongshi.tables import row_digests

    catalog = load_catalog()
    latest = published_demo.public / "latest"
    tables = {n: pq.read_table(latest / "datasets" / n / f"{n}.parquet") for n in catalog}
    digests = {n: row_digests(t) for n, t in tables.items()}
    monkeypatch.setattr(site, "ENTITY_BATCH", 3)  # the demo's entities in many small batches
    built = {}
    for name, above in (("sorted", 0), ("masked", 10**9)):
        monkeypatch.setattr(site, "SORTED_ABOVE_BATCHES", above)
        folder = tmp_path / name
        (folder / "datasets").mkdir(parents=True)
        builder = site.SiteBuilder(folder, catalog, DAY2, "https://x.org/", tables, {}, {}, {}, digests=digests)
        views = {d.id: site.TableView(tables[d.id], d, digests[d.id]) for d in site.ordered(catalog)}
        assert bool(builder._entity_plan(views).rows_by_code) == (name == "sorted")
        builder.build_all()
        built[name] = {p.name: p.read_bytes() for p in (folder / "entity").iterdir()}
    assert len(built["sorted"]) > 2 * 3 * 2 and built["sorted"] == built["masked"]


@given(
    st.lists(st.sampled_from(["91A", "91B", "9C", "中", "", None]), max_size=40),
    st.lists(st.sampled_from(["91A", "91B", "9C", "中", "", "zz"]), max_size=6),
    st.integers(0, 40),
)
def test_rows_by_code_finds_what_a_mask_finds(values, wanted, cut):
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from gongshi.site.rows import RowsByCode

    column = pa.chunked_array([pa.array(values[:cut], pa.string()), pa.array(values[cut:], pa.string())])
    mask = pc.is_in(column, value_set=pa.array(wanted, pa.string()))
    expected = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False)))
    every = pa.array(sorted({v for v in values if v is not None} | {"91Z"}), pa.string())  # every entity's code
    assert RowsByCode(column, every).positions(wanted).tolist() == expected.tolist()


_ANY_VALUE = st.one_of(
    st.text(),
    st.text().map(markupsafe.Markup),  # already safe: written as it is
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
    st.dates(),
)


@given(_ANY_VALUE)
def test_what_a_template_writes_is_escaped_as_markupsafe_escapes_it(value):
    from gongshi.site import escape_output

    assert escape_output(value) == str(markupsafe.escape(value))


@given(st.text())
def test_a_page_escapes_every_value_it_shows(name):
    """The site's own environment, rendered: every value through the autoescape, none raw."""
    from gongshi.catalog import load_catalog
    from gongshi.site import environment

    env = environment(load_catalog())
    template = env.from_string('<h1>{{ name }}</h1><p title="{{ name }}">{{ rows[0].x }}</p>{{ safe | safe }}')
    page = template.render(name=name, rows=[{"x": name}], safe=markupsafe.Markup("<b>定</b>"))
    escaped = str(markupsafe.escape(name))
    assert page == f'<h1>{escaped}</h1><p title="{escaped}">{escaped}</p><b>定</b>'
    # a raw "<" or quote of the value never reaches the page
    assert page.count("<") == 6 and page.count('"') == 2


@pytest.mark.parametrize("chunks", [1, 3])
def test_browse_groups_each_record_under_its_city_and_month_in_the_declared_order(tmp_path, chunks):
    """`browse` puts every record on its city's pages and its month's, newest first as declared —
    a code outside Jiangsu (or too short) under 省外, a missing date under its own empty month —
    whether the table comes in one chunk or many (a next day's, read from Parquet)."""
    import pyarrow as pa

    from gongshi.catalog import load_catalog
    from gongshi.site import SiteBuilder
    from gongshi.site.rows import TableView

    catalog = load_catalog()
    dataset = catalog["inspection_results"]
    rows = [
        ("91320100MA1AAAAA0X", "2026-10-03", "T3"),  # 南京
        ("91320500MA1BBBBB0X", "2026-11-01", "T2"),  # 苏州
        ("91110000MA1CCCCC0X", "2026-11-02", "T1"),  # 北京: outside
        ("91320100MA1DDDDD0X", None, "T4"),  # 南京, no date
        ("9132", "2026-10-30", "T5"),  # too short: outside
    ]
    columns = {name: [None] * len(rows) for name in dataset.field_names}
    columns |= {
        "credit_code": [r[0] for r in rows],
        "inspection_date": [r[1] for r in rows],
        "task_id": [r[2] for r in rows],
        "first_published": ["2026-11-02"] * len(rows),
    }
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    if chunks > 1:
        table = pa.concat_tables([table.slice(0, 2), table.slice(2, 2), table.slice(4)])
    builder = SiteBuilder(tmp_path, catalog, DAY1, "https://example.org/", {}, {}, {}, {})
    builder.page = lambda *args, **kwargs: None
    jobs = []
    charts, _ = builder.browse(dataset, TableView(table, dataset), jobs)
    grouped = {job.args[0]: [rows[p][2] for p in job.args[4].positions] for job in jobs}
    from gongshi.site.regions import CITIES

    expected = {f"inspections/city/{slug}": [] for _, slug in CITIES.values()}
    expected |= {
        "inspections/city/nanjing": ["T3", "T4"],  # newest date first; a missing date last
        "inspections/city/suzhou": ["T2"],
        "inspections/city/outside": ["T1", "T5"],
        "inspections/month/": ["T4"],
        "inspections/month/2026-10": ["T5", "T3"],
        "inspections/month/2026-11": ["T1", "T2"],
    }
    assert grouped == expected
    city_chart = charts[0]
    assert {bar.label: bar.values[0] for bar in city_chart.bars}["省外"] == 2


def test_a_check_index_made_from_kept_entries_is_the_index_made_in_full(published_demo, tmp_path):
    """The next day's check index keeps the entries of entities whose rows did not change and makes
    the others again — renamed, gone, given a record, or with a problem that left the 12-month
    window — and its buckets are the bytes a build from nothing makes; untouched buckets are linked.
    A kept table that is damaged or made for other declarations is not used."""
    from collections import Counter

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from gongshi import checking
    from gongshi import site as site_module
    from gongshi.catalog import load_catalog
    from gongshi.site import checkindex
    from gongshi.tables import row_digests

    catalog = load_catalog()
    latest = published_demo.public / "latest"
    tables = {n: pq.read_table(latest / "datasets" / n / f"{n}.parquet") for n in catalog}
    files = json.loads((latest / "manifest.json").read_text("utf-8"))["files"]
    inspections = tables["inspection_results"]
    problem = pc.invert(
        pc.is_in(inspections["result"], value_set=pa.array(["未发现问题", "未发现开展本次抽查涉及的经营活动"]))
    )
    codes = pc.unique(inspections["credit_code"]).to_pylist()
    with_problem = pc.unique(inspections["credit_code"].filter(problem)).to_pylist()
    leaving = with_problem[0]  # its problems dated the first day of day one's window: out of day two's
    elsewhere = {
        c
        for d in catalog.values()
        if d.id != "inspection_results" and d.site.entity
        for c in tables[d.id][d.site.entity.credit_code].to_pylist()
    }
    renamed = next(c for c in codes if c != leaving)
    chars = checking.chars_for(len(set(codes) | elsewhere))
    shared = Counter(checking.bucket_of(c, chars) for c in set(codes) | elsewhere)
    gone = next(  # no row left anywhere, in a bucket that others share and not the other two's
        c
        for c in codes
        if c not in elsewhere
        and shared[checking.bucket_of(c, chars)] > 1
        and checking.bucket_of(c, chars) not in {checking.bucket_of(x, chars) for x in (leaving, renamed)}
    )
    entering = next(c for c in with_problem if c not in (leaving, renamed, gone))  # in the day before's window only
    day1 = DAY2
    day0, day2 = ((dt.date.fromisoformat(day1) + dt.timedelta(days=n)).isoformat() for n in (-1, 1))
    dates = inspections["inspection_date"]
    for code, day in ((leaving, day1), (entering, day0)):
        mine = pc.and_(pc.equal(inspections["credit_code"], code), problem)
        dates = pc.if_else(mine, pa.scalar(dt.date.fromisoformat(checkindex.year_ago(day))), dates)
    tables["inspection_results"] = inspections.set_column(
        inspections.column_names.index("inspection_date"), "inspection_date", dates
    )

    def build(folder, day, tables, store=None, previous=None):
        (folder / "datasets").mkdir(parents=True)
        digests = {n: row_digests(t) for n, t in tables.items()}
        before = (previous[0], previous[1].fingerprints, digests, previous[1].modified) if previous else ()
        return site_module.SiteBuilder(
            folder, catalog, day, "https://x.org/", tables, {}, files, {}, *before, check_store=store
        ).build_all()

    store = tmp_path / "store"
    first = build(tmp_path / "one", day1, tables, store)
    assert len(list(store.glob("*.parquet"))) == 1 and first.check_entries_made >= len(codes)
    changed = dict(tables)
    rows = changed["inspection_results"]
    rows = rows.filter(pc.invert(pc.equal(rows["credit_code"], gone)))
    changed["inspection_results"] = rows.set_column(
        rows.column_names.index("entity_name"),
        "entity_name",
        pc.if_else(pc.equal(rows["credit_code"], renamed), pa.scalar("改了名的公司"), rows["entity_name"]),
    )

    def buckets(folder):
        return {p.name: p.read_bytes() for p in (folder / checking.FOLDER).glob("*.json") if p.name != "meta.json"}

    kept = build(tmp_path / "kept", day2, changed, store, (tmp_path / "one", first))
    full = build(tmp_path / "full", day2, changed)
    assert buckets(tmp_path / "kept") == buckets(tmp_path / "full") != buckets(tmp_path / "one")
    assert (tmp_path / "kept" / checking.META).read_bytes() == (tmp_path / "full" / checking.META).read_bytes()
    # made again: the renamed, the one whose problem left the window (gone: nothing to make)
    assert kept.check_entries_made == 2 < full.check_entries_made
    entry = {}
    for data in buckets(tmp_path / "kept").values():
        entry |= json.loads(data)
    assert gone not in entry and entry[renamed]["n"] == "改了名的公司" and leaving in entry
    touched = {
        checking.bucket_of(c, json.loads((tmp_path / "kept" / checking.META).read_text())["chars"])
        for c in (leaving, renamed, gone)
    }
    for name in buckets(tmp_path / "kept"):
        same = (
            os.stat(tmp_path / "kept" / checking.FOLDER / name).st_ino
            == os.stat(tmp_path / "one" / checking.FOLDER / name).st_ino
        )
        assert same == (name.removesuffix(".json") not in touched), name
    # a damaged kept table, or one made for other declarations: every entry made again, the same bytes
    # a day before it, published after it (days out of order): the window moves back
    back = build(tmp_path / "back", day0, tables, store, (tmp_path / "one", first))
    build(tmp_path / "back-full", day0, tables)
    assert back.check_entries_made == 1 and buckets(tmp_path / "back") == buckets(tmp_path / "back-full")
    base = store / f"{checkindex.digest(first.fingerprints)}.parquet"
    good = pq.read_table(base)
    for spoil in ("damaged", "salt"):
        if spoil == "damaged":
            base.write_bytes(base.read_bytes()[:100])
        else:
            pq.write_table(good.replace_schema_metadata(good.schema.metadata | {b"gongshi.salt": b"other"}), base)
        again = build(tmp_path / f"again-{spoil}", day2, changed, store, (tmp_path / "one", first))
        assert again.check_entries_made == full.check_entries_made
        assert buckets(tmp_path / f"again-{spoil}") == buckets(tmp_path / "full")
        # the store keeps what it made, named by its buckets
        assert (store / f"{checkindex.digest(again.fingerprints)}.parquet").is_file()
    # a store that cannot be written (a full disk, a file in its place): the index is still made
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    build(tmp_path / "blocked-build", day2, changed, blocked, (tmp_path / "one", first))
    assert buckets(tmp_path / "blocked-build") == buckets(tmp_path / "full")


def test_the_check_store_keeps_the_last_index_the_one_it_started_from_and_two_others(tmp_path):
    import pyarrow as pa

    from gongshi.site import checkindex

    bodies = pa.table({"code": ["91320100205862691T"], "f": ["x"], "body": ['{"n":"某公司"}']})
    made = []
    for index in range(6):
        fingerprints = {"check/A.json": f"sha-{index}", "check/meta.json": "any"}
        base = checkindex.digest({"check/A.json": "sha-0"}) if index else None  # every day from the first
        checkindex.save(tmp_path, bodies, "salt", "2026-11-27", 1, fingerprints, base)
        made.append(tmp_path / f"{checkindex.digest(fingerprints)}.parquet")
        os.utime(made[-1], (index, index))  # in the order made, whatever the clock's resolution
    left = set(tmp_path.glob("*.parquet"))
    assert left == {made[0], made[5], made[4], made[3]}  # the base, the last and the two newest others
    kept = checkindex.load(tmp_path, {"check/A.json": "sha-5"}, "salt")
    assert kept is not None and kept.bodies.to_pylist() == bodies.to_pylist() and kept.chars == 1
    assert checkindex.load(tmp_path, {"check/A.json": "sha-5"}, "another salt") is None
    assert checkindex.load(tmp_path, {"check/A.json": "sha-1"}, "salt") is None  # aged out


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(max_size=8)),
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.booleans(),
        ),
        max_size=20,
    )
)
def test_rows_become_dicts_as_arrow_itself_would_make_them(rows):
    """`rows._records` (a column at a time) gives what `Table.to_pylist` gives: every value, every
    null, the order of rows and fields."""
    import pyarrow as pa

    from gongshi.site.rows import _records

    table = pa.table(
        {
            "text": pa.array([r[0] for r in rows], pa.string()),
            "number": pa.array([r[1] for r in rows], pa.int64()),
            "flag": pa.array([r[2] for r in rows], pa.bool_()),
        }
    )
    assert _records(table) == table.to_pylist()
    assert _records(table.select([])) == [{} for _ in rows]


_json_keys = st.one_of(st.text(max_size=6), st.integers(-3, 3), st.booleans(), st.none(), st.floats(allow_nan=False))
_json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8), st.dates(),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_json_keys, inner, max_size=3),
    max_leaves=12,
)  # fmt: skip


@given(_json_values)
def test_json_bytes_are_those_of_the_option_for_keys_that_are_not_text(payload):
    """`json_bytes` asks orjson for keys that are not text only when one is there: the bytes are the
    same as with the option always on, and keys that are not text are written as text."""
    import orjson

    from gongshi.site import json_bytes

    always = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
    assert json_bytes(payload) == orjson.dumps(payload, option=always)
    assert json_bytes({1: "a", None: [True]}) == b'{\n  "1": "a",\n  "null": [\n    true\n  ]\n}\n'
