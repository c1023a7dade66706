"""Loads `datasets/<id>/dataset.yaml` + `schema.json` into typed, cross-checked dataset specs."""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gongshi.paths import DATASETS_DIR

PrivacyClass = Literal["publish", "drop", "mask", "pseudonymise", "generalise"]
FieldKind = Literal["text", "free_text", "identifier", "credit_code", "resident_id", "person_name", "phone", "date"]
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?$")


class _Strict(BaseModel):
    # A typo in a key is an error at load time, not a silent default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Strict):
    """An office's public contact (never a person's): for DCAT's contact point and the site."""

    name: str
    url: str | None = None
    email: str | None = None
    phone: str | None = None


class Publisher(_Strict):
    name: str
    url: str
    contact: Contact | None = None


class Place(_Strict):
    name: str
    uri: str  # a GeoNames or administrative-division URI
    bbox: str | None = None  # WKT, WGS 84
    centroid: str | None = None  # WKT, WGS 84


class CatalogueInfo(_Strict):
    """The release as a whole (datasets/catalog.yaml): what the Data Package, DCAT and schema.org say
    about the catalogue; each dataset's own publisher and licence are in its dataset.yaml."""

    title: str
    description: str
    publisher: Publisher
    licence: Licence
    spatial: Place
    publisher_type: str = "RegionalAuthority"  # ADMS publisher type of every publisher here
    keywords: list[str] = Field(default_factory=list)
    language: str = "zh-CN"


class Licence(_Strict):
    name: str
    title: str
    path: str


class PublicityPeriod(_Strict):
    counted_from: str
    default: str
    by_field: str | None = None
    values: dict[str, str] = Field(default_factory=dict)
    basis: str

    @model_validator(mode="after")
    def _durations_parse(self) -> PublicityPeriod:
        for value in (self.default, *self.values.values()):
            parse_duration(value)
        return self


class RemovalRule(_Strict):
    when_filled: list[str]
    required: list[str]
    match_on: list[str]
    listing_required: list[str]


class FlagRule(_Strict):
    when_empty: str
    message: str


class RequiredWhen(_Strict):
    field: str
    values: list[str]


class Condition(_Strict):
    """Rows a rule applies to: where `field` starts with one of `starts_with`."""

    field: str
    starts_with: list[str]


class Generalisation(_Strict):
    """How a `generalise` column is coarsened: a name to its surname + 某, a date to its month or year."""

    to: Literal["surname", "month", "year"]
    when: Condition | None = None  # only these rows; the others are published as they are


class FieldPolicy(_Strict):
    aliases: list[str]
    privacy: PrivacyClass
    kind: FieldKind = "text"
    not_future: bool = False
    not_before: str | None = None  # a date field this date may not precede (有效期至 after 认定日期)
    generalise: Generalisation | None = None

    @model_validator(mode="after")
    def _generalisation_declared(self) -> FieldPolicy:
        if (self.privacy == "generalise") != (self.generalise is not None):
            raise ValueError("privacy: generalise needs a `generalise:` rule, and only it may have one")
        return self

    @property
    def holds_protected_number(self) -> bool:
        """Never published as delivered, and may hold a number (ID, phone, account): its values are
        looked for in the published text of the same record, and by the leak gate everywhere."""
        return self.privacy != "publish" and self.kind not in {"person_name", "date"}

    @property
    def published_as_is(self) -> bool:
        """Published without masking (names, task numbers, codes): a personal number found in it
        holds the row back. Free text is masked instead."""
        return self.privacy in {"publish", "generalise"} and self.kind not in {"free_text", "date"}

    @property
    def scanned(self) -> bool:
        """Published text that people type into: scanned for personal data before it leaves."""
        return self.privacy in {"publish", "generalise"} and self.kind in {"text", "free_text", "person_name"}


class Bounds(_Strict):
    """Sanity limits on a release: a breach stops publication until the operator looks."""

    min_records: int = 0
    max_records: int | None = None
    # Share of the previous release's records that may vanish in a day without expiring or being
    # withdrawn (a re-delivered file that lost rows, a wrong folder): beyond it, something is wrong.
    max_daily_retraction: float = 0.5
    # The same over a window of days: a slow drip of vanishing records trips it too.
    retraction_window_days: int = 7
    max_window_retraction: float = 0.5


class FolderSource(_Strict):
    """Files dropped into inbox/<dataset>/<YYYY-MM-DD>/ (the default source)."""

    type: Literal["folder"] = "folder"
    name: str = "folder"


