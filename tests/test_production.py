"""Running as a service: the Dagster instance in the real PostgreSQL on 127.0.0.1:5432 (a database of
its own per test), read back through Dagster's API."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from gongshi.paths import DEMO_INBOX

from .conftest import DAY1

ROOT = Path(__file__).resolve().parent.parent


def test_a_day_published_by_the_command_is_in_the_postgres_instance(tmp_path, postgres_url):
    """`gongshi publish` with GONGSHI_DAGSTER_POSTGRES_URL: its run, materializations and check results
    are stored in PostgreSQL (nothing in SQLite files), and Dagster's API reads them back."""
    import psycopg

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
    env |= {"GONGSHI_DAGSTER_POSTGRES_URL": postgres_url, "GONGSHI_PSEUDONYM_KEY": "test-key-not-secret"}
    state, public = tmp_path / "state", tmp_path / "public"
    command = [sys.executable, "-m", "gongshi.cli", "publish", "--inbox", str(DEMO_INBOX)]
    command += ["--state", str(state), "--public", str(public), "--date", DAY1]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    home = state / "dagster"
    config = (home / "dagster.yaml").read_text(encoding="utf-8")
    assert "env: GONGSHI_DAGSTER_POSTGRES_URL" in config and postgres_url not in config  # the URL stays secret
    assert not list(home.rglob("*.db"))  # no SQLite run or event storage

    # as the command set it for itself: the psycopg2 driver dagster-postgres speaks through
    os.environ["GONGSHI_DAGSTER_POSTGRES_URL"] = postgres_url.replace("postgresql://", "postgresql+psycopg2://")
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            runs = instance.get_runs()
            assert [(r.status, r.tags.get("dagster/partition")) for r in runs] == [(dg.DagsterRunStatus.SUCCESS, DAY1)]
            key = dg.AssetKey(["release"])
            materialized = instance.fetch_materializations(key, limit=10).records
            assert [m.partition_key for m in materialized] == [DAY1]
            checks = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(key, "leak_gate"), limit=10
            )
            assert checks and {c.run_id for c in checks} == {runs[0].run_id}
            assert checks[0].status.value == "SUCCEEDED"  # the newest
    finally:
        del os.environ["GONGSHI_DAGSTER_POSTGRES_URL"]
    with psycopg.connect(postgres_url) as connection:
        (stored,) = connection.execute("SELECT count(*) FROM runs").fetchone()
        (events,) = connection.execute("SELECT count(*) FROM event_logs").fetchone()
    assert stored == 1 and events > 50


