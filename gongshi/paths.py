"""Where the project's own files are, and the layouts of the two directories an installation keeps:
the private state directory and the public web root. Every file one stage writes and another reads
is named here, once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# A wheel carries datasets/, site_templates/ and the demo inbox inside the package (see
# pyproject.toml); an editable install or a checkout reads them from the project root.
_BUNDLED = _PACKAGE / "_bundled"
PROJECT_ROOT = _BUNDLED if _BUNDLED.is_dir() else _PACKAGE.parent
DATASETS_DIR = PROJECT_ROOT / "datasets"
SITE_TEMPLATES_DIR = PROJECT_ROOT / "site_templates"
DEMO_INBOX = PROJECT_ROOT / "demo" / "inbox"


@dataclass(frozen=True)
class StateLayout:
    """The private state directory: never served, holds unredacted data."""

    root: Path

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    # -- a dataset-day's stages, in the order they hand each other files ----------------------------

    def stage_dir(self, day: str, dataset: str) -> Path:
        return self.root / "stages" / day / dataset

    def rows(self, day: str, dataset: str) -> Path:
        """read → validate: every delivered row, as text, with its file, sheet and row number."""
        return self.stage_dir(day, dataset) / "rows.parquet"

    def findings(self, day: str, dataset: str) -> Path:
        """read → validate: what the readers noticed in cells (Excel-damaged numbers, bad lines)."""
        return self.stage_dir(day, dataset) / "findings.parquet"

    def files(self, day: str, dataset: str) -> Path:
        """read → validate: every file's fate and the inbox fingerprint."""
        return self.stage_dir(day, dataset) / "files.json"

    def accepted(self, day: str, dataset: str) -> Path:
        """validate → register: the rows that passed, normalised and typed."""
        return self.stage_dir(day, dataset) / "accepted.parquet"

    def issues(self, day: str, dataset: str) -> Path:
        """validate: every problem found, by row, field and code."""
        return self.stage_dir(day, dataset) / "issues.parquet"

    def public_table(self, day: str, dataset: str) -> Path:
        """redact → release: the release day's public records, privacy applied."""
        return self.stage_dir(day, dataset) / "public.parquet"

    def public_digests(self, day: str, dataset: str) -> Path:
        """redact → release: the `row_digests` of the public table's rows, made by the redaction for
        the rows it redacted and kept for the others (`storage.write_arrow`; the public table's
        sha256 in its metadata ties them to it)."""
        return self.stage_dir(day, dataset) / "public-digests.arrow"

    def redaction_report(self, day: str, dataset: str) -> Path:
        """redact → checks: what the redaction did, by column (counts only)."""
        return self.stage_dir(day, dataset) / "redaction.json"

    def expired(self, day: str, dataset: str) -> Path:
        """redact → release: ids of the records whose publicity period has ended."""
        return self.stage_dir(day, dataset) / "expired.parquet"

    def changes(self, day: str, dataset: str) -> Path:
        """release → publish: the change table of the release day."""
        return self.stage_dir(day, dataset) / "changes.parquet"

    def digests(self, day: str, dataset: str) -> Path:
        """release → publish: each public record's id and row digest (the next day's feed is
        computed against them)."""
        return self.stage_dir(day, dataset) / "digests.parquet"

    def sync(self, day: str, dataset: str) -> Path:
        """release → publish: the day's sync feed (`gongshi.sync`)."""
        return self.stage_dir(day, dataset) / "sync.parquet"

    def build_record(self, day: str) -> Path:
        """release → checks → publish: what the release built while processing `day`."""
        return self.root / "stages" / day / "build.json"

    # -- the rest of the state ------------------------------------------------------------------------

    def register_path(self, dataset: str) -> Path:
        return self.root / "register" / f"{dataset}.duckdb"

    def quarantine_path(self, day: str, dataset: str) -> Path:
        return self.root / "quarantine" / day / f"{dataset}.parquet"

    def ledger_dir(self, day: str) -> Path:
        return self.root / "ledger" / day

    def reports_dir(self, day: str) -> Path:
        return self.root / "reports" / day

    def quality_report(self, day: str) -> Path:
        return self.reports_dir(day) / "quality.json"

    def redacted_rows(self, dataset: str) -> Path:
        """redact → redact (the next day): each public row's input digest, redacted fields and counts
        (`storage.write_arrow`: read back whole every day)."""
        return self.root / "redaction" / f"{dataset}.arrow"

    def leak_gate_passed(self, version: str) -> Path:
        """sha256 of the files the leak gate (detector `version`) found clean in the last build."""
        return self.root / "leakgate" / f"passed-{version}.parquet"

    @property
    def search_index(self) -> Path:
        """release → release (the next day): the search index's postings, one DuckDB database per
        index made, named by the digest of its shards (`gongshi.site.search.write`)."""
        return self.root / "search"

    @property
    def check_index(self) -> Path:
        """release → release (the next day): the check index's entries, one table per index made, named
        by the digest of its bucket files (`gongshi.site.checkindex`)."""
        return self.root / "check-index"

    @property
    def package_passed(self) -> Path:
        """sha256 of the data files the package check passed in the last build."""
        return self.root / "leakgate" / "package-passed.parquet"

    @property
    def staging(self) -> Path:
        """Where a release is built and checked before anything of it reaches the public directory."""
        return self.root / "staging"

    def new_build(self, day: str) -> Path:
        """A fresh, empty build directory in the staging area."""
        path = self.staging / f"{day}-{secrets.token_hex(4)}"
        path.mkdir(parents=True)
        return path

    @property
    def published_root(self) -> Path:
        return self.root / "published"

    def published_dir(self, day: str) -> Path:
        """What went out as the release of `day` (public tables and change tables)."""
        return self.published_root / day

    def published_record(self, day: str) -> Path:
        return self.published_dir(day) / "release.json"

    def published_table(self, day: str, dataset: str) -> Path:
        return self.published_dir(day) / f"{dataset}.parquet"

    def published_changes(self, day: str, dataset: str) -> Path:
        return self.published_dir(day) / "changes" / f"{dataset}.parquet"

    def published_digests(self, day: str, dataset: str) -> Path:
        return self.published_dir(day) / f"{dataset}.digests.parquet"

    def published_sync(self, day: str, dataset: str) -> Path:
        return self.published_dir(day) / "sync" / f"{dataset}.parquet"

    @property
    def audit_dir(self) -> Path:
        return self.root / "audit"


