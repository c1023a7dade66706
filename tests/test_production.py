"""Running as a service: the Dagster instance in the real PostgreSQL on 127.0.0.1:5432 (a database of
its own per test), read back through Dagster's API."""

from __future__ import annotations

import os
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
