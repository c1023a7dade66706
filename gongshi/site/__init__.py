"""The public website, rendered from a release's public tables with the jinja2 templates in
site_templates/ (autoescaped: markup in any source field is shown as text, never run).

Pages are written only when their content changed: each page's fingerprint (its template files
and its context) is compared with the previous release's, and an unchanged page is hard-linked
from it instead of being rendered again. Search is a static index of entity names and credit codes
(`gongshi.site.search`), sharded so that a day rewrites only the shards it changed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import jinja2.compiler
import jinja2.nodes
import markupsafe
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import checking, issues, parallel, progress, tables, timeliness
from gongshi.catalog import Dataset, ListPage, departments
from gongshi.metadata import CHANGE_LABELS, CHANGES, download_files, label_field, published_fields
from gongshi.paths import SITE_TEMPLATES_DIR
from gongshi.site import checkindex, search
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
    ObjectionLine,
    Page,
    Pagination,
    StandingLine,
    Timeliness,
)
from gongshi.site.feeds import write_feeds, write_sitemap
from gongshi.site.regions import CITIES, OUTSIDE, city_of
from gongshi.site.rows import (
    STATUS_LABELS,
    TEMPLATE_HELPERS,
    Lazy,
    ListRows,
    Rows,
    RowsByCode,
    TableRows,
    TableView,
)
from gongshi.storage import FolderLinks, write_file
from gongshi.tables import value_counts
from gongshi.writers.sqlite import FILE_NAME

try:  # markupsafe's own escaping, without wrapping each escaped value in a Markup object
    from markupsafe import _escape_inner
except ImportError:  # pragma: no cover - another markupsafe: its public escape, as Jinja calls it
    _escape_inner = None

PAGE_SIZE = 50
PAGE_PARTS = 10  # a dataset in parts: the newest days' parts listed on its page (all in datapackage.json)
ENTITY_BATCH = 2000  # entities whose rows are turned into Python objects at once
SORTED_ABOVE_BATCHES = 2  # entity batches to render above which their rows are found by a sort (`RowsByCode`)
LINK_BATCH = 2500  # unchanged entities linked in one job (`parallel.Jobs`)
LINK_TOKENS = 40  # at most so many jobs of links: runs grouped beyond
ENTITY_TOKENS = 200  # at most so many jobs of entity pages (`parallel.Jobs`): batches grouped beyond
ENTITY_SECTION_LIMIT = 50  # records per section on an entity page; the JSON twin has them all
PARALLEL_ABOVE = 50_000  # public records: fewer are rendered in one process (forking costs more than it saves)
CHECK_WITH_ENTITIES_BELOW = 0.2  # share of entity pages to render under which the check index is built beside them
CHANGE_PAGE_LIMIT = 100  # rows on a day's change page (under 50 KB); the CSV has them all
FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines", "xlsx": "XLSX", "sqlite": "SQLite"}


@dataclass
class EntityPlan:
    """The entity pages of a release: datasets joined, credit codes, fingerprints, and the codes of the
    entities whose page and JSON twin both have the fingerprint they had in the previous build (to
    link) and of the others (to render)."""

    joined: list[Dataset]
    codes: list[str]
    prints: list[str]
    unchanged: list[str]
    changed: list[str]
    # each joined dataset's rows by credit code, when so many pages are rendered (`_entity_batch`)
    rows_by_code: dict[str, RowsByCode] = dataclasses.field(default_factory=dict)

    @property
    def to_render(self) -> int:
        return len(self.changed)

    @functools.cached_property
    def _by_code(self) -> dict[str, str]:
        return dict(zip(self.codes, self.prints, strict=True))

    def fingerprint(self, code: str) -> str:
        """The fingerprint of the entity of credit code `code`."""
        return self._by_code[code]


@dataclass
class SiteResult:
    """What rendering the site did, for the run's metadata."""

    rendered: int = 0
    skipped: int = 0
    fingerprints: dict[str, str] = field(default_factory=dict)
    modified: dict[str, str] = field(default_factory=dict)  # the day each file's content last changed
    hashes: dict[str, str] = field(default_factory=dict)  # sha256 of every file written, as it was written
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of every file written
    linked: set[str] = field(default_factory=set)  # files hard-linked from the previous build
    search_seconds: float = 0.0
    search_shards_written: int = 0
    search_mode: str = ""  # how the search index was made: "full" or "incremental"
    search_entities_changed: int = 0
    check_entries_made: int = 0  # the check index's entries made (the others kept from the previous build)
    entity_pages: int = 0
    entity_pages_rendered: int = 0
    entity_seconds: float = 0.0  # from the entity plan until every entity page is written, by either process

    def merge(self, other: SiteResult) -> None:
        """Add what another part of the same build did (pages are written by one part only)."""
        self.rendered += other.rendered
        self.skipped += other.skipped
        self.fingerprints |= other.fingerprints
        self.modified |= other.modified
        self.hashes |= other.hashes
        self.sizes |= other.sizes
        self.linked |= other.linked
        self.search_seconds += other.search_seconds
        self.search_shards_written += other.search_shards_written
        self.search_mode = self.search_mode or other.search_mode
        self.search_entities_changed += other.search_entities_changed
        self.check_entries_made += other.check_entries_made
        self.entity_pages += other.entity_pages
        self.entity_pages_rendered += other.entity_pages_rendered

    def to_dict(self) -> dict:
        return {
            "entity_pages": self.entity_pages,
            "entity_pages_rendered": self.entity_pages_rendered,
            "entity_pages_seconds": round(self.entity_seconds, 2),
            "pages_rendered": self.rendered,
            "pages_unchanged": self.skipped,
            "search_index_seconds": round(self.search_seconds, 2),
            "search_shards_written": self.search_shards_written,
            "search_index_mode": self.search_mode,
            "search_entities_changed": self.search_entities_changed,
            "check_entries_made": self.check_entries_made,
        }


_DICT_ATTRIBUTES = frozenset(dir(dict))


def escape_output(value) -> str:
    """What an autoescaped `{{ value }}` writes: markupsafe's `escape(value)` (`&`, `<`, `>`, `'`
    and `"` replaced; a value with `__html__` as it says), as a plain str — the templates only yield
    it to the page. Wrapping every escaped value in a Markup (a Python `__new__` each) was a tenth of
    a province's first-day pages."""
    if _escape_inner is None:
        return str(markupsafe.escape(value))
    if type(value) is str:
        return _escape_inner(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return _escape_inner(str(value))


class _Template(jinja2.Template):
    @classmethod
    def _from_namespace(cls, environment, namespace, globals):
        # the compiled template's `escape`, used only for output (`yield escape(…)`)
        if "escape" in namespace:
            namespace["escape"] = escape_output
        # `row.field` as `_CodeGenerator` compiles it: the environment's method, looked up once
        namespace["_getattr"] = environment.getattr
        return super()._from_namespace(environment, namespace, globals)


class _CodeGenerator(jinja2.compiler.CodeGenerator):
    """Compiles `row.field` to a call of the template's own `_getattr` (`_Environment.getattr`, bound
    once per template in `_Template`), not of `environment.getattr` looked up on the environment for
    each of the tens of millions of fields a province's first-day pages read (`row.field` was 9 % of
    an entity page's time)."""

    @jinja2.compiler.optimizeconst
    def visit_Getattr(self, node: jinja2.nodes.Getattr, frame: jinja2.compiler.Frame) -> None:
        self.write("_getattr(")
        self.visit(node.node, frame)
        self.write(f", {node.attr!r})")


class _Environment(jinja2.Environment):
    """`row.field` on a row dict looks the key up at once. Jinja tries the attribute first and the
    key on the AttributeError: the exception, tens of millions a province's first day, was a sixth of
    the pages' time. A name that is an attribute of dict (`items`…) still means the attribute."""

    template_class = _Template
    code_generator_class = _CodeGenerator

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def environment(catalog: dict[str, Dataset]) -> jinja2.Environment:
    """The site's templates, and each dataset's own (its row templates, as `<dataset>/<file>`)."""
    env = _Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(SITE_TEMPLATES_DIR),
                jinja2.PrefixLoader({d.id: jinja2.FileSystemLoader(d.directory / "site") for d in catalog.values()}),
            ]
        ),
        autoescape=True,  # every template, whatever its suffix
        auto_reload=False,  # a run reads each template once (it looked at the file's time for every page)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["change_label"] = lambda c: CHANGE_LABELS.get(c, c)
    env.filters["status_label"] = lambda s: STATUS_LABELS.get(s, s)
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.globals["navigation"] = navigation(catalog)

    def rows_table(template: str, rows: list[dict], root: str, with_entity: bool) -> markupsafe.Markup:
        """A dataset's rows template (`rows`, `root`, `with_entity`) rendered to one string: its
        dozens of pieces a row are joined here, not passed up one at a time through the including
        page, its block and its base (an include's output is yielded through each of them)."""
        return markupsafe.Markup(env.get_template(template).render(rows=rows, root=root, with_entity=with_entity))

    env.globals["rows_table"] = rows_table
    return env