class _PulledSource(_Strict):
    name: str = Field(pattern="^[a-z][a-z0-9_]{0,39}$")
    department: str  # who delivers through this source: names the pulled file and the rejection report
    cursor: str  # update timestamp or sequence column: pulls are incremental on it
    columns: dict[str, str] = Field(default_factory=dict)  # source column -> field (default: header aliases)
    ignore: list[str] = Field(default_factory=list)  # source columns deliberately not used
    timeout_seconds: float = 30


class SqlSource(_PulledSource):
    """An exchange database (前置库) read through SQLAlchemy."""

    type: Literal["sql"]
    url_env: str  # environment variable holding the SQLAlchemy URL (with its credentials)
    table: str | None = None
    query: str | None = None
    batch_size: int = 10_000

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError(f"source {self.name}: give exactly one of table or query")
        return self


class Paging(_Strict):
    style: Literal["page", "offset", "next"] = "page"
    page_param: str = "page"
    first_page: int = 1
    size_param: str = "size"
    size: int = 500
    offset_param: str = "offset"
    limit_param: str = "limit"
    next_path: str = "next"  # where the next page's URL is, for style: next


class HttpSource(_PulledSource):
    """A paged JSON API."""

    type: Literal["http"]
    url: str | None = None
    url_env: str | None = None  # when the address itself is not to be written down
    token_env: str | None = None  # sent as "Authorization: Bearer <token>"
    records_path: str = ""  # dotted path to the list of records in each response ("" = the response)
    since_param: str | None = None  # query parameter that asks for records updated since the watermark
    paging: Paging = Field(default_factory=Paging)
    retries: int = 4
    backoff_seconds: float = 0.5

    @model_validator(mode="after")
    def _an_address(self) -> HttpSource:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"source {self.name}: give exactly one of url or url_env")
        return self


Source = Annotated[FolderSource | SqlSource | HttpSource, Field(discriminator="type")]


class SchemaField(BaseModel):
    """One field of the Frictionless Table Schema (the subset the validator enforces)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    title: str
    description: str
    type: Literal["string", "date", "integer", "number", "boolean"]
    format: str | None = None
    constraints: dict = Field(default_factory=dict)

    @property
    def required(self) -> bool:
        return bool(self.constraints.get("required"))


# --- what the website does with a dataset ----------------------------------------------------------

Where = dict[str, list[str]]  # field -> the values a record must have (all of them must hold)


class EntityColumns(_Strict):
    """The columns that name the market entity a record is about: its records join the entity's page."""

    name: str
    credit_code: str
    representative: str | None = None


class Section(_Strict):
    """The dataset's records on the entity page, under `heading`, newest first by `order`."""

    heading: str
    rows: str  # the dataset's own row template (in its folder, under site/), shared with its list pages
    order: list[str]  # fields; "-field" sorts descending
    empty: str  # said when the entity has no such record


class Standing(_Strict):
    """One line on the entity page saying where the entity stands by this dataset (on a list now?)."""

    label: str  # e.g. 名单状态
    current: Where  # the records that count now, e.g. {status: [active]}
    item: str  # each current record, with {field} placeholders: "{list_type}（{listed_on} 列入）"
    prefix: str = ""  # before the current items: "在列："
    tone: Literal["problem", "good"]
    past: str  # records, none current
    none: str  # no record at all


class Problem(_Strict):
    """Which records record a problem (highlighted; counted in charts): `field` not in `not_in`."""

    field: str
    not_in: list[str]
    label: str  # the count's name in charts: 发现问题


class Notice(_Strict):
    """A line above a list page: how many of its records carry `flag`, linking to their own page."""

    flag: str
    path: str
    text: str  # with {count}
    after: str = ""


class ListPage(_Strict):
    """A paginated list of the dataset's records: those matching `where` (and carrying `flag`)."""

    path: str  # under the site root, e.g. lists/abnormal
    title: str
    description: str
    rows: str  # the dataset's row template (in its folder, under site/)
    where: Where = Field(default_factory=dict)
    flag: str | None = None
    # Lead with -first_published (or -last_updated, for a list records join when they change, such as
    # removals): a day's records then land on the newest page and the numbered pages stay the same.
    order: list[str]
    empty: str = "目前没有记录。"
    nav: str | None = None  # its label in the site's navigation, if it is there
    home: str | None = None  # on the home page: "{count} 户在列经营异常名录"
    notice: Notice | None = None


