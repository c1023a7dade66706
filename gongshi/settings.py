"""What one installation is: where deliveries arrive, where private state lives, where the public site
goes, and how it behaves. This module is the one place the environment is read, and only when
`Settings.from_environment` (or `secret`) is called — never at import. The command line, the Dagster
code location and the tests all build their settings here; every default is written once, below.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from gongshi import parts
from gongshi.paths import DATASETS_DIR, DEMO_INBOX, PublicLayout, StateLayout


@dataclass(frozen=True)
class ReadLimits:
    """What reading one delivered file may cost (it is read in a worker process under these)."""

    memory_mb: int = 8192  # address space of the worker (Arrow and calamine reserve generously)
    cpu_seconds: int = 600
    wall_seconds: float = 900


@dataclass(frozen=True)
class Settings:
    """One installation's settings."""

    inbox: Path = DEMO_INBOX
    public: Path = Path("public")
    state: Path = Path("state")
    keep_releases: int = 30
    # The public address of the web root: absolute links in DCAT, schema.org, feeds and sitemaps.
    base_url: str = "http://localhost:8000/"
    # A dataset with more public records than this is published in parts, one per first-published
    # day (gongshi/parts.py), so that a day rewrites only the parts it changed.
    parts_above: int = parts.ABOVE
    # The first daily partition Dagster offers; None: the first day the inbox or the registers have
    # (`inbox.first_partition`).
    first_day: str | None = None
    datasets: Path = DATASETS_DIR
    # How Dagster runs the steps of a run it launches (the command always runs in one process):
    # in_process, multiprocess (the datasets' intake side by side) or celery (on workers, Redis as
    # broker: GONGSHI_CELERY_BROKER).
    executor: str = "in_process"
    # When the daily schedule runs (HH:MM, Beijing time), for the day that just ended.
    schedule_at: str = "06:30"
    read_limits: ReadLimits = field(default_factory=ReadLimits)
    # The operator's decision, for one run, that a registered day's vanished files are a retraction.
    retract: bool = False
    retract_reason: str | None = None

    @property
    def layout(self) -> StateLayout:
        return StateLayout(self.state)

    @property
    def public_layout(self) -> PublicLayout:
        return PublicLayout(self.public)

    def catalog(self) -> dict:
        from gongshi.catalog import load_catalog

        return load_catalog(self.datasets)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Settings from `GONGSHI_*` variables (see `ENVIRONMENT`), then `overrides` that are not None
        (a command's options). Paths are made absolute."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        for name, (variable, parse) in ENVIRONMENT.items():
            if environ.get(variable):
                values[name] = parse(environ[variable])
        limits = {
            name: parse(environ[variable])
            for name, (variable, parse) in READ_LIMITS_ENVIRONMENT.items()
            if environ.get(variable)
        }
        if limits:
            values["read_limits"] = ReadLimits(**limits)
        values |= {name: value for name, value in overrides.items() if value is not None}
        settings = cls(**values)
        return replace(
            settings,
            inbox=settings.inbox.resolve(),
            public=settings.public.resolve(),
            state=settings.state.resolve(),
            datasets=settings.datasets.resolve(),
        )

    def to_environment(self) -> dict[str, str]:
        """The variables that give another process (a code location started by `dagster dev`) these
        settings."""
        environment = {
            variable: str(getattr(self, name))
            for name, (variable, _) in ENVIRONMENT.items()
            if getattr(self, name) is not None
        }
        for name, (variable, _) in READ_LIMITS_ENVIRONMENT.items():
            environment[variable] = str(getattr(self.read_limits, name))
        return environment


# Setting -> (environment variable, how its text becomes the value).
ENVIRONMENT: dict[str, tuple[str, Callable[[str], object]]] = {
    "inbox": ("GONGSHI_INBOX", Path),
    "public": ("GONGSHI_PUBLIC", Path),
    "state": ("GONGSHI_STATE", Path),
    "keep_releases": ("GONGSHI_KEEP_RELEASES", int),
    "base_url": ("GONGSHI_BASE_URL", str),
    "first_day": ("GONGSHI_FIRST_DAY", str),
    "parts_above": ("GONGSHI_PARTS_ABOVE", int),
    "datasets": ("GONGSHI_DATASETS", Path),
    "executor": ("GONGSHI_EXECUTOR", str),
    "schedule_at": ("GONGSHI_SCHEDULE_AT", str),
}
EXECUTORS = ("in_process", "multiprocess", "celery")
CELERY_BROKER = "GONGSHI_CELERY_BROKER"  # redis://host:6379/0 (a URL that may hold a password)
READ_LIMITS_ENVIRONMENT: dict[str, tuple[str, Callable[[str], object]]] = {
    "memory_mb": ("GONGSHI_READ_MEMORY_MB", int),
    "cpu_seconds": ("GONGSHI_READ_CPU_SECONDS", int),
    "wall_seconds": ("GONGSHI_READ_SECONDS", float),
}
# Secrets are never settings (they are not printed, copied or passed on): read when needed, by name.
PSEUDONYM_KEY = "GONGSHI_PSEUDONYM_KEY"
# The Dagster instance in PostgreSQL (postgresql://user:password@host:5432/database); unset: SQLite
# files under state/dagster.
DAGSTER_POSTGRES_URL = "GONGSHI_DAGSTER_POSTGRES_URL"
FAULT_AT = "GONGSHI_FAULT_AT"  # the crash-consistency test's crash points (`faults.checkpoint`)


def secret(variable: str) -> str | None:
    """The value of a secret's environment variable (a source's connection string or token, the
    pseudonymisation key), read at the moment it is needed; None when unset or empty."""
    return os.environ.get(variable) or None


def fault_point() -> str | None:
    return os.environ.get(FAULT_AT) or None


def default(name: str):
    """A setting's default, for help texts and documentation (written once, on `Settings`)."""
    (found,) = [f for f in fields(Settings) if f.name == name]
    return found.default
