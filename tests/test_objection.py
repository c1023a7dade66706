"""异议与信用修复: every record says who decided it and how to object or apply for credit repair, with
the authority's public contact from departments.yaml; authorities without one are on the quality page."""

from __future__ import annotations

import json
import re

from gongshi.catalog import load_departments


def test_a_black_list_record_says_where_to_apply_for_removal_or_repair(published_demo):
    latest = published_demo.public / "latest"
    twin = json.loads((latest / "entity" / "91320200A270313CX1.json").read_text("utf-8"))
    listing = twin["records"]["blacklist_entries"][0]
    objection = twin["objections"]["blacklist_entries"][listing["objection"]]
    assert objection["authority"] == listing["listing_authority"]
    assert "申请移出经营异常名录" in objection["route"] and listing["list_type"] == "经营异常名录"
    page = (latest / "entity" / "91320200A270313CX1.html").read_text("utf-8")
    assert "<summary>异议与信用修复</summary>" in page and objection["route"] in page
    for dataset, records in twin["records"].items():
        assert all("objection" in r for r in records) == (dataset != "approval_item_changes")
        # a section's routes are listed once each, every one used by a record
        routes = twin["objections"].get(dataset, [])
        assert sorted({r["objection"] for r in records if "objection" in r}) == list(range(len(routes)))
        assert len({(o["authority"], o["route"]) for o in routes}) == len(routes)
        assert not {"has_problem", "status_label", "flag_list"} & {k for r in records for k in r}


def _objections(twin: dict) -> list[dict]:
    """The objection route of every record of a twin that has one."""
    return [
        twin["objections"][dataset][r["objection"]]
        for dataset, records in twin["records"].items()
        for r in records
        if "objection" in r
    ]


def test_a_known_authority_shows_its_contact_and_unknown_ones_are_listed_for_the_operator(published_demo):
    offices = load_departments()
    assert offices["江苏省市场监督管理局"].url == "https://scjgj.jiangsu.gov.cn/"
    latest = published_demo.public / "latest"
    quality = (latest / "quality" / "index.html").read_text("utf-8")
    section = quality.split("<h2>缺少联系方式的决定机关</h2>", 1)[1].split("<h2>", 1)[0]
    listed = set(re.findall(r'<td data-label="决定机关">(.*?)</td>', section))
    assert listed and not listed & set(offices)
    twins = [json.loads(p.read_text("utf-8")) for p in (latest / "entity").glob("*.json")]
    decided = {o["authority"] for t in twins for o in _objections(t) if o["contact"] is None}
    assert decided <= listed | {"（未填写作出决定的机关）"}
    known = [o for t in twins for o in _objections(t) if o["authority"] in offices]
    assert known and all(o["contact"] == {"url": offices[o["authority"]].url} for o in known)
    page = (latest / "entity" / "913201007079003CXE.html").read_text("utf-8")
    assert (
        '<strong>江苏省市场监督管理局</strong>（<a href="https://scjgj.jiangsu.gov.cn/" rel="external">网站</a>）'
        in page
    )
