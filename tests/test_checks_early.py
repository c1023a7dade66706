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


def test_pages_vouched_for_in_batches_are_those_vouched_for_one_at_a_time(tmp_path):
    """The site's pages, read many at a time (their lines made distinct together, as the gate reads
    them): a page with a mobile number, one whose bytes are not those stated and one that is gone
    are not vouched for, whichever batch they fall in; every clean page is."""
    pages = {}
    for number in range(40):
        body = f"<html><body><h1>苏州商贸{number}</h1><p>91320100MA1XYZ{number:04d}</p></body></html>\n"
        if number % 7 == 3:
            body = body.replace("</p>", f"</p><p>联系 {MOBILE[:3]} {MOBILE[3:7]} {MOBILE[7:]}</p>")
        (tmp_path / f"entity-{number}.html").write_text(body, encoding="utf-8")
        pages[f"entity-{number}.html"] = _sha256(tmp_path / f"entity-{number}.html")
    pages["entity-5.html"] = "1" * 64  # rewritten since
    pages["gone.html"] = "2" * 64
    (tmp_path / "twin.json").write_text('{"name": "苏州商贸", "note": "无"}\n', encoding="utf-8")
    pages["twin.json"] = _sha256(tmp_path / "twin.json")
    alone = list(vouch(tmp_path, pages, pa.array([], pa.string())))
    leaky = {pages[f"entity-{n}.html"] for n in range(40) if n % 7 == 3}
    assert set(alone) == set(pages.values()) - leaky - {"1" * 64, "2" * 64}
    for batch in (2, 7, 256):
        assert list(vouch(tmp_path, pages, pa.array([], pa.string()), batch=batch)) == alone


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
    # then the pages the site wrote, while the release wrote its manifest
    page_files = built.checked_early["page_files"]
    assert page_files > len([p for p in built.record.files if p.startswith("entity/")]) > 10
    verdict = checks.run(settings, catalog, DAY1)
    assert verdict.passed, verdict.failed
    # the files vouched for early are not read again; the rest are
    assert verdict.scan.files_passed_before >= early_files + page_files
    assert verdict.scan.files_scanned + verdict.scan.files_passed_before >= len(built.record.files)
    assert not list(settings.layout.leak_gate_passed("x").parent.glob("early-*.txt"))  # read and removed


def test_work_begun_early_ends_with_nothing_vouched_when_no_files_are_named(tmp_path, catalog, early, monkeypatch):
    """A release that fails before its files are written: the work ends (it was waiting for them)."""
    from gongshi.paths import DEMO_INBOX

    settings = Settings(inbox=DEMO_INBOX, public=tmp_path / "public", state=tmp_path / "state")
    intake_day(settings, DAY1, catalog)
    work = checks.begin_early(settings, catalog, tmp_path / "build", rows=1)
    result = work.finish()
    assert result.finished and (result.gate_files, result.package_resources) == (0, 0)
    assert result.peak_mib > 0  # it had read the day's known values
    assert work.finish() is result  # once
    assert not settings.layout.leak_gate_passed(detector_version()).exists()
    monkeypatch.setattr(checks, "EARLY_ABOVE_ROWS", 10)
    assert checks.begin_early(settings, catalog, tmp_path / "build", rows=9).finish() == checks.EarlyChecks()


def test_a_page_with_a_leak_is_not_vouched_for_early_and_the_gate_blocks_it(tmp_path, catalog, early, monkeypatch):
    """A page the site wrote with a mobile number in it (a template that printed a protected field,
    say): the work begun early reads the site's pages and vouches for the clean ones only; the
    blocking gate reads this one and names it."""
    from gongshi.paths import DEMO_INBOX
    from gongshi.site import SiteBuilder

    build_all = SiteBuilder.build_all

    def with_a_leaky_page(self):
        result = build_all(self)
        self._write("entity/leaky.html", f"<html><body><p>联系电话 {MOBILE}</p></body></html>\n".encode())
        return result  # the same SiteResult, the page among its files

    monkeypatch.setattr(SiteBuilder, "build_all", with_a_leaky_page)
    settings = Settings(inbox=DEMO_INBOX, public=tmp_path / "public", state=tmp_path / "state")
    intake_day(settings, DAY1, catalog)
    for dataset in catalog.values():
        redact.run(settings, dataset, DAY1)
    built = release.run(settings, catalog, DAY1)
    leaky = built.record.files["entity/leaky.html"]["sha256"]
    clean_pages = [p for p in built.record.files if p.endswith(".html") and p != "entity/leaky.html"]
    assert built.checked_early["finished"] and built.checked_early["page_files"] >= len(clean_pages) > 10
    assert leaky not in checks.gate_passed(settings, catalog)
    verdict = checks.run(settings, catalog, DAY1)
    assert not verdict.passed
    assert [p for p in verdict.failed["leak_gate"] if "entity/leaky.html" in p], verdict.failed
    assert "13951234567" not in " ".join(verdict.failed["leak_gate"])  # named, masked


def test_the_pages_are_sent_only_once_the_gate_has_read_the_files_named_before(tmp_path, catalog):
    """A first day's work is still reading the data files when the site is done: the site's 150,000
    pages are not sent (it would not reach them before it is stopped); on a normal day it has read
    them, and the pages go (read once the package check's work on the data files is done)."""
    from types import SimpleNamespace

    settings = Settings(inbox=tmp_path / "inbox", public=tmp_path / "public", state=tmp_path / "state")
    work = checks.begin_early(settings, catalog, tmp_path / "build", rows=0)  # no process of its own
    sent = []
    work.child = SimpleNamespace(process=SimpleNamespace(is_alive=lambda: True))
    work.sending = SimpleNamespace(send=sent.append)
    work.check({"datasets/a.csv": {"sha256": "a" * 64}})
    work.found.parent.mkdir(parents=True, exist_ok=True)
    work.found.write_text(f"gate {'a' * 64}\npeak 1000\n", encoding="utf-8")  # still on them
    work.pages({"entity/1.html": "b" * 64})
    assert sent == [{"datasets/a.csv": "a" * 64}] and work.sent == 1
    with work.found.open("a", encoding="utf-8") as found:
        found.write("gated\n")  # the gate's reading done; the package check's goes on
    work.pages({"entity/1.html": "b" * 64})
    assert sent[1:] == [{"entity/1.html": "b" * 64}] and work.sent == 2
    work.pages({})  # nothing written: nothing sent
    assert work.sent == 2
    work.found.unlink()