class Browse(_Strict):
    """The dataset's records grouped by the entity's city (from its credit code) and by month of a
    date, each group a paginated page, with a chart of the groups (and of its problems)."""

    path: str  # e.g. inspections
    title: str
    description: str
    rows: str  # the dataset's row template
    count_label: str  # what a record is called in charts: 抽查
    summary: str  # the index page's first line, with {count}
    date: str  # the date field that gives the month
    order: list[str]
    city_title: str  # with {group}: the city
    city_description: str
    month_title: str  # with {group}: the month
    month_description: str
    empty: str
    city_chart: str  # chart titles
    month_chart: str
    nav: str | None = None
    home: str | None = None  # "{count} 条抽查结果，其中 {problems} 条发现问题"
    home_chart: bool = False  # the city chart on the home page


class ChangesChart(_Strict):
    """A chart of the dataset's daily changes on the home page."""

    title: str
    series: dict[str, str]  # change kind -> label, e.g. {added: 新增列入, removed: 移出}


class SampleColumn(_Strict):
    """How `gongshi sample-data` makes one delivered column: one of these."""

    choice: list[str] | None = None
    entity: Literal["name", "credit_code"] | None = None
    date: dict[str, list[int]] | None = None  # {days: [from, to]} around the delivery day

    @model_validator(mode="after")
    def _one(self) -> SampleColumn:
        if sum(x is not None for x in (self.choice, self.entity, self.date)) != 1:
            raise ValueError("a sample column is exactly one of choice, entity, date")
        return self


class Sample(_Strict):
    """How `gongshi sample-data` writes the dataset's deliveries, for a dataset with no generator of
    its own: each delivery day, `share` of the records, from `department`, as delivered headers."""

    share: float
    department: str
    file_format: Literal["csv", "json"] = "csv"
    columns: dict[str, SampleColumn]


class SiteSpec(_Strict):
    """What the website does with the dataset. Every built-in dataset is shown through these
    declarations, as any new one would be."""

    position: int = 100  # order of the dataset's pages in the navigation and on the home page
    entity: EntityColumns | None = None
    section: Section | None = None
    standing: Standing | None = None
    problem: Problem | None = None
    lists: list[ListPage] = Field(default_factory=list)
    browse: Browse | None = None
    changes_chart: ChangesChart | None = None

    def fields(self) -> list[str]:
        """Every field the declarations name (checked against the schema at load)."""
        names = []
        if self.entity:
            names += [self.entity.name, self.entity.credit_code, *filter(None, [self.entity.representative])]
        if self.section:
            names += [o.lstrip("-") for o in self.section.order]
        if self.standing:
            names += list(self.standing.current)
            names += re.findall(r"{(\w+)}", self.standing.item)
        if self.problem:
            names.append(self.problem.field)
        for page in self.lists:
            names += list(page.where) + [o.lstrip("-") for o in page.order]
        if self.browse:
            names += [self.browse.date, *(o.lstrip("-") for o in self.browse.order)]
        return names

    def templates(self) -> list[str]:
        rows = [self.section.rows] if self.section else []
        return sorted({*rows, *(p.rows for p in self.lists), *([self.browse.rows] if self.browse else [])})


# What a record carries besides its fields (the site may name these too).
PUBLIC_META_FIELDS = (
    "record_id",
    "status",
    "first_published",
    "last_updated",
    "corrected_on",
    "expires_on",
    "publication_delay",
    "published_on_time",
    "flags",
)
EXPORT_FORMATS = ("csv", "parquet", "jsonl", "xlsx", "sqlite")


class Deadline(_Strict):
    """How soon a record must be public after its information arises (公开时效)."""

    working_days: int = Field(default=20, ge=1)
    basis: str = (
        "《企业信息公示暂行条例》第六条、第七条：工商行政管理部门和其他政府部门产生的企业信息，"
        "应当自产生之日起20个工作日内予以公示。"
    )


class Objection(_Strict):
    """How the subject of a record disputes it (异议) or applies for credit repair (信用修复): shown
    with every record, beside the deciding authority's public contact."""

    route: str  # the general route
    by_field: str | None = None  # a field whose value chooses a more specific route
    routes: dict[str, str] = Field(default_factory=dict)

    def route_for(self, record: dict) -> str:
        return self.routes.get(str(record.get(self.by_field)), self.route) if self.by_field else self.route


