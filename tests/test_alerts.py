"""Alerts: a blocking check that stopped a publication, a failed run, a day not published by the set
hour — sent to a local webhook and a local SMTP server the tests start, without any secret in them."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from email.header import decode_header, make_header
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest

from gongshi import alerts
from gongshi.paths import DATASETS_DIR, DEMO_INBOX

from .conftest import DAY1

TOKEN = "s3cr3t-webhook-token"


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"path": self.path, "json": json.loads(body.decode("utf-8"))})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook?token={TOKEN}", _Hook.received
    finally:
        server.shutdown()


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

    import socket

    with socket.socket() as probe:  # a free port (the controller checks that it can connect to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler.messages
    finally:
        controller.stop()


def test_a_blocked_publication_alerts_by_webhook_and_mail_without_secrets(tmp_path, webhook, smtp):
    url, posts = webhook
    port, mails = smtp
    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    declared = datasets / "honour_list" / "dataset.yaml"
    declared.write_text(declared.read_text("utf-8").replace("min_records: 0", "min_records: 1000000"), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGSHI_", "DAGSTER_"))}
    env |= {
        "GONGSHI_DATASETS": str(datasets),
        "GONGSHI_PSEUDONYM_KEY": "pseudonym-key-never-shown",
        "GONGSHI_ALERT_WEBHOOK": url,
        "GONGSHI_ALERT_SMTP_HOST": "127.0.0.1",
        "GONGSHI_ALERT_SMTP_PORT": str(port),
        "GONGSHI_ALERT_SMTP_TO": "ops@example.gov.cn",
        "GONGSHI_DAGSTER_URL": "https://dagster.example.gov.cn",
    }
    command = [sys.executable, "-m", "gongshi.cli", "publish", "--inbox", str(DEMO_INBOX), "--date", DAY1]
    command += ["--state", str(tmp_path / "state"), "--public", str(tmp_path / "public")]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "已发送告警（webhook、email）" in done.stdout
    (post,) = posts
    payload = post["json"]
    assert payload["kind"] == "check_blocked" and payload["day"] == DAY1
    assert "within_bounds" in payload["reason"] and "阻断检查未通过" in payload["reason"]
    assert payload["link"].startswith("https://dagster.example.gov.cn/runs/") and payload["run_id"]
    (mail,) = mails
    subject = str(make_header(decode_header(mail["Subject"])))
    assert mail["To"] == "ops@example.gov.cn" and DAY1 in subject and "阻断检查未通过" in subject
    text = mail.get_payload(decode=True).decode("utf-8")
    assert "within_bounds" in text and payload["link"] in text
    everything = json.dumps(payload, ensure_ascii=False) + text + subject
    assert TOKEN not in everything and "pseudonym-key-never-shown" not in everything
    assert not (tmp_path / "public" / "latest").exists()  # and nothing went out


def test_secrets_never_appear_in_an_alert(monkeypatch):
    monkeypatch.setenv("GONGSHI_ALERT_SMTP_PASSWORD", "mail-password")
    monkeypatch.setenv("GONGSHI_SOURCE_AIC_DSN", "mysql://reader:db-password@10.0.0.5/aic")
    alert = alerts.Alert(
        "run_failed",
        DAY1,
        "连接失败 mysql://reader:db-password@10.0.0.5/aic；登录 mail-password 被拒；postgresql://u:other@h/db",
        "inspection_results",
        "abc123",
    )
    text = json.dumps(alert.to_json(), ensure_ascii=False) + alert.body()
    for secret in ("db-password", "mail-password", ":other@"):
        assert secret not in text
    assert "数据集：inspection_results" in alert.body() and "报送日期：2026-11-26" in alert.body()
    assert alert.link == "http://localhost:3000/runs/abc123"


def test_a_channel_that_is_down_does_not_stop_the_others(monkeypatch, smtp):
    port, mails = smtp
    monkeypatch.setenv("GONGSHI_ALERT_WEBHOOK", "http://127.0.0.1:9/nobody-listens")
    monkeypatch.setenv("GONGSHI_ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GONGSHI_ALERT_SMTP_PORT", str(port))
    monkeypatch.setenv("GONGSHI_ALERT_SMTP_TO", "ops@example.gov.cn")
    assert alerts.send(alerts.Alert("source_missing", DAY1, "1 个来源未收到", "honour_list")) == ["email"]
    assert len(mails) == 1


@pytest.mark.parametrize(
    ("now", "published", "expected"),
    [
        ("2026-11-27T00:59:00+00:00", set(), None),  # 08:59 in Shanghai: not yet
        ("2026-11-27T01:00:00+00:00", set(), DAY1),  # 09:00: the 26th should be live
        ("2026-11-27T01:00:00+00:00", {DAY1}, None),
        ("2026-11-26T20:00:00+00:00", set(), None),  # 04:00 on the 27th in Shanghai
    ],
)
def test_a_day_not_published_by_the_hour_is_overdue(now, published, expected, monkeypatch):
    monkeypatch.delenv("GONGSHI_PUBLISH_BY", raising=False)
    assert alerts.overdue_day(dt.datetime.fromisoformat(now), published) == expected


def test_the_failure_sensor_alerts_for_runs_the_command_did_not_start(monkeypatch, webhook):
    from assets.automation import _failure_alerts

    url, posts = webhook
    monkeypatch.setenv("GONGSHI_ALERT_WEBHOOK", url)

    @dg.op
    def breaks():
        raise RuntimeError("登记簿文件已损坏")

    @dg.job(tags={"dagster/partition": DAY1})
    def daily():
        breaks()

    with dg.instance_for_test() as instance:
        result = daily.execute_in_process(instance=instance, raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        _failure_alerts()(context)
    (post,) = posts
    assert post["json"]["kind"] == "run_failed" and post["json"]["day"] == DAY1
    assert "登记簿文件已损坏" in post["json"]["reason"] and post["json"]["run_id"] == result.run_id
    assert TOKEN not in json.dumps(post["json"])


def test_alert_settings_are_documented():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    for variable in (alerts.WEBHOOK, alerts.SMTP_HOST, alerts.SMTP_TO, alerts.PUBLISH_BY, alerts.DAGSTER_URL):
        assert variable in readme, variable


def test_a_source_not_received_and_a_blocked_check_make_one_alert_each():
    made = alerts.day_alerts(
        DAY1,
        "run-1",
        {"leak_gate": ["public/x.csv: line 2: mobile 139*****67"]},
        [],
        {"inspection_results": 1, "honour_list": 0},
    )
    assert [(a.kind, a.dataset) for a in made] == [("check_blocked", None), ("source_missing", "inspection_results")]
    assert "1 个来源未收到" in made[1].reason and made[1].run_id == "run-1"
    assert "leak_gate（1 项" in made[0].reason


def test_the_deadline_sensor_alerts_once_a_day(tmp_path, monkeypatch, webhook):
    from assets.automation import _deadline_alerts
    from assets.resources import resource_for
    from gongshi.settings import Settings

    url, posts = webhook
    monkeypatch.setenv("GONGSHI_ALERT_WEBHOOK", url)
    monkeypatch.setenv("GONGSHI_PUBLISH_BY", "00:00")  # any hour of today is past it
    settings = Settings(inbox=DEMO_INBOX, state=tmp_path / "state", public=tmp_path / "public")
    sensor = _deadline_alerts()
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"gongshi": resource_for(settings)})
        sensor(context)
        (post,) = posts
        yesterday = (dt.datetime.now(alerts.CHINA).date() - dt.timedelta(days=1)).isoformat()
        assert post["json"]["kind"] == "not_published" and post["json"]["day"] == yesterday
        assert "00:00" in post["json"]["reason"]
        again = dg.build_sensor_context(
            instance=instance, cursor=context.cursor, resources={"gongshi": resource_for(settings)}
        )
        sensor(again)
        assert len(posts) == 1  # said once
