"""The daily job, its schedule, the sensor that notices new or changed delivery folders (and decisions
waiting to be applied), and the pull job chained to the publication."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from assets.partitions import TIMEZONE
from assets.resources import GongshiResource
from gongshi import alerts, inbox, ledger, snapshots
from gongshi.faults import step_error_text
from gongshi.stages import takedowns

DAILY_JOB = "daily_publish"
PULL_JOB = "pull_sources"
PULL = "pull"
STAGE_TAG = "gongshi/stage"
# Every run that writes the state directory: the instance's run queue lets one such run at a time start
# (dagster.yaml: concurrency.runs.tag_concurrency_limits), whoever asked for it.
STATE_TAG = {"gongshi/state": "writes"}


def automation(partitions: dg.PartitionsDefinition, pulls: bool, at: str = "06:30") -> dict:
    """Jobs, schedules and sensors. With pulled sources the schedule pulls, and the publication follows
    the pulls whether every source answered or not; without, the schedule publishes. `at`: the
    schedule's time of day (HH:MM, Beijing time), for the day that just ended."""
    hour, minute = (int(part) for part in at.split(":"))
    daily_job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.tag(STAGE_TAG, PULL),
        partitions_def=partitions,
        tags=STATE_TAG,
        description="处理一天的报送：读取、校验、登记、对账、脱敏、构建发布、检查、上线。",
    )
    sensor = _inbox_sensor(daily_job, partitions)
    watchers = [_failure_alerts(), _deadline_alerts()]
    if not pulls:
        # in the partitions' timezone (Shanghai), for the day that just ended: departments deliver all day.
        schedule = _day_before(daily_job, hour, minute, f"每天 {at}（北京时间）处理前一天的报送。")
        return {"jobs": [daily_job], "schedules": [schedule], "sensors": [sensor, *watchers]}
    pull_job = dg.define_asset_job(
        PULL_JOB,
        selection=dg.AssetSelection.tag(STAGE_TAG, PULL),
        partitions_def=partitions,
        tags=STATE_TAG,
        description="从各部门的前置库和接口增量拉取当天的数据（每个来源一个资产，互不影响）。",
    )
    pull_schedule = _day_before(
        pull_job, hour, minute, f"每天 {at}（北京时间）从前置库和接口拉取前一天的数据，结束后自动发布。"
    )

    def publish_after_pull(context: dg.RunStatusSensorContext):
        day = context.dagster_run.tags.get("dagster/partition")
        if day:
            yield dg.RunRequest(run_key=f"after-pull:{context.dagster_run.run_id}", partition_key=day)

    after_success = dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[pull_job],
        request_job=daily_job,
        name="publish_after_pull",
        description="拉取成功后发布当天的数据。",
    )(publish_after_pull)
    after_failure = dg.run_failure_sensor(
        monitored_jobs=[pull_job],
        request_job=daily_job,
        name="publish_after_failed_pull",
        description="有来源拉取失败时，其余来源和数据集照常发布（失败记入台账）。",
    )(publish_after_pull)
    return {
        "jobs": [daily_job, pull_job],
        "schedules": [pull_schedule],
        "sensors": [sensor, after_success, after_failure, *watchers],
    }


def _day_before(job, hour: int, minute: int, description: str) -> dg.ScheduleDefinition:
    """A run of `job` every day at hour:minute in Shanghai for the day before: the partitions reach
    one day ahead (a folder that lands today can run today), so the newest partition at 06:30 is
    today's, which departments have only begun to deliver."""

    @dg.schedule(
        job=job,
        name=f"{job.name}_schedule",
        cron_schedule=f"{minute} {hour} * * *",
        execution_timezone=TIMEZONE,
        description=description,
    )
    def every_day(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time
        local = when.astimezone(ZoneInfo(TIMEZONE)) if when is not None else dt.datetime.now(ZoneInfo(TIMEZONE))
        day = (local.date() - dt.timedelta(days=1)).isoformat()
        return dg.RunRequest(run_key=day, partition_key=day)

    return every_day


def _inbox_sensor(daily_job, partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        job=daily_job,
        minimum_interval_seconds=60,
        description="收件箱中出现新的报送日期文件夹，或已处理日期的文件有变化时，立即处理该日期；"
        "撤下或恢复决定尚未生效时，重新发布最新一天。",
    )
    def inbox_sensor(context: dg.SensorEvaluationContext, gongshi: GongshiResource):
        settings = gongshi.settings()
        catalog = settings.catalog()
        valid_keys = set(partitions.get_partition_keys())
        requests = []
        for day in inbox.pending_days(settings, list(catalog)):
            if day not in valid_keys:
                context.log.warning(f"delivery folder {day} is outside the partitions; skipped")
                continue
            day_fingerprint = "".join(
                inbox.fingerprint(inbox.delivery_files(settings.inbox, name, day)) for name in catalog
            )
            requests.append(dg.RunRequest(run_key=f"{day}:{day_fingerprint[:24]}", partition_key=day))
        waiting = takedowns.unapplied_takedowns(settings, catalog) + takedowns.unapplied_lifts(settings, catalog)
        published = snapshots.published_days(settings.layout)
        if not requests and waiting and published:
            day = max(published)
            requests.append(dg.RunRequest(run_key=f"takedown:{day}:{','.join(waiting)}"[:200], partition_key=day))
        return requests or dg.SkipReason("no new or changed delivery folders, no takedown waiting")

    return inbox_sensor


def _failure_alerts() -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="alert_on_failure",
        description="运行失败（含阻断检查未通过）时发送告警：webhook（GONGSHI_ALERT_WEBHOOK）和/或邮件（SMTP 设置）。"
        "`gongshi publish` 自己发送它的告警，此处不再重复。",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def alert_on_failure(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        if run.tags.get("gongshi/trigger") == "cli" or not alerts.configured():
            return
        day = run.tags.get("dagster/partition", "")
        failures = [e.step_failure_data.error for e in context.get_step_failure_events() if e.step_failure_data]
        blocked = any(error is not None and error.cls_name == "DagsterAssetCheckFailedError" for error in failures)
        steps = [step_error_text(error) for error in failures if error is not None]
        reason = "；".join(steps) or context.failure_event.message or "运行失败"
        alert = alerts.Alert("check_blocked" if blocked else "run_failed", day, reason[:2000], run_id=run.run_id)
        context.log.info(f"告警已发送：{alerts.send(alert)}")

    return alert_on_failure


def _deadline_alerts() -> dg.SensorDefinition:
    @dg.sensor(
        name="alert_when_not_published",
        minimum_interval_seconds=300,
        description="到 GONGSHI_PUBLISH_BY（北京时间，默认 09:00）前一天的报送仍未上线时发送告警（每天一次）。",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def alert_when_not_published(context: dg.SensorEvaluationContext, gongshi: GongshiResource):
        settings = gongshi.settings()
        live = set(snapshots.published_days(settings.layout))
        live |= {
            d
            for d in inbox.inbox_days(settings.inbox, list(settings.catalog()))
            if ledger.published_in(settings.layout, d)
        }
        day = alerts.overdue_day(dt.datetime.now(dt.UTC), live)
        if day is None or context.cursor == day or not alerts.configured():
            return dg.SkipReason("nothing overdue, or already said")
        alerts.send(
            alerts.Alert("not_published", day, f"到 {alerts.deadline()} 仍未发布 {day} 的报送（请查看最近的运行）")
        )
        context.update_cursor(day)
        return dg.SkipReason(f"alerted: {day} not published")

    return alert_when_not_published