class Office(_Strict):
    """An authority's public contact (an institution's, never a person's)."""

    url: str | None = None
    phone: str | None = None
    address: str | None = None


DEPARTMENTS_FILE = "departments.yaml"


def load_departments(root: Path | None = None) -> dict[str, Office]:
    """`root`/departments.yaml: authority name -> its public contact (none when the file is absent)."""
    path = (root or DATASETS_DIR) / DEPARTMENTS_FILE
    if not path.is_file():
        return {}
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: Office(**(contact or {})) for name, contact in (spec.get("departments") or {}).items()}


def departments(catalog: dict[str, Dataset]) -> dict[str, Office]:
    """The departments.yaml beside the datasets of `catalog`."""
    return load_departments(catalog_root(catalog))


# The EU data theme vocabulary (DCAT-AP's dcat:theme): the codes a dataset may name.
DATA_THEMES = ("AGRI", "ECON", "EDUC", "ENER", "ENVI", "GOVE", "HEAL", "INTR", "JUST", "REGI", "SOCI", "TECH", "TRAN")


class Dataset(_Strict):
    id: str
    title: str
    description: str
    publisher: Publisher
    licence: Licence
    # The date field a record's information arises on (inspection, decision, recognition): the
    # dataset's temporal coverage is the span of these dates.
    arises_on: str | None = None
    deadline: Deadline = Field(default_factory=Deadline)
    # The field naming the authority that decided a record: timeliness by department, and where to
    # object or apply for credit repair (its contact in datasets/departments.yaml).
    authority: str | None = None
    objection: Objection | None = None
    themes: list[Literal[DATA_THEMES]] = Field(default_factory=lambda: ["GOVE"])  # type: ignore[valid-type]
    keywords: list[str] = Field(default_factory=list)
    primary_key: list[str]
    record_prefix: str = Field(pattern="^[a-z]{1,3}$")
    publicity_period: PublicityPeriod | None
    removal: RemovalRule | None = None
    flags: dict[str, FlagRule] = Field(default_factory=dict)
    required_when: dict[str, RequiredWhen] = Field(default_factory=dict)
    ignored_columns: list[str]
    fields: dict[str, FieldPolicy]
    exports: list[str] = Field(default_factory=lambda: ["csv", "parquet", "jsonl", "xlsx", "sqlite"])
    sources: list[Source] = Field(default_factory=lambda: [FolderSource()])
    bounds: Bounds = Field(default_factory=Bounds)
    site: SiteSpec = Field(default_factory=SiteSpec)
    sample: Sample | None = None
    directory: Path
    table_schema: dict

    @cached_property
    def schema_fields(self) -> list[SchemaField]:
        return [SchemaField(**f) for f in self.table_schema["fields"]]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.schema_fields]

    def schema_field(self, name: str) -> SchemaField:
        return next(f for f in self.schema_fields if f.name == name)

    @cached_property
    def header_lookup(self) -> dict[str, str]:
        """Normalised header spelling -> field name, for every alias and the field name itself."""
        lookup: dict[str, str] = {}
        for name, policy in self.fields.items():
            for spelling in (name, *policy.aliases, self.schema_field(name).title):
                lookup[normalise_header(spelling)] = name
        return lookup

    @cached_property
    def ignored_headers(self) -> frozenset[str]:
        return frozenset(normalise_header(h) for h in self.ignored_columns)

    @model_validator(mode="after")
    def _consistent(self) -> Dataset:
        names = [f["name"] for f in self.table_schema["fields"]]
        names_set = set(names)
        problems = []
        if set(names) != set(self.fields):
            problems.append(
                f"schema.json fields {sorted(set(names) - set(self.fields))} have no policy in dataset.yaml; "
                f"dataset.yaml fields {sorted(set(self.fields) - set(names))} are not in schema.json"
            )
        referenced = list(self.primary_key)
        if self.publicity_period:
            referenced += [self.publicity_period.counted_from]
            referenced += [self.publicity_period.by_field] if self.publicity_period.by_field else []
        if self.removal:
            referenced += [*self.removal.when_filled, *self.removal.required]
            referenced += [*self.removal.match_on, *self.removal.listing_required]
        referenced += [rule.when_empty for rule in self.flags.values()]
        referenced += [p.not_before for p in self.fields.values() if p.not_before]
        if self.authority:
            referenced.append(self.authority)
        if self.objection and self.objection.by_field:
            referenced.append(self.objection.by_field)
        if self.arises_on:
            referenced.append(self.arises_on)
            if self.arises_on in self.fields and self.fields[self.arises_on].kind != "date":
                problems.append(f"arises_on {self.arises_on!r} is not a date field")
        referenced += [p.generalise.when.field for p in self.fields.values() if p.generalise and p.generalise.when]
        for name, rule in self.required_when.items():
            referenced += [name, rule.field]
        problems += [f"unknown field {name!r} referenced" for name in referenced if name not in names]
        seen: dict[str, str] = {}
        for name, policy in self.fields.items():
            for alias in {normalise_header(a) for a in (name, *policy.aliases)}:
                if seen.setdefault(alias, name) != name:
                    problems.append(f"header alias {alias!r} maps to both {seen[alias]} and {name}")
        problems += [
            f"site: unknown field {name!r}"
            for name in self.site.fields()
            if name not in names_set and name not in PUBLIC_META_FIELDS
        ]
        problems += [
            f"site: row template {t!r} not found in {self.directory / 'site'}"
            for t in self.site.templates()
            if not (self.directory / "site" / t).is_file()
        ]
        unknown_flags = {p.flag for p in self.site.lists if p.flag} - set(self.flags)
        problems += [f"site: unknown flag {flag!r} (declare it under flags:)" for flag in sorted(unknown_flags)]
        problems += [
            f"unknown export format {e!r} (known: {', '.join(EXPORT_FORMATS)})"
            for e in self.exports
            if e not in EXPORT_FORMATS
        ]
        names = [source.name for source in self.sources]
        problems += [f"source name {n!r} used twice" for n in set(names) if names.count(n) > 1]
        for source in self.sources:
            if isinstance(source, (SqlSource, HttpSource)):
                problems += [
                    f"source {source.name}: unknown field {f!r}" for f in source.columns.values() if f not in names_set
                ]
        if problems:
            raise ValueError(f"dataset {self.id}: " + "; ".join(problems))
        return self

    @property
    def pulled_sources(self) -> list[SqlSource | HttpSource]:
        return [s for s in self.sources if not isinstance(s, FolderSource)]


