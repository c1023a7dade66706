"""Pulling from departments' exchange databases (real PostgreSQL and MariaDB) and a real local HTTP
API: incremental and exactly once, killed pulls, faults contained, secrets never shown."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from gongshi import ledger, sources
from gongshi.catalog import HttpSource, Paging, SqlSource
from gongshi.ingest import pulled_files
from gongshi.register import Register
from gongshi.settings import Settings
from gongshi.stages import read, register, validate

from .source_servers import TOKEN, Api, server_url

PG_SECRET = "pg-secret-7f3a-not-in-any-log"
MY_SECRET = "my-secret-9c2e-not-in-any-log"
D1, D2, D3 = "2026-11-26", "2026-11-27", "2026-11-28"
T = dt.datetime(2026, 11, 26, 9, 0)
CODES = ["91350100M000100Y43", "91320200921B86873E", "9132110058U68U6T75", "91320900617035633R", "91320300418YH4977E"]
CHINESE = [
    "任务编号",
    "任务名称",
    "检查实施机关",
    "检查类型",
    "检查日期",
    "市场主体名称",
    "统一社会信用代码",
    "检查事项",
    "检查结果",
    "处理情况",
    "联系电话",
]
ENGLISH = {
    "task_no": "task_id",
    "task_name": "task_name",
    "authority": "inspecting_authority",
    "kind": "inspection_type",
    "inspected_on": "inspection_date",
    "entity": "entity_name",
    "uscc": "credit_code",
    "item": "inspection_item",
    "result": "result",
    "handling": "handling",
    "phone": "contact_phone",
}


def row(n: int, result: str = "未发现问题", when: dt.datetime = T) -> list:
    return [
        f"QZK{n:04d}",
        "前置库抽查",
        "南京市市场监督管理局",
        "双随机抽查",
        "2026-11-20",
        f"南京企业{n}",
        CODES[n % len(CODES)],
        "登记事项检查",
        result,
        "联系人电话13951234567",
        "13951234567",
        when,
    ]


@pytest.fixture
def settings(tmp_path) -> Settings:
    (tmp_path / "empty-inbox").mkdir()
    return Settings(inbox=tmp_path / "empty-inbox", public=tmp_path / "public", state=tmp_path / "state")


def process(settings: Settings, dataset, day: str) -> dict:
    read.run(settings, dataset, day)
    validate.run(settings, dataset, day)
    return register.run(settings, dataset, day)


# -- the two databases ----------------------------------------------------------------------------------


@pytest.fixture(params=["postgresql", "mariadb"])
def database(request):
    """(source url with a password, admin engine, table, source columns, column mapping)."""
    if request.param == "postgresql":
        admin_url = server_url("GONGSHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        # trust authentication ignores the password: it is here to prove it never shows anywhere
        url = sa.engine.make_url(admin_url).set(password=PG_SECRET).render_as_string(hide_password=False)
        columns, mapping, table = CHINESE, {}, "qzk_inspection_test"
    else:
        admin_url = server_url("GONGSHI_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
        admin = sa.create_engine(admin_url)
        with admin.begin() as connection:
            connection.execute(
                sa.text("CREATE USER IF NOT EXISTS 'gongshi_puller'@'%' IDENTIFIED BY :p"), {"p": MY_SECRET}
            )
            connection.execute(sa.text("ALTER USER 'gongshi_puller'@'%' IDENTIFIED BY :p"), {"p": MY_SECRET})
            database_name = sa.engine.make_url(admin_url).database
            connection.execute(sa.text(f"GRANT SELECT ON `{database_name}`.* TO 'gongshi_puller'@'%'"))
        url = sa.engine.make_url(admin_url).set(username="gongshi_puller", password=MY_SECRET, host="127.0.0.1")
        url = url.render_as_string(hide_password=False)
        columns, mapping, table = list(ENGLISH), ENGLISH, "qzk_inspection_test"
    engine = sa.create_engine(admin_url)
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {quote(table)}"))
        definitions = ", ".join(f"{quote(c)} VARCHAR(200)" for c in columns)
        connection.execute(sa.text(f"CREATE TABLE {quote(table)} ({definitions}, updated_at TIMESTAMP NOT NULL)"))
    yield {
        "url": url,
        "engine": engine,
        "table": table,
        "columns": columns,
        "mapping": mapping,
        "quote": quote,
        "secret": PG_SECRET if request.param == "postgresql" else MY_SECRET,
    }
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {quote(table)}"))


def insert(db, rows: list[list]) -> None:
    quote = db["quote"]
    names = ", ".join(quote(c) for c in [*db["columns"], "updated_at"])
    marks = ", ".join(f":p{i}" for i in range(len(db["columns"]) + 1))
    with db["engine"].begin() as connection:
        connection.execute(
            sa.text(f"INSERT INTO {quote(db['table'])} ({names}) VALUES ({marks})"),
            [{f"p{i}": v for i, v in enumerate(r)} for r in rows],
        )


def update(db, task: str, result: str, when: dt.datetime) -> None:
    quote = db["quote"]
    task_column, result_column = quote(db["columns"][0]), quote(db["columns"][8])
    with db["engine"].begin() as connection:
        connection.execute(
            sa.text(f"UPDATE {quote(db['table'])} SET {result_column} = :r, updated_at = :w WHERE {task_column} = :t"),
            {"r": result, "w": when, "t": task},
        )


def sql_source(db, **overrides) -> SqlSource:
    spec = {
        "type": "sql",
        "name": "frontdb",
        "department": "南京市市场监管局",
        "url_env": "GONGSHI_TEST_SOURCE_URL",
        "table": db["table"],
        "cursor": "updated_at",
        "columns": db["mapping"],
        "timeout_seconds": 5,
        **overrides,
    }
    return SqlSource(**spec)


def with_sources(dataset, *pulled):
    return dataset.model_copy(update={"sources": [*dataset.sources, *pulled]})


def test_sql_pull_is_incremental_exactly_once_and_corrections_arrive_as_corrections(
    settings, catalog, database, monkeypatch
):
    monkeypatch.setenv("GONGSHI_TEST_SOURCE_URL", database["url"])
    source = sql_source(database)
    dataset = with_sources(catalog["inspection_results"], source)
    secrets = sources.secrets_from_environment(source)
    insert(database, [row(1), row(2), row(3, when=T + dt.timedelta(hours=1))])

    first = sources.pull(settings.layout, dataset, source, D1, secrets)
    assert (first.status, first.rows) == ("pulled", 3)
    assert sources.read_watermark(settings.layout, dataset.id, "frontdb").value is None  # not yet: not registered
    assert process(settings, dataset, D1).new_records == 3
    watermark = sources.read_watermark(settings.layout, dataset.id, "frontdb")
    assert watermark.value == (T + dt.timedelta(hours=1)).isoformat() and len(watermark.at_value) == 1

    # a row arrives late at the watermark's very timestamp, a new row, and a correction of row 2
    insert(database, [row(4, when=T + dt.timedelta(hours=1)), row(5, when=T + dt.timedelta(hours=3))])
    update(database, "QZK0002", "发现问题已责令改正", T + dt.timedelta(hours=2))
    second = sources.pull(settings.layout, dataset, source, D2, secrets)
    assert second.rows == 3  # rows 4, 5 and the corrected 2; not row 3 again
    update_summary = process(settings, dataset, D2)
    assert (update_summary.new_records, update_summary.corrected) == (2, 1)

    third = sources.pull(settings.layout, dataset, source, D3, secrets)
    assert third.rows == 0
    process(settings, dataset, D3)
    with Register(settings.layout.register_path(dataset.id), dataset) as register:
        records = register.records().to_pylist()
    assert len(records) == 5
    corrected = next(r for r in records if r["task_id"] == "QZK0002")
    assert corrected["result"] == "发现问题已责令改正" and corrected["corrections"] == 1
    # the pulled file is an ordinary delivery: ledger, department and redaction as for files
    entry = ledger.read(settings.layout, D1, dataset.id)
    assert entry.files[0]["file"] == "南京市市场监管局_frontdb.json" and entry.problems() == []
    # re-running a registered day reuses its pull instead of taking tomorrow's rows
    assert sources.pull(settings.layout, dataset, source, D1, secrets).status == "reused"


def test_a_pull_killed_midway_repeats_without_gaps_or_duplicates(settings, catalog, database, tmp_path):
    insert(database, [row(n, when=T + dt.timedelta(minutes=n)) for n in range(1, 8)])
    spec = json.dumps(sql_source(database, batch_size=2).model_dump(), ensure_ascii=False)
    script = f"""
