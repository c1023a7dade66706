"""The one resource: where deliveries arrive, where private state lives, where the public site goes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from gongshi import faults
from gongshi.catalog import Dataset, load_catalog
from gongshi.locking import describe, state_lock
from gongshi.paths import DEMO_INBOX, StateLayout
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
    retract: bool = False
    retract_reason: str | None = None

    def settings(self) -> Settings:
        return Settings(
            inbox=Path(self.inbox),
            public=Path(self.public),
            state=Path(self.state),
            keep_releases=self.keep_releases,
            base_url=self.base_url,
            retract=self.retract,
            retract_reason=self.retract_reason,
        )

    def catalog(self) -> dict[str, Dataset]:
        return load_catalog()


class StateLockResource(dg.ConfigurableResource):
    """Held for the whole of a run that writes the state directory (every asset of the day asks for
    it, so it is set up once when the run starts and released when it ends): no two runs write the
    same state at once. A run that finds it taken waits, and says so in its log."""

    state: str
    _lock: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        stack = ExitStack()
        stack.enter_context(
            state_lock(
                StateLayout(Path(self.state)),
                f"dagster run {context.run_id}",
                on_wait=lambda info: context.log.info(f"状态目录正被{describe(info)}使用，等待其结束 …"),
            )
        )
        self._lock = stack

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.close()


def in_words(compute: Callable) -> Callable:
    """An asset's body with every disk fault (full, read-only, not permitted) turned into one clear
    message naming the file and what to do (`gongshi.faults`), instead of a library's traceback."""

    @functools.wraps(compute)
    def wrapped(*args, **kwargs):
        with faults.in_words():
            return compute(*args, **kwargs)

    return wrapped


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
        retract=settings.retract,
        retract_reason=settings.retract_reason,
    )
