"""Resources: the installation's settings (one resource, configured from `gongshi.settings`), the state
lock a run holds, and the conversion of a stage's result into what Dagster shows."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from gongshi import faults
from gongshi.catalog import Dataset
from gongshi.locking import dataset_lock, describe, state_lock
from gongshi.paths import StateLayout
from gongshi.settings import ReadLimits, Settings
from gongshi.stages import Json, Markdown


class GongshiResource(dg.ConfigurableResource):
    """One installation's settings (paths absolute), as `Settings.from_environment` made them."""

    inbox: str
    public: str
    state: str
    datasets: str
    keep_releases: int
    base_url: str
    first_day: str | None
    read_memory_mb: int
    read_cpu_seconds: int
    read_seconds: float
    retract: bool = False
    retract_reason: str | None = None

    def settings(self) -> Settings:
        return Settings(
            inbox=Path(self.inbox),
            public=Path(self.public),
            state=Path(self.state),
            datasets=Path(self.datasets),
            keep_releases=self.keep_releases,
            base_url=self.base_url,
            first_day=self.first_day,
            read_limits=ReadLimits(self.read_memory_mb, self.read_cpu_seconds, self.read_seconds),
            retract=self.retract,
            retract_reason=self.retract_reason,
        )

    def catalog(self) -> dict[str, Dataset]:
        return self.settings().catalog()


def resource_for(settings: Settings) -> GongshiResource:
    return GongshiResource(
        inbox=str(settings.inbox),
        public=str(settings.public),
        state=str(settings.state),
        datasets=str(settings.datasets),
        keep_releases=settings.keep_releases,
        base_url=settings.base_url,
        first_day=settings.first_day,
        read_memory_mb=settings.read_limits.memory_mb,
        read_cpu_seconds=settings.read_limits.cpu_seconds,
        read_seconds=settings.read_limits.wall_seconds,
        retract=settings.retract,
        retract_reason=settings.retract_reason,
    )


class StateLockResource(dg.ConfigurableResource):
    """Held for the whole of a run that writes the state directory (every asset of the day asks for
    it, so it is set up once when the run starts and released when it ends): no two runs write the
    same state at once. A run that finds it taken waits, and says so in its log."""

    state: str
    # Shared: held by the intake steps of a run, each also holding its dataset's lock (`one_writer`),
    # so that with the multiprocess or Celery executor the datasets' steps run side by side; the
    # ledger, the release and the switch hold it exclusively, so they start once every intake step
    # has let go, and never beside a command's run.
    shared: bool = False
    _lock: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        stack = ExitStack()
        stack.enter_context(
            state_lock(
                StateLayout(Path(self.state)),
                f"dagster run {context.run_id}",
                on_wait=lambda info: context.log.info(f"状态目录正被{describe(info)}使用，等待其结束 …"),
                shared=self.shared,
            )
        )
        self._lock = stack

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.close()


def one_writer(dataset: str) -> Callable[[Callable], Callable]:
    """An intake asset's body holds its dataset's lock: one step at a time writes a dataset's register
    and stage files, whichever process or machine it runs in."""

    def decorate(compute: Callable) -> Callable:
        @functools.wraps(compute)
        def wrapped(context, *args, **kwargs):
            layout = StateLayout(Path(kwargs["gongshi"].state))
            with dataset_lock(layout, dataset, f"dagster run {context.run_id}"):
                return compute(context, *args, **kwargs)

        return wrapped

    return decorate


def in_words(compute: Callable) -> Callable:
    """An asset's body with every disk fault (full, read-only, not permitted) turned into one clear
    message naming the file and what to do (`gongshi.faults`), instead of a library's traceback."""

    @functools.wraps(compute)
    def wrapped(*args, **kwargs):
        with faults.in_words():
            return compute(*args, **kwargs)

    return wrapped


def metadata(values: dict) -> dict:
    """A stage result's metadata as Dagster shows it."""
    converted = {}
    for name, value in values.items():
        if isinstance(value, Markdown):
            converted[name] = dg.MetadataValue.md(value.text)
        elif isinstance(value, Json):
            converted[name] = dg.MetadataValue.json(value.value)
        else:
            converted[name] = value
    return converted