# filters that read only the value they are given (any other — tojson, dictsort, map… — may read a whole row)
_VALUE_FILTERS = {
    "e", "escape", "default", "d", "safe", "string", "upper", "lower", "trim", "truncate", "replace", "int",
    "float", "round", "abs", "capitalize", "title", "format", "thousands", "status_label", "change_label",
}  # fmt: skip


def template_fields(env: jinja2.Environment, name: str) -> frozenset[str] | None:
    """Every name the template `name` reads as `something.name` or `something["name"]` — a superset
    of the row fields a rows template reads — or None when it may read a row in a way not written
    out there (another template, a key given by a variable, a filter over attributes, a dict's own
    methods): then a row has every field."""
    ast = env.parse(env.loader.get_source(env, name)[0])
    if any(True for _ in ast.find_all((jinja2.nodes.Include, jinja2.nodes.Import, jinja2.nodes.FromImport))):
        return None
    if any(True for _ in ast.find_all(jinja2.nodes.Extends)):
        return None
    fields = {node.attr for node in ast.find_all(jinja2.nodes.Getattr)}
    for node in ast.find_all(jinja2.nodes.Getitem):
        if not isinstance(node.arg, jinja2.nodes.Const) or not isinstance(node.arg.value, str):
            return None
        fields.add(node.arg.value)
    if fields & _DICT_ATTRIBUTES or any(f.name not in _VALUE_FILTERS for f in ast.find_all(jinja2.nodes.Filter)):
        return None
    # A row (a name `{% for … in rows %}` binds) used but not as `row.name` or `row["name"]` — printed,
    # passed on, filtered, asked whether it holds a key (`"field" in row`) — may read any field.
    rows = {
        n.name
        for loop in ast.find_all(jinja2.nodes.For)
        if isinstance(loop.iter, jinja2.nodes.Name) and loop.iter.name == "rows"
        for n in _names(loop.target)
    }
    read = {id(node.node) for node in ast.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem))}
    if any(n.name in rows and n.ctx == "load" and id(n) not in read for n in ast.find_all(jinja2.nodes.Name)):
        return None
    return frozenset(fields)


def _names(node: jinja2.nodes.Node) -> list[jinja2.nodes.Name]:
    """The names a loop's target binds (one, or several unpacked)."""
    return [node] if isinstance(node, jinja2.nodes.Name) else list(node.find_all(jinja2.nodes.Name))


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


