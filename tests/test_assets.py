"""The Dagster layer: one asset via build_asset_context, the whole graph in-process into tmp_path,
blocking checks that stop the day, the sensor and schedule, and `dagster definitions validate`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.automation import DAILY_JOB
from assets.checks import (
    DAY_RECONCILES,
    LEAK_GATE,
    PACKAGE_VALID,
    REGISTER_MATCHES_ACCEPTED,
    RELEASE_RECONCILES,
    ROWS_RECONCILE,
    WITHIN_BOUNDS,
)
from assets.definitions import build_definitions
from assets.factory import dataset_assets
from assets.partitions import daily_partitions
from assets.resources import StateLockResource, resource_for
from gongshi import ledger
from gongshi.inbox import first_partition

from .conftest import DAY1, DAY2

ROOT = Path(__file__).resolve().parent.parent


def _run(settings, day):
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    return job.execute_in_process(partition_key=day, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _metadata(result, *key):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(list(key))]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_one_asset_with_build_asset_context(settings, catalog):
    first = first_partition(settings, list(catalog))
    raw = dataset_assets(catalog["approval_item_changes"], daily_partitions(first))[0]
    resources = {
        "gongshi": resource_for(settings),
        "intake_lock": StateLockResource(state=str(settings.state), shared=True),
    }
    with dg.build_asset_context(partition_key=DAY2, resources=resources) as context:
        result = raw(context)
    assert result.metadata["files_rejected"] == 1 and result.metadata["rows_in"] == 0
    (check,) = result.check_results
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_the_graph_in_process_for_both_sample_days(settings):
    first = _run(settings, DAY1)
    assert first.success
    validated = _metadata(first, "inspection_results", "validated")
    assert (validated["rows_in"], validated["accepted"], validated["quarantined"]) == (24, 21, 3)
    assert validated["quarantine_reasons"] == {"credit_code_check": 1, "date_invalid": 1, "required": 1}
    assert "2026/13/01" in validated["quarantine_preview"]
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks[ROWS_RECONCILE] and checks[REGISTER_MATCHES_ACCEPTED] and checks[DAY_RECONCILES]
    assert _metadata(first, "ledger")["accepted"] == 44
    second = _run(settings, DAY2)
    assert second.success
    register = _metadata(second, "blacklist_entries", "register")
    assert (register["removed"], register["new_records"]) == (1, 1)
    assert register["records_by_status"] == {"active": 16, "removed": 1}
    raw = _metadata(second, "approval_item_changes", "raw")
    assert "省审改办_审批事项调整.json" in raw["rejections"]
    release = _metadata(second, "release")
    assert release["files"] > 100  # 3 datasets x 4 formats, SQLite, changes, metadata, and the site's pages
    assert release["pages_rendered"] > 20 and release["pages_unchanged"] > 20  # day 2 reuses day 1's pages
    assert release["reused_unchanged"] == ["approval_item_changes"]  # its day-2 file was rejected
    assert release["changes"]["blacklist_entries"] == {"added": 1, "removed": 1}
    checks = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert checks[LEAK_GATE] and checks[PACKAGE_VALID] and checks[RELEASE_RECONCILES] and checks[WITHIN_BOUNDS]
    published = _metadata(second, "published")
    assert published["is_latest"] and published["retained_releases"] == [DAY1, DAY2]
    assert (settings.public / "latest" / "datasets" / "inspection_results" / "inspection_results.csv").is_file()
    assert (settings.public / "releases" / DAY1).is_symlink() and (settings.public / "releases" / DAY2).is_symlink()
    redacted = _metadata(second, "inspection_results", "redacted")
    assert redacted["pii_masked_in_text"] == {"handling": {"mobile": 8, "resident_id": 10}}
    assert redacted["redaction_by_column"]["contact_phone"] == {"dropped": 39}


def test_a_failing_blocking_check_stops_the_day(settings, monkeypatch):
    real = ledger.DatasetLedger.problems

    def broken(self):
        return ["rows in 24 != accepted 20 + quarantined 3"] if self.dataset == "inspection_results" else real(self)

    monkeypatch.setattr(ledger.DatasetLedger, "problems", broken)
    result = _run(settings, DAY1)
    assert not result.success
    materialized = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert ("inspection_results", "validated") in materialized
    assert ("inspection_results", "register") not in materialized  # blocked downstream
    assert ("ledger",) not in materialized
    assert ("published",) not in materialized and not (settings.public / "latest").exists()
    assert ("blacklist_entries", "register") in materialized  # other datasets go on


def test_a_leak_stops_publication(settings, monkeypatch):
    monkeypatch.setattr("gongshi.redaction.mask_column_by_row", lambda values, known=None: (values, {}))
    result = _run(settings, DAY1)
    assert not result.success
    gate = [e for e in result.get_asset_check_evaluations() if e.check_name == LEAK_GATE]
    assert gate and not gate[0].passed
    # in every format that carries text (CSV, JSON Lines, XLSX, Parquet, SQLite) and in the pages
    leaks = gate[0].metadata["leaks_by_kind"].value
    assert set(leaks) == {"mobile", "resident_id", "known_value"}
    assert leaks["mobile"] >= 30 and leaks["resident_id"] >= 25
    # the hidden-value net finds the same numbers by their digits in the Parquet tables (every published
    # cell; every other file is made from them): a regression in masking is caught twice
    problems = gate[0].metadata["problems"].value
    known = [p for p in problems if "(known_value)" in p]
    assert known and all(".parquet: column " in p for p in known)
    assert leaks["known_value"] >= 10
    assert not (settings.public / "latest").exists()  # nothing went live
    assert not list(settings.public.rglob("*.csv"))  # nor is the blocked build under public/


def test_sensor_requests_pending_days_then_skips(settings):
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"gongshi": resource_for(settings)}, definitions=defs
        )
        sensor = defs.resolve_sensor_def("inbox_sensor")
        requests = sensor(context)
        assert [r.partition_key for r in requests] == [DAY1, DAY2]
        assert requests[0].run_key.startswith(DAY1 + ":")
        for day in (DAY1, DAY2):
            assert _run(settings, day).success
        assert isinstance(sensor(context), dg.SkipReason)


def test_schedule_runs_daily_in_shanghai():
    defs = build_definitions()
    schedule = defs.resolve_schedule_def(f"{DAILY_JOB}_schedule")
    assert schedule.cron_schedule == "30 6 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert defs.resolve_job_def(DAILY_JOB).partitions_def.timezone == "Asia/Shanghai"


@pytest.mark.slow
def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_the_site_renders_in_two_processes_inside_a_dagster_run(settings, monkeypatch):
    """A release large enough renders its site in a forked process: inside a Dagster run (its threads,
    its log handlers) that works and publishes, with every page in the manifest."""
    import json

    import gongshi.site as site

    monkeypatch.setattr(site, "PARALLEL_ABOVE", 0)
    result = _run(settings, DAY1)
    assert result.success
    manifest = json.loads((settings.public / "latest" / "manifest.json").read_text("utf-8"))["files"]
    assert "search/index.html" in manifest and any(p.startswith("entity/") for p in manifest)
    assert "sitemap.xml" in manifest


def test_a_run_takes_each_dataset_through_its_stages_and_reads_the_next_ones_ahead(settings, catalog, monkeypatch):
    """In a run (one process), a dataset's steps run before the next dataset's — its read, validation,
    registration — the redactions after them all; and its read starts reading the files of the
    datasets after it (those the run reads), which their own reads then take instead of reading
    again."""
    from gongshi.inbox import delivery_files
    from gongshi.stages import read, redact, validate

    steps, aheads, contained = [], [], []
    real_read, real_validate, real_redact = read.run, validate.run, redact.run
    real_ahead, real_contained = read.read_ahead, read.read_file_contained

    def reading(s, dataset, day, *more):
        steps.append(("read", dataset.id))
        return real_read(s, dataset, day, *more)

    def validating(s, dataset, day):
        steps.append(("validate", dataset.id))
        return real_validate(s, dataset, day)

    def redacting(s, dataset, day):
        steps.append(("redact", dataset.id))
        return real_redact(s, dataset, day)

    def reading_ahead(s, datasets, day):
        aheads.append([d.id for d in datasets])
        return real_ahead(s, datasets, day)

    def contained_read(path, dataset, limits):
        contained.append(path.name)
        return real_contained(path, dataset, limits)

    monkeypatch.setattr(read, "run", reading)
    monkeypatch.setattr(validate, "run", validating)
    monkeypatch.setattr(redact, "run", redacting)
    monkeypatch.setattr(read, "read_ahead", reading_ahead)
    monkeypatch.setattr(read, "read_file_contained", contained_read)

    assert _run(settings, DAY1).success
    ids = list(catalog)
    # each dataset read and validated before the next; the redactions once every dataset is in
    assert steps == [(n, i) for i in ids for n in ("read", "validate")] + [("redact", i) for i in ids]
    assert aheads == [ids[n + 1 :] for n in range(len(ids))]
    delivered = [p.name for i in ids for p in delivery_files(settings.inbox, i, DAY1)]
    assert sorted(contained) == sorted(delivered)  # each delivered file read once: ahead, or by its stage
