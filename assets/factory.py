"""One factory builds the assets of a dataset: raw -> validated -> register, each a call into gongshi."""

import dagster as dg

from assets.checks import FILES_READABLE, REGISTER_MATCHES_ACCEPTED, ROWS_RECONCILE
from assets.partitions import daily_partitions
from assets.resources import GongshiResource, StateLockResource, in_words
from gongshi import pipeline, publishing
from gongshi.catalog import Dataset

RAW, VALIDATED, REGISTER, REDACTED = "raw", "validated", "register", "redacted"


def dataset_assets(dataset: Dataset) -> list[dg.AssetsDefinition]:
    """The three assets of `dataset`, keyed [dataset, stage], in one group named after it."""
    key = dataset.id
    raw_key, validated_key, register_key, redacted_key = (
        dg.AssetKey([key, s]) for s in (RAW, VALIDATED, REGISTER, REDACTED)
    )

    @dg.asset(
        key=raw_key,
        deps=[dg.AssetKey([key, "pull", source.name]) for source in dataset.pulled_sources],
        group_name=key,
        partitions_def=daily_partitions,
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
    def raw(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        summary = pipeline.read_stage(gongshi.settings(), dataset, context.partition_key)
        rejected = summary["rejections"]
        return dg.MaterializeResult(
            metadata={
                "files": summary["files"],
                "files_rejected": summary["files_rejected"],
                "rows_in": summary["rows_in"],
                "encodings": dg.MetadataValue.json(summary["encodings"]),
                "rejections": dg.MetadataValue.md(_bullets(rejected) or "（无）"),
                "ignored": dg.MetadataValue.md(_bullets(summary["ignored"]) or "（无）"),
                "retracted_by_operator": dg.MetadataValue.json(summary["retracted"]),
                "fingerprint": summary["fingerprint"],
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=FILES_READABLE,
                    passed=not rejected,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"rejected": dg.MetadataValue.json(rejected)},
                )
            ],
        )

    @dg.asset(
        key=validated_key,
        deps=[raw_key],
        group_name=key,
        partitions_def=daily_partitions,
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
    def validated(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        summary = pipeline.validate_stage(gongshi.settings(), dataset, context.partition_key)
        problems = summary["ledger_problems"]
        return dg.MaterializeResult(
            metadata={
                "rows_in": summary["rows_in"],
                "accepted": summary["accepted"],
                "quarantined": summary["quarantined"],
                "warnings": summary["warnings"],
                "files_rejected": summary["files_rejected"],
                "quarantine_reasons": dg.MetadataValue.json(summary["reasons"]),
                "warning_kinds": dg.MetadataValue.json(summary["warning_kinds"]),
                "department_reports": dg.MetadataValue.json(summary["reports"]),
                "quarantine_preview": dg.MetadataValue.md(summary["preview"]),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=ROWS_RECONCILE,
                    passed=not problems,
                    metadata={"problems": dg.MetadataValue.json(problems)},
                )
            ],
        )

    @dg.asset(
        key=register_key,
        deps=[validated_key],
        group_name=key,
        partitions_def=daily_partitions,
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
    def register(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        summary = pipeline.register_stage(gongshi.settings(), dataset, context.partition_key)
        problems = summary["ledger_problems"]
        return dg.MaterializeResult(
            metadata={
                "events": summary["events"],
                "new_records": summary["new_records"],
                "corrected": summary["corrected"],
                "removed": summary["removed"],
                "unmatched_removals": summary["unmatched_removals"],
                "expired": summary["expired"],
                "records_by_status": dg.MetadataValue.json(summary["by_status"]),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=REGISTER_MATCHES_ACCEPTED,
                    passed=not problems,
                    metadata={"registered": summary["registered"], "problems": dg.MetadataValue.json(problems)},
                )
            ],
        )

    @dg.asset(
        key=redacted_key,
        deps=[register_key],
        group_name=key,
        partitions_def=daily_partitions,
        kinds={"parquet"},
        description=f"{dataset.title}：当天可公开的记录（公示期内、未撤下），按 dataset.yaml 的隐私分类逐列处理"
        "（删除、遮盖、化名、概化），并扫描公开文本中的身份证号、手机号、银行卡号和个人邮箱。",
    )
    @in_words
    def redacted(
        context: dg.AssetExecutionContext, gongshi: GongshiResource, state_lock: StateLockResource
    ) -> dg.MaterializeResult:
        summary = publishing.redact_stage(gongshi.settings(), dataset, context.partition_key)
        return dg.MaterializeResult(
            metadata={
                "records": summary["records"],
                "published_records": summary["published"],
                "expired_records": summary["expired"],
                "withdrawn_records": summary["withdrawn"],
                "redaction_totals": dg.MetadataValue.json(summary["totals"]),
                "redaction_by_column": dg.MetadataValue.json(summary["columns"]),
                "pii_masked_in_text": dg.MetadataValue.json(summary["free_text"]),
            }
        )

    return [raw, validated, register, redacted]


def _bullets(mapping: dict[str, str]) -> str:
    return "\n".join(f"- **{name}**: {reason}" for name, reason in mapping.items())
