"""The daily job, its schedule, and a sensor that notices new or changed delivery folders."""

import dagster as dg

from assets.partitions import daily_partitions
from assets.resources import GongshiResource
from assets.sources import PULL, STAGE_TAG
from gongshi import pipeline, publishing
from gongshi.ingest import delivery_files, fingerprint

DAILY_JOB = "daily_publish"
PULL_JOB = "pull_sources"

daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.tag(STAGE_TAG, PULL),
    partitions_def=daily_partitions,
    description="处理一天的报送：读取、校验、登记、对账、脱敏、构建发布、检查、上线。",
)
pull_job = dg.define_asset_job(
    PULL_JOB,
    selection=dg.AssetSelection.tag(STAGE_TAG, PULL),
    partitions_def=daily_partitions,
    description="从各部门的前置库和接口增量拉取当天的数据（每个来源一个资产，互不影响）。",
)

# 06:30 in the partitions' timezone (Shanghai), for the day that just ended: departments deliver all day.
daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=6,
    minute_of_hour=30,
    description="每天 06:30（北京时间）处理前一天的报送。",
)
# With pulled sources, the schedule pulls first; the publication follows when the pulls end,
# whether every source answered or not (a failed source is recorded, the rest publish).
pull_schedule = dg.build_schedule_from_partitioned_job(
    pull_job,
    hour_of_day=6,
    minute_of_hour=30,
    description="每天 06:30（北京时间）从前置库和接口拉取前一天的数据，结束后自动发布。",
)


def _publish_after_pull(context: dg.RunStatusSensorContext):
    day = context.dagster_run.tags.get("dagster/partition")
    if day:
        yield dg.RunRequest(run_key=f"after-pull:{context.dagster_run.run_id}", partition_key=day)


publish_after_pull = dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[pull_job],
    request_job=daily_job,
    name="publish_after_pull",
    description="拉取成功后发布当天的数据。",
)(_publish_after_pull)
publish_after_failed_pull = dg.run_failure_sensor(
    monitored_jobs=[pull_job],
    request_job=daily_job,
    name="publish_after_failed_pull",
    description="有来源拉取失败时，其余来源和数据集照常发布（失败记入台账）。",
)(_publish_after_pull)


@dg.sensor(
    job=daily_job,
    minimum_interval_seconds=60,
    description="收件箱中出现新的报送日期文件夹，或已处理日期的文件有变化时，立即处理该日期。",
)
def inbox_sensor(context: dg.SensorEvaluationContext, gongshi: GongshiResource):
    settings = gongshi.settings()
    catalog = gongshi.catalog()
    valid_keys = set(daily_partitions.get_partition_keys())
    requests = []
    for day in pipeline.pending_days(settings, catalog):
        if day not in valid_keys:
            context.log.warning(f"delivery folder {day} is outside the partitions; skipped")
            continue
        day_fingerprint = "".join(fingerprint(delivery_files(settings.inbox, name, day)) for name in catalog)
        requests.append(dg.RunRequest(run_key=f"{day}:{day_fingerprint[:24]}", partition_key=day))
    waiting = publishing.unapplied_takedowns(settings, catalog) + publishing.unapplied_lifts(settings, catalog)
    if not requests and waiting and publishing.published_days(settings):
        day = max(publishing.published_days(settings))
        requests.append(dg.RunRequest(run_key=f"takedown:{day}:{','.join(waiting)}"[:200], partition_key=day))
    return requests or dg.SkipReason("no new or changed delivery folders, no takedown waiting")
