"""The daily job, its schedule, and a sensor that notices new or changed delivery folders."""

import dagster as dg

from assets.partitions import daily_partitions
from assets.resources import GongshiResource
from gongshi import pipeline, publishing
from gongshi.ingest import delivery_files, fingerprint

DAILY_JOB = "daily_publish"

daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="处理一天的报送：读取、校验、登记、对账。",
)

# 06:30 in the partitions' timezone (Shanghai), for the day that just ended: departments deliver all day.
daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=6,
    minute_of_hour=30,
    description="每天 06:30（北京时间）处理前一天的报送。",
)


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
    waiting = publishing.unapplied_takedowns(settings, catalog)
    if not requests and waiting and publishing.published_days(settings):
        day = max(publishing.published_days(settings))
        requests.append(dg.RunRequest(run_key=f"takedown:{day}:{','.join(waiting)}"[:200], partition_key=day))
    return requests or dg.SkipReason("no new or changed delivery folders, no takedown waiting")
