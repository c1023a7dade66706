"""The checks' work on the data files begun while the site renders (`checks.begin_early`): what it
vouches for is what the checks would find clean, the checks then skip only that, and a leak in a
data file is still found by the blocking gate."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gongshi import parallel
from gongshi.leakscan import detector_version, vouch
from gongshi.settings import Settings
from gongshi.stages import checks, intake_day, redact, release
from tests.conftest import DAY1

MOBILE = "13951234567"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_vouch_yields_the_clean_files_whose_bytes_are_as_stated(tmp_path):
    (tmp_path / "clean.csv").write_text("code,name\n91320100MA1XYZ1234,苏州商贸\n", encoding="utf-8")
    (tmp_path / "leaky.csv").write_text(f"code,name\n1,联系{MOBILE}\n", encoding="utf-8")
    (tmp_path / "changed.csv").write_text("a\n1\n", encoding="utf-8")
    pq.write_table(pa.table({"handling": ["请联系 025-83456789 核实", "无"]}), tmp_path / "known.parquet")
    pq.write_table(pa.table({"handling": ["无", "已整改"]}), tmp_path / "table.parquet")
    hashes = {name: _sha256(tmp_path / name) for name in ("clean.csv", "leaky.csv", "known.parquet", "table.parquet")}
    hashes["changed.csv"] = "0" * 64  # bytes other than those stated: not vouched for
    known = pa.array(["02583456789"], pa.string())
    found = list(vouch(tmp_path, hashes, known, runs=tmp_path))
    assert found == [hashes["clean.csv"], hashes["table.parquet"]]
    assert (tmp_path / f"{hashes['table.parquet']}.parquet").is_file()  # its digit runs, kept for later days


@pytest.fixture
def early(monkeypatch):
    """The work begun early at any size, and waited for (so that what it does is the same each run)."""
    if parallel.cores() < 2:
        pytest.skip("needs two cores")
    monkeypatch.setattr(checks, "EARLY_ABOVE_ROWS", 0)
    monkeypatch.setattr(checks, "EARLY_WAIT", True)


def test_the_data_files_checked_early_are_not_read_again_by_the_gate(tmp_path, catalog, early):
    from gongshi.paths import DEMO_INBOX

    settings = Settings(inbox=DEMO_INBOX, public=tmp_path / "public", state=tmp_path / "state")
    intake_day(settings, DAY1, catalog)
    for dataset in catalog.values():
        redact.run(settings, dataset, DAY1)
    built = release.run(settings, catalog, DAY1)
    early_files = built.checked_early["gate_files"]
    data_files = [p for p in built.record.files if p.startswith(("datasets/", "changes/")) and "/index" not in p]
    assert built.checked_early["finished"] and early_files >= len(data_files) > 10
    assert built.checked_early["package_resources"] > 0 and built.checked_early["peak_mib"] > 0
    verdict = checks.run(settings, catalog, DAY1)
    assert verdict.passed, verdict.failed
    # the files vouched for early are not read again; the site's files are
    assert verdict.scan.files_passed_before >= early_files
    assert verdict.scan.files_scanned + verdict.scan.files_passed_before >= len(built.record.files)
    assert not list(settings.layout.leak_gate_passed("x").parent.glob("early-*.txt"))  # read and removed


def test_work_begun_early_ends_with_nothing_vouched_when_no_files_are_named(tmp_path, catalog, early, monkeypatch):
    """A release that fails before its files are written: the work ends (it was waiting for them)."""
    from gongshi.paths import DEMO_INBOX

    settings = Settings(inbox=DEMO_INBOX, public=tmp_path / "public", state=tmp_path / "state")
    intake_day(settings, DAY1, catalog)
    work = checks.begin_early(settings, catalog, rows=1)
    result = work.finish()
    assert result.finished and (result.gate_files, result.package_resources) == (0, 0)
    assert result.peak_mib > 0  # it had read the day's known values
    assert work.finish() is result  # once
    assert not settings.layout.leak_gate_passed(detector_version()).exists()
    monkeypatch.setattr(checks, "EARLY_ABOVE_ROWS", 10)
    assert checks.begin_early(settings, catalog, rows=9).finish() == checks.EarlyChecks()


def test_work_begun_at_the_redactions_is_taken_over_by_the_release(tmp_path, catalog, early, monkeypatch):
    """`run_day` begins the checks' work once the day is registered (`begin_early_ahead`: the known
    values read beside the redactions); the release takes that very work over and gives it its
    files — one work, begun once, every data file vouched for — and nothing is left running."""
    from gongshi.paths import DEMO_INBOX
    from gongshi.stages import run_day

    settings = Settings(inbox=DEMO_INBOX, public=tmp_path / "public", state=tmp_path / "state")
    begun, real_init = [], checks.EarlyWork.__init__

    def counting(self, *arguments):
        begun.append(self)
        real_init(self, *arguments)

    monkeypatch.setattr(checks.EarlyWork, "__init__", counting)
    taken = []
    real_begin = checks.begin_early
    monkeypatch.setattr(checks, "begin_early", lambda *a: taken.append(real_begin(*a)) or taken[-1])
    outcome = run_day(settings, DAY1, catalog)
    assert outcome.leak_gate_clean and not outcome.failed_checks
    assert len(begun) == 1 and taken == begun  # begun ahead, then taken over by the release
    assert begun[0].result.finished and begun[0].result.gate_files > 10
    assert not checks._AHEAD


def test_work_begun_ahead_is_dropped_when_the_registers_are_folded_again_before_the_release(tmp_path, catalog, early):
    """A fold between the redactions and the release (a run beside this one delivering a day) may
    add a protected value the work's known values lack: the release does not take that work over —
    it is stopped, none of it kept — but begins its own; work no release took is stopped by
    `end_early_ahead`, none of it kept either."""
    from gongshi.paths import DEMO_INBOX
    from tests.conftest import DAY2

    settings = Settings(inbox=DEMO_INBOX, public=tmp_path / "public", state=tmp_path / "state")
    intake_day(settings, DAY1, catalog)
    checks.begin_early_ahead(settings, catalog)
    ahead = checks._AHEAD[str(settings.state)]
    checks.begin_early_ahead(settings, catalog)  # once per state folder
    assert checks._AHEAD[str(settings.state)] is ahead
    intake_day(settings, DAY2, catalog)  # the registers folded again
    work = checks.begin_early(settings, catalog, rows=1)
    assert work is not ahead and ahead.result == checks.EarlyChecks() and not checks._AHEAD
    work.finish()
    checks.begin_early_ahead(settings, catalog)
    left = checks._AHEAD[str(settings.state)]
    checks.end_early_ahead(settings)
    assert left.result == checks.EarlyChecks() and not checks._AHEAD
    assert left.child is None or left.child.process is None  # stopped
    assert not settings.layout.leak_gate_passed(detector_version()).exists()  # nothing vouched was kept
