"""Shared fixtures: the bundled demo deliveries are the test fixtures too (one fixture builder)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from gongshi.catalog import load_catalog
from gongshi.paths import DEMO_INBOX
from gongshi.settings import Settings

# No property test has a time limit: a test asserts what is computed, never how fast (a first
# example that imports Arrow's kernels on a busy CI machine took 533 ms against Hypothesis's 200).
hypothesis_settings.register_profile("gongshi", deadline=None)
hypothesis_settings.load_profile("gongshi")

DAY1, DAY2 = "2026-11-26", "2026-11-27"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(inbox=DEMO_INBOX, public=tmp_path / "public", state=tmp_path / "state")


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """A writable copy of the demo inbox, for tests that add or change deliveries."""
    target = tmp_path / "inbox"
    shutil.copytree(DEMO_INBOX, target)
    return target


def deliver(inbox: Path, dataset: str, day: str, name: str, content: bytes | str) -> Path:
    """Drop one file into `inbox/<dataset>/<day>/`."""
    folder = inbox / dataset / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


@pytest.fixture(autouse=True)
def fixed_pseudonym_key(monkeypatch):
    """Pseudonyms (and so every checksum of a release) are reproducible in tests."""
    monkeypatch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")


@pytest.fixture(scope="session")
def published_demo(tmp_path_factory):
    """The two demo days processed and published once for the whole session (read-only use)."""
    from gongshi.stages import run_day

    root = tmp_path_factory.mktemp("published")
    settings = Settings(inbox=DEMO_INBOX, public=root / "public", state=root / "state")
    previous = os.environ.get("GONGSHI_PSEUDONYM_KEY")
    os.environ["GONGSHI_PSEUDONYM_KEY"] = "test-key-not-secret"
    try:
        catalog = load_catalog()
        results = [run_day(settings, day, catalog) for day in (DAY1, DAY2)]
    finally:
        if previous is None:
            os.environ.pop("GONGSHI_PSEUDONYM_KEY", None)
        else:
            os.environ["GONGSHI_PSEUDONYM_KEY"] = previous
    assert all(not r.failed_checks and not r.ledger.problems for r in results), results
    return settings


POSTGRES_ADMIN = os.environ.get("GONGSHI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url():
    """A fresh database on the local PostgreSQL, dropped afterwards."""
    import psycopg

    name = f"gongshi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
