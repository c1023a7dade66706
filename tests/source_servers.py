"""Test doubles that are real servers: a local HTTP API that pages, throttles and fails on cue,
and helpers that find the PostgreSQL and MariaDB test servers through environment variables."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

TOKEN = "tok-3d9f0c1b-not-in-any-log"


class Api:
    """Records served page by page; `script` is a list of what to do on the next requests, one
    item per request: "429", "500", "timeout", "garbage" (malformed JSON), or None (serve normally)."""

    def __init__(self, records: list[dict], token: str = TOKEN):
        self.records = records
        self.token = token
        self.script: list[str | None] = []
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/api/inspections"

    def __enter__(self) -> Api:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                api.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **query})
                action = api.script.pop(0) if api.script else None
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._send(401, {"error": "unauthorised"})
                if action == "429":
                    return self._send(429, {"error": "slow down"}, {"Retry-After": "0"})
                if action == "500":
                    return self._send(500, {"error": "boom"})
                if action == "timeout":
                    time.sleep(1.5)
                    return self._send(200, {"data": {"items": []}})
                if action == "garbage":
                    return self._send_raw(200, b'{"data": {"items": [{"task": ')
                since = query.get("updated_since")
                rows = [r for r in api.records if since is None or r["updated_at"] >= since]
                rows.sort(key=lambda r: (r["updated_at"], r["任务编号"]))
                page, size = int(query.get("page", 1)), int(query.get("size", 100))
                chunk = rows[(page - 1) * size : page * size]
                return self._send(200, {"data": {"items": chunk}, "total": len(rows)})

            def _send(self, status, payload, headers=None):
                self._send_raw(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers)

            def _send_raw(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def server_url(variable: str, default: str) -> str:
    """A test database URL from the environment; unreachable skips locally, fails under CI=true."""
    import sqlalchemy as sa

    url = os.environ.get(variable, default)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 5}, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as error:  # any failure to reach it
        message = (
            f"{variable} ({sa.engine.make_url(url).render_as_string(hide_password=True)}) unreachable: "
            f"{type(error).__name__}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url
