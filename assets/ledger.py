"""The day's ledger across datasets: nothing lost, or the day fails."""

import dagster as dg

from assets.checks import DAY_RECONCILES
from assets.factory import REGISTER
from assets.partitions import daily_partitions
from assets.resources import GongshiResource, StateLockResource, in_words
from gongshi import pipeline
from gongshi.catalog import Dataset

LEDGER_KEY = dg.AssetKey(["ledger"])


def ledger_asset(catalog: dict[str, Dataset]) -> dg.AssetsDefinition:
    @dg.asset(
        key=LEDGER_KEY,
        deps=[dg.AssetKey([name, REGISTER]) for name in catalog],
        group_name="day",
        partitions_def=daily_partitions,
        kinds={"json"},
        description="当天台账：每个数据集、每个文件的读入、接受、隔离、登记行数，以及退回文件的原因。",
        check_specs=[
            dg.AssetCheckSpec(
                DAY_RECONCILES,
                asset=LEDGER_KEY,
                blocking=True,
                description="全部数据集的行数对账一致，没有任何一行丢失",
            )
        ],
    )
    @in_words
    def ledger(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        summary = pipeline.day_ledger(gongshi.settings(), catalog, context.partition_key)
        rows = [
            f"| {name} | {e['rows_in']} | {e['accepted']} | {e['quarantined']} | {e['files_rejected']} |"
            for name, e in summary["datasets"].items()
        ]
        table = "\n".join(["| 数据集 | 读入 | 接受 | 隔离 | 退回文件 |", "|---|---|---|---|---|", *rows])
        ignored = [f"- `{i['path']}`：{i['reason']}" for i in summary["inbox_ignored"]]
        return dg.MaterializeResult(
            metadata={
                **summary["totals"],
                "by_dataset": dg.MetadataValue.md(table),
                "inbox_ignored": dg.MetadataValue.md("\n".join(ignored) or "（无）"),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=DAY_RECONCILES,
                    passed=not summary["problems"],
                    metadata={"problems": dg.MetadataValue.json(summary["problems"])},
                )
            ],
        )

    return ledger
