"""Atom feeds of the daily changes (all datasets, and one per dataset) with feedgen, and the sitemap."""

from __future__ import annotations

import datetime as dt
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


def write_sitemap(build: Path, base_url: str, pages: list[str], day: str) -> None:
    """sitemap.xml: every page; above SITEMAP_LIMIT pages, a sitemap index over numbered files."""
    urls = [base_url + (p[: -len("index.html")] if p.endswith("index.html") else p) for p in pages]
    header = '<?xml version="1.0" encoding="UTF-8"?>\n'
    namespace = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'

    def urlset(chunk: list[str]) -> str:
        body = "".join(f"<url><loc>{escape(u)}</loc><lastmod>{day}</lastmod></url>\n" for u in chunk)
        return f"{header}<urlset {namespace}>\n{body}</urlset>\n"

    if len(urls) <= SITEMAP_LIMIT:
        (build / "sitemap.xml").write_text(urlset(urls), encoding="utf-8")
        return
    parts = []
    for number, start in enumerate(range(0, len(urls), SITEMAP_LIMIT), start=1):
        name = f"sitemap-{number}.xml"
        (build / name).write_text(urlset(urls[start : start + SITEMAP_LIMIT]), encoding="utf-8")
        parts.append(f"<sitemap><loc>{escape(base_url + name)}</loc><lastmod>{day}</lastmod></sitemap>\n")
    (build / "sitemap.xml").write_text(
        f"{header}<sitemapindex {namespace}>\n{''.join(parts)}</sitemapindex>\n", encoding="utf-8"
    )