# how the entities' JSON twins are written: a new one makes each twin again (2: orjson, indent 2; 3: a
# section's objection routes once, each record pointing at its own by index)
TWIN_FORMAT = "3"


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
        digests: dict[str, pa.Array] | None = None,
        previous_modified: dict[str, str] | None = None,
        search_store: Path | None = None,
        check_store: Path | None = None,
    ):
        self.build, self.catalog, self.day = build, catalog, day
        self.search_store, self.check_store = search_store, check_store
        self._entity_prints: pa.Table | None = None  # (code, f) of every entity: `_entity_plan`'s
        self.digests = digests or {}
        self.previous_modified = previous_modified or {}
        self.base_url = base_url.rstrip("/") + "/latest/"
        self.tables, self.history, self.files, self.quality = tables, history, files, quality
        self.previous_build = previous_build
        self.previous = previous_fingerprints or {}
        self.env = environment(catalog)
        self.template_version = templates_fingerprint(catalog)
        # The datasets' site declarations (titles, sections, problem flags…): pages compared by their
        # rows' digests are made again when these change.
        self.offices = departments(catalog)
        self._objections: dict[tuple[str, str], ObjectionLine] = {}  # `objection`'s, by authority and route
        self._template_fields: dict[str, frozenset[str] | None] = {}  # `_fields`
        self.declarations = hashlib.sha256(
            repr(
                [(d.id, d.title, d.site, d.authority, d.objection) for d in ordered(catalog)]
                + sorted(self.offices.items())
            ).encode()
        ).hexdigest()
        self.result = SiteResult()
        # what rendering an entity page tells the operator's progress (the entity step's bar, in the
        # process that shows it; `build_all`)
        self._entity_progress: Callable[..., None] = lambda count=1: None
        self._folders: set[str] = set()
        self._links: dict[str, FolderLinks | None] = {}  # `_links_into`'s, by folder

    # -- writing ------------------------------------------------------------------------------------

    def page(
        self,
        path: str,
        template: str,
        title: str,
        description: str,
        fingerprint_data=None,
        fingerprint: str | None = None,
        **context,
    ) -> bool:
        """Render `template` to `path` unless the same template and context made it last time
        (`fingerprint_data`, when given, stands for the context in that comparison; `fingerprint`
        is the comparison's result computed elsewhere). A context value that is a `Lazy` is
        computed only when the page is rendered. True if the page was rendered."""
        # The release day is not part of every page: a page whose content did not change stays the same file.
        meta = Page(
            path=path,
            root=_root(path),
            canonical=self.base_url + _url(path),
            title=title,
            description=description,
        )
        if fingerprint is None:
            fingerprint = _fingerprint(
                self.template_version, template, meta, context if fingerprint_data is None else fingerprint_data
            )
        if self._reuse(path, fingerprint):
            return False
        context = {k: v() if isinstance(v, Lazy) else v for k, v in context.items()}
        html = self.env.get_template(template).render(page=meta, **context)
        self._write(path, html.encode("utf-8"))
        return True

    def json_file(self, path: str, payload: dict, fingerprint: str | None = None) -> None:
        data = json_bytes(payload)
        if not self._reuse(path, fingerprint or hashlib.sha256(data).hexdigest()):
            self._write(path, data)

    def _reuse(self, path: str, fingerprint: str) -> bool:
        self.result.fingerprints[path] = fingerprint
        if self.previous_build is None or self.previous.get(path) != fingerprint:
            return False
        folder, _, name = path.rpartition("/")
        links = self._links_into(folder)
        if links is None:  # the previous build has no such folder: rendered
            return False
        try:
            links.link(name)
        except FileNotFoundError:  # not in the previous build after all: rendered
            return False
        self.result.modified[path] = self.previous_modified.get(path, self.day)
        self.result.linked.add(path)
        self.result.skipped += 1
        return True

    def _links_into(self, folder: str) -> FolderLinks | None:
        """Links by name from the previous build's `folder` (relative; "" the build's own) into this
        build's, its two folders opened once (`FolderLinks`: a release links some 45,000 unchanged
        list pages a day, in under a hundred folders); None where the previous build has no such
        folder. Closed by `close_links` (`build_all` does); a forked process inherits them open."""
        if folder not in self._links:
            target = f"{self.build}/{folder}" if folder else str(self.build)
            self._folder(target)
            try:
                self._links[folder] = FolderLinks(f"{self.previous_build}/{folder}", target)
            except FileNotFoundError:
                self._links[folder] = None
        return self._links[folder]

    def close_links(self) -> None:
        """Close the folders `_reuse` opened (`_links_into`)."""
        links, self._links = self._links, {}
        for opened in links.values():
            if opened is not None:
                opened.close()

    def _folder(self, folder: Path | str) -> None:
        """Make `folder` once (a release has a page per market entity in a few folders)."""
        folder = str(folder)
        if folder not in self._folders:
            try:  # most folders are new, in a folder made before: one system call
                os.mkdir(folder)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def _write(self, path: str, data: bytes) -> None:
        # strings and the system calls themselves: a Path's write_bytes cost about 40 µs more a file,
        # the built-in open about 9 µs more (its buffered file object, a stat; 150,000 files a
        # province's first day)
        target = f"{self.build}/{path}"
        self._folder(target.rpartition("/")[0])
        write_file(target, data)
        self.result.hashes[path] = hashlib.sha256(data).hexdigest()
        self.result.sizes[path] = len(data)
        self.result.modified[path] = self.day
        self.result.rendered += 1

    # -- the site -----------------------------------------------------------------------------------

    def build_all(self) -> SiteResult:
        try:
            return self._build_all()
        finally:
            self.close_links()

    def _build_all(self) -> SiteResult:
        self.static()
        views = {d.id: TableView(self.tables.get(d.id), d, self.digests.get(d.id)) for d in ordered(self.catalog)}
        started = dt.datetime.now()
        plan = self._entity_plan(views)
        # Two processes at once: this one links the unchanged entity pages, the other renders every
        # other page. The search index goes with the other pages (whose numbered list pages are
        # mostly linked, not rendered); the check index too on a first day (every entity page is
        # rendered), else here (a few are rendered, the rest linked).
        check_here = plan.to_render < CHECK_WITH_ENTITIES_BELOW * max(1, len(plan.codes))
        names = self.entity_names(views)  # both indexes are made from them: once, before the fork
        rows = sum(view.rows for view in views.values())
        # The entity pages to render, in batches, and the pages of records by city and by month (most
        # of the list pages) are jobs either process takes once its own part is done — this one's is
        # linking the unchanged entity pages (and the check index), the other's every other page: on
        # a first day the entity pages are most of the site's work, and the process that renders
        # the other pages takes its share of them instead of leaving its core idle.
        jobs: list[Callable[[], None]] = []
        browsed = {d.id: self.browse(d, views[d.id], jobs) for d in ordered(self.catalog) if d.site.browse}
        # the unchanged entity pages to link, first: either process links a share once its own part
        # is done (on a next day the links are most of the entity pages' work, 100,000 a day for
        # 50,000 entities, and the other process's part is the shorter)
        link_jobs = parallel.in_groups(
            [functools.partial(self._link_or_render, views, plan, run) for run in _batches(plan.unchanged, LINK_BATCH)],
            LINK_TOKENS,
        )
        entity_jobs = link_jobs + parallel.in_groups(
            [functools.partial(self._entity_batch, views, plan, batch) for batch in _batches(plan.changed)],
            ENTITY_TOKENS - len(link_jobs),
        )
        shared_jobs = entity_jobs + parallel.in_groups(jobs, parallel.TOKENS - len(entity_jobs))
        with (
            progress.step("网站：列表、数据集与其他页面、查询索引（并行）", unit=""),
            progress.step("网站：市场主体页", total=len(plan.codes), unit="个主体") as bar,
            parallel.Jobs(shared_jobs, parallel=rows >= PARALLEL_ABOVE) as shared,
        ):
            self._entity_progress = bar.advance  # the other process counts nothing here
            _, others = parallel.both(
                lambda: self._timed_entities(views, plan, names if check_here else None, shared.take_all),
                lambda: self._other_pages(views, names, not check_here, browsed, shared.take_all),
                parallel=rows >= PARALLEL_ABOVE,
            )
            bar.done = len(plan.codes) if plan.joined else 0  # what the other process rendered included
        self.result.entity_seconds = (dt.datetime.now() - started).total_seconds()
        self.result.merge(others)
        pages = sorted(p for p in self.result.fingerprints if p.endswith(".html"))
        write_sitemap(self.build, self.base_url, {p: self.result.modified.get(p, self.day) for p in pages}, self.day)
        return self.result

    def _timed_entities(
        self,
        views: dict[str, TableView],
        plan: EntityPlan,
        check: pa.Table | None,
        then: Callable[[], None] = lambda: None,
    ) -> None:
        """With `check` (the entities' names) the check index, then `then` (the jobs: the unchanged
        entity pages to link and the others to render among them)."""
        if plan.joined:
            self.result.entity_pages = len(plan.codes)
            self.result.entity_pages_rendered += plan.to_render
        if check is not None:
            self.check_index(views, check)
        then()

    def _other_pages(
        self,
        views: dict[str, TableView],
        names: pa.Table,
        check: bool,
        browsed: dict[str, tuple[list[Chart], int]] | None = None,
        then: Callable[[], None] = lambda: None,
    ) -> SiteResult:
        """Every page but the entities', the search index over `names` (`entity_names`) and, with
        `check`, the check index, then `then` — what they did, on its own `SiteResult` (the caller
        merges it with the entities')."""
        entities, self.result = self.result, SiteResult()
        self._entity_progress = lambda count=1: None  # the entity pages' bar is the other process's
        try:
            self.lists_and_pages(views, browsed)
            self.search_index(names)
            if check:
                self.check_index(views, names)
            then()
            return self.result
        finally:
            self.result = entities

    def lists_and_pages(
        self, views: dict[str, TableView], browsed: dict[str, tuple[list[Chart], int]] | None = None
    ) -> None:
        """Every page but the entities': lists, browsing (`browsed`: what `browse` gave for each
        dataset, when it ran before), datasets, quality, home, feeds (the sitemap is written once
        every page is)."""
        cards, charts = [], []
        for dataset in ordered(self.catalog):
            for spec in dataset.site.lists:
                listed = self.list_page(dataset, spec, views[dataset.id])
                if spec.home:
                    cards.append(_card(spec.path, spec.home, listed))
            if dataset.site.browse:
                browse_charts, problems = (
                    browsed[dataset.id] if browsed is not None else self.browse(dataset, views[dataset.id])
                )
                if dataset.site.browse.home:
                    cards.append(
                        _card(dataset.site.browse.path, dataset.site.browse.home, views[dataset.id].rows, problems)
                    )
                if dataset.site.browse.home_chart:
                    charts.append(browse_charts[0])
            self.dataset(dataset)
        self.timeliness_pages(views)
        self.quality_page(views)
        self.home(cards, [*self.change_charts(), *charts])
        self.page("search/index.html", "search.html", "查询市场主体", "按企业名称或统一社会信用代码查询。")
        self.page(
            "check/index.html",
            "bulkcheck.html",
            "批量核查",
            "一次核查最多 5,000 个统一社会信用代码：是否在经营异常名录、严重违法失信名单、守信红名单中，"
            "近 12 个月抽查发现的问题。",
        )
        self.page(
            "datasets/index.html",
            "datasets.html",
            "数据下载",
            "全部数据集的下载、数据字典与变更记录。",
            datasets=[self._dataset_summary(d) for d in self.catalog.values()],
        )
        write_feeds(self.build, self.catalog, self.history, self.base_url, self.day)

    def static(self) -> None:
        for source in sorted((SITE_TEMPLATES_DIR / "static").iterdir()):
            self._reuse_or_copy(f"static/{source.name}", source)

    def _reuse_or_copy(self, path: str, source: Path) -> None:
        data = source.read_bytes()
        fingerprint = hashlib.sha256(data).hexdigest()
        if not self._reuse(path, fingerprint):
            self._write(path, data)

    def _entity_plan(self, views: dict[str, TableView]) -> EntityPlan:
        """Every entity's credit code and fingerprint, computed over the digests of its rows in
        columns, and which of them the previous build's page and twin both had (to link) or not (to
        render)."""
        joined = [d for d in ordered(self.catalog) if d.site.entity and views[d.id].rows]
        if not joined:
            return EntityPlan([], [], [], [], [])
        # What else makes an entity page: templates, address, and every dataset's site declarations.
        salt = f"{self.template_version}|{self.base_url}|{self.declarations}|{ENTITY_SECTION_LIMIT}|{TWIN_FORMAT}|"
        fingerprints = _entity_fingerprints(
            {
                d.id: pa.table(
                    {
                        "code": pc.cast(views[d.id].column(d.site.entity.credit_code), pa.string()),
                        "d": views[d.id].digests,
                    }
                )
                for d in joined
            },
            salt,
        )
        self._entity_prints = fingerprints
        codes = fingerprints["code"].to_pylist()
        prints = fingerprints["f"].to_pylist()
        if self.previous_build is None:
            by_code = _rows_by_code(views, joined, fingerprints["code"], codes)
            return EntityPlan(joined, codes, prints, [], list(codes), by_code)
        previous, unchanged, changed = self.previous, [], []
        for code, fingerprint in zip(codes, prints, strict=True):
            same = previous.get(f"entity/{code}.html") == fingerprint == previous.get(f"entity/{code}.json")
            (unchanged if same else changed).append(code)
        by_code = _rows_by_code(views, joined, fingerprints["code"], changed)
        return EntityPlan(joined, codes, prints, unchanged, changed, by_code)

    def _entity_batch(self, views: dict[str, TableView], plan: EntityPlan, codes: list[str]) -> None:
        """The page and JSON twin of each entity of `codes` (`entity`): only a batch's rows are Python
        objects at a time, whatever the register's size."""
        if not codes:
            return
        wanted = pa.array(codes, pa.string())
        records = {}
        for dataset in plan.joined:
            view, by_code = views[dataset.id], plan.rows_by_code.get(dataset.id)
            if by_code is None:
                mask = pc.is_in(view.column(dataset.site.entity.credit_code), value_set=wanted)
                positions = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False)))
            else:
                positions = by_code.positions(codes)
            records[dataset.id] = view.dicts(positions)
        for entity in self._entity_objects(plan.joined, records):
            self.entity(entity, plan.fingerprint(entity.credit_code))
            self._entity_progress()

    def _link_or_render(self, views: dict[str, TableView], plan: EntityPlan, codes: list[str]) -> None:
        """The unchanged entities of `codes` linked; one whose files the previous build lacks rendered."""
        missing = self._link_entities(codes, plan)
        self._entity_progress(len(codes) - len(missing))
        for batch in _batches(missing):
            self._entity_batch(views, plan, batch)
        self.result.entity_pages_rendered += len(missing)

    def _link_entities(self, codes: list[str], plan: EntityPlan) -> list[str]:
        """Hard-link the page and JSON twin of each entity of `codes` (unchanged since the previous
        build, `EntityPlan.unchanged`); the codes of those whose files the previous build lacks, to render.
        One loop of system calls over a folder of hundreds of thousands of entities, what was linked
        recorded at once."""
        if self.previous_build is None or not codes:
            return list(codes)
        missing, linked = [], []
        links = self._links_into("entity")
        if links is None:  # the previous build has no entity pages: every one is rendered
            return list(codes)
        for code in codes:
            html, twin = f"{code}.html", f"{code}.json"
            try:
                links.link(html)
            except FileNotFoundError:
                missing.append(code)
                continue
            try:
                links.link(twin)
            except FileNotFoundError:
                links.unlink(html)
                missing.append(code)
                continue
            fingerprint = plan.fingerprint(code)
            linked += [(f"entity/{html}", fingerprint), (f"entity/{twin}", fingerprint)]
        self.result.fingerprints.update(linked)
        self.result.modified.update((path, self.previous_modified.get(path, self.day)) for path, _ in linked)
        self.result.linked.update(path for path, _ in linked)
        self.result.skipped += len(linked)
        return missing

    def _entity_objects(self, joined: list[Dataset], records: dict[str, list[dict]]) -> list[Entity]:
        """Entities of the given records (every record of each entity), keyed by credit code."""
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
            # each dataset's records in its section's order, once (its standing reads them too)
            ordered_rows = {
                d.id: _sorted(mine.get(d.id, []), d.site.section.order if d.site.section else []) for d in joined
            }
            entities.append(
                Entity(
                    credit_code=code,
                    name=name,
                    city=city,
                    city_slug=slug,
                    city_link=f"{city_pages}/city/{slug}/" if city_pages else None,
                    legal_representative=representative,
                    standings=[_standing(d, ordered_rows[d.id]) for d in joined if d.site.standing],
                    sections=[
                        EntitySection(
                            dataset=d.id,
                            heading=d.site.section.heading,
                            rows_template=f"{d.id}/{d.site.section.rows}",
                            records=ordered_rows[d.id],
                            empty=d.site.section.empty,
                            total=len(ordered_rows[d.id]),
                        )
                        for d in joined
                        if d.site.section
                    ],
                )
            )
        return entities

    def entity(self, entity: Entity, fingerprint: str) -> None:
        """The entity's page (each section's newest ENTITY_SECTION_LIMIT records, so that a page with
        hundreds of records stays small) and its JSON twin (every record)."""
        every = {section.dataset: section.records for section in entity.sections}
        routes = {s.dataset: [self.objection(self.catalog[s.dataset], r) for r in s.records] for s in entity.sections}
        # each section's routes once, in the order records first name them (the page lists them, and
        # a twin's record points at its own by index: the route's text is most of a record's bytes)
        distinct = {dataset: list(dict.fromkeys(o for o in found if o)) for dataset, found in routes.items()}
        entity = dataclasses.replace(
            entity,
            sections=[
                dataclasses.replace(s, records=s.records[:ENTITY_SECTION_LIMIT], objections=distinct[s.dataset])
                for s in entity.sections
            ],
        )
        self.page(
            f"entity/{entity.credit_code}.html",
            "entity.html",
            entity.name,
            f"{entity.name}（{entity.credit_code}）的"
            + "、".join(s.heading for s in entity.sections)
            + "。"
            + "；".join(line.text for line in entity.standings),
            fingerprint=fingerprint,
            entity=entity,
            organization=_script_json(
                {
                    "@context": "https://schema.org",
                    "@type": "Organization",
                    "name": entity.name,
                    "legalName": entity.name,
                    "taxID": entity.credit_code,
                    "identifier": {
                        "@type": "PropertyValue",
                        "propertyID": "统一社会信用代码",
                        "value": entity.credit_code,
                    },
                    "url": self.base_url + f"entity/{entity.credit_code}.html",
                    "address": {"@type": "PostalAddress", "addressRegion": entity.city, "addressCountry": "CN"},
                }
            ),
        )
        # The page is rendered: the records become the twin's in place — the templates' helper fields
        # go, the index of its objection route comes (a copy of every record cost more than the rest).
        for dataset, records in every.items():
            index = {o: i for i, o in enumerate(distinct[dataset])}
            for record, route in zip(records, routes[dataset], strict=True):
                for helper in TEMPLATE_HELPERS:
                    del record[helper]
                if route is not None:
                    record["objection"] = index[route]
        twin = {
            "credit_code": entity.credit_code,
            "name": entity.name,
            "city": entity.city,
            "legal_representative": entity.legal_representative,
            "standing": {line.label: line.text for line in entity.standings},
            "records": every,
            "objections": {dataset: [o.to_dict() for o in found] for dataset, found in distinct.items() if found},
            "html": self.base_url + f"entity/{entity.credit_code}.html",
        }
        self.json_file(f"entity/{entity.credit_code}.json", twin, fingerprint)

    def paginated(
        self,
        folder: str,
        template: str,
        title: str,
        description: str,
        rows: Rows,
        numbered: dict | None = None,
        **context,
    ) -> None:
        """`rows` (newest first) as pages of PAGE_SIZE: the newest at `folder/`, older ones numbered
        from the oldest (`folder/1.html` holds the first PAGE_SIZE rows ever listed), so that rows
        added at the top change the newest page and not the numbered ones. A numbered page is a file
        beside the newest, not a folder of its own: a release has about a hundred thousand of them
        and is made anew each day, where making a folder costs more than hard-linking a page.

        A page is compared by the digests of its rows and a few links: what that costs does not grow
        with the list, and its rows become Python objects only if it is rendered. The numbered pages
        of a list share their context: it is encoded once, and a numbered page's fingerprint is that,
        its own address, title and links, and its rows' digest (`_numbered_fingerprint`) — tens of
        thousands of them are compared every day. `numbered` replaces context values on the numbered
        pages (what changes every day belongs on the newest page only)."""
        rows = rows if isinstance(rows, Rows) else ListRows(rows)
        total = len(rows)
        older = max(0, (total - 1) // PAGE_SIZE)  # full pages before the newest

        def link(here: str, number: int | None) -> str:
            return f"{here}{folder}/" if number is None else f"{here}{folder}/{number}.html"

        def one(
            path: str, page_title: str, start: int, end: int, pagination: Pagination, fingerprint: str | None = None
        ) -> None:
            here = context if pagination.newest else context | (numbered or {})
            fingerprint_data = None
            if fingerprint is None:
                fingerprint_data = {
                    "rows": rows.digest(start, end),
                    "declarations": self.declarations,
                    "pagination": pagination,
                    **here,
                }
            self.page(
                path,
                template,
                page_title,
                description,
                fingerprint_data=fingerprint_data,
                fingerprint=fingerprint,
                rows=Lazy(lambda: rows.dicts(start, end)),
                pagination=pagination,
                **here,
            )

        here = _root(f"{folder}/index.html")
        window = sorted({n for n in (older, older - 1, older - 2, 1) if n >= 1}, reverse=True)
        one(
            f"{folder}/index.html",
            title,
            0,
            total - older * PAGE_SIZE,
            Pagination(
                newest=True,
                number=None,
                total=total,
                newer=None,
                older=link(here, older) if older else None,
                latest=None,
                first=None,
                pages=[(n, link(here, n)) for n in window],
            ),
        )
        if not older:
            return
        bounds = [(total - n * PAGE_SIZE, total - (n - 1) * PAGE_SIZE) for n in range(1, older + 1)]
        digests = rows.digests(bounds)
        shared = _fingerprint(
            self.template_version,
            template,
            Page(path=folder, root="", canonical=self.base_url, title=title, description=description),
            {"declarations": self.declarations, "numbered": True, **context, **(numbered or {})},
        )
        pages = []
        for number, (start, end), digest in zip(range(1, older + 1), bounds, digests, strict=True):
            path = f"{folder}/{number}.html"
            here = _root(path)
            page_title = f"{title}（第 {number} 页）"
            pagination = Pagination(
                newest=False,
                number=number,
                total=None,
                newer=link(here, number + 1 if number < older else None),
                older=link(here, number - 1) if number > 1 else None,
                latest=link(here, None) if number < older else None,
                first=link(here, 1) if number > 2 else None,
            )
            fingerprint = _numbered_fingerprint(shared, path, page_title, pagination, digest)
            pages.append((path, page_title, start, end, pagination, fingerprint))
        if isinstance(rows, TableRows):  # the rows of the pages that will be rendered, gathered together
            previous = self.previous if self.previous_build is not None else {}
            rows.prefetch([(p[2], p[3]) for p in pages if previous.get(p[0]) != p[5]])
        for page in pages:
            one(*page)

    def list_page(self, dataset: Dataset, spec: ListPage, view: TableView) -> int:
        """One declared list: the records matching its `where` (and flag), in its order; how many."""
        selected = view.select(spec.where, spec.flag, spec.order)
        notice = older_notice = None
        if spec.notice:
            count = int(view.flagged(spec.notice.flag)[selected].sum())
            notice = Notice(spec.notice.path, spec.notice.text.format(count=count), spec.notice.after, count)
            # Older pages link to the flagged records without their count: a day that adds one
            # flagged record changes the newest page only.
            target = next((p.title for p in dataset.site.lists if p.path == spec.notice.path), spec.notice.path)
            older_notice = Notice(spec.notice.path, target, "", int(count > 0))
        self.paginated(
            spec.path,
            "records.html",
            spec.title,
            spec.description,
            TableRows(view, selected, self._fields(f"{dataset.id}/{spec.rows}")),
            rows_template=f"{dataset.id}/{spec.rows}",
            empty=spec.empty,
            notice=notice,
            browse=None,
            numbered={"notice": older_notice},
        )
        return len(selected)

    def browse(
        self, dataset: Dataset, view: TableView, pages: list[Callable[[], None]] | None = None
    ) -> tuple[list[Chart], int]:
        """The dataset's records by city and by month, each a paginated page, and the charts. With
        `pages`, the paginated pages are not made here: each is a job appended to it."""
        pages_job = pages.append if pages is not None else (lambda job: job())
        spec = dataset.site.browse
        problem_label = dataset.site.problem.label if dataset.site.problem else None
        ordered_rows = view.select({}, None, spec.order)
        codes = pc.fill_null(view.column(dataset.site.entity.credit_code), "")
        regions = pc.utf8_slice_codeunits(codes, 2, 6)
        region_keys = list(CITIES)
        # each row's city and month as a small number: a mask per city and per month compares
        # numbers (a first day's 660,000 inspections as Python strings cost a second before the fork)
        found = np.asarray(pc.fill_null(pc.index_in(regions, value_set=pa.array(region_keys)), -1))
        city = np.where(found < 0, len(region_keys), found)[ordered_rows]  # no Jiangsu region: outside
        months = pc.utf8_slice_codeunits(pc.fill_null(view.column(spec.date), ""), 0, 7)
        # one dictionary: a table of many chunks would give one per chunk
        months = pc.dictionary_encode(months.combine_chunks() if isinstance(months, pa.ChunkedArray) else months)
        month_names_at = months.dictionary.to_pylist()
        month = np.asarray(months.indices)[ordered_rows]
        problems = view.has_problem[ordered_rows]
        context = {
            "rows_template": f"{dataset.id}/{spec.rows}",
            "empty": spec.empty,
            "notice": None,
            "browse": {"path": spec.path, "link": "按地区和月份浏览"},
        }

        def group(kind: str, key: str, name: str, mask: np.ndarray) -> None:
            """The paginated pages of one city's or one month's records."""
            title, description = getattr(spec, f"{kind}_title"), getattr(spec, f"{kind}_description")
            pages_job(
                functools.partial(
                    self.paginated,
                    f"{spec.path}/{kind}/{key}",
                    "records.html",
                    title.format(group=name),
                    description.format(group=name),
                    TableRows(view, ordered_rows[mask], self._fields(context["rows_template"])),
                    **context,
                )
            )

        cities = [CITIES[k] for k in region_keys] + [OUTSIDE]
        by_city = {slug: city == index for index, (_, slug) in enumerate(cities)}
        for name, slug in cities:
            if slug == OUTSIDE[1] and not by_city[slug].any():
                continue  # no page nothing would link to
            group("city", slug, name, by_city[slug])
        by_month = {month_names_at[index]: month == index for index in np.unique(month)}
        month_names = sorted(by_month)
        for value in month_names:
            group("month", value, value, by_month[value])
        series = [spec.count_label, *([problem_label] if problem_label else [])]

        def values(mask: np.ndarray) -> list[int]:
            return [int(mask.sum()), *([int(problems[mask].sum())] if problem_label else [])]

        city_chart = Chart(
            id="chart-city",
            title=spec.city_chart,
            series=series,
            bars=[
                Bar(label=name, link=f"{spec.path}/city/{slug}/", values=values(by_city[slug]))
                for name, slug in cities
                if slug != OUTSIDE[1] or by_city[slug].any()
            ],
        )
        month_chart = Chart(
            id="chart-month",
            title=spec.month_chart,
            series=series,
            bars=[Bar(label=m, link=f"{spec.path}/month/{m}/", values=values(by_month[m])) for m in month_names[-24:]],
        )
        self.page(
            f"{spec.path}/index.html",
            "browse.html",
            spec.title,
            spec.description,
            city_chart=city_chart,
            month_chart=month_chart,
            months=sorted(month_names, reverse=True),
            summary=spec.summary.format(count=f"{view.rows:,}"),
        )
        return [city_chart, month_chart], int(view.has_problem.sum())

    def _dataset_summary(self, dataset: Dataset) -> dict:
        return {
            "id": dataset.id,
            "title": dataset.title,
            "description": dataset.description,
            "records": self.tables[dataset.id].num_rows,
        }

    def dataset(self, dataset: Dataset) -> None:
        files = download_files(dataset, self.files)
        part_days = sorted({part for _, _, part in files if part}, reverse=True)
        shown = [f for f in files if f[2] is None or f[2] in part_days[:PAGE_PARTS]]
        if not part_days and FILE_NAME in self.files:  # a dataset in parts is not in the database
            shown.append((FILE_NAME, self.files[FILE_NAME], None))
        downloads = [
            Download(
                format=FORMAT_NAMES.get(p.rsplit(".", 1)[1], p),
                path=p,
                bytes=info["bytes"],
                size=_size(info["bytes"]),
                sha256=info["sha256"],
                part=part,
            )
            for p, info, part in shown
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
            counts = Counter(value_counts(table["change"]))
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
            parts=len(part_days),
            parts_shown=min(len(part_days), PAGE_PARTS),
            fields=fields,
            log=log,
            records=self.tables[dataset.id].num_rows,
            schema_org=_script_json(schema_org) if schema_org else None,
        )

    def change_page(self, dataset: Dataset, change_day: str, table: pa.Table) -> None:
        shown = table.slice(0, CHANGE_PAGE_LIMIT)
        rows = shown.to_pylist()
        labelled = label_field(dataset)
        for row in rows:
            row["change_label"] = CHANGE_LABELS.get(row["change"], row["change"])
            row["entity_link"] = None
        codes = {}
        if dataset.site.entity and labelled == dataset.site.entity.name and rows:
            current = self.tables[dataset.id]
            # only the shown rows' entities are looked up: the page costs what it shows
            found = current.filter(pc.is_in(current["record_id"], value_set=shown["record_id"].combine_chunks()))
            codes = dict(
                zip(found["record_id"].to_pylist(), found[dataset.site.entity.credit_code].to_pylist(), strict=True)
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
            rows=rows,
            total=table.num_rows,
            csv=f"../../../../changes/{change_day}/{dataset.id}.csv",
        )

    def timeliness_pages(self, views: dict[str, TableView]) -> None:
        """公开时效: per dataset, its departments and months (median and 90th percentile of the
        working days from the information arising to its first publication, the share on time, a
        chart of the trend), and a page per department with its months and its late records."""
        sections = []
        first, last = timeliness.covered_years()
        for dataset in ordered(self.catalog):
            view = views[dataset.id]
            if not dataset.arises_on or not dataset.authority or not view.rows:
                continue
            base = f"quality/timeliness/{dataset.id}"
            monthly: dict[str, list[dict]] = defaultdict(list)
            for row in timeliness.summary(view.table, dataset.authority, ("department", "month")):
                monthly[row["department"]].append(row)
            late = timeliness.late_by_department(view.table, dataset.authority)
            departments = []
            for row in timeliness.summary(view.table, dataset.authority, ("department",)):
                slug = hashlib.sha256(row["department"].encode()).hexdigest()[:12]
                departments.append(_timeliness(row, row["department"] or "（未填写）", f"{dataset.id}/{slug}/"))
                self.department_page(
                    dataset,
                    view,
                    row["department"],
                    f"{base}/{slug}/index.html",
                    monthly[row["department"]],
                    late.get(row["department"], np.array([], dtype=np.int64)),
                )
            months = [_timeliness(r, r["month"]) for r in timeliness.summary(view.table, dataset.authority, ("month",))]
            chart = Chart(
                id=f"chart-timeliness-{dataset.id}",
                title=f"{dataset.title}：每月首次公开的记录中按时与逾期的数量",
                series=["按时", "逾期"],
                bars=[Bar(label=m.label, values=[m.on_time, m.late]) for m in months[-24:]],
            )
            total = sum(d.records for d in departments)
            sections.append(
                {
                    "dataset": dataset,
                    "departments": departments,
                    "months": list(reversed(months)),
                    "chart": chart,
                    "total": total,
                    "on_time": sum(d.on_time for d in departments),
                    "records": view.rows,
                }
            )
        self.page(
            "quality/timeliness/index.html",
            "timeliness.html",
            "公开时效",
            "各部门产生的信息自产生之日至首次公开所用的工作日数、按时公开的比例和逾期记录。",
            sections=sections,
            calendar=f"{first}—{last}",
        )

    def objection(self, dataset: Dataset, record: dict) -> ObjectionLine | None:
        """Who decided `record` and how its subject objects or applies for credit repair (one object
        per authority and route: a province's entity pages ask for it a million times)."""
        if dataset.objection is None or not dataset.authority:
            return None
        authority = record.get(dataset.authority) or ""
        route = dataset.objection.route_for(record)
        key = (authority, route)
        found = self._objections.get(key)
        if found is None:
            office = self.offices.get(authority)
            found = self._objections[key] = ObjectionLine(
                authority=authority or "（未填写作出决定的机关）",
                route=route,
                url=office.url if office else None,
                phone=office.phone if office else None,
                address=office.address if office else None,
            )
        return found

    def department_page(
        self, dataset: Dataset, view: TableView, department: str, path: str, rows: list[dict], late: np.ndarray
    ) -> None:
        """One department's 公开时效 in one dataset: its months and its newest late records."""
        entity = dataset.site.entity
        label = label_field(dataset)

        def records() -> list[dict]:
            found = []
            for row in view.dicts(late):
                code = row.get(entity.credit_code) if entity else None
                found.append(
                    {
                        "label": row.get(label),
                        "arises_on": row.get(dataset.arises_on),
                        "first_published": row.get("first_published"),
                        "delay": row.get("publication_delay"),
                        "link": f"{_root(path)}entity/{code}.html" if code else None,
                    }
                )
            return found

        name = department or "（未填写）"
        self.page(
            path,
            "timeliness_department.html",
            f"{name}：{dataset.title}公开时效",
            f"{name}报送的{dataset.title}自信息产生至首次公开所用的工作日数，按月统计，以及逾期公开的记录。",
            fingerprint_data={
                "months": rows,
                "late": view.digests.take(pa.array(late, pa.int64())).to_pylist(),
                "declarations": self.declarations,
            },
            dataset=dataset,
            department=name,
            months=[_timeliness(r, r["month"]) for r in reversed(rows)],
            late=Lazy(records),
            late_total=sum(r["records"] - r["on_time"] for r in rows),
        )

    def missing_contacts(self, views: dict[str, TableView]) -> list[dict]:
        """Authorities named in published records that have no public contact in departments.yaml,
        with how many records they decided (the operator fills them in)."""
        missing = []
        for dataset in ordered(self.catalog):
            view = views.get(dataset.id)
            if dataset.objection is None or not dataset.authority or view is None or not view.rows:
                continue
            counts = value_counts(pc.fill_null(pc.cast(view.column(dataset.authority), pa.string()), ""))
            for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
                if name not in self.offices:
                    missing.append({"dataset": dataset.title, "authority": name or "（未填写）", "records": count})
        return missing

    def quality_page(self, views: dict[str, TableView] | None = None) -> None:
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
            missing_contacts=self.missing_contacts(views or {}),
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
                    kinds = Counter(value_counts(self.history[change_day][dataset.id]["change"]))
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
        changes = {name: value_counts(t["change"]) for name, t in today.items()}
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

    def search_index(self, names: pa.Table) -> None:
        """The static search index (`gongshi.site.search`) over every entity's newest name (`names`:
        what `entity_names` gives)."""
        started = dt.datetime.now()
        update = search.write(
            names,
            self._reuse,
            self._write,
            self.search_store,
            self.previous if self.previous_build is not None else None,
        )
        self.result.search_shards_written = update.written
        self.result.search_mode, self.result.search_entities_changed = update.mode, update.changed
        self.result.search_seconds = (dt.datetime.now() - started).total_seconds()

    def entity_names(self, views: dict[str, TableView]) -> pa.Table:
        """(code, name) of every entity, by code: the newest name, as on its page."""
        joined = [d for d in ordered(self.catalog) if d.site.entity and views[d.id].rows]
        parts = []
        for dataset in joined:
            view, columns = views[dataset.id], dataset.site.entity
            updated = (
                pc.fill_null(view.column("last_updated"), "")
                if "last_updated" in view.table.column_names
                else pa.array([""] * view.rows, pa.string())
            )
            parts.append(
                pa.table(
                    {
                        "code": pc.cast(view.column(columns.credit_code), pa.string()),
                        "name": pc.cast(view.column(columns.name), pa.string()),
                        "updated": pc.fill_null(updated, "")
                        if updated is not None
                        else pa.nulls(view.rows, pa.string()),
                    }
                )
            )
        entries = pa.table({"code": pa.array([], pa.string()), "name": pa.array([], pa.string())})
        if parts:
            every = pa.concat_tables(parts)
            every = every.append_column("ordinal", pa.array(range(every.num_rows), pa.int64()))
            with tables.connect() as db:  # its own database: what a group-by of every row held goes with it
                db.register("every", every)
                # As on the entity page: the most recently updated row's name, the later row on a tie.
                entries = db.sql(
                    "SELECT code, arg_max(name, struct_pack(u := coalesce(updated, ''), o := ordinal)) AS name "
                    "FROM every GROUP BY code ORDER BY code"
                ).to_arrow_table()
        return entries

    def check_index(self, views: dict[str, TableView], names: pa.Table) -> None:
        """批量核查's static index (`gongshi.checking`): per bucket of credit codes, each entity's name,
        its current standing in every dataset that declares one (with the deciding authority), and
        its records with a problem in the last 12 months. Texts are made in whole columns and the
        entities' entries in DuckDB — only for the entities whose rows changed, when the previous
        build's entries were kept (`gongshi.site.checkindex`); only buckets that hold a changed
        entity are made again, the others linked."""
        day_start = checkindex.year_ago(self.day)
        columns = self._check_columns(views)
        salt = hashlib.sha256(
            repr(
                [checkindex.VERSION, self.declarations, columns]
                + [(d.id, d.arises_on, d.authority) for d in ordered(self.catalog)]
            ).encode()
        ).hexdigest()
        prints = self._entity_prints
        store = self.check_store
        kept = None
        if store is not None and prints is not None and self.previous_build is not None:
            kept = checkindex.load(store, self.previous, salt)
        entities = names.num_rows
        chars = checking.chars_for(entities)
        remake, reused = None, None
        if kept is not None:
            remake, reused = checkindex.to_make(prints, kept, self._moved_problems(views, kept.day, day_start))
        items = self._check_items(views, columns, day_start, remake)
        if remake is not None:
            names = names.filter(pc.is_in(names["code"], value_set=remake))
        # short keys (the column's position, named in meta.json) and no key for an empty list: 5,000
        # codes can touch every bucket, and every byte of them is fetched
        # a standing: every current item; findings: how many in the 12 months, and the newest (the
        # entity's page has them all) — a 5,000-code check fetches a fraction of what full lists weigh
        lists = "".join(
            f", list(text ORDER BY ordinal) FILTER (WHERE key = '{c['key']}') AS \"{c['key']}\""
            if c["key"].endswith(":standing")
            else f", CASE WHEN count(*) FILTER (WHERE key = '{c['key']}') > 0 THEN ["
            f"count(*) FILTER (WHERE key = '{c['key']}')::VARCHAR || ' 次，最近一次：' || "
            f"max(text) FILTER (WHERE key = '{c['key']}')] END AS \"{c['key']}\""
            for c in columns
        )
        fields = "".join(
            f" || coalesce(',\"{i}\":' || to_json(l.\"{c['key']}\")::VARCHAR, '')" for i, c in enumerate(columns)
        )
        with tables.connect(memory=tables.BESIDE_MEMORY) as db:
            # one thread: each thread builds its own copy of the aggregates' strings (the next day
            # of a million records peaked 77 MiB higher with two)
            db.execute("SET threads = 1")
            db.register("names", names)
            db.register("items", items.append_column("ordinal", pa.array(np.arange(items.num_rows))))
            made = db.sql(
                f"""
                WITH entity AS (
                    SELECT code, max(name) AS name FROM names GROUP BY code
                ),
                lists AS (SELECT code{lists} FROM items GROUP BY code)
                SELECT coalesce(e.code, l.code) AS code,
                       '{{"n":' || to_json(coalesce(e.name, ''))::VARCHAR{fields} || '}}' AS body
                FROM entity e FULL JOIN lists l USING (code)
                """
            ).to_arrow_table()
            db.unregister("names")
            db.unregister("items")
            del items  # what the query read: not held while the buckets are written
            bodies = made.append_column("f", pa.nulls(made.num_rows, pa.string()))
            if prints is not None:  # each entity's fingerprint kept beside its body
                position = pc.index_in(bodies["code"], value_set=prints["code"])
                bodies = bodies.set_column(2, "f", pc.take(prints["f"], position))
            bodies = bodies.select(["code", "f", "body"])
            if reused is not None:
                bodies = pa.concat_tables([reused.cast(bodies.schema), bodies.cast(reused.schema)])
            db.register("bodies", bodies)
            if kept is None or kept.chars != chars:
                wanted = None
            else:
                touched = set(checkindex.buckets_of(db, chars, checkindex.touched_codes(kept, prints, remake)))
                wanted = []
                for bucket in checkindex.all_buckets(db, chars):
                    path = f"{checking.FOLDER}/{bucket}.json"
                    if bucket in touched or path not in self.previous or not self._reuse(path, self.previous[path]):
                        wanted.append(bucket)
            for bucket, data in checkindex.bucket_files(db, chars, wanted):
                self.bytes_file(f"{checking.FOLDER}/{bucket}.json", data.encode("utf-8") + b"\n")
        for index, column in enumerate(columns):
            column["key"] = str(index)
        self.json_file(checking.META, {"release": self.day, "chars": chars, "columns": columns, "entities": entities})
        self.result.check_entries_made = made.num_rows
        if store is not None and prints is not None:
            made_files = {p: f for p, f in self.result.fingerprints.items() if checkindex.is_bucket_file(p)}
            base = checkindex.digest(self.previous) if kept is not None else None
            checkindex.save(store, bodies, salt, self.day, chars, made_files, base)
        # what its columns held goes back to the system, not kept by Arrow's allocator while this
        # process renders pages (160 MiB on a first day)
        pa.default_memory_pool().release_unused()

    def _check_columns(self, views: dict[str, TableView]) -> list[dict[str, str]]:
        """The check index's columns: a dataset's current standing, its problems of the last 12 months."""
        columns = []
        for dataset in ordered(self.catalog):
            declared = dataset.site
            if declared.entity is None or not views[dataset.id].rows:
                continue
            if declared.standing is not None:
                columns.append({"key": f"{dataset.id}:standing", "label": declared.standing.label, "none": "无"})
            if declared.problem is not None and dataset.arises_on:
                heading = declared.section.heading if declared.section else dataset.title
                label = f"近12个月{declared.problem.label}的{heading}"
                columns.append({"key": f"{dataset.id}:problems", "label": label, "none": "无"})
        return columns

    def _check_items(
        self, views: dict[str, TableView], columns: list[dict[str, str]], day_start: str, codes: pa.Array | None
    ) -> pa.Table:
        """(code, key, text): each current standing's and each recent problem's text, of the entities
        of `codes` (all without it), in the views' order."""
        keys = {c["key"] for c in columns}
        parts = []
        for dataset in ordered(self.catalog):
            view, declared = views[dataset.id], dataset.site
            if declared.entity is None or not view.rows:
                continue
            code = declared.entity.credit_code
            mine = (
                np.ones(view.rows, dtype=bool)
                if codes is None
                else np.asarray(pc.is_in(view.column(code), value_set=codes).to_numpy(zero_copy_only=False), dtype=bool)
            )
            if (key := f"{dataset.id}:standing") in keys:
                needed = _placeholders(declared.standing.item) | {code, dataset.authority}
                rows = _columns(view.table, needed).filter(pa.array(view.matches(declared.standing.current) & mine))
                text = _template_column(declared.standing.item, rows)
                if dataset.authority:
                    who = pc.fill_null(pc.cast(rows[dataset.authority], pa.string()), "")
                    suffix = pc.if_else(pc.equal(who, ""), "", pc.binary_join_element_wise("，决定机关：", who, ""))
                    text = pc.binary_join_element_wise(text, suffix, "")
                parts.append(pa.table({"code": rows[code], "key": pa.array([key] * rows.num_rows), "text": text}))
            if (key := f"{dataset.id}:problems") in keys:
                dates = pc.fill_null(view.column(dataset.arises_on), "")
                recent = np.asarray(pc.greater_equal(dates, day_start).to_numpy(zero_copy_only=False), dtype=bool)
                template = f"{{{dataset.arises_on}}} {{{dataset.authority or ''}}}：{{{declared.problem.field}}}"
                rows = _columns(view.table, _placeholders(template) | {code}).filter(
                    pa.array(view.has_problem & recent & mine)
                )
                text = _template_column(template, rows)
                parts.append(pa.table({"code": rows[code], "key": pa.array([key] * rows.num_rows), "text": text}))
        schema = pa.schema([("code", pa.string()), ("key", pa.string()), ("text", pa.string())])
        return pa.concat_tables([p.cast(schema) for p in parts]) if parts else schema.empty_table()

    def _moved_problems(self, views: dict[str, TableView], kept_day: str, day_start: str) -> pa.Array:
        """The codes of the entities one of whose problems is in the 12-month window of the day the
        kept entries were made for and not in today's, or the other way round."""
        low, high = sorted((checkindex.year_ago(kept_day), day_start))
        moved = []
        for dataset in ordered(self.catalog) if low != high else []:
            view, declared = views[dataset.id], dataset.site
            if declared.entity is None or declared.problem is None or not dataset.arises_on or not view.rows:
                continue
            dates = pc.fill_null(view.column(dataset.arises_on), "")
            between = pc.and_(pc.greater_equal(dates, low), pc.less(dates, high))
            crossing = np.asarray(between.to_numpy(zero_copy_only=False), dtype=bool) & view.has_problem
            moved += pc.cast(view.column(declared.entity.credit_code).filter(pa.array(crossing)), pa.string()).chunks
        return pa.chunked_array(moved, pa.string()).combine_chunks() if moved else pa.array([], pa.string())

    def bytes_file(self, path: str, data: bytes) -> None:
        if not self._reuse(path, hashlib.sha256(data).hexdigest()):
            self._write(path, data)

    def _fields(self, rows_template: str) -> frozenset[str] | None:
        """`template_fields` of a rows template, read once."""
        if rows_template not in self._template_fields:
            self._template_fields[rows_template] = template_fields(self.env, rows_template)
        return self._template_fields[rows_template]


def _batches(codes: list[str], size: int | None = None) -> list[list[str]]:
    """`codes` in batches of `size` (`ENTITY_BATCH`: the entity pages rendered at once), in their order."""
    size = size or ENTITY_BATCH
    return [codes[start : start + size] for start in range(0, len(codes), size)]


def _rows_by_code(
    views: dict[str, TableView], joined: list[Dataset], every: pa.ChunkedArray, rendered: list[str]
) -> dict[str, RowsByCode]:
    """Each joined dataset's rows by credit code (`RowsByCode`, over `every` entity's code), made
    before the fork (both processes render), when more than SORTED_ABOVE_BATCHES batches of pages
    are `rendered` (a first day: every entity); fewer find theirs by a mask over the column
    (`SiteBuilder._entity_batch`), which costs less than the sort."""
    if len(_batches(rendered)) <= SORTED_ABOVE_BATCHES:
        return {}
    codes = pc.cast(every, pa.string()).combine_chunks()
    return {d.id: RowsByCode(views[d.id].column(d.site.entity.credit_code), codes) for d in joined}


# a field of a "{field}（{other} 列入）" template (the check index's texts)
_PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _placeholders(template: str) -> set[str]:
    """The fields a "{field}（{other} 列入）" template names (`_template_column` fills them)."""
    return set(_PLACEHOLDER.findall(template))


def _columns(table: pa.Table, names: set[str | None]) -> pa.Table:
    """`table` with only those of `names` it has, in its order: what is filtered is what is used (a
    first day's check index filtered every column of a million records and held 320 MiB more)."""
    return table.select([name for name in table.column_names if name in names])


def _template_column(template: str, rows: pa.Table) -> pa.Array:
    """A "{field}（{other} 列入）" template filled in for every row at once (missing values empty)."""
    pieces = _PLACEHOLDER.split(template)
    columns = []
    for index, piece in enumerate(pieces):
        if index % 2:
            column = rows[piece] if piece in rows.column_names else pa.nulls(rows.num_rows, pa.string())
            columns.append(pc.fill_null(pc.cast(column, pa.string()), ""))
        elif piece:
            columns.append(pa.scalar(piece, pa.string()))  # the same text on every row: not repeated
    if not any(isinstance(column, pa.Array | pa.ChunkedArray) for column in columns):
        return pa.array(["".join(c.as_py() for c in columns)] * rows.num_rows, pa.string())
    return pc.binary_join_element_wise(*columns, "")


def _entity_fingerprints(digests: dict[str, pa.Table], salt: str) -> pa.Table:
    """(code, f): per credit code, a sha256 over `salt` and, per dataset, the number of its rows and
    the exclusive-or of their digests — order-free, and computed in a small hash aggregate whatever
    the register's size. A digest is an md5 in hex (`tables.row_digests`): its two halves are read as
    numbers, not hashed again (md5 of each digest was 0.5 of 0.9 s for a million rows)."""
    with tables.connect() as db:  # its own database: what a group-by of every row held goes with it
        parts = []
        for index, (dataset, table) in enumerate(sorted(digests.items())):
            db.register(f"rows{index}", table)
            parts.append(
                f"SELECT '{dataset}' AS ds, code, count(*) AS n, bit_xor(('0x' || d[1:16])::UBIGINT) AS lo, "
                f"bit_xor(('0x' || d[17:32])::UBIGINT) AS hi FROM rows{index} GROUP BY code"
            )
        return db.sql(
            "SELECT code, sha256(? || code || '|' || string_agg(ds || ':' || n || ':' || lo || ':' || hi, ',' "
            f"ORDER BY ds)) AS f FROM ({' UNION ALL '.join(parts)}) GROUP BY code ORDER BY code",
            params=[salt],
        ).to_arrow_table()


def _timeliness(row: dict, label: str, link: str | None = None) -> Timeliness:
    return Timeliness(
        label=label, records=row["records"], on_time=row["on_time"], median=row["median"], p90=row["p90"], link=link
    )


_JSON_FORM = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def json_bytes(payload) -> bytes:
    """A JSON file's bytes: indented by two, a line feed at the end, keys that are not text written
    as text (as the standard encoder does). orjson: the standard encoder indents in pure Python,
    0.7 ms a twin (50,000 a province's first day). Keys are text in nearly every payload, and
    orjson's option for other keys doubles what it costs (110 µs against 50 a twin): it is asked
    for only when a key is not text, for the same bytes."""
    try:
        return orjson.dumps(payload, option=_JSON_FORM)
    except orjson.JSONEncodeError:
        return orjson.dumps(payload, option=_JSON_FORM | orjson.OPT_NON_STR_KEYS)


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
        items = [spec.item.format_map(_Filled(r)) for r in current]
        return StandingLine(spec.label, spec.prefix + "、".join(items), spec.tone)
    return StandingLine(spec.label, spec.past if rows else spec.none, "fine")


class _Filled:
    """A row as `str.format_map` reads it: a missing or empty value as empty text (no copy of the row)."""

    __slots__ = ("row",)

    def __init__(self, row: dict):
        self.row = row

    def __getitem__(self, key: str):
        return self.row.get(key) or ""


def _card(path: str, text: str, count: int, problems: int = 0) -> Card:
    before, _, after = text.partition("{count}")
    return Card(path, before, count, after.format(problems=problems))


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


def _numbered_fingerprint(shared: str, path: str, title: str, pagination: Pagination, rows: str) -> str:
    """A numbered list page's fingerprint: `shared` (what every numbered page of its list has, as
    `_fingerprint` encodes it), its address, title and links, and the digest of its rows."""
    own = json.dumps(
        [path, title, pagination.number, pagination.newer, pagination.older, pagination.latest, pagination.first, rows],
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{shared}\x1f{own}".encode()).hexdigest()


def _plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, Dataset):
        return value.id
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)
