"""The day's release: built in the staging area, checked (every check blocks), then switched in, and
takedowns applied to every retained release."""

import dagster as dg

from assets.factory import REDACTED
from assets.ledger import LEDGER_KEY
from assets.resources import GongshiResource, StateLockResource, in_words, metadata
from gongshi.catalog import Dataset
from gongshi.stages import checks, publish, release, takedowns

RELEASE_KEY = dg.AssetKey(["release"])
PUBLISHED_KEY = dg.AssetKey(["published"])


def release_assets(catalog: dict[str, Dataset], partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=RELEASE_KEY,
        deps=[LEDGER_KEY, *[dg.AssetKey([name, REDACTED]) for name in catalog]],
        group_name="day",
        partitions_def=partitions,
        kinds={"csv", "parquet", "sqlite"},
        description="在状态目录的暂存区构建发布日的发布（尚未公开）：各数据集的 CSV、Parquet、JSON Lines、XLSX，"
        "SQLite 数据库，每日变更，datapackage.json、DCAT、网站、清单与校验和；再逐项阻断检查。",
        check_specs=[
            dg.AssetCheckSpec(name, asset=RELEASE_KEY, blocking=True, description=text)
            for name, text in checks.DESCRIPTIONS.items()
        ],
    )
    @in_words
    def release_(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        settings, day = gongshi.settings(), context.partition_key
        built = release.run(settings, catalog, day)
        verdict = checks.run(settings, catalog, day)
        for name, problems in verdict.failed.items():
            context.log.error(
                f"阻断检查 {name} 未通过（{len(problems)} 项），构建未上线：\n" + "\n".join(problems[:50])
            )
        return dg.MaterializeResult(
            metadata=metadata(built.metadata()),
            check_results=[
                dg.AssetCheckResult(
                    check_name=name, passed=not problems, metadata=metadata(verdict.check_metadata(name))
                )
                for name, problems in verdict.problems.items()
            ],
        )

    @dg.asset(
        key=PUBLISHED_KEY,
        deps=[RELEASE_KEY],
        group_name="day",
        partitions_def=partitions,
        kinds={"file"},
        description="原子切换：把已通过检查的构建移入公开目录，设为发布日的发布和 latest；"
        "按保留设置清理旧发布；把撤下决定应用到每个保留的发布。",
    )
    @in_words
    def published(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        settings = gongshi.settings()
        switched = publish.run(settings, catalog, context.partition_key)
        applied = takedowns.run(settings, catalog, skip=switched.release)
        return dg.MaterializeResult(metadata=metadata(switched.metadata() | applied.metadata()))

    return [release_, published]
