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
class ListRecord:
    """One blacklisting as shown on an entity page and in the lists."""

    record_id: str = doc("stable record id")
    list_type: str = doc("经营异常名录 or 严重违法失信名单")
    status: str = doc("active or removed")
    status_label: str = doc("在列 or 已移出")
    entity_name: str = doc("market entity name")
    credit_code: str = doc("统一社会信用代码")
    listed_on: str | None = doc("listing decision date")
    listing_reason: str | None = doc("reason for the listing")
    listing_authority: str | None = doc("authority that decided the listing")
    decision_number: str | None = doc("listing decision document number")
    removed_on: str | None = doc("removal decision date")
    removal_reason: str | None = doc("reason for the removal")
    removal_authority: str | None = doc("authority that decided the removal")
    expires_on: str | None = doc("end of the publicity period")
    flags: list[str] = doc("public flags, e.g. removal_without_listing", factory=list)


@dataclass
class Inspection:
    """One inspection result."""

    record_id: str = doc("stable record id")
    task_id: str = doc("inspection task number")
    task_name: str = doc("inspection task name")
    inspecting_authority: str = doc("authority that inspected")
    inspection_type: str = doc("kind of inspection")
    inspection_date: str = doc("date of the inspection")
    entity_name: str = doc("market entity name")
    credit_code: str = doc("统一社会信用代码")
    inspection_item: str = doc("what was inspected")
    result: str = doc("the result, from the national vocabulary")
    found_problem: bool = doc("whether the result records a problem")
    handling: str | None = doc("what was done (personal data masked)")


@dataclass
class Entity:
    """A market entity's page and its JSON twin."""

    credit_code: str = doc("统一社会信用代码, the page's key")
    name: str = doc("the most recently delivered name")
    city: str = doc("prefecture-level city from the code's region digits, or 省外")
    city_slug: str = doc("the city's URL slug")
    legal_representative: str | None = doc("legal representative (surname + 某 for an individual business)")
    status_summary: str = doc("one line: current list status")
    on_list: bool = doc("whether any listing is active")
    list_records: list[ListRecord] = doc("blacklistings, newest first", factory=list)
    inspections: list[Inspection] = doc("inspection results, newest first", factory=list)


@dataclass
class Pagination:
    """Where a paginated list page stands."""

    number: int = doc("this page's number, from 1")
    count: int = doc("how many pages")
    total: int = doc("how many rows in all pages")
    previous: str | None = doc("relative link to the previous page")
    next: str | None = doc("relative link to the next page")
    pages: list[tuple[int, str]] = doc("(number, relative link) of every page", factory=list)


@dataclass
class Download:
    """One downloadable file of a dataset."""

    format: str = doc("CSV, Parquet, JSON Lines, XLSX or SQLite")
    path: str = doc("path inside the release")
    bytes: int = doc("size in bytes")
    size: str = doc("size for people, e.g. 1.2 MB")
    sha256: str = doc("SHA-256 of the file")


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
