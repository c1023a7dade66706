"""The one resource: where deliveries arrive, where private state lives, where the public site goes."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from gongshi.catalog import Dataset, load_catalog
from gongshi.paths import DEMO_INBOX
from gongshi.settings import DEFAULT_BASE_URL, Settings

ENV_INBOX, ENV_PUBLIC, ENV_STATE = "GONGSHI_INBOX", "GONGSHI_PUBLIC", "GONGSHI_STATE"
ENV_KEEP = "GONGSHI_KEEP_RELEASES"
ENV_BASE_URL = "GONGSHI_BASE_URL"


class GongshiResource(dg.ConfigurableResource):
    """Paths of one gongshi installation (absolute)."""

    inbox: str
    public: str
    state: str
    keep_releases: int = 30
    base_url: str = DEFAULT_BASE_URL

    def settings(self) -> Settings:
        return Settings(
            inbox=Path(self.inbox),
            public=Path(self.public),
            state=Path(self.state),
            keep_releases=self.keep_releases,
            base_url=self.base_url,
        )

    def catalog(self) -> dict[str, Dataset]:
        return load_catalog()


def settings_from_environment() -> Settings:
    """Settings for a code location started by `dagster dev` or the `gongshi` command alike."""
    return Settings(
        inbox=Path(os.environ.get(ENV_INBOX, DEMO_INBOX)).resolve(),
        public=Path(os.environ.get(ENV_PUBLIC, "public")).resolve(),
        state=Path(os.environ.get(ENV_STATE, "state")).resolve(),
        keep_releases=int(os.environ.get(ENV_KEEP, "30")),
        base_url=os.environ.get(ENV_BASE_URL, DEFAULT_BASE_URL),
    )


def resource_for(settings: Settings) -> GongshiResource:
    return GongshiResource(
        inbox=str(settings.inbox),
        public=str(settings.public),
        state=str(settings.state),
        keep_releases=settings.keep_releases,
        base_url=settings.base_url,
    )
