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


def run_day(settings, day: str, catalog: dict | None = None, call=None):
    """Every stage of `day` without Dagster (tests, benchmarks), publishing only if every check passes.
    `call(name, run, *arguments)`, if given, runs each stage (a benchmark times them)."""
    from gongshi.stages import checks, ledger, publish, redact, release, takedowns

    call = call or _call
    catalog = catalog or settings.catalog()
    day_ledger = intake_day(settings, day, catalog, call)
    for dataset in catalog.values():
        call("redact", redact.run, settings, dataset, day)
    call("release", release.run, settings, catalog, day)
    verdict = call("checks", checks.run, settings, catalog, day)
    if verdict.passed and not day_ledger.problems:
        published = call("publish", publish.run, settings, catalog, day)
        call("takedowns", takedowns.run, settings, catalog, published.release)
    return DayOutcome(ledger.run(settings, catalog, day), verdict.failed, verdict.scan.clean)


def intake_day(settings, day: str, catalog: dict | None = None, call=None):
    """Read, validate and register every dataset of `day`, and the day's ledger (no release)."""
    from gongshi.stages import ledger, read, register, validate

    call = call or _call
    catalog = catalog or settings.catalog()
    datasets = list(catalog.values())
    for index, dataset in enumerate(datasets):
        call("read", read.run, settings, dataset, day, datasets[index + 1 :])  # the rest read ahead
        call("validate", validate.run, settings, dataset, day)
        call("register", register.run, settings, dataset, day)
    return call("ledger", ledger.run, settings, catalog, day)


def _call(name: str, run, *arguments):
    return run(*arguments)


@dataclass(frozen=True)
class DayOutcome:
    """What `run_day` did: the day's ledger, the checks that failed, whether the leak gate was clean."""

    ledger: object
    failed_checks: dict[str, list[str]]
    leak_gate_clean: bool
