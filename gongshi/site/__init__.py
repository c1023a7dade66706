"""The public website, rendered from a release's public tables with the jinja2 templates in
site_templates/ (autoescaped: markup in any source field is shown as text, never run).

Pages are written only when their content changed: each page's fingerprint (its template files
and its context) is compared with the previous release's, and an unchanged page is hard-linked
from it instead of being rendered again. Search is a static Pagefind index over the entity pages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
import pyarrow as pa

from gongshi import issues
from gongshi.catalog import Dataset, ListPage
from gongshi.metadata import CHANGE_LABELS, CHANGES, label_field, published_fields
from gongshi.paths import SITE_TEMPLATES_DIR
from gongshi.site.context import (
    Bar,
    Card,
    ChangeDay,
    Chart,
    Download,
    Entity,
    EntitySection,
    FieldDoc,
    NavItem,
    Notice,
    Page,
    Pagination,
    StandingLine,
)
from gongshi.site.feeds import write_feeds, write_sitemap
from gongshi.site.regions import CITIES, OUTSIDE, city_of
from gongshi.storage import link_or_copy

PAGE_SIZE = 50
CHANGE_PAGE_LIMIT = 500
FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines", "xlsx": "XLSX", "sqlite": "SQLite"}
STATUS_LABELS = {"active": "在列", "removed": "已移出"}


@dataclass
class SiteResult:
    """What rendering the site did, for the run's metadata."""

    rendered: int = 0
    skipped: int = 0
    fingerprints: dict[str, str] = field(default_factory=dict)
    search_seconds: float = 0.0
    entity_pages: int = 0
    entity_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "entity_pages": self.entity_pages,
            "entity_pages_seconds": round(self.entity_seconds, 2),
            "pages_rendered": self.rendered,
            "pages_unchanged": self.skipped,
            "search_index_seconds": round(self.search_seconds, 2),
        }


def environment(catalog: dict[str, Dataset]) -> jinja2.Environment:
    """The site's templates, and each dataset's own (its row templates, as `<dataset>/<file>`)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(SITE_TEMPLATES_DIR),
                jinja2.PrefixLoader({d.id: jinja2.FileSystemLoader(d.directory / "site") for d in catalog.values()}),
            ]
        ),
        autoescape=True,  # every template, whatever its suffix
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["change_label"] = lambda c: CHANGE_LABELS.get(c, c)
    env.filters["status_label"] = lambda s: STATUS_LABELS.get(s, s)
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.globals["navigation"] = navigation(catalog)
    return env


def navigation(catalog: dict[str, Dataset]) -> list[NavItem]:
    """The datasets' pages that declare a place in the navigation, in their declared order."""
    items = []
    for dataset in ordered(catalog):
        items += [NavItem(page.path, page.nav) for page in dataset.site.lists if page.nav]
        if dataset.site.browse and dataset.site.browse.nav:
            items.append(NavItem(dataset.site.browse.path, dataset.site.browse.nav))
    return items


def ordered(catalog: dict[str, Dataset]) -> list[Dataset]:
    return sorted(catalog.values(), key=lambda d: (d.site.position, d.id))


def templates_fingerprint(catalog: dict[str, Dataset]) -> str:
    """Changes when any template (the site's or a dataset's) or the navigation changes."""
    digest = hashlib.sha256()
    folders = [SITE_TEMPLATES_DIR, *(d.directory / "site" for d in ordered(catalog))]
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file():
                digest.update(path.relative_to(folder.parent).as_posix().encode() + path.read_bytes())
    digest.update(json.dumps([dataclasses.asdict(n) for n in navigation(catalog)], ensure_ascii=False).encode())
    return digest.hexdigest()


