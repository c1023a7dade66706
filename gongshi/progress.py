"""Progress of the long steps (rows folded, pages rendered, files scanned), for the operator.

The stages report through the `gongshi.progress` logger: plain lines — every five seconds while a
step runs, and its end with what it did and the time taken. The Dagster instance manages that
logger (`python_logs` in its dagster.yaml), so the lines are in the run's log in the UI; the
command prints them, as a tqdm bar when its output is a terminal.

    with progress.step("网站页面", total=len(pages), unit="页") as bar:
        for page in pages:
            ...
            bar.advance()
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from contextlib import contextmanager
from typing import TextIO

import pyarrow

LOGGER = logging.getLogger("gongshi.progress")
EVERY_SECONDS = 5.0


class Step:
    """One step's counter; reports when it has moved enough since the last report."""

    def __init__(self, name: str, total: int | None, unit: str):
        self.name, self.total, self.unit = name, total, unit
        self.done = 0
        self.started = self._reported_at = time.monotonic()
        self._bar = _bar(name, total, unit) if unit else None

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            return
        now = time.monotonic()
        if now - self._reported_at >= EVERY_SECONDS:
            self._reported_at = now
            LOGGER.info("%s：%s", self.name, self._count())

    def finish(self) -> None:
        seconds = time.monotonic() - self.started
        if self._bar is not None:
            self._bar.close()
        counted = f" {self._count()}" if self.unit else ""
        LOGGER.info("%s：完成%s，%.1f 秒", self.name, counted, seconds)

    def _count(self) -> str:
        total = f" / {self.total:,}" if self.total is not None else ""
        return f"{self.done:,}{total} {self.unit}"


@contextmanager
def step(name: str, total: int | None = None, unit: str = "行"):
    """Report the progress of one step (`total` if known, in `unit`s; no counts when `unit` is "")."""
    current = Step(name, total, unit)
    try:
        yield current
    finally:
        current.finish()


def stage(name: str):
    """Decorate a stage's `run(settings, dataset_or_catalog, day, …)`: a line with the time it took
    when it ends (with the dataset's id when it runs per dataset). Arrow's memory pool gives what the
    stage freed back to the system, so that stages run one after another do not add up."""

    def decorate(function):
        @functools.wraps(function)
        def run(settings, target, *args, **kwargs):
            label = f"{name} {target.id}" if hasattr(target, "id") else name
            try:
                with step(label, unit=""):
                    return function(settings, target, *args, **kwargs)
            finally:
                pyarrow.default_memory_pool().release_unused()

        return run

    return decorate


_TERMINAL: TextIO | None = None


def configure(stream: TextIO = sys.stderr) -> None:
    """Print progress to `stream` (a command's output): plain lines, or bars on a terminal."""
    global _TERMINAL
    _TERMINAL = stream if stream.isatty() else None
    if not any(getattr(h, "_gongshi", False) for h in LOGGER.handlers):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("    %(message)s"))
        handler._gongshi = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)


def configure_quiet() -> None:
    """No bars (a worker process: its parent shows the progress)."""
    global _TERMINAL
    _TERMINAL = None


def _bar(name: str, total: int | None, unit: str):
    if _TERMINAL is None:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"    {name}", unit=unit, file=_TERMINAL, leave=False, mininterval=0.5)