LATEST, RELEASES, BUILDS = "latest", "releases", "builds"


@dataclass(frozen=True)
class PublicLayout:
    """The public directory (the web root):

    public/index.html                  -> a link to latest/ (written once)
    public/latest                      -> symlink to builds/<day>-<id>   (swapped atomically)
    public/releases/<day>              -> symlink to builds/<day>-<id>   (one per retained day)
    public/builds/<day>-<id>/          the files of one release; never changed once switched in
    public/datapackage.json            the newest release's package, paths into releases/<day>/
    """

    root: Path

    @property
    def latest(self) -> Path:
        return self.root / LATEST

    @property
    def builds(self) -> Path:
        return self.root / BUILDS

    @property
    def releases(self) -> Path:
        return self.root / RELEASES

    def release(self, day: str) -> Path:
        return self.releases / day

    @property
    def datapackage(self) -> Path:
        return self.root / "datapackage.json"

    def live_builds(self) -> set[Path]:
        """Build directories some symlink points at."""
        links = [self.latest, *self.releases.glob("*")] if self.releases.is_dir() else [self.latest]
        return {link.resolve() for link in links if link.is_symlink()}

    def retained_days(self) -> list[str]:
        folder = self.releases
        return sorted(p.name for p in folder.iterdir() if p.is_symlink()) if folder.is_dir() else []
