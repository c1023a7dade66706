"""The day's release: built beside the live one, checked (every check blocks), then switched in."""

import dagster as dg

from assets.checks import LEAK_GATE, PACKAGE_VALID, RELEASE_RECONCILES, WITHIN_BOUNDS
from assets.factory import REDACTED
from assets.ledger import LEDGER_KEY
from assets.partitions import daily_partitions
from assets.resources import GongshiResource, StateLockResource, in_words
from gongshi import publishing
from gongshi.catalog import Dataset
from gongshi.leakscan import format_report

RELEASE_KEY = dg.AssetKey(["release"])
PUBLISHED_KEY = dg.AssetKey(["published"])
CHECK_DESCRIPTIONS = {
    LEAK_GATE: "泄露闸门：待发布的每个文件中没有任何受保护的个人信息",
    PACKAGE_VALID: "frictionless validate 通过整个数据包（描述、每个资源的数据、字节数与 sha256），清单与文件一致",
    RELEASE_RECONCILES: "登记簿中的每条记录都已公开、公示期满或被撤下，没有丢失",
    WITHIN_BOUNDS: "每个数据集的记录数在 dataset.yaml 声明的范围内，且没有过多记录无故消失",
}


def release_assets(catalog: dict[str, Dataset]) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=RELEASE_KEY,
        deps=[LEDGER_KEY, *[dg.AssetKey([name, REDACTED]) for name in catalog]],
        group_name="day",
        partitions_def=daily_partitions,
        kinds={"csv", "parquet", "sqlite"},
        description="在公开目录旁构建当天的发布（尚未上线）：各数据集的 CSV、Parquet、JSON Lines、XLSX，"
        "SQLite 数据库，每日变更，datapackage.json、DCAT、清单与校验和。",
        check_specs=[
            dg.AssetCheckSpec(name, asset=RELEASE_KEY, blocking=True, description=text)
            for name, text in CHECK_DESCRIPTIONS.items()
        ],
    )
    @in_words
    def release(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        settings, day = gongshi.settings(), context.partition_key
        summary = publishing.release_stage(settings, catalog, day)
        checks, scan = publishing.release_checks(settings, catalog, day)
        publishing.write_quality_report(settings, catalog, day, checks, scan)
        for name, problems in checks.items():
            if problems:
                context.log.error(
                    f"阻断检查 {name} 未通过（{len(problems)} 项），构建未上线：\n" + "\n".join(problems[:50])
                )
        details = {
            LEAK_GATE: {
                "leaks_by_kind": dg.MetadataValue.json(scan.by_kind()),
                "files_scanned": scan.files_scanned,
                "bytes_scanned": scan.bytes_scanned,
                "report": dg.MetadataValue.md(f"```\n{format_report(scan, limit=50)}\n```"),
            }
        }
        return dg.MaterializeResult(
            metadata={
                "build": summary["build"],
                "files": len(summary["files"]),
                "bytes": summary["bytes"],
                "records": dg.MetadataValue.json(summary["records"]),
                "changes": dg.MetadataValue.json(summary["changes"]),
                "reused_unchanged": dg.MetadataValue.json(summary["reused"]),
                "pages_rendered": summary["pages_rendered"],
                "pages_unchanged": summary["pages_unchanged"],
                "search_index_seconds": summary["search_index_seconds"],
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=name,
                    passed=not problems,
                    metadata={"problems": dg.MetadataValue.json(problems[:50]), **details.get(name, {})},
                )
                for name, problems in checks.items()
            ],
        )

    @dg.asset(
        key=PUBLISHED_KEY,
        deps=[RELEASE_KEY],
        group_name="day",
        partitions_def=daily_partitions,
        kinds={"file"},
        description="原子切换：把已通过检查的构建设为当天的发布和 latest；"
        "把撤下决定应用到每个保留的发布；按保留设置清理旧发布。",
    )
    @in_words
    def published(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        summary = publishing.publish_stage(gongshi.settings(), catalog, context.partition_key)
        return dg.MaterializeResult(
            metadata={
                "release": summary["release"],
                "build": summary["build"],
                "is_latest": summary["latest"],
                "retained_releases": dg.MetadataValue.json(summary["retained"]),
                "dropped_releases": dg.MetadataValue.json(summary["dropped"]),
                "takedowns_applied_to": dg.MetadataValue.json(summary["takedowns_applied_to"]),
            }
        )

    return [release, published]
