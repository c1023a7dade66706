"""Template contexts: what each kind of page is given. Every field is documented (a test checks),
so a template author knows what there is without reading the builder."""

from __future__ import annotations

from dataclasses import dataclass, field


def doc(text: str, default=None, factory=None):
    """A documented dataclass field."""
    if factory is not None:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass
class Page:
    """What every page has."""

    path: str = doc("the page's path inside the release, e.g. entity/913….html")
    root: str = doc("relative prefix from this page back to the release root, e.g. ../../")
    canonical: str = doc("the page's absolute canonical URL under latest/")
    title: str = doc("the page title (without the site name)")
    description: str = doc("the meta description")


@dataclass
class StandingLine:
    """One line of an entity page's facts: where the entity stands by one dataset."""

    label: str = doc("what the line is about, e.g. 名单状态 (from the dataset's `site.standing`)")
    text: str = doc("e.g. 在列：经营异常名录（2026-11-09 列入）")
    tone: str = doc("problem, good or fine: how the line is shown")


@dataclass(frozen=True)
class ObjectionLine:
    """Where the subject of records objects to them or applies for credit repair."""

    authority: str = doc("the deciding authority, as delivered")
    route: str = doc("how to object or apply for credit repair (the dataset's declaration)")
    url: str | None = doc("the authority's web page (departments.yaml)")
    phone: str | None = doc("its public switchboard")
    address: str | None = doc("its address")

    def to_dict(self) -> dict:
        return {"authority": self.authority, "route": self.route, "contact": self.contact()}

    def contact(self) -> dict | None:
        found = {k: v for k, v in (("url", self.url), ("phone", self.phone), ("address", self.address)) if v}
        return found or None


@dataclass
class EntitySection:
    """One dataset's records on an entity page."""

    dataset: str = doc("dataset id")
    heading: str = doc("the section's heading")
    rows_template: str = doc("the dataset's row template, <dataset>/<file> (rendered with with_entity=false)")
    records: list[dict] = doc(
        "the entity's records, newest first: every public field as text, and has_problem, status_label, flag_list",
        factory=list,
    )
    empty: str = doc("said when there is no record")
    total: int = doc("the entity's records in the dataset (the page lists the newest ENTITY_SECTION_LIMIT)", 0)
    objections: list[ObjectionLine] = doc(
        "who decided these records and how to object or apply for repair", factory=list
    )


@dataclass
class Entity:
    """A market entity's page and its JSON twin."""

    credit_code: str = doc("统一社会信用代码, the page's key")
    name: str = doc("the most recently delivered name")
    city: str = doc("prefecture-level city from the code's region digits, or 省外")
    city_slug: str = doc("the city's URL slug")
    city_link: str | None = doc("relative link (from the site root) to the city's page, if a dataset browses by city")
    legal_representative: str | None = doc("legal representative (surname + 某 for an individual business)")
    standings: list[StandingLine] = doc("one line per dataset that declares a standing", factory=list)
    sections: list[EntitySection] = doc("one per dataset whose records join the entity page", factory=list)


@dataclass
class NavItem:
    """An entry of the site's navigation (from the datasets' declarations)."""

    path: str = doc("path from the site root, without the final slash")
    label: str = doc("the link text")


@dataclass
class Card:
    """A count on the home page, linking to its page."""

    path: str = doc("path from the site root, without the final slash")
    before: str = doc("text before the count")
    count: int = doc("the count, shown strong")
    after: str = doc("text after the count")


@dataclass
class Notice:
    """A line above a list page: how many of its records carry a flag, linking to their own page."""

    path: str = doc("path from the site root of the flagged records' page")
    text: str = doc("the link text, count included")
    after: str = doc("text after the link")
    count: int = doc("how many records carry the flag")


@dataclass
class Pagination:
    """Where a paginated list page stands. Pages are numbered from the oldest rows, so that a day
    adding rows changes the newest page (the list's own address) and not the pages before it."""

    newest: bool = doc("this is the list's newest page, at the list's own address")
    number: int | None = doc("an older page's number, counted from the oldest rows (None on the newest)")
    total: int | None = doc("rows in the whole list (on the newest page only: older pages stay as they are)")
    newer: str | None = doc("relative link to the next newer page")
    older: str | None = doc("relative link to the next older page")
    latest: str | None = doc("relative link to the newest page (on older pages)")
    first: str | None = doc("relative link to page 1, the oldest rows (on older pages above 2)")
    pages: list[tuple[int, str]] = doc("(number, relative link) of the older pages the newest page lists", factory=list)


@dataclass
class Download:
    """One downloadable file of a dataset."""

    format: str = doc("CSV, Parquet, JSON Lines, XLSX or SQLite")
    path: str = doc("path inside the release")
    bytes: int = doc("size in bytes")
    size: str = doc("size for people, e.g. 1.2 MB")
    sha256: str = doc("SHA-256 of the file")
    part: str | None = doc("for a part of a large dataset: the day its records were first published", None)


@dataclass
class FieldDoc:
    """One row of a data dictionary."""

    name: str = doc("column name")
    title: str = doc("Chinese title")
    type: str = doc("Table Schema type")
    description: str = doc("Chinese description")


@dataclass
class ChangeDay:
    """One day of a dataset's change log."""

    day: str = doc("the day")
    counts: dict[str, int] = doc("changes by kind", factory=dict)
    link: str = doc("relative link to the day's change page")
    csv: str = doc("relative link to the day's change file (CSV)")


@dataclass
class Bar:
    """One bar (or group of bars) of a chart."""

    label: str = doc("axis label")
    values: list[int] = doc("one value per series", factory=list)
    link: str | None = doc("relative link for the label, if any")


@dataclass
class Chart:
    """A bar chart rendered to SVG at build time, with its data as a table for everyone."""

    id: str = doc("element id")
    title: str = doc("chart title")
    series: list[str] = doc("series names, in bar order", factory=list)
    bars: list[Bar] = doc("the bars", factory=list)

    @property
    def maximum(self) -> int:
        """The largest value (the chart's scale), at least 1."""
        return max([v for bar in self.bars for v in bar.values] + [1])


@dataclass
class Timeliness:
    """公开时效 of one group of records (a department, a month, or a department's month)."""

    label: str = doc("the department or the month")
    records: int = doc("records with a known delay")
    on_time: int = doc("of which published within the deadline")
    median: int | None = doc("median delay, working days")
    p90: int | None = doc("90th percentile of the delay, working days")
    link: str | None = doc("relative link to the group's page")

    @property
    def late(self) -> int:
        return self.records - self.on_time

    @property
    def share(self) -> str:
        return f"{self.on_time / self.records:.1%}" if self.records else "—"
