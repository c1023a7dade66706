"""The code location: every dataset's assets from the factory, the ledger, the release, the pulls,
jobs, schedules and sensors — all from the installation's settings (`gongshi.settings`), read when
Dagster loads the definitions, not when this module is imported."""

from __future__ import annotations

import dagster as dg

from assets.automation import automation
from assets.factory import dataset_assets
from assets.ledger import ledger_asset
from assets.partitions import daily_partitions
from assets.release import release_assets
from assets.resources import StateLockResource, resource_for
from assets.sources import pull_assets, source_resources
from gongshi import interpreter
from gongshi.catalog import Dataset
from gongshi.inbox import first_partition
from gongshi.settings import CELERY_BROKER, EXECUTORS, Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_environment()
    catalog = settings.catalog()
    partitions = daily_partitions(first_partition(settings, list(catalog)))
    pulls = pull_assets(catalog, partitions)
    return dg.Definitions.merge(
        *[
            dg.Definitions(
                assets=dataset_assets(dataset, partitions, read_ahead_of(settings, catalog, dataset), position)
            )
            for position, dataset in enumerate(catalog.values())
        ],
        dg.Definitions(
            assets=[ledger_asset(catalog, partitions), *release_assets(catalog, partitions), *pulls],
            **automation(partitions, pulls=bool(pulls), at=settings.schedule_at),
            resources={
                "gongshi": resource_for(settings),
                "state_lock": StateLockResource(state=str(settings.state)),
                "intake_lock": StateLockResource(state=str(settings.state), shared=True),
                **source_resources(catalog),
            },
            executor=executor_for(settings),
        ),
    )


def read_ahead_of(settings: Settings, catalog: dict[str, Dataset], dataset: Dataset) -> list[Dataset]:
    """The datasets whose files a run's read of `dataset` starts reading (`gongshi.stages.read`): those
    after it in the catalog — the order the in-process executor reads them in — when every step of a
    run runs in one process. With an executor that runs each step in its own process, what one step
    read ahead would be thrown away with it: none."""
    if settings.executor != "in_process":
        return []
    ids = list(catalog)
    return [catalog[i] for i in ids[ids.index(dataset.id) + 1 :]]


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """The executor of the runs Dagster launches. In one process by default: the steps are small and
    share files, and one process is ~10x cheaper than one per step on a normal day. multiprocess runs
    the datasets' intake steps side by side; celery sends every step to the workers of a queue."""
    if settings.executor not in EXECUTORS:
        raise ValueError(f"GONGSHI_EXECUTOR={settings.executor!r}: one of {', '.join(EXECUTORS)}")
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        broker = {"env": CELERY_BROKER}
        return celery_executor.configured({"broker": broker, "backend": broker})
    return dg.in_process_executor


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev -w workspace.yaml` and `gongshi ui`, when they load the code location
    (in the process that runs a launched run too: its interpreter is set up as the command's)."""
    interpreter.tune()
    return build_definitions()