import json
from pathlib import Path
from gongshi import sources
from gongshi.catalog import SqlSource, load_catalog
from gongshi.paths import StateLayout
source = SqlSource(**json.loads({spec!r}))
dataset = load_catalog()["inspection_results"]
dataset = dataset.model_copy(update={{"sources": [*dataset.sources, source]}})
sources.pull(StateLayout(Path({str(settings.state)!r})), dataset, source, "{D1}",
             sources.secrets_from_environment(source))
"""
    env = {**os.environ, "GONGSHI_TEST_SOURCE_URL": database["url"]}
    for fault in ("pull:batch", "pull:fetched"):
        killed = subprocess.run(
            [sys.executable, "-c", script],
            env={**env, "GONGSHI_FAULT_AT": fault},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert not pulled_files(sources.pulled_dir(settings.layout, "inspection_results", D1))
    # pulled but killed before the register: the watermark did not move, so the next run takes it all again
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    source = sql_source(database, batch_size=2)
    dataset = with_sources(catalog["inspection_results"], source)
    again = sources.pull(settings.layout, dataset, source, D1, sources.Secrets(url=database["url"]))
    assert again.rows == 7
    assert process(settings, dataset, D1).new_records == 7
    with Register(settings.layout.register_path(dataset.id), dataset) as register:
        assert register.records().num_rows == 7 and register.events().num_rows == 7


def test_a_changed_source_table_fails_its_source_clearly(settings, catalog, database, monkeypatch):
    monkeypatch.setenv("GONGSHI_TEST_SOURCE_URL", database["url"])
    quote = database["quote"]
    with database["engine"].begin() as connection:
        connection.execute(sa.text(f"ALTER TABLE {quote(database['table'])} ADD COLUMN remark VARCHAR(20)"))
    insert_columns = database["columns"]
    insert(database, [row(1)]) if insert_columns else None
    source = sql_source(database)
    dataset = with_sources(catalog["inspection_results"], source)
    with pytest.raises(sources.SourceError, match=r"表结构与约定不一致.*remark") as error:
        sources.pull(settings.layout, dataset, source, D1, sources.secrets_from_environment(source))
    assert database["secret"] not in str(error.value)
    (failure,) = sources.failures(settings.layout, dataset.id, D1)
    assert "remark" in failure["cause"] and failure["source"] == "frontdb"


def test_connection_refused_is_contained_and_recorded(settings, catalog, monkeypatch, inbox):
    url = f"postgresql+psycopg://puller:{PG_SECRET}@127.0.0.1:1/test"
    monkeypatch.setenv("GONGSHI_TEST_SOURCE_URL", url)
    source = SqlSource(
        type="sql",
        name="frontdb",
        department="南京市市场监管局",
        url_env="GONGSHI_TEST_SOURCE_URL",
        table="t",
        cursor="updated_at",
        timeout_seconds=3,
    )
    dataset = with_sources(catalog["inspection_results"], source)
    settings = Settings(inbox=inbox, public=settings.public, state=settings.state)
    with pytest.raises(sources.SourceError) as error:
        sources.pull(settings.layout, dataset, source, D1, sources.secrets_from_environment(source))
    message = str(error.value)
    assert "inspection_results/frontdb" in message and "无法连接数据库" in message and PG_SECRET not in message
    # the day's folder deliveries go on; the ledger says what was not received
    process(settings, dataset, D1)
    entry = ledger.read(settings.layout, D1, dataset.id)
    assert entry.accepted == 21 and entry.sources_failed == 1 and entry.problems() == []
    failed = next(f for f in entry.files if f["status"] == "not_received")
    assert "无法连接数据库" in failed["reason"] and PG_SECRET not in json.dumps(entry.to_dict())


def test_missing_environment_variable_names_the_variable(settings, catalog, monkeypatch):
    monkeypatch.delenv("GONGSHI_TEST_SOURCE_URL", raising=False)
    source = SqlSource(
        type="sql", name="frontdb", department="局", url_env="GONGSHI_TEST_SOURCE_URL", table="t", cursor="updated_at"
    )
    with pytest.raises(sources.SourceError, match="GONGSHI_TEST_SOURCE_URL 未设置"):
        sources.pull(
            settings.layout,
            with_sources(catalog["inspection_results"], source),
            source,
            D1,
            sources.secrets_from_environment(source),
        )


# -- the HTTP API ------------------------------------------------------------------------------------------


def api_record(n: int, when: str, result: str = "未发现问题") -> dict:
    values = row(n, result)[:-1]
    return {**dict(zip(CHINESE, values, strict=True)), "updated_at": when}


def http_source(api: Api, **overrides) -> HttpSource:
    spec = {
        "type": "http",
        "name": "api",
        "department": "苏州市市场监管局",
        "url_env": "GONGSHI_TEST_API_URL",
        "token_env": "GONGSHI_TEST_API_TOKEN",
        "records_path": "data.items",
        "cursor": "updated_at",
        "since_param": "updated_since",
        "paging": Paging(style="page", size=2),
        "retries": 3,
        "backoff_seconds": 0.01,
        "timeout_seconds": 0.5,
        **overrides,
    }
    return HttpSource(**spec)


@pytest.fixture
def api(monkeypatch):
    records = [api_record(n, f"2026-11-26T09:0{n}:00") for n in range(1, 6)]
    with Api(records) as server:
        monkeypatch.setenv("GONGSHI_TEST_API_URL", server.url)
        monkeypatch.setenv("GONGSHI_TEST_API_TOKEN", TOKEN)
        yield server


def test_http_pages_throttles_and_recovers(settings, catalog, api):
    source = http_source(api)
    dataset = with_sources(catalog["inspection_results"], source)
    api.script = ["429", "500", "timeout", None]  # each retried with backoff, then served
    result = sources.pull(settings.layout, dataset, source, D1, sources.secrets_from_environment(source))
    assert (result.rows, result.pages, result.retries) == (5, 3, 3)
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in api.requests)
    assert process(settings, dataset, D1).new_records == 5
    api.records.append(api_record(6, "2026-11-27T08:00:00"))
    api.records[0] = api_record(1, "2026-11-27T09:00:00", result="发现问题已责令改正")
    second = sources.pull(settings.layout, dataset, source, D2, sources.secrets_from_environment(source))
    assert second.rows == 2 and api.requests[-1]["updated_since"] == "2026-11-26T09:05:00"
    summary = process(settings, dataset, D2)
    assert (summary.new_records, summary.corrected) == (1, 1)


@pytest.mark.parametrize(
    ("script", "cause"),
    [
        (["500"] * 4, "重试后仍返回错误"),
        (["429"] * 4, "重试后仍返回错误"),
        (["timeout"] * 4, "超时"),
        (["garbage"], "不是合法的 JSON"),
    ],
)
def test_http_faults_fail_the_source_clearly(settings, catalog, api, script, cause):
    source = http_source(api)
    dataset = with_sources(catalog["inspection_results"], source)
    api.script = script
    with pytest.raises(sources.SourceError, match=cause) as error:
        sources.pull(settings.layout, dataset, source, D1, sources.secrets_from_environment(source))
    assert "inspection_results/api" in str(error.value) and TOKEN not in str(error.value)
    assert api.url not in str(error.value)


def test_http_connection_refused(settings, catalog, monkeypatch):
    monkeypatch.setenv("GONGSHI_TEST_API_URL", "http://127.0.0.1:1/api")
    monkeypatch.setenv("GONGSHI_TEST_API_TOKEN", TOKEN)
    source = HttpSource(
        type="http",
        name="api",
        department="局",
        url_env="GONGSHI_TEST_API_URL",
        token_env="GONGSHI_TEST_API_TOKEN",
        cursor="updated_at",
        retries=1,
        backoff_seconds=0.01,
    )
    with pytest.raises(sources.SourceError, match="无法连接接口"):
        sources.pull(
            settings.layout,
            with_sources(catalog["inspection_results"], source),
            source,
            D1,
            sources.secrets_from_environment(source),
        )


# -- in Dagster: per-source assets, contained failures, no secret anywhere ------------------------------------


def test_sources_in_dagster_fail_alone_and_leave_no_secret(tmp_path, monkeypatch, api):
    import shutil

    import dagster as dg
    import yaml
    from dagster._serdes import serialize_value

    from gongshi.paths import DATASETS_DIR

    pg_admin = server_url("GONGSHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    pg_url = sa.engine.make_url(pg_admin).set(password=PG_SECRET).render_as_string(hide_password=False)
    engine = sa.create_engine(pg_admin)
    with engine.begin() as connection:
        connection.execute(sa.text('DROP TABLE IF EXISTS "qzk_dagster_test"'))
        columns = ", ".join(f'"{c}" VARCHAR(200)' for c in CHINESE)
        connection.execute(sa.text(f'CREATE TABLE "qzk_dagster_test" ({columns}, updated_at TIMESTAMP NOT NULL)'))
        marks = ", ".join(f":p{i}" for i in range(len(CHINESE) + 1))
        connection.execute(
            sa.text(f'INSERT INTO "qzk_dagster_test" VALUES ({marks})'),
            [{f"p{i}": v for i, v in enumerate(row(n))} for n in (11, 12)],
        )
    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    spec_path = datasets / "inspection_results" / "dataset.yaml"
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    spec["sources"] = [
        {"type": "folder"},
        {
            "type": "sql",
            "name": "frontdb",
            "department": "南京市市场监管局",
            "url_env": "GONGSHI_TEST_PG_URL",
            "table": "qzk_dagster_test",
            "cursor": "updated_at",
            "timeout_seconds": 5,
        },
        {
            "type": "sql",
            "name": "brokendb",
            "department": "无锡市市场监管局",
            "url_env": "GONGSHI_TEST_BROKEN_URL",
            "table": "x",
            "cursor": "updated_at",
            "timeout_seconds": 3,
        },
        {
            "type": "http",
            "name": "api",
            "department": "苏州市市场监管局",
            "url_env": "GONGSHI_TEST_API_URL",
            "token_env": "GONGSHI_TEST_API_TOKEN",
            "records_path": "data.items",
            "cursor": "updated_at",
            "paging": {"style": "page", "size": 50},
            "backoff_seconds": 0.01,
        },
    ]
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    broken_url = f"postgresql+psycopg://puller:{PG_SECRET}@127.0.0.1:1/test"
    monkeypatch.setenv("GONGSHI_TEST_PG_URL", pg_url)
    monkeypatch.setenv("GONGSHI_TEST_BROKEN_URL", broken_url)
    settings = Settings.from_environment(
        {"GONGSHI_DATASETS": str(datasets)},
        inbox=tmp_path / "inbox",
        public=tmp_path / "public",
        state=tmp_path / "state",
    )
    (tmp_path / "inbox").mkdir()

    from assets.automation import DAILY_JOB, PULL_JOB
    from assets.definitions import build_definitions

    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        pulled = defs.resolve_job_def(PULL_JOB).execute_in_process(
            partition_key=D1, instance=instance, raise_on_error=False
        )
        assert not pulled.success
        failures = [e for e in pulled.all_events if e.is_step_failure]
        (failure,) = failures
        assert failure.step_key == "inspection_results__pull__brokendb"
        assert "inspection_results/brokendb" in failure.event_specific_data.error.message
        assert "无法连接数据库" in failure.event_specific_data.error.message
        published = defs.resolve_job_def(DAILY_JOB).execute_in_process(
            partition_key=D1, instance=instance, raise_on_error=False
        )
        assert published.success
        entry = ledger.read(settings.layout, D1, "inspection_results")
        assert (entry.accepted, entry.sources_failed) == (7, 1)  # 2 from the database, 5 from the API
        logs = "".join(serialize_value(event) for run in instance.get_runs() for event in instance.all_logs(run.run_id))
    assert "inspection_results__pull__frontdb" in logs
    for secret in (PG_SECRET, TOKEN, broken_url, pg_url):
        assert secret not in logs
        for path in settings.public.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
        for path in (settings.state / "ledger").rglob("*.json"):
            assert secret not in path.read_text(encoding="utf-8")
    with engine.begin() as connection:
        connection.execute(sa.text('DROP TABLE IF EXISTS "qzk_dagster_test"'))