class SiteBuilder:
    """Renders every page of one release into `build`."""

    def __init__(
        self,
        build: Path,
        catalog: dict[str, Dataset],
        day: str,
        base_url: str,
        tables: dict[str, pa.Table],
        history: dict[str, dict[str, pa.Table]],
        files: dict[str, dict],
        quality: dict[str, dict],
        previous_build: Path | None = None,
        previous_fingerprints: dict[str, str] | None = None,
    ):
        self.build, self.catalog, self.day = build, catalog, day
        self.base_url = base_url.rstrip("/") + "/latest/"
        self.tables, self.history, self.files, self.quality = tables, history, files, quality
        self.previous_build = previous_build
        self.previous = previous_fingerprints or {}
        self.env = environment(catalog)
        self.template_version = templates_fingerprint(catalog)
        self.result = SiteResult()

    # -- writing ------------------------------------------------------------------------------------

    def page(self, path: str, template: str, title: str, description: str, fingerprint_data=None, **context) -> None:
        """Render `template` to `path` unless the same template and context made it last time
        (`fingerprint_data`, when given, stands for the context in that comparison)."""
        # The release day is not part of every page: a page whose content did not change stays the same file.
        meta = Page(
            path=path,
            root=_root(path),
            canonical=self.base_url + _url(path),
            title=title,
            description=description,
        )
        fingerprint = _fingerprint(
            self.template_version, template, meta, context if fingerprint_data is None else fingerprint_data
        )
        if self._reuse(path, fingerprint):
            return
        html = self.env.get_template(template).render(page=meta, **context)
        self._write(path, html.encode("utf-8"))

    def json_file(self, path: str, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8") + b"\n"
        fingerprint = hashlib.sha256(data).hexdigest()
        if not self._reuse(path, fingerprint):
            self._write(path, data)

    def _reuse(self, path: str, fingerprint: str) -> bool:
        self.result.fingerprints[path] = fingerprint
        source = self.previous_build / path if self.previous_build else None
        if self.previous.get(path) == fingerprint and source is not None and source.is_file():
            target = self.build / path
            target.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(source, target)
            self.result.skipped += 1
            return True
        return False

    def _write(self, path: str, data: bytes) -> None:
        target = self.build / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.result.rendered += 1

    # -- the site -----------------------------------------------------------------------------------

    def build_all(self) -> SiteResult:
        self.static()
        records = {d.id: self.records(d) for d in ordered(self.catalog)}
        started = dt.datetime.now()
        entities = self.entities(records)
        for entity in entities:
            self.entity(entity)
        self.result.entity_pages = len(entities)
        self.result.entity_seconds = (dt.datetime.now() - started).total_seconds()
        cards, charts = [], []
        for dataset in ordered(self.catalog):
            for spec in dataset.site.lists:
                rows = self.list_page(dataset, spec, records[dataset.id])
                if spec.home:
                    cards.append(_card(spec.path, spec.home, len(rows)))
            if dataset.site.browse:
                browse_charts, problems = self.browse(dataset, records[dataset.id])
                if dataset.site.browse.home:
                    cards.append(
                        _card(dataset.site.browse.path, dataset.site.browse.home, len(records[dataset.id]), problems)
                    )
                if dataset.site.browse.home_chart:
                    charts.append(browse_charts[0])
            self.dataset(dataset)
        self.quality_page()
        self.home(cards, [*self.change_charts(), *charts])
        self.page("search/index.html", "search.html", "查询市场主体", "按企业名称或统一社会信用代码查询。")
        self.page(
            "datasets/index.html",
            "datasets.html",
            "数据下载",
            "全部数据集的下载、数据字典与变更记录。",
            datasets=[self._dataset_summary(d) for d in self.catalog.values()],
        )
        self._write("robots.txt", f"User-agent: *\nSitemap: {self.base_url}sitemap.xml\n".encode())
        write_feeds(self.build, self.catalog, self.history, self.base_url, self.day)
        write_sitemap(
            self.build, self.base_url, sorted(p for p in self.result.fingerprints if p.endswith(".html")), self.day
        )
        self.search_index()
        return self.result

    def static(self) -> None:
        for source in sorted((SITE_TEMPLATES_DIR / "static").iterdir()):
            self._reuse_or_copy(f"static/{source.name}", source)

    def _reuse_or_copy(self, path: str, source: Path) -> None:
        data = source.read_bytes()
        fingerprint = hashlib.sha256(data).hexdigest()
        if not self._reuse(path, fingerprint):
            self._write(path, data)

    def records(self, dataset: Dataset) -> list[dict]:
        """The dataset's public records as the templates see them: every field as text, and
        `has_problem`, `status_label` and `flag_list`."""
        frame = _frame(self.tables.get(dataset.id))
        rows = frame.to_dict("records")
        problem = dataset.site.problem
        for row in rows:
            row["has_problem"] = problem is not None and row.get(problem.field) not in problem.not_in
            row["status_label"] = STATUS_LABELS.get(row.get("status"), row.get("status"))
            row["flag_list"] = _flags(row.get("flags"))
        return rows

    def entities(self, records: dict[str, list[dict]]) -> list[Entity]:
        """Every market entity in the public data, keyed by credit code: one pass over the records
        of each dataset whose declarations name an entity."""
        joined = [d for d in ordered(self.catalog) if d.site.entity]
        by_code: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for dataset in joined:
            column = dataset.site.entity.credit_code
            for row in records[dataset.id]:
                by_code[row[column]][dataset.id].append(row)
        names = _newest_names(joined, records)
        city_pages = next((d.site.browse.path for d in joined if d.site.browse), None)
        entities = []
        for code in sorted(by_code):
            city, slug = city_of(code)
            name, representative = names[code]
            mine = by_code[code]
            entities.append(
                Entity(
                    credit_code=code,
                    name=name,
                    city=city,
                    city_slug=slug,
                    city_link=f"{city_pages}/city/{slug}/" if city_pages else None,
                    legal_representative=representative,
                    standings=[
                        _standing(d, _sorted(mine.get(d.id, []), d.site.section.order if d.site.section else []))
                        for d in joined
                        if d.site.standing
                    ],
                    sections=[
                        EntitySection(
                            dataset=d.id,
                            heading=d.site.section.heading,
                            rows_template=f"{d.id}/{d.site.section.rows}",
                            records=_sorted(mine.get(d.id, []), d.site.section.order),
                            empty=d.site.section.empty,
                        )
                        for d in joined
                        if d.site.section
                    ],
                )
            )
        return entities

    def entity(self, entity: Entity) -> None:
        data = dataclasses.asdict(entity)  # once: the page's fingerprint and the JSON twin
        self.page(
            f"entity/{entity.credit_code}.html",
            "entity.html",
            entity.name,
            f"{entity.name}（{entity.credit_code}）的"
            + "、".join(s.heading for s in entity.sections)
            + "。"
            + "；".join(line.text for line in entity.standings),
            fingerprint_data=data,
            entity=entity,
        )
        twin = {key: data[key] for key in ("credit_code", "name", "city", "legal_representative")}
        twin |= {
            "standing": {line["label"]: line["text"] for line in data["standings"]},
            "records": {section["dataset"]: [_public(r) for r in section["records"]] for section in data["sections"]},
            "html": self.base_url + f"entity/{entity.credit_code}.html",
        }
        self.json_file(f"entity/{entity.credit_code}.json", twin)

    def paginated(self, folder: str, template: str, title: str, description: str, rows: list, **context) -> None:
        """`rows` (newest first) as pages of PAGE_SIZE: the newest at `folder/`, older ones numbered
        from the oldest (`folder/1/` holds the first PAGE_SIZE rows ever listed), so that rows added
        at the top change the newest page and not the numbered ones. Each page's context is its own
        rows and a few links: what it costs to compare does not grow with the list."""
        total = len(rows)
        older = max(0, (total - 1) // PAGE_SIZE)  # full pages before the newest

        def link(here: str, number: int | None) -> str:
            return f"{here}{folder}/" if number is None else f"{here}{folder}/{number}/"

        here = _root(f"{folder}/index.html")
        window = sorted({n for n in (older, older - 1, older - 2, 1) if n >= 1}, reverse=True)
        self.page(
            f"{folder}/index.html",
            template,
            title,
            description,
            rows=rows[: total - older * PAGE_SIZE],
            pagination=Pagination(
                newest=True,
                number=None,
                total=total,
                newer=None,
                older=link(here, older) if older else None,
                latest=None,
                first=None,
                pages=[(n, link(here, n)) for n in window],
            ),
            **context,
        )
        for number in range(1, older + 1):
            path = f"{folder}/{number}/index.html"
            here = _root(path)
            self.page(
                path,
                template,
                f"{title}（第 {number} 页）",
                description,
                rows=rows[total - number * PAGE_SIZE : total - (number - 1) * PAGE_SIZE],
                pagination=Pagination(
                    newest=False,
                    number=number,
                    total=None,
                    newer=link(here, number + 1 if number < older else None),
                    older=link(here, number - 1) if number > 1 else None,
                    latest=link(here, None) if number < older else None,
                    first=link(here, 1) if number > 2 else None,
                ),
                **context,
            )

    def list_page(self, dataset: Dataset, spec: ListPage, rows: list[dict]) -> list[dict]:
        """One declared list: the records matching its `where` (and flag), in its order."""
        selected = [r for r in rows if _matches(r, spec.where) and (spec.flag is None or spec.flag in r["flag_list"])]
        selected = _sorted(selected, spec.order)
        notice = None
        if spec.notice:
            count = sum(spec.notice.flag in r["flag_list"] for r in selected)
            notice = Notice(spec.notice.path, spec.notice.text.format(count=count), spec.notice.after, count)
        self.paginated(
            spec.path,
            "records.html",
            spec.title,
            spec.description,
            selected,
            rows_template=f"{dataset.id}/{spec.rows}",
            empty=spec.empty,
            notice=notice,
            browse=None,
        )
        return selected

    def browse(self, dataset: Dataset, rows: list[dict]) -> tuple[list[Chart], int]:
        """The dataset's records by city and by month, each a paginated page, and the charts."""
        spec = dataset.site.browse
        code_column = dataset.site.entity.credit_code
        problem_label = dataset.site.problem.label if dataset.site.problem else None
        ordered_rows = _sorted(rows, spec.order)
        by_city: dict[str, list[dict]] = defaultdict(list)
        by_month: dict[str, list[dict]] = defaultdict(list)
        for row in ordered_rows:
            by_city[city_of(row[code_column])[1]].append(row)
            by_month[(row[spec.date] or "")[:7]].append(row)
        context = {
            "rows_template": f"{dataset.id}/{spec.rows}",
            "empty": spec.empty,
            "notice": None,
            "browse": {"path": spec.path, "link": "按地区和月份浏览"},
        }
        cities = [(name, slug) for name, slug in CITIES.values()] + [OUTSIDE]
        for name, slug in cities:
            self.paginated(
                f"{spec.path}/city/{slug}",
                "records.html",
                spec.city_title.format(group=name),
                spec.city_description.format(group=name),
                by_city.get(slug, []),
                **context,
            )
        for month, found in sorted(by_month.items()):
            self.paginated(
                f"{spec.path}/month/{month}",
                "records.html",
                spec.month_title.format(group=month),
                spec.month_description.format(group=month),
                found,
                **context,
            )
        series = [spec.count_label, *([problem_label] if problem_label else [])]

        def values(group: list[dict]) -> list[int]:
            return [len(group), *([sum(r["has_problem"] for r in group)] if problem_label else [])]

        city_chart = Chart(
            id="chart-city",
            title=spec.city_chart,
            series=series,
            bars=[
                Bar(label=name, link=f"{spec.path}/city/{slug}/", values=values(by_city.get(slug, [])))
                for name, slug in cities
                if slug != "outside" or by_city.get(slug)
            ],
        )
        month_chart = Chart(
            id="chart-month",
            title=spec.month_chart,
            series=series,
            bars=[
                Bar(label=m, link=f"{spec.path}/month/{m}/", values=values(by_month[m])) for m in sorted(by_month)[-24:]
            ],
        )
        self.page(
            f"{spec.path}/index.html",
            "browse.html",
            spec.title,
            spec.description,
            city_chart=city_chart,
            month_chart=month_chart,
            months=sorted(by_month, reverse=True),
            summary=spec.summary.format(count=f"{len(rows):,}"),
        )
        return [city_chart, month_chart], sum(r["has_problem"] for r in rows)

    def _dataset_summary(self, dataset: Dataset) -> dict:
        return {
            "id": dataset.id,
            "title": dataset.title,
            "description": dataset.description,
            "records": self.tables[dataset.id].num_rows,
        }

    def dataset(self, dataset: Dataset) -> None:
        downloads = [
            Download(
                format=FORMAT_NAMES.get(p.rsplit(".", 1)[1], p),
                path=p,
                bytes=info["bytes"],
                size=_size(info["bytes"]),
                sha256=info["sha256"],
            )
            for p, info in sorted(self.files.items())
            if p.startswith(f"datasets/{dataset.id}/{dataset.id}.") or p == "gongshi.sqlite"
        ]
        fields = [
            FieldDoc(name=f.name, title=f.title, type=f.type, description=f.description)
            for f in published_fields(dataset)
        ]
        log = []
        for change_day in sorted(self.history, reverse=True):
            table = self.history[change_day].get(dataset.id)
            if table is None:
                continue
            counts = Counter(table["change"].to_pylist())
            log.append(
                ChangeDay(
                    day=change_day,
                    counts={c: counts[c] for c in CHANGES if counts[c]},
                    link=f"changes/{change_day}/",
                    csv=f"../../changes/{change_day}/{dataset.id}.csv",
                )
            )
            self.change_page(dataset, change_day, table)
        schema_org = (
            json.loads((self.build / "datasets" / dataset.id / "schema-org.jsonld").read_text("utf-8"))
            if (self.build / "datasets" / dataset.id / "schema-org.jsonld").is_file()
            else None
        )
        self.page(
            f"datasets/{dataset.id}/index.html",
            "dataset.html",
            dataset.title,
            dataset.description,
            dataset=dataset,
            downloads=downloads,
            fields=fields,
            log=log,
            records=self.tables[dataset.id].num_rows,
            schema_org=_script_json(schema_org) if schema_org else None,
        )

    def change_page(self, dataset: Dataset, change_day: str, table: pa.Table) -> None:
        rows = table.to_pylist()
        labelled = label_field(dataset)
        for row in rows:
            row["change_label"] = CHANGE_LABELS.get(row["change"], row["change"])
            row["entity_link"] = None
        codes = {}
        if dataset.site.entity and labelled == dataset.site.entity.name:
            current = self.tables[dataset.id]
            codes = dict(
                zip(current["record_id"].to_pylist(), current[dataset.site.entity.credit_code].to_pylist(), strict=True)
            )
        for row in rows:
            if row["record_id"] in codes and row["change"] not in {"expired", "withdrawn", "retracted"}:
                row["entity_link"] = f"../../../../entity/{codes[row['record_id']]}.html"
        self.page(
            f"datasets/{dataset.id}/changes/{change_day}/index.html",
            "changes.html",
            f"{dataset.title}：{change_day} 变更",
            f"{change_day} {dataset.title}的新增、移出、更正、期满和撤下。",
            dataset=dataset,
            change_day=change_day,
            rows=rows[:CHANGE_PAGE_LIMIT],
            total=len(rows),
            csv=f"../../../../changes/{change_day}/{dataset.id}.csv",
        )

    def quality_page(self) -> None:
        days = []
        for quality_day in sorted(self.quality, reverse=True):
            rows, reasons = [], {}
            for name, per_dataset in self.quality[quality_day].get("datasets", {}).items():
                intake = per_dataset.get("intake", {})
                title = self.catalog[name].title if name in self.catalog else name
                for department, counts in sorted(intake.get("by_department", {}).items()):
                    rows.append({"dataset": title, "department": department, **counts})
                if intake.get("reasons"):
                    reasons[title] = {issues.label(k): v for k, v in intake["reasons"].items()}
            days.append({"day": quality_day, "rows": rows, "reasons": reasons})
        self.page(
            "quality/index.html",
            "quality.html",
            "数据质量",
            "各部门每日报送的读入、接受、退回数量及退回原因（不含个人信息）。",
            days=days,
        )

    def change_charts(self) -> list[Chart]:
        """The daily-changes charts the datasets declare, over the last 30 days of the history."""
        charts = []
        for dataset in ordered(self.catalog):
            spec = dataset.site.changes_chart
            if spec is None:
                continue
            bars = []
            for change_day in sorted(self.history)[-30:]:
                if dataset.id in self.history[change_day]:
                    kinds = Counter(self.history[change_day][dataset.id]["change"].to_pylist())
                    bars.append(
                        Bar(
                            label=change_day[5:],
                            values=[kinds[kind] for kind in spec.series],
                            link=f"datasets/{dataset.id}/changes/{change_day}/",
                        )
                    )
            charts.append(
                Chart(id=f"chart-{dataset.id}", title=spec.title, series=list(spec.series.values()), bars=bars)
            )
        return charts

    def home(self, cards: list[Card], charts: list[Chart]) -> None:
        today = self.history.get(self.day, {})
        changes = {name: dict(Counter(t["change"].to_pylist())) for name, t in today.items()}
        self.page(
            "index.html",
            "home.html",
            "江苏事中事后监管公示数据",
            "江苏省双随机抽查结果、经营异常名录与严重违法失信名单、守信红名单、行政审批事项调整的公开数据与查询。",
            cards=cards,
            changes=changes,
            release_day=self.day,
            titles={d.id: d.title for d in ordered(self.catalog)},
            charts=charts,
        )

    def search_index(self) -> None:
        started = dt.datetime.now()
        subprocess.run(
            [sys.executable, "-m", "pagefind", "--site", str(self.build), "--output-subdir", "pagefind", "--quiet"],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        self.result.search_seconds = (dt.datetime.now() - started).total_seconds()
        # The site uses Pagefind's JS API with its own accessible form; the bundled UI kits are not
        # served (they also carry third-party licence headers the leak gate rightly questions).
        for unused in (self.build / "pagefind").glob("pagefind-*ui.*"):
            unused.unlink()
        (self.build / "pagefind" / "pagefind-highlight.js").unlink(missing_ok=True)


def _frame(table: pa.Table | None) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame()
    frame = table.to_pandas()
    for name in frame.columns:
        if pa.types.is_date(table.schema.field(name).type):
            frame[name] = frame[name].map(lambda v: v.isoformat() if v is not None and not pd.isna(v) else None)
    return frame.astype(object).where(frame.notna(), None)


def _script_json(payload: dict) -> str:
    """JSON safe inside <script>: no "</script>" or "<!--" can close or confuse the element."""
    return json.dumps(payload, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def _newest_names(datasets: list[Dataset], records: dict[str, list[dict]]) -> dict[str, tuple[str, str | None]]:
    """Credit code -> (name, legal representative) as most recently delivered, across datasets."""
    newest: dict[str, tuple[str, str, str | None]] = {}
    for dataset in datasets:
        columns = dataset.site.entity
        for row in records[dataset.id]:
            code, updated = row[columns.credit_code], row.get("last_updated") or ""
            representative = _text(row.get(columns.representative)) if columns.representative else None
            if code not in newest or updated >= newest[code][0]:
                newest[code] = (updated, row[columns.name], representative)
    return {code: (name, representative) for code, (_, name, representative) in newest.items()}


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _flags(value) -> list[str]:
    return [f for f in (value or "").split(";") if f]


def _matches(row: dict, where: dict[str, list[str]]) -> bool:
    return all(row.get(field) in values for field, values in where.items())


def _sorted(rows: list[dict], order: list[str]) -> list[dict]:
    """Rows in a declared order: fields, "-field" descending, applied last to first (stable)."""
    result = list(rows)
    for key in reversed(order):
        name = key.lstrip("-")
        result.sort(key=lambda r, n=name: r.get(n) or "", reverse=key.startswith("-"))
    return result


def _standing(dataset: Dataset, rows: list[dict]) -> StandingLine:
    spec = dataset.site.standing
    current = [r for r in rows if _matches(r, spec.current)]
    if current:
        items = [spec.item.format_map(defaultdict(str, {k: v or "" for k, v in r.items()})) for r in current]
        return StandingLine(spec.label, spec.prefix + "、".join(items), spec.tone)
    return StandingLine(spec.label, spec.past if rows else spec.none, "fine")


def _card(path: str, text: str, count: int, problems: int = 0) -> Card:
    before, _, after = text.partition("{count}")
    return Card(path, before, count, after.format(problems=problems))


def _public(row: dict) -> dict:
    """A record as the entity's JSON twin gives it: its public fields, not the templates' helpers."""
    return {k: v for k, v in row.items() if k not in {"has_problem", "status_label", "flag_list"}}


def _root(path: str) -> str:
    return "../" * path.count("/")


def _url(path: str) -> str:
    return path[: -len("index.html")] if path.endswith("index.html") else path


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _fingerprint(version: str, template: str, meta: Page, context: dict) -> str:
    payload = json.dumps(
        [version, template, dataclasses.asdict(meta), context], ensure_ascii=False, sort_keys=True, default=_plain
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, Dataset):
        return value.id
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)
