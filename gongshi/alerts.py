"""Alerts for the operator: a failed run, a blocking check that stopped a publication, a source not
received, a day not published by the set hour — each sent to a webhook (JSON) and/or by e-mail, with
the day, the dataset, the reason in Chinese and a link to the run.

Settings are read from the environment when an alert is sent (`settings.secret`): the webhook URL
and the SMTP password are secrets, and no secret's value ever appears in a message — every secret
variable's value, and the password of any URL, is replaced before anything is sent.

    GONGSHI_ALERT_WEBHOOK        URL that receives a POST with the alert as JSON
    GONGSHI_ALERT_SMTP_HOST      SMTP server (port: GONGSHI_ALERT_SMTP_PORT, default 25)
    GONGSHI_ALERT_SMTP_FROM      sender address
    GONGSHI_ALERT_SMTP_TO        recipients, comma-separated
    GONGSHI_ALERT_SMTP_USER      login (with GONGSHI_ALERT_SMTP_PASSWORD), optional
    GONGSHI_ALERT_SMTP_STARTTLS  "1" to upgrade the connection with STARTTLS
    GONGSHI_DAGSTER_URL          the Dagster UI's address, for links to runs (default http://localhost:3000)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import smtplib
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage

from gongshi.settings import secret

WEBHOOK = "GONGSHI_ALERT_WEBHOOK"
SMTP_HOST, SMTP_PORT = "GONGSHI_ALERT_SMTP_HOST", "GONGSHI_ALERT_SMTP_PORT"
SMTP_FROM, SMTP_TO = "GONGSHI_ALERT_SMTP_FROM", "GONGSHI_ALERT_SMTP_TO"
SMTP_USER, SMTP_PASSWORD = "GONGSHI_ALERT_SMTP_USER", "GONGSHI_ALERT_SMTP_PASSWORD"
SMTP_STARTTLS = "GONGSHI_ALERT_SMTP_STARTTLS"
DAGSTER_URL = "GONGSHI_DAGSTER_URL"
# Variables whose values are never shown: every one an alert could meet in an error's text.
SECRET_VARIABLES = (
    WEBHOOK,
    SMTP_PASSWORD,
    "GONGSHI_PSEUDONYM_KEY",
    "GONGSHI_DAGSTER_POSTGRES_URL",
)
SECRET_PREFIXES = ("GONGSHI_SOURCE_",)  # the pulled sources' connection strings and tokens
KINDS = {
    "run_failed": "运行失败",
    "check_blocked": "阻断检查未通过，未发布",
    "source_missing": "来源未收到",
    "not_published": "到点未发布",
}
LOGGER = logging.getLogger("gongshi.alerts")
CHINA = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Alert:
    kind: str  # a key of KINDS
    day: str
    reason: str  # in Chinese, for the operator
    dataset: str | None = None
    run_id: str | None = None

    @property
    def link(self) -> str | None:
        base = (os.environ.get(DAGSTER_URL) or "http://localhost:3000").rstrip("/")
        return f"{base}/runs/{self.run_id}" if self.run_id else None

    @property
    def subject(self) -> str:
        where = f" {self.dataset}" if self.dataset else ""
        return f"[gongshi] {self.day}{where}：{KINDS.get(self.kind, self.kind)}"

    def body(self) -> str:
        lines = [
            f"报送日期：{self.day}",
            f"数据集：{self.dataset or '全部'}",
            f"情况：{KINDS.get(self.kind, self.kind)}",
            f"原因：{self.reason}",
        ]
        if self.link:
            lines.append(f"运行记录：{self.link}")
        return scrub("\n".join(lines) + "\n")

    def to_json(self) -> dict:
        payload = asdict(self) | {"title": self.subject, "link": self.link, "text": self.body()}
        return json.loads(scrub(json.dumps(payload, ensure_ascii=False)))


def scrub(text: str) -> str:
    """`text` with every secret's value and every URL's password replaced by ***."""
    values = [os.environ.get(v) for v in SECRET_VARIABLES]
    values += [v for k, v in os.environ.items() if k.startswith(SECRET_PREFIXES)]
    for value in sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, "***")
    return re.sub(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@", r"\1***@", text)


def configured() -> bool:
    return bool(secret(WEBHOOK) or (os.environ.get(SMTP_HOST) and os.environ.get(SMTP_TO)))


def send(alert: Alert) -> list[str]:
    """Send `alert` to every configured channel; the channels that took it. A channel that fails is
    logged and does not stop the others (nor the run that raised the alert)."""
    sent = []
    webhook = secret(WEBHOOK)
    if webhook:
        try:
            request = urllib.request.Request(
                webhook,
                data=json.dumps(alert.to_json(), ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            sent.append("webhook")
        except Exception as error:
            LOGGER.warning("告警未能发送到 webhook：%s", scrub(str(error)))
    host, recipients = os.environ.get(SMTP_HOST), os.environ.get(SMTP_TO)
    if host and recipients:
        try:
            message = EmailMessage()
            message["Subject"] = scrub(alert.subject)
            message["From"] = os.environ.get(SMTP_FROM) or "gongshi@localhost"
            message["To"] = recipients
            message.set_content(alert.body())
            with smtplib.SMTP(host, int(os.environ.get(SMTP_PORT) or 25), timeout=10) as smtp:
                if os.environ.get(SMTP_STARTTLS) == "1":
                    smtp.starttls()
                if os.environ.get(SMTP_USER):
                    smtp.login(os.environ[SMTP_USER], secret(SMTP_PASSWORD) or "")
                smtp.send_message(message)
            sent.append("email")
        except Exception as error:
            LOGGER.warning("告警邮件未能发送：%s", scrub(str(error)))
    return sent


PUBLISH_BY = "GONGSHI_PUBLISH_BY"  # HH:MM, China Standard Time: yesterday's deliveries live by then
DEFAULT_PUBLISH_BY = "09:00"


def deadline() -> str:
    return os.environ.get(PUBLISH_BY) or DEFAULT_PUBLISH_BY


def overdue_day(now: dt.datetime, published: set[str]) -> str | None:
    """The delivery day that should be live by `now` (China Standard Time) and is not: yesterday,
    once the hour in GONGSHI_PUBLISH_BY (default 09:00) has passed."""
    local = now.astimezone(CHINA)
    yesterday = (local.date() - dt.timedelta(days=1)).isoformat()
    if local.strftime("%H:%M") >= deadline() and yesterday not in published:
        return yesterday
    return None


def day_alerts(
    day: str,
    run_id: str | None,
    failed_checks: dict[str, list[str]],
    step_failures: list[str],
    sources_failed: dict[str, int],
) -> list[Alert]:
    """What one day's run calls for: a blocking check that stopped the publication, a step that failed,
    a pulled source that was not received."""
    alerts = []
    if failed_checks:
        reason = "；".join(
            f"{name}（{len(problems)} 项，如：{problems[0] if problems else ''}）"
            for name, problems in failed_checks.items()
        )
        alerts.append(Alert("check_blocked", day, f"阻断检查未通过，构建未上线：{reason}", run_id=run_id))
    if step_failures:
        alerts.append(Alert("run_failed", day, "步骤失败：" + "；".join(step_failures[:5]), run_id=run_id))
    for dataset, count in sorted(sources_failed.items()):
        if count:
            alerts.append(Alert("source_missing", day, f"{count} 个来源未收到（前置库或接口不可用）", dataset, run_id))
    return alerts
