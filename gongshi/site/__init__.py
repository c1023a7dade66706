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
from gongshi.catalog import Dataset
from gongshi.metadata import CHANGE_LABELS, CHANGES, label_field, published_fields
from gongshi.paths import SITE_TEMPLATES_DIR
from gongshi.site.context import (
    Bar,
    ChangeDay,
    Chart,
    Download,
    Entity,
    FieldDoc,
    Inspection,
    ListRecord,
    Page,
    Pagination,
)
from gongshi.site.feeds import write_feeds, write_sitemap
from gongshi.site.regions import CITIES, OUTSIDE, city_of
from gongshi.storage import link_or_copy

PAGE_SIZE = 50
CHANGE_PAGE_LIMIT = 500
NO_PROBLEM = {"未发现问题", "未发现开展本次抽查涉及的经营活动"}
LISTS = {"abnormal": "经营异常名录", "serious": "严重违法失信名单"}
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


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SITE_TEMPLATES_DIR),
        autoescape=True,  # every template, whatever its suffix
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["change_label"] = lambda c: CHANGE_LABELS.get(c, c)
    env.filters["status_label"] = lambda s: STATUS_LABELS.get(s, s)
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env


def templates_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(SITE_TEMPLATES_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(SITE_TEMPLATES_DIR).as_posix().encode() + path.read_bytes())
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
        self.env = environment()
        self.template_version = templates_fingerprint()
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
        inspections = _frame(self.tables.get("inspection_results"))
        blacklist = _frame(self.tables.get("blacklist_entries"))
        approvals = _frame(self.tables.get("approval_item_changes"))
        inspection_rows = [_inspection(r) for r in inspections.to_dict("records")]
        list_rows = [_list_record(r) for r in blacklist.to_dict("records")]
        started = dt.datetime.now()
        entities = self.entities(inspection_rows, list_rows, inspections, blacklist)
        for entity in entities:
            self.entity(entity)
        self.result.entity_pages = len(entities)
        self.result.entity_seconds = (dt.datetime.now() - started).total_seconds()
        self.lists(list_rows)
        charts = self.inspections(inspection_rows)
        self.approvals(approvals)
        for dataset in self.catalog.values():
            self.dataset(dataset)
        self.quality_page()
        self.home(inspections, blacklist, approvals, charts, len(entities))
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

    def entities(
        self,
        inspections: list[Inspection],
        listings: list[ListRecord],
        inspection_frame: pd.DataFrame,
        blacklist_frame: pd.DataFrame,
    ) -> list[Entity]:
        """Every market entity in the public data, keyed by credit code: one pass over the records."""
        by_code_inspections: dict[str, list[Inspection]] = defaultdict(list)
        by_code_lists: dict[str, list[ListRecord]] = defaultdict(list)
        for inspection in inspections:
            by_code_inspections[inspection.credit_code].append(inspection)
        for record in listings:
            by_code_lists[record.credit_code].append(record)
        names = _newest_names(inspection_frame, blacklist_frame)
        entities = []
        for code in sorted(set(by_code_inspections) | set(by_code_lists)):
            records = sorted(by_code_lists.get(code, []), key=lambda r: r.listed_on or r.removed_on or "", reverse=True)
            results = sorted(
                by_code_inspections.get(code, []), key=lambda i: (i.inspection_date, i.task_id), reverse=True
            )
            active = [r for r in records if r.status == "active"]
            city, slug = city_of(code)
            name, representative = names[code]
            if active:
                summary = "在列：" + "、".join(f"{r.list_type}（{r.listed_on} 列入）" for r in active)
            else:
                summary = "已移出全部名单" if records else "未列入经营异常名录或严重违法失信名单"
            entities.append(
                Entity(
                    credit_code=code,
                    name=name,
                    city=city,
                    city_slug=slug,
                    legal_representative=representative,
                    status_summary=summary,
                    on_list=bool(active),
                    list_records=records,
                    inspections=results,
                )
            )
        return entities

    def entity(self, entity: Entity) -> None:
        data = dataclasses.asdict(entity)  # once: the page's fingerprint and the JSON twin
        self.page(
            f"entity/{entity.credit_code}.html",
            "entity.html",
            entity.name,
            f"{entity.name}（{entity.credit_code}）的名单状态与抽查记录。{entity.status_summary}",
            fingerprint_data=data,
            entity=entity,
        )
        twin = {key: data[key] for key in ("credit_code", "name", "city", "legal_representative", "on_list")}
        twin |= {
            "status": entity.status_summary,
            "list_records": data["list_records"],
            "inspections": data["inspections"],
            "html": self.base_url + f"entity/{entity.credit_code}.html",
        }
        self.json_file(f"entity/{entity.credit_code}.json", twin)

    def paginated(self, folder: str, template: str, title: str, description: str, rows: list, **context) -> None:
        count = max(1, math.ceil(len(rows) / PAGE_SIZE))
        for number in range(1, count + 1):
            path = f"{folder}/index.html" if number == 1 else f"{folder}/{number}/index.html"
            here = _root(path)
            link = lambda n, here=here: f"{here}{folder}/" if n == 1 else f"{here}{folder}/{n}/"  # noqa: E731
            pagination = Pagination(
                number=number,
                count=count,
                total=len(rows),
                previous=link(number - 1) if number > 1 else None,
                next=link(number + 1) if number < count else None,
                pages=[(n, link(n)) for n in range(1, count + 1)],
            )
            suffix = f"（第 {number} 页）" if number > 1 else ""
            self.page(
                path,
                template,
                title + suffix,
                description,
                rows=rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE],
                pagination=pagination,
                **context,
            )

    def lists(self, records: list[ListRecord]) -> None:
        for slug, name in LISTS.items():
            rows = sorted(
                (r for r in records if r.list_type == name and r.status == "active"),
                key=lambda r: (r.listed_on or "", r.credit_code),
                reverse=True,
            )
            self.paginated(
                f"lists/{slug}",
                "list.html",
                f"{name}（在列）",
                f"当前在列的{name}市场主体，按列入日期从新到旧。",
                rows,
                list_name=name,
            )
        removals = sorted(
            (r for r in records if r.status == "removed"),
            key=lambda r: (r.removed_on or "", r.credit_code),
            reverse=True,
        )
        self.paginated(
            "lists/removals",
            "list.html",
            "近期移出名单",
            "已从名单中移出的市场主体，按移出日期从新到旧。",
            removals,
            list_name="移出",
        )

    def inspections(self, inspections: list[Inspection]) -> dict[str, Chart]:
        rows = sorted(inspections, key=lambda i: (i.inspection_date, i.task_id, i.credit_code), reverse=True)
        by_city: dict[str, list[Inspection]] = defaultdict(list)
        by_month: dict[str, list[Inspection]] = defaultdict(list)
        for row in rows:
            by_city[city_of(row.credit_code)[1]].append(row)
            by_month[row.inspection_date[:7]].append(row)
        cities = [(name, slug) for name, slug in CITIES.values()] + [OUTSIDE]
        for name, slug in cities:
            self.paginated(
                f"inspections/city/{slug}",
                "inspections.html",
                f"{name}抽查结果",
                f"{name}市场主体的“双随机、一公开”抽查结果，按检查日期从新到旧。",
                by_city.get(slug, []),
                scope=name,
            )
        for month, found in sorted(by_month.items()):
            self.paginated(
                f"inspections/month/{month}",
                "inspections.html",
                f"{month} 抽查结果",
                f"{month} 实施的抽查及其结果。",
                found,
                scope=month,
            )
        city_chart = Chart(
            id="chart-city",
            title="各设区市抽查数与发现问题数",
            series=["抽查", "发现问题"],
            bars=[
                Bar(
                    label=name,
                    link=f"inspections/city/{slug}/",
                    values=[len(by_city.get(slug, [])), sum(r.found_problem for r in by_city.get(slug, []))],
                )
                for name, slug in cities
                if slug != "outside" or by_city.get(slug)
            ],
        )
        month_chart = Chart(
            id="chart-month",
            title="各月抽查数与发现问题数",
            series=["抽查", "发现问题"],
            bars=[
                Bar(
                    label=m,
                    link=f"inspections/month/{m}/",
                    values=[len(by_month[m]), sum(r.found_problem for r in by_month[m])],
                )
                for m in sorted(by_month)[-24:]
            ],
        )
        self.page(
            "inspections/index.html",
            "inspections_index.html",
            "抽查结果",
            "按设区市和月份浏览“双随机、一公开”抽查结果。",
            city_chart=city_chart,
            month_chart=month_chart,
            months=sorted(by_month, reverse=True),
            total=len(rows),
        )
        return {"city": city_chart, "month": month_chart}

    def approvals(self, approvals: pd.DataFrame) -> None:
        items = approvals.to_dict("records")
        for item in items:
            item["flags"] = [f for f in (item.get("flags") or "").split(";") if f]
        items.sort(key=lambda i: (str(i.get("effective_date") or ""), i["item_code"]), reverse=True)
        without = [i for i in items if "missing_supervision_measures" in i["flags"]]
        self.paginated(
            "approvals",
            "approvals.html",
            "行政审批事项调整",
            "取消、下放、转移的行政审批事项，及其调整依据、生效日期、承接机关和事中事后监管措施。",
            items,
            without_count=len(without),
        )
        self.paginated(
            "approvals/without-measures",
            "approvals.html",
            "未报送监管措施的审批事项",
            "已取消、下放或转移但未报送事中事后监管措施的事项。意见要求逐项制定监管制度。",
            without,
            without_count=len(without),
        )

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
        if labelled == "entity_name":
            current = self.tables[dataset.id]
            codes = dict(zip(current["record_id"].to_pylist(), current["credit_code"].to_pylist(), strict=True))
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

    def home(self, inspections, blacklist, approvals, charts, entity_count) -> None:
        today = self.history.get(self.day, {})
        changes = {name: dict(Counter(t["change"].to_pylist())) for name, t in today.items()}
        active = blacklist[blacklist["status"] == "active"] if len(blacklist) else blacklist
        counts = {
            "abnormal": int((active["list_type"] == "经营异常名录").sum()) if len(active) else 0,
            "serious": int((active["list_type"] == "严重违法失信名单").sum()) if len(active) else 0,
            "removed": int((blacklist["status"] == "removed").sum()) if len(blacklist) else 0,
            "inspections": len(inspections),
            "problems": int((~inspections["result"].isin(NO_PROBLEM)).sum()) if len(inspections) else 0,
            "approvals": len(approvals),
            "without_measures": int(approvals["flags"].fillna("").str.contains("missing_supervision_measures").sum())
            if len(approvals)
            else 0,
            "entities": entity_count,
        }
        bars = []
        for change_day in sorted(self.history)[-30:]:
            if "blacklist_entries" in self.history[change_day]:
                kinds = Counter(self.history[change_day]["blacklist_entries"]["change"].to_pylist())
                bars.append(
                    Bar(
                        label=change_day[5:],
                        values=[kinds["added"], kinds["removed"]],
                        link=f"datasets/blacklist_entries/changes/{change_day}/",
                    )
                )
        list_chart = Chart(id="chart-lists", title="每日新增列入与移出名单数", series=["新增列入", "移出"], bars=bars)
        self.page(
            "index.html",
            "home.html",
            "江苏事中事后监管公示数据",
            "江苏省双随机抽查结果、经营异常名录与严重违法失信名单、行政审批事项调整的公开数据与查询。",
            counts=counts,
            changes=changes,
            release_day=self.day,
            titles={k: d.title for k, d in self.catalog.items()},
            city_chart=charts["city"],
            list_chart=list_chart,
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


def _newest_names(*frames: pd.DataFrame) -> dict[str, tuple[str, str | None]]:
    """Credit code -> (name, legal representative) as most recently delivered."""
    columns = ["credit_code", "entity_name", "legal_representative", "last_updated"]
    combined = (
        pd.concat([f[columns] for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else pd.DataFrame(columns=columns)
    )
    newest = combined.sort_values("last_updated", kind="stable").drop_duplicates("credit_code", keep="last")
    return {
        code: (name, _text(rep))
        for code, name, rep in zip(
            newest["credit_code"], newest["entity_name"], newest["legal_representative"], strict=True
        )
    }


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _flags(value) -> list[str]:
    return [f for f in (value or "").split(";") if f]


def _list_record(row: dict) -> ListRecord:
    return ListRecord(
        record_id=row["record_id"],
        list_type=row["list_type"],
        status=row["status"],
        status_label=STATUS_LABELS.get(row["status"], row["status"]),
        entity_name=row["entity_name"],
        credit_code=row["credit_code"],
        listed_on=row.get("listed_on"),
        listing_reason=row.get("listing_reason"),
        listing_authority=row.get("listing_authority"),
        decision_number=row.get("decision_number"),
        removed_on=row.get("removed_on"),
        removal_reason=row.get("removal_reason"),
        removal_authority=row.get("removal_authority"),
        expires_on=row.get("expires_on"),
        flags=_flags(row.get("flags")),
    )


def _inspection(row: dict) -> Inspection:
    return Inspection(
        record_id=row["record_id"],
        task_id=row["task_id"],
        task_name=row["task_name"],
        inspecting_authority=row["inspecting_authority"],
        inspection_type=row["inspection_type"],
        inspection_date=row["inspection_date"],
        entity_name=row["entity_name"],
        credit_code=row["credit_code"],
        inspection_item=row["inspection_item"],
        result=row["result"],
        found_problem=row["result"] not in NO_PROBLEM,
        handling=row.get("handling"),
    )


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
