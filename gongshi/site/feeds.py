"""Atom feeds of the daily changes (all datasets, and one per dataset) with feedgen, and the sitemap."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape

import pyarrow as pa
from feedgen.feed import FeedGenerator

from gongshi.catalog import Dataset
from gongshi.metadata import CHANGE_LABELS, CHANGES
from gongshi.tables import value_counts

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _summary(table: pa.Table) -> str:
    counts = Counter(value_counts(table["change"]))
    return "、".join(f"{CHANGE_LABELS[c]} {counts[c]}" for c in CHANGES if counts[c]) or "无变更"


def write_feeds(
    build: Path, catalog: dict[str, Dataset], history: dict[str, dict[str, pa.Table]], base_url: str, day: str
) -> None:
    """feeds/all.atom and feeds/<dataset>.atom: one entry per dataset and day with changes."""
    folder = build / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    scopes = {"all": list(catalog.values())} | {d.id: [d] for d in catalog.values()}
    for name, datasets in scopes.items():
        feed = FeedGenerator()
        feed.id(f"{base_url}feeds/{name}.atom")
        feed.title("江苏公示数据：每日变更" if name == "all" else f"{catalog[name].title}：每日变更")
        feed.subtitle("经校验、脱敏后发布的公开数据每日新增、移出、更正、期满与撤下。")
        feed.link(href=f"{base_url}feeds/{name}.atom", rel="self")
        feed.link(href=base_url if name == "all" else f"{base_url}datasets/{name}/", rel="alternate")
        feed.language("zh-CN")
        feed.author({"name": "江苏公示数据"})
        feed.updated(dt.datetime.fromisoformat(day).replace(tzinfo=SHANGHAI))
        for change_day in sorted(history):
            for dataset in datasets:
                table = history[change_day].get(dataset.id)
                if table is None or not table.num_rows:
                    continue
                link = f"{base_url}datasets/{dataset.id}/changes/{change_day}/"
                entry = feed.add_entry(order="append")
                entry.id(link)
                entry.title(f"{change_day} {dataset.title}：{_summary(table)}")
                entry.link(href=link)
                entry.updated(dt.datetime.fromisoformat(change_day).replace(tzinfo=SHANGHAI))
                entry.content(f"{dataset.title} {change_day} 变更：{_summary(table)}。明细见 {link}", type="text")
        feed.atom_file(str(folder / f"{name}.atom"), pretty=True)


SITEMAP_LIMIT = 50_000  # URLs per sitemap file (sitemaps.org)


def write_sitemap(build: Path, base_url: str, pages: dict[str, str], day: str) -> list[str]:
    """sitemap.xml: every page with the day its content last changed (`pages`: path -> day); above
    SITEMAP_LIMIT pages, numbered files and sitemap.xml their index. Returns the urlset files."""
    header = '<?xml version="1.0" encoding="UTF-8"?>\n'
    namespace = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    entries = [
        (base_url + (p[: -len("index.html")] if p.endswith("index.html") else p), modified)
        for p, modified in sorted(pages.items())
    ]

    def urlset(chunk: list[tuple[str, str]]) -> str:
        body = "".join(f"<url><loc>{escape(u)}</loc><lastmod>{m}</lastmod></url>\n" for u, m in chunk)
        return f"{header}<urlset {namespace}>\n{body}</urlset>\n"

    if len(entries) <= SITEMAP_LIMIT:
        (build / "sitemap.xml").write_text(urlset(entries), encoding="utf-8")
        return ["sitemap.xml"]
    parts, names = [], []
    for number, start in enumerate(range(0, len(entries), SITEMAP_LIMIT), start=1):
        name = f"sitemap-{number}.xml"
        chunk = entries[start : start + SITEMAP_LIMIT]
        (build / name).write_text(urlset(chunk), encoding="utf-8")
        newest = max(m for _, m in chunk)
        parts.append(f"<sitemap><loc>{escape(base_url + name)}</loc><lastmod>{newest}</lastmod></sitemap>\n")
        names.append(name)
    (build / "sitemap.xml").write_text(
        f"{header}<sitemapindex {namespace}>\n{''.join(parts)}</sitemapindex>\n", encoding="utf-8"
    )
    return names


def root_sitemap(base_url: str, latest: Path) -> str:
    """The web root's sitemap.xml: an index of the newest release's urlset files (a sitemap index may
    not point at another index), with their newest lastmod."""
    header = '<?xml version="1.0" encoding="UTF-8"?>\n'
    namespace = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    names = sorted(p.name for p in latest.glob("sitemap-*.xml")) or ["sitemap.xml"]
    parts = []
    for name in names:
        text = (latest / name).read_text(encoding="utf-8") if (latest / name).is_file() else ""
        days = re.findall(r"<lastmod>([0-9-]{10})</lastmod>", text)
        lastmod = f"<lastmod>{max(days)}</lastmod>" if days else ""
        parts.append(f"<sitemap><loc>{escape(base_url + 'latest/' + name)}</loc>{lastmod}</sitemap>\n")
    return f"{header}<sitemapindex {namespace}>\n{''.join(parts)}</sitemapindex>\n"


def robots(base_url: str) -> str:
    """The web root's robots.txt: everything may be crawled; where the sitemap is."""
    return f"User-agent: *\nAllow: /\nSitemap: {base_url}sitemap.xml\n"
