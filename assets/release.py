"""The day's release: built beside the live one, checked (the leak gate blocks), then switched in."""

import dagster as dg

from assets.checks import LEAK_GATE
from assets.factory import REDACTED
from assets.ledger import LEDGER_KEY
from assets.partitions import daily_partitions
from assets.resources import GongshiResource
from gongshi import pipeline
from gongshi.catalog import Dataset
from gongshi.leakscan import format_report

RELEASE_KEY = dg.AssetKey(["release"])
PUBLISHED_KEY = dg.AssetKey(["published"])


def release_assets(catalog: dict[str, Dataset]) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=RELEASE_KEY,
        deps=[LEDGER_KEY, *[dg.AssetKey([name, REDACTED]) for name in catalog]],
        group_name="day",
        partitions_def=daily_partitions,
        kinds={"csv", "json"},
        description="在公开目录旁构建当天的发布（尚未上线）：每个数据集的各种下载格式。",
        check_specs=[
            dg.AssetCheckSpec(
                LEAK_GATE,
                asset=RELEASE_KEY,
                blocking=True,
                description="泄露闸门：待发布的每个文件中没有任何受保护的个人信息",
            )
        ],
    )
    def release(context: dg.AssetExecutionContext, gongshi: GongshiResource) -> dg.MaterializeResult:
        summary, scan = pipeline.build_release(gongshi.settings(), catalog, context.partition_key)
        return dg.MaterializeResult(
            metadata={"build": summary["build"], "files": summary["files"], "bytes": summary["bytes"]},
            check_results=[dg.AssetCheckResult(
                check_name=LEAK_GATE, passed=scan.clean,
                metadata={"files_scanned": scan.files_scanned, "bytes_scanned": scan.bytes_scanned,
                          "leaks_by_kind": dg.MetadataValue.json(scan.by_kind()),
                          "report": dg.MetadataValue.md(f"```\n{format_report(scan, limit=50)}\n```")},
            )],
        )  # fmt: skip

    @dg.asset(
        key=PUBLISHED_KEY,
        deps=[RELEASE_KEY],
        group_name="day",
        partitions_def=daily_partitions,
        kinds={"file"},
        description="原子切换：把已通过检查的构建设为当天的发布和 latest；按保留设置清理旧发布。",
    )
    def published(context: dg.AssetExecutionContext, gongshi: GongshiResource) -> dg.MaterializeResult:
        summary = pipeline.publish_stage(gongshi.settings(), context.partition_key)
        return dg.MaterializeResult(
            metadata={
                "release": summary["release"],
                "build": summary["build"],
                "retained_releases": dg.MetadataValue.json(summary["retained"]),
                "dropped_releases": dg.MetadataValue.json(summary["dropped"]),
            }
        )

    return [release, published]
