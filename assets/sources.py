"""One asset and one resource per pulled source (前置库 or API): a failing source fails its own asset,
with a message naming the source and the cause; other sources and datasets go on."""

import dagster as dg

from assets.automation import PULL, STAGE_TAG
from assets.resources import GongshiResource
from gongshi import sources
from gongshi.catalog import Dataset
from gongshi.settings import secret


class SourceResource(dg.ConfigurableResource):
    """A department's exchange database or API: its connection string and token as the environment
    gives them when a run starts (`dg.EnvVar`, never written into the code location), and the names
    of those variables for messages. Every message is scrubbed of the values."""

    dataset: str
    source: str
    kind: str
    url_env: str | None = None
    token_env: str | None = None
    url: str | None = None
    token: str | None = None

    def secrets(self) -> sources.Secrets:
        return sources.Secrets(url=self.url, token=self.token)


def resource_key(dataset: Dataset, source) -> str:
    return f"source_{dataset.id}_{source.name}"


def pull_key(dataset: Dataset, source) -> dg.AssetKey:
    return dg.AssetKey([dataset.id, PULL, source.name])


def source_resources(catalog: dict[str, Dataset]) -> dict[str, SourceResource]:
    """A resource per pulled source. A variable that is not set when the code location loads is left
    out (None), so that the pull fails with its own message naming it, not the whole run."""

    def from_environment(variable: str | None):
        return dg.EnvVar(variable) if variable and secret(variable) is not None else None

    return {
        resource_key(d, s): SourceResource(
            dataset=d.id,
            source=s.name,
            kind=s.type,
            url_env=s.url_env,
            token_env=getattr(s, "token_env", None),
            url=from_environment(s.url_env) or getattr(s, "url", None),
            token=from_environment(getattr(s, "token_env", None)),
        )
        for d in catalog.values()
        for s in d.pulled_sources
    }


def pull_assets(catalog: dict[str, Dataset], partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [
        _pull_asset(dataset, source, partitions) for dataset in catalog.values() for source in dataset.pulled_sources
    ]


def _pull_asset(dataset: Dataset, source, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = resource_key(dataset, source)

    @dg.asset(
        key=pull_key(dataset, source),
        group_name=dataset.id,
        partitions_def=partitions,
        kinds={source.type},
        tags={STAGE_TAG: PULL},
        required_resource_keys={"gongshi", key},
        description=f"{dataset.title}：从 {source.department} 的{'前置库' if source.type == 'sql' else '接口'}"
        f" {source.name} 增量拉取（游标 {source.cursor}），写入当天的报送，与文件报送同样校验。",
    )
    def pull(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        gongshi: GongshiResource = context.resources.gongshi
        configured: SourceResource = getattr(context.resources, key)
        try:
            result = sources.pull(
                gongshi.settings().layout, dataset, source, context.partition_key, configured.secrets()
            )
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
