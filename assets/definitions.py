"""The code location: every dataset's assets from the factory, the ledger, job, schedule, sensor."""

from __future__ import annotations

import dagster as dg

from assets.automation import (
    daily_job,
    daily_schedule,
    inbox_sensor,
    publish_after_failed_pull,
    publish_after_pull,
    pull_job,
    pull_schedule,
)
from assets.factory import dataset_assets
from assets.ledger import ledger_asset
from assets.release import release_assets
from assets.resources import StateLockResource, resource_for, settings_from_environment
from assets.sources import pull_assets, source_resources
from gongshi.catalog import load_catalog
from gongshi.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    catalog = load_catalog()
    settings = settings or settings_from_environment()
    pulls = pull_assets(catalog)
    # With pulled sources the schedule pulls, and the publication follows the pulls; without, it publishes.
    automation = (
        {
            "jobs": [daily_job, pull_job],
            "schedules": [pull_schedule],
            "sensors": [inbox_sensor, publish_after_pull, publish_after_failed_pull],
        }
        if pulls
        else {"jobs": [daily_job], "schedules": [daily_schedule], "sensors": [inbox_sensor]}
    )
    return dg.Definitions.merge(
        *[dg.Definitions(assets=dataset_assets(dataset)) for dataset in catalog.values()],
        dg.Definitions(
            assets=[ledger_asset(catalog), *release_assets(catalog), *pulls],
            **automation,
            resources={
                "gongshi": resource_for(settings),
                "state_lock": StateLockResource(state=str(settings.state)),
                **source_resources(catalog),
            },
            # Steps are small and share DuckDB files: one process is ~10x cheaper than one per step.
            executor=dg.in_process_executor,
        ),
    )


defs = build_definitions()
