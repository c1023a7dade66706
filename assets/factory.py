"""One factory builds the assets of a dataset: raw -> validated -> register -> redacted, each a call
into a stage of `gongshi.stages` whose result carries its own metadata."""

from collections.abc import Sequence

import dagster as dg

from assets.checks import FILES_READABLE, REGISTER_MATCHES_ACCEPTED, ROWS_RECONCILE
from assets.resources import GongshiResource, StateLockResource, in_words, metadata, one_writer
from gongshi.catalog import Dataset
from gongshi.stages import read, redact, register, validate

RAW, VALIDATED, REGISTER, REDACTED = "raw", "validated", "register", "redacted"
PRIORITY_TAG = "dagster/priority"  # among the steps ready to run, the higher first
REDACTIONS_AFTER = 1000  # a redaction's priority below every dataset's intake


def dataset_assets(
    dataset: Dataset, partitions: dg.PartitionsDefinition, later: Sequence[Dataset] = (), position: int = 0
) -> list[dg.AssetsDefinition]:
    """The four assets of `dataset`, keyed [dataset, stage], in one group named after it. `later`: the
    datasets read after it in a run, whose files its read starts reading when the run reads them too
    (`definitions.read_ahead_of`). `position`: its place in the catalog. A run takes a dataset's steps
    one after another before the next dataset's (Dagster's step priority: the earlier dataset first),
    as `gongshi.stages.run_day` does — not every read, then every validation: so the files of the
    datasets after it, read ahead, are read while this process validates and registers it. The
    redactions come after every dataset is registered, as there too: a redaction between two
    datasets' intake left the process's peak 170 MiB higher on a first day (the inspections' stages
    on top of what three redactions had taken)."""
    key = dataset.id
    tags = {PRIORITY_TAG: str(-position)}
    redaction_tags = {PRIORITY_TAG: str(-REDACTIONS_AFTER - position)}
    raw_key, validated_key, register_key, redacted_key = (
        dg.AssetKey([key, s]) for s in (RAW, VALIDATED, REGISTER, REDACTED)
    )

    @dg.asset(
        key=raw_key,
        deps=[dg.AssetKey([key, "pull", source.name]) for source in dataset.pulled_sources],
        group_name=key,
        partitions_def=partitions,
        op_tags=tags,
        kinds={"python", "file"},
        description=f"{dataset.title}：读取当天报送的全部文件（CSV/XLSX/JSON），每行保留来源文件与行号；"
        "无法整体读取的文件被退回并说明原因。",
        check_specs=[
            dg.AssetCheckSpec(
                FILES_READABLE, asset=raw_key, description="当天报送的每个文件都能读取（不阻断：退回的文件记入台账）"
            )
        ],
    )
    @in_words
    @one_writer(key)
    def raw(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, intake_lock: StateLockResource
    ) -> dg.MaterializeResult:
        result = read.run(gongshi.settings(), dataset, context.partition_key, _read_in_run(context, later))
        return dg.MaterializeResult(
            metadata=metadata(result.metadata()),
            check_results=[
                dg.AssetCheckResult(
                    check_name=FILES_READABLE,
                    passed=not result.rejections,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"rejected": dg.MetadataValue.json(result.rejections)},
                )
            ],
        )

    @dg.asset(
        key=validated_key,
        deps=[raw_key],
        group_name=key,
        partitions_def=partitions,
        op_tags=tags,
        kinds={"python", "parquet"},
        description=f"{dataset.title}：按 Table Schema 和领域规则校验；不合格行连同全部原因进入隔离区，"
        "并为每个报送部门生成可用 Excel 打开的退回报告。",
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_RECONCILE,
                asset=validated_key,
                blocking=True,
                description="每个文件：读入行数 = 接受 + 隔离；每个退回文件都有原因",
            )
        ],
    )
    @in_words
    @one_writer(key)
    def validated(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, intake_lock: StateLockResource
    ) -> dg.MaterializeResult:
        result = validate.run(gongshi.settings(), dataset, context.partition_key)
        return dg.MaterializeResult(
            metadata=metadata(result.metadata()),
            check_results=[
                dg.AssetCheckResult(
                    check_name=ROWS_RECONCILE,
                    passed=not result.problems,
                    metadata={"problems": dg.MetadataValue.json(result.problems)},
                )
            ],
        )

    @dg.asset(
        key=register_key,
        deps=[validated_key],
        group_name=key,
        partitions_def=partitions,
        op_tags=tags,
        kinds={"duckdb"},
        description=f"{dataset.title}：把当天接受的行并入记录登记簿（列入、更正、移出、公示期满，及其来源报送）。",
        check_specs=[
            dg.AssetCheckSpec(
                REGISTER_MATCHES_ACCEPTED,
                asset=register_key,
                blocking=True,
                description="登记簿中当天的事件数 = 当天接受的行数",
            )
        ],
    )
    @in_words
    @one_writer(key)
    def register_(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, intake_lock: StateLockResource
    ) -> dg.MaterializeResult:
        result = register.run(gongshi.settings(), dataset, context.partition_key)
        return dg.MaterializeResult(
            metadata=metadata(result.metadata()),
            check_results=[
                dg.AssetCheckResult(
                    check_name=REGISTER_MATCHES_ACCEPTED,
                    passed=not result.problems,
                    metadata={"registered": result.registered, "problems": dg.MetadataValue.json(result.problems)},
                )
            ],
        )

    @dg.asset(
        key=redacted_key,
        deps=[register_key],
        group_name=key,
        partitions_def=partitions,
        op_tags=redaction_tags,
        kinds={"parquet"},
        description=f"{dataset.title}：发布日可公开的记录（公示期内、未撤下），按 dataset.yaml 的隐私分类逐列处理"
        "（删除、遮盖、化名、概化），并扫描公开文本中的身份证号、手机号、银行卡号和个人邮箱。",
    )
    @in_words
    @one_writer(key)
    def redacted(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, intake_lock: StateLockResource
    ) -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata=metadata(redact.run(gongshi.settings(), dataset, context.partition_key).metadata())
        )

    return [raw, validated, register_, redacted]


def _read_in_run(context: dg.AssetExecutionContext, datasets: Sequence[Dataset]) -> list[Dataset]:
    """Those of `datasets` whose files the run reads too (its selection; a run of a whole job, as
    `execute_in_process` launches it, records none: every asset); none for an asset called on its
    own, outside a run."""
    if not datasets:
        return []
    try:
        selected = context.dagster_run.asset_selection
    except dg.DagsterInvalidPropertyError:
        return []
    return [d for d in datasets if not selected or dg.AssetKey([d.id, RAW]) in selected]