def _gongshi(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "gongshi.cli", *args],
        cwd=cwd,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_a_backfill_runs_its_range_in_date_order_and_resumes_where_it_stopped(tmp_path):
    from .conftest import DAY2

    where = ["--inbox", str(DEMO_INBOX), "--state", str(tmp_path / "state"), "--public", str(tmp_path / "public")]
    first = _gongshi("publish", *where, "--to", DAY1, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert f"[{DAY1}] 完成，已发布" in first.stdout and f"[{DAY2}]" not in first.stdout
    # as if the backfill of both days had stopped after the first: the same range goes on from the second
    again = _gongshi("publish", *where, "--from", DAY1, "--to", DAY2, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "1 个待处理的报送日期" in again.stdout
    assert f"[{DAY1}]" not in again.stdout and f"[{DAY2}] 完成，已发布" in again.stdout
    done = _gongshi("publish", *where, "--from", DAY1, cwd=tmp_path)
    assert done.returncode == 0 and "没有待处理的报送日期" in done.stdout
    wrong = _gongshi("publish", *where, "--from", DAY2, "--to", DAY1, cwd=tmp_path)
    assert wrong.returncode == 2 and "晚于" in wrong.stderr


def test_the_daily_partitions_start_at_the_first_day_delivered(tmp_path):
    from assets.automation import DAILY_JOB
    from assets.definitions import build_definitions
    from gongshi.settings import Settings

    settings = Settings(inbox=DEMO_INBOX, state=tmp_path / "state", public=tmp_path / "public")
    keys = build_definitions(settings).resolve_job_def(DAILY_JOB).partitions_def.get_partition_keys()
    assert keys[0] == DAY1  # the demo inbox's first day, not a fixed date years before
    fixed = Settings(inbox=DEMO_INBOX, state=tmp_path / "s", public=tmp_path / "p", first_day="2026-11-01")
    assert build_definitions(fixed).resolve_job_def(DAILY_JOB).partitions_def.get_partition_keys()[0] == "2026-11-01"
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = Settings(inbox=empty, state=tmp_path / "s2", public=tmp_path / "p2")
    a_year = build_definitions(nothing).resolve_job_def(DAILY_JOB).partitions_def.get_partition_keys()
    assert 366 <= len(a_year) <= 368  # nothing delivered yet: a year back to today (and tomorrow)


def daily_job():
    """The daily job as a code location builds it from the environment's settings (for
    `dg.reconstructable`: worker processes build it again from here)."""
    from assets.automation import DAILY_JOB
    from assets.definitions import build_definitions

    return build_definitions().resolve_job_def(DAILY_JOB)


def daily_job_on_celery():
    """`daily_job` again: Dagster keeps a reconstructed job (with the resources' settings) for the
    life of the process, by the function's name, and each test has a state directory of its own."""
    return daily_job()


def _step_events(instance, run_id: str) -> dict[str, dict[str, float | int]]:
    """step key -> start and end time and the process it ran in."""
    steps: dict[str, dict] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            steps.setdefault(event.step_key, {})["start"] = record.timestamp
            steps[event.step_key]["pid"] = event.pid
        elif event.event_type_value in {"STEP_SUCCESS", "STEP_FAILURE"}:
            steps.setdefault(event.step_key, {})["end"] = record.timestamp
    return steps


def _settings_env(monkeypatch, tmp_path: Path, executor: str) -> Path:
    public = tmp_path / "public"
    monkeypatch.setenv("GONGSHI_INBOX", str(DEMO_INBOX))
    monkeypatch.setenv("GONGSHI_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("GONGSHI_PUBLIC", str(public))
    monkeypatch.setenv("GONGSHI_EXECUTOR", executor)
    monkeypatch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")  # as the published demo's
    return public


def _same_tables_as(published_demo, public: Path) -> None:
    import pyarrow.parquet as pq

    from gongshi.catalog import load_catalog

    for name in load_catalog():
        mine = pq.read_table(public / "latest" / "datasets" / name / f"{name}.parquet")
        clean = pq.read_table(published_demo.public / "latest" / "datasets" / name / f"{name}.parquet")
        assert mine.equals(clean), name


@pytest.mark.slow
def test_the_intake_steps_run_in_worker_processes_and_give_what_one_process_gives(
    tmp_path, monkeypatch, published_demo
):
    from .conftest import DAY2

    public = _settings_env(monkeypatch, tmp_path, "multiprocess")
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        for day in (DAY1, DAY2):
            result = dg.execute_job(dg.reconstructable(daily_job), instance=instance, tags={"dagster/partition": day})
            assert result.success, day
            steps = _step_events(instance, result.run_id)
            intake = {
                k: v for k, v in steps.items() if k.split("__")[-1] in {"raw", "validated", "register", "redacted"}
            }
            assert len(intake) == 16  # four datasets, four steps each
            assert len({v["pid"] for v in steps.values()}) == len(steps)  # each step in a process of its own
            release = steps["release"]
            assert all(v["end"] <= release["start"] for v in intake.values())  # the release waits for all
    _same_tables_as(published_demo, public)


@pytest.mark.slow
def test_steps_run_on_celery_workers_with_redis_as_broker(tmp_path, monkeypatch, published_demo):
    """dagster-celery with the Redis on 127.0.0.1:6379 (a database of its own): two workers the test
    starts take the steps; the published tables are those of a run in one process."""
    import random
    import signal
    import time

    import redis
    from celery import Celery

    from .conftest import DAY2

    broker = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
    redis.Redis.from_url(broker).flushdb()
    public = _settings_env(monkeypatch, tmp_path, "celery")
    monkeypatch.setenv("GONGSHI_CELERY_BROKER", broker)
    home = tmp_path / "dagster"
    home.mkdir()
    bin_dir = Path(sys.executable).parent  # dagster-celery starts `celery` by name
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [str(bin_dir / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
    command += ["-y", str(ROOT / "deploy" / "celery.yaml")]
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]

    def said() -> str:
        return "\n".join(log.read_text("utf-8", errors="replace")[-2000:] for log in logs)

    with dg.instance_for_test(temp_dir=str(home)) as instance:
        workers = [
            subprocess.Popen(
                [*command, "-n", f"gongshi-test-{n}", "--", "--pool=solo"],
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for n, log in zip((1, 2), logs, strict=True)
        ]
        try:
            deadline, answered = time.monotonic() + 90, []
            while time.monotonic() < deadline and len(answered) < 2:
                assert all(w.poll() is None for w in workers), said()
                answered = Celery(broker=broker).control.ping(timeout=1.0)
            assert len(answered) == 2, said()
            for day in (DAY1, DAY2):
                job = dg.reconstructable(daily_job_on_celery)
                result = dg.execute_job(job, instance=instance, tags={"dagster/partition": day})
                assert result.success, (day, said())
                steps = _step_events(instance, result.run_id)
                assert len(steps) == 19  # 16 intake steps, ledger, release, published
                assert os.getpid() not in {v["pid"] for v in steps.values()}
                assert len({v["pid"] for v in steps.values()}) >= 2  # both workers took steps
                assert all(v["end"] <= steps["release"]["start"] for k, v in steps.items() if "__" in k)
        finally:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
            redis.Redis.from_url(broker).flushdb()
    _same_tables_as(published_demo, public)


@pytest.mark.slow
def test_runs_from_the_schedule_the_sensor_a_backfill_and_by_hand_wait_in_the_queue(
    tmp_path, postgres_url, published_demo
):
    """The daemon on a PostgreSQL instance with the run queue gongshi's dagster.yaml sets: a run started
    by hand, a backfill, the inbox sensor's runs and the schedule's (set to tick a minute or two from
    now), asked for together, run one after another, and what they publish is what a clean run
    publishes."""
    import datetime as dt
    import json
    import time

    from gongshi.cli import prepare_instance
    from gongshi.settings import Settings

    from .conftest import DAY2

    state, public = tmp_path / "state", tmp_path / "public"
    url = postgres_url.replace("postgresql://", "postgresql+psycopg2://")
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    # two minutes or more ahead: a schedule started after its tick time never runs that tick, and
    # starting the daemon and four commands takes a minute when the other tests share the cores
    tick = (now + dt.timedelta(minutes=3 if now.second > 30 else 2)).replace(second=0, microsecond=0)
    saved = {k: os.environ.get(k) for k in ("GONGSHI_DAGSTER_POSTGRES_URL", "DAGSTER_HOME")}
    os.environ["GONGSHI_DAGSTER_POSTGRES_URL"] = url
    try:
        home = prepare_instance(Settings(inbox=DEMO_INBOX, state=state, public=public))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
        env |= Settings(inbox=DEMO_INBOX, state=state, public=public).to_environment()
        env |= {
            "DAGSTER_HOME": str(home),
            "GONGSHI_DAGSTER_POSTGRES_URL": url,
            "GONGSHI_PSEUDONYM_KEY": "test-key-not-secret",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "GONGSHI_SCHEDULE_AT": tick.strftime("%H:%M"),
        }
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    bin_dir = Path(sys.executable).parent
    workspace = ["-w", str(ROOT / "workspace.yaml")]

    def dagster(*args: str) -> None:
        done = subprocess.run(
            [str(bin_dir / "dagster"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    log = (tmp_path / "daemon.log").open("wb")
    # in a process group of its own: the code servers it starts go with it (a terminated daemon left
    # its gRPC code server running, an orphan, after the test)
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", *workspace],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        dagster("schedule", "start", "daily_publish_schedule", *workspace)  # first: its tick is the nearest
        dagster("job", "launch", *workspace, "-j", "daily_publish", "--tags", json.dumps({"dagster/partition": DAY2}))
        dagster("job", "backfill", *workspace, "-j", "daily_publish", "--partitions", DAY1, "--noprompt")
        dagster("sensor", "start", "inbox_sensor", *workspace)
        os.environ["GONGSHI_DAGSTER_POSTGRES_URL"] = url
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    records = instance.get_run_records()
                    sources = {r.dagster_run.tags.get("dagster/sensor_name") for r in records}
                    sources |= {r.dagster_run.tags.get("dagster/schedule_name") for r in records}
                    finished = all(r.dagster_run.is_finished for r in records)
                    if finished and {"inbox_sensor", "daily_publish_schedule"} <= sources and len(records) >= 4:
                        break
                    assert daemon.poll() is None, (tmp_path / "daemon.log").read_text("utf-8")[-3000:]
                    time.sleep(2)
                records = sorted(instance.get_run_records(), key=lambda r: r.start_time or 0)
        finally:
            os.environ.pop("GONGSHI_DAGSTER_POSTGRES_URL", None)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):  # whatever of the group is still there
                os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    runs = [r.dagster_run for r in records]
    assert len(runs) >= 3
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), [(r.run_id, r.status) for r in runs]
    assert all(run.tags.get("gongshi/state") == "writes" for run in runs)
    assert any("dagster/backfill" in run.tags for run in runs)
    assert any(run.tags.get("dagster/sensor_name") == "inbox_sensor" for run in runs)
    scheduled = [run for run in runs if run.tags.get("dagster/schedule_name") == "daily_publish_schedule"]
    assert [run.tags["dagster/partition"] for run in scheduled] == [(tick.date() - dt.timedelta(days=1)).isoformat()]
    for earlier, later in itertools.pairwise(records):
        assert earlier.end_time <= later.start_time  # one after another, never two at once
    _same_tables_as(published_demo, public)


def test_the_schedule_runs_the_day_that_just_ended(tmp_path):
    """At 06:30 in Shanghai the newest partition is today's (they reach a day ahead): the schedule asks
    for yesterday's, the day departments finished delivering."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from assets.definitions import build_definitions
    from gongshi.settings import Settings

    settings = Settings(inbox=DEMO_INBOX, state=tmp_path / "state", public=tmp_path / "public", schedule_at="05:45")
    definitions = build_definitions(settings)
    schedule = definitions.resolve_schedule_def("daily_publish_schedule")
    assert schedule.cron_schedule == "45 5 * * *" and schedule.execution_timezone == "Asia/Shanghai"
    when = dt.datetime(2026, 11, 27, 5, 45, tzinfo=ZoneInfo("Asia/Shanghai"))
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=when, repository_def=definitions.get_repository_def()
        )
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == DAY1
