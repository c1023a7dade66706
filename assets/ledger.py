"""The day's ledger across datasets: nothing lost, or the day fails."""

import dagster as dg

from assets.checks import DAY_RECONCILES
from assets.factory import REGISTER
from assets.resources import GongshiResource, StateLockResource, in_words, metadata
from gongshi.catalog import Dataset
from gongshi.stages import ledger

LEDGER_KEY = dg.AssetKey(["ledger"])


def ledger_asset(catalog: dict[str, Dataset], partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=LEDGER_KEY,
        deps=[dg.AssetKey([name, REGISTER]) for name in catalog],
        group_name="day",
        partitions_def=partitions,
        kinds={"json"},
        description="当天台账：每个数据集、每个文件的读入、接受、隔离、登记行数，以及退回文件和未读取条目的原因。",
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
    def day_ledger(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        result = ledger.run(gongshi.settings(), catalog, context.partition_key)
        return dg.MaterializeResult(
            metadata=metadata(result.metadata()),
            check_results=[
                dg.AssetCheckResult(
                    check_name=DAY_RECONCILES,
                    passed=not result.problems,
                    metadata={"problems": dg.MetadataValue.json(result.problems)},
                )
            ],
        )

    return day_ledger
