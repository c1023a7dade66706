"""One asset and one resource per pulled source (前置库 or API): a failing source fails its own asset,
with a message naming the source and the cause; other sources and datasets go on."""

import dagster as dg

from assets.partitions import daily_partitions
from assets.resources import GongshiResource
from gongshi import sources
from gongshi.catalog import Dataset

PULL = "pull"
STAGE_TAG = "gongshi/stage"


class SourceResource(dg.ConfigurableResource):
    """A department's exchange database or API. Holds the names of its environment variables,
    never their values: those are read when the pull runs, and scrubbed from every message."""

    dataset: str
    source: str
    kind: str
    url_env: str | None = None
    token_env: str | None = None


def resource_key(dataset: Dataset, source) -> str:
    return f"source_{dataset.id}_{source.name}"


def pull_key(dataset: Dataset, source) -> dg.AssetKey:
    return dg.AssetKey([dataset.id, PULL, source.name])


def source_resources(catalog: dict[str, Dataset]) -> dict[str, SourceResource]:
    return {
        resource_key(d, s): SourceResource(
            dataset=d.id, source=s.name, kind=s.type, url_env=s.url_env, token_env=getattr(s, "token_env", None)
        )
        for d in catalog.values()
        for s in d.pulled_sources
    }


def pull_assets(catalog: dict[str, Dataset]) -> list[dg.AssetsDefinition]:
    return [_pull_asset(dataset, source) for dataset in catalog.values() for source in dataset.pulled_sources]


def _pull_asset(dataset: Dataset, source) -> dg.AssetsDefinition:
    key = resource_key(dataset, source)

    @dg.asset(
        key=pull_key(dataset, source),
        group_name=dataset.id,
        partitions_def=daily_partitions,
        kinds={source.type},
        tags={STAGE_TAG: PULL},
        required_resource_keys={"gongshi", key},
        description=f"{dataset.title}：从 {source.department} 的{'前置库' if source.type == 'sql' else '接口'}"
        f" {source.name} 增量拉取（游标 {source.cursor}），写入当天的报送，与文件报送同样校验。",
    )
    def pull(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        gongshi: GongshiResource = context.resources.gongshi
        settings = gongshi.settings()
        secrets = sources.secrets_from_environment(source)
        try:
            result = sources.pull(settings.layout, dataset, source, context.partition_key, secrets)
        except sources.SourceError as error:
            raise dg.Failure(
                description=str(error), metadata={"source": source.name, "cause": error.cause}, allow_retries=False
            ) from None
        return dg.MaterializeResult(
            metadata={
                "status": result.status,
                "rows": result.rows,
                "pages_or_batches": result.pages,
                "retries": result.retries,
                "watermark_before": str(result.watermark_before.get("value")),
                "watermark_after": str(result.watermark_after.get("value")),
            }
        )

    return pull
