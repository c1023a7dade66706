"""The stages a day goes through, one module each, in the order data flows:

    read      every delivered file (in a contained worker) into rows, each with its file and row
    validate  Table Schema and domain rules: accepted rows, quarantine with reasons, department reports
    register  the accepted rows folded into each dataset's record register
    ledger    the day across datasets: every row accounted for
    redact    the release day's public view of the register, privacy applied
    release   every file of the release, built in the staging area
    checks    the blocking checks on the staged release, and the day's quality report
    publish   the checked release moved into public/ and switched in atomically
    takedowns withdrawn records taken out of every retained release

Each module has one entry point, `run`, returning a typed result that knows its own metadata (what
the operator sees for the step in Dagster). `run_day` runs them all without an orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Markdown:
    """A metadata value shown as formatted text."""

    text: str


@dataclass(frozen=True)
class Json:
    """A metadata value shown as structured data."""

    value: object


def bullets(mapping: dict[str, str]) -> Markdown:
    return Markdown("\n".join(f"- **{name}**: {reason}" for name, reason in mapping.items()) or "（无）")


def run_day(settings, day: str, catalog: dict | None = None):
    """Every stage of `day` without Dagster (tests, benchmarks), publishing only if every check passes."""
    from gongshi.stages import checks, ledger, publish, read, redact, register, release, takedowns, validate

    catalog = catalog or settings.catalog()
    for dataset in catalog.values():
        read.run(settings, dataset, day)
        validate.run(settings, dataset, day)
        register.run(settings, dataset, day)
    day_ledger = ledger.run(settings, catalog, day)
    for dataset in catalog.values():
        redact.run(settings, dataset, day)
    release.run(settings, catalog, day)
    verdict = checks.run(settings, catalog, day)
    if verdict.passed and not day_ledger.problems:
        published = publish.run(settings, catalog, day)
        takedowns.run(settings, catalog, skip=published.release)
    return DayOutcome(ledger.run(settings, catalog, day), verdict.failed, verdict.scan.clean)


def intake_day(settings, day: str, catalog: dict | None = None):
    """Read, validate and register every dataset of `day`, and the day's ledger (no release)."""
    from gongshi.stages import ledger, read, register, validate

    catalog = catalog or settings.catalog()
    for dataset in catalog.values():
        read.run(settings, dataset, day)
        validate.run(settings, dataset, day)
        register.run(settings, dataset, day)
    return ledger.run(settings, catalog, day)


@dataclass(frozen=True)
class DayOutcome:
    """What `run_day` did: the day's ledger, the checks that failed, whether the leak gate was clean."""

    ledger: object
    failed_checks: dict[str, list[str]]
    leak_gate_clean: bool
