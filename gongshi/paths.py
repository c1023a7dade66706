"""Where the project's own files are, and the layout of the state directory."""

from __future__ import annotations

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

    def stage_dir(self, day: str, dataset: str) -> Path:
        return self.root / "stages" / day / dataset

    def register_path(self, dataset: str) -> Path:
        return self.root / "register" / f"{dataset}.duckdb"

    def quarantine_path(self, day: str, dataset: str) -> Path:
        return self.root / "quarantine" / day / f"{dataset}.parquet"

    def ledger_dir(self, day: str) -> Path:
        return self.root / "ledger" / day

    def reports_dir(self, day: str) -> Path:
        return self.root / "reports" / day

    @property
    def staging(self) -> Path:
        """Where a release is built and checked before anything of it reaches the public directory."""
        return self.root / "staging"

    def published_dir(self, day: str) -> Path:
        """What was published for `day` (public tables and change tables), once it went live."""
        return self.root / "published" / day