def normalise_header(header: str) -> str:
    """NFKC, no whitespace or zero-width characters, lower-case: how header spellings are compared."""
    text = unicodedata.normalize("NFKC", header).replace("\ufeff", "").replace("\u200b", "")
    return "".join(text.split()).lower()


def parse_duration(value: str) -> tuple[int, int, int]:
    """ISO 8601 period of years, months and days ('P3Y', 'P6M', 'P1Y6M') -> (years, months, days)."""
    match = _DURATION.match(value)
    if not match or value == "P":
        raise ValueError(f"not an ISO 8601 period of years/months/days: {value!r}")
    years, months, days = (int(g or 0) for g in match.groups())
    return years, months, days


def load_dataset(directory: Path) -> Dataset:
    spec = yaml.safe_load((directory / "dataset.yaml").read_text(encoding="utf-8"))
    schema = json.loads((directory / "schema.json").read_text(encoding="utf-8"))
    if spec.get("id") != directory.name:
        raise ValueError(f"{directory}/dataset.yaml: id {spec.get('id')!r} must equal the folder name")
    return Dataset(**spec, directory=directory, table_schema=schema)


CATALOGUE_FILE = "catalog.yaml"


def load_catalogue_info(root: Path | None = None) -> CatalogueInfo:
    """`root`/catalog.yaml (default: the project's datasets/)."""
    path = (root or DATASETS_DIR) / CATALOGUE_FILE
    return CatalogueInfo(**yaml.safe_load(path.read_text(encoding="utf-8")))


def catalogue_info(catalog: dict[str, Dataset]) -> CatalogueInfo:
    """The catalog.yaml beside the datasets of `catalog`."""
    return load_catalogue_info(catalog_root(catalog))


def catalog_root(catalog: dict[str, Dataset]) -> Path:
    """The folder the datasets of `catalog` were loaded from (its catalog.yaml and departments.yaml)."""
    roots = {d.directory.parent for d in catalog.values()}
    return min(roots) if roots else DATASETS_DIR


def load_catalog(root: Path | None = None) -> dict[str, Dataset]:
    """Every dataset under `root` (default: the project's datasets/; an installation's own folder is
    `Settings.datasets`), by id."""
    root = root or DATASETS_DIR
    return {d.name: load_dataset(d) for d in sorted(root.iterdir()) if (d / "dataset.yaml").is_file()}
