"""Each stage module on its own: `run` on the first demo day, in flow order, returning its typed result
(what the operator sees in Dagster) and leaving the files the next stage reads where the layout says."""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil

import pyarrow.parquet as pq
import pytest

from gongshi import stages
from gongshi.paths import DEMO_INBOX
from gongshi.settings import Settings
from gongshi.snapshots import BuildRecord
from gongshi.stages import Json, Markdown, checks, ledger, publish, read, redact, register, release, takedowns, validate

from .conftest import DAY1

FLOW = ["read", "validate", "register", "ledger", "redact", "release", "checks", "publish", "takedowns"]


@pytest.fixture(scope="module")
def day(tmp_path_factory, catalog):
    """The first demo day taken through the stages one by one; each result kept for its test."""
    root = tmp_path_factory.mktemp("stages")
    settings = Settings(inbox=DEMO_INBOX, public=root / "public", state=root / "state")
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
        for dataset in catalog.values():
            results.setdefault("read", {})[dataset.id] = read.run(settings, dataset, DAY1)
            results.setdefault("validate", {})[dataset.id] = validate.run(settings, dataset, DAY1)
            results.setdefault("register", {})[dataset.id] = register.run(settings, dataset, DAY1)
        results["ledger"] = ledger.run(settings, catalog, DAY1)
        for dataset in catalog.values():
            results.setdefault("redact", {})[dataset.id] = redact.run(settings, dataset, DAY1)
        results["release"] = release.run(settings, catalog, DAY1)
        results["checks"] = checks.run(settings, catalog, DAY1)
        results["publish"] = publish.run(settings, catalog, DAY1)
        results["takedowns"] = takedowns.run(settings, catalog, skip=DAY1)
    return settings, results


def test_the_stages_are_the_flow_and_each_has_one_entry_point():
    modules = [m.name for m in pkgutil.iter_modules(stages.__path__)]
    assert sorted(modules) == sorted(FLOW)
    assert [line.split()[0] for line in stages.__doc__.split("\n\n")[1].splitlines()] == FLOW
    for name in FLOW:
        module = importlib.import_module(f"gongshi.stages.{name}")
        assert callable(module.run) and module.__doc__.startswith(f"Stage {FLOW.index(name) + 1}, {name}")


def _metadata_is_plain(result) -> None:
    for value in result.metadata().values():
        assert isinstance(value, (int, float, str, bool, Json, Markdown)), value


def test_read(day):
    settings, results = day
    result = results["read"]["inspection_results"]
    assert (result.files, result.files_rejected, result.rows_in) == (1, 0, 24)
    assert result.encodings == {"江苏省市场监管局_抽查结果_20261126.csv": "gb18030"}
    assert pq.read_table(settings.layout.rows(DAY1, "inspection_results")).num_rows == 24
    assert (
        json.loads(settings.layout.files(DAY1, "inspection_results").read_text())["fingerprint"] == result.fingerprint
    )
    _metadata_is_plain(result)


def test_validate(day):
    settings, results = day
    result = results["validate"]["inspection_results"]
    assert (result.rows_in, result.accepted, result.quarantined, result.problems) == (24, 21, 3, [])
    assert result.reasons == {"credit_code_check": 1, "date_invalid": 1, "required": 1}
    assert "2026/13/01" in result.preview and result.reports == [
        "江苏省市场监管局_双随机抽查结果_2026-11-26_退回报告.xlsx"
    ]
    assert pq.read_table(settings.layout.accepted(DAY1, "inspection_results")).num_rows == 21
    _metadata_is_plain(result)


def test_register(day):
    _, results = day
    result = results["register"]["blacklist_entries"]
    assert (result.events, result.new_records, result.registered, result.problems) == (16, 16, 16, [])
    assert result.by_status == {"active": 16}
    _metadata_is_plain(result)


def test_ledger(day):
    settings, results = day
    result = results["ledger"]
    assert result.problems == [] and set(result.datasets) == {
        "approval_item_changes",
        "blacklist_entries",
        "honour_list",
        "inspection_results",
    }
    assert result.totals == {"rows_in": 49, "accepted": 44, "quarantined": 5, "warnings": 2, "files_rejected": 0}
    assert json.loads((settings.layout.ledger_dir(DAY1) / "day.json").read_text())["totals"] == result.totals
    _metadata_is_plain(result)


def test_redact(day):
    settings, results = day
    result = results["redact"]["blacklist_entries"]
    assert (result.release, result.records, result.published, result.expired, result.withdrawn) == (DAY1, 16, 16, 0, 0)
    assert result.columns["legal_representative_id_number"] == {"pseudonymised": 15}
    public = pq.read_table(settings.layout.public_table(DAY1, "blacklist_entries"))
    assert "legal_representative_id_number" not in public.column_names and public.num_rows == 16
    _metadata_is_plain(result)


def test_release(day):
    settings, results = day
    result = results["release"]
    assert result.record.release == DAY1 and result.record.previous is None
    assert result.record.records == {
        "approval_item_changes": 4,
        "blacklist_entries": 16,
        "honour_list": 3,
        "inspection_results": 21,
    }
    assert BuildRecord.load(settings.layout.build_record(DAY1)) == result.record
    assert result.site["pages_rendered"] > 60
    _metadata_is_plain(result)


def test_checks(day):
    _, results = day
    result = results["checks"]
    assert result.passed and result.failed == {} and result.scan.clean
    assert set(result.problems) == set(checks.DESCRIPTIONS)
    assert result.quality["checks"] == dict.fromkeys(checks.DESCRIPTIONS, True)
    for name in checks.DESCRIPTIONS:
        assert all(isinstance(v, (int, Json, Markdown)) for v in result.check_metadata(name).values())


def test_publish(day):
    settings, results = day
    result = results["publish"]
    assert (result.release, result.latest, result.retained, result.dropped) == (DAY1, True, [DAY1], [])
    assert (settings.public / "latest").resolve().name == result.build
    assert not list(settings.layout.staging.iterdir())
    assert settings.layout.published_record(DAY1).is_file()
    _metadata_is_plain(result)


def test_takedowns(day):
    _, results = day
    assert results["takedowns"].rewritten == [] and results["takedowns"].metadata() == {
        "takedowns_applied_to": Json([])
    }


def test_release_again_links_every_unchanged_page_and_renders_nothing(day, catalog):
    settings, results = day
    first = results["release"].site
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
        again = release.run(settings, catalog, DAY1)  # the same day once more, on top of what went out
    assert first["entity_pages_rendered"] == first["entity_pages"] == 26
    assert (again.site["entity_pages"], again.site["entity_pages_rendered"]) == (26, 0)
    assert again.site["pages_rendered"] <= 4  # what names the build day: robots, feeds, sitemap
    assert (first["search_index_mode"], first["search_entities_changed"]) == ("full", 26)
    # from the postings the first release kept: nothing changed, every shard kept as it was
    assert (again.site["search_index_mode"], again.site["search_entities_changed"]) == ("incremental", 0)
    assert again.site["search_shards_written"] == 0
    # the check index's entries kept by the first release (state/check-index): none made again
    assert (first["check_entries_made"], again.site["check_entries_made"]) == (26, 0)
    assert again.record.site == results["release"].record.site
    release.clear_staging(settings.layout.staging)


def _inspections_headed(catalog, heading: str) -> dict:
    """The catalog with the inspections' section on entity pages under another heading: every
    entity page with inspections changes."""
    inspections = catalog["inspection_results"]
    section = inspections.site.section.model_copy(update={"heading": heading})
    site = inspections.site.model_copy(update={"section": section})
    return {**catalog, "inspection_results": inspections.model_copy(update={"site": site})}


def test_a_changed_site_declaration_renders_the_entity_pages_again(day, catalog):
    settings, _ = day
    renamed = _inspections_headed(catalog, "抽查检查记录")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
        again = release.run(settings, renamed, DAY1)
    assert again.site["entity_pages_rendered"] > 0
    built = settings.layout.staging / again.record.build
    pages = [p.read_text(encoding="utf-8") for p in (built / "entity").glob("*.html")]
    assert sum("<h2>抽查检查记录</h2>" in page for page in pages) == again.site["entity_pages_rendered"]
    release.clear_staging(settings.layout.staging)


def test_the_checks_find_bytes_that_differ_from_the_manifest_whoever_reads_them(day, catalog):
    """A staged file whose bytes changed after its manifest entry was written (same size) blocks the
    release: a page the leak gate reads is hashed by the gate as it reads it, a file whose bytes
    passed the gate before (not read by it again) is hashed by the package check beside it."""
    settings, _ = day
    renamed = _inspections_headed(catalog, "抽查检查记录（核对）")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GONGSHI_PSEUDONYM_KEY", "test-key-not-secret")
        again = release.run(settings, renamed, DAY1)
        built = settings.layout.staging / again.record.build
        manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))["files"]
        passed = checks.gate_passed(settings, renamed)
        fresh = [p for p in manifest if (built / p).stat().st_nlink == 1]
        page = next(p for p in fresh if p.startswith("entity/") and p.endswith(".html"))
        unread = next(p for p in fresh if manifest[p]["sha256"] in passed)  # passed before: the gate skips it
        for relative in (page, unread):
            data = (built / relative).read_bytes()
            at = data.index(b"<")  # one byte for another: the size stays what the manifest says
            (built / relative).write_bytes(data[:at] + b">" + data[at + 1 :])
        result = checks.run(settings, renamed, DAY1)
    release.clear_staging(settings.layout.staging)
    assert result.scan.clean and not result.passed
    assert sorted(result.problems[checks.PACKAGE_VALID]) == sorted(
        [f"{page}: sha256 differs", f"{unread}: sha256 differs"]
    )
    # the gate read the changed page, and passes the bytes it read, not what the manifest says of them
    assert page not in result.scan.verified and manifest[page]["sha256"] not in result.scan.passed
    assert unread not in result.scan.verified
    read = [p for p in fresh if p != page and manifest[p]["sha256"] not in passed]
    assert any(p.startswith("entity/") for p in read) and set(read) <= result.scan.verified


def test_a_table_handed_on_is_given_once_and_only_while_its_file_is_the_one_written(tmp_path):
    """`write_parquet(..., hand_on=True)` keeps the table for the next stage's `read_parquet` in this
    process: given once, and only while the file is still the one written; otherwise (replaced,
    another process, given already) the file is read — the same rows either way."""
    import time

    import pyarrow as pa

    from gongshi.storage import read_parquet, write_parquet

    path = tmp_path / "public.parquet"
    table = pa.table({"record_id": ["a", "b"], "n": pa.array([1, None], pa.int64())})
    write_parquet(table, path, hand_on=True)
    assert read_parquet(path) is table
    again = read_parquet(path)  # given once: now from the file
    assert again is not table and again.equals(table)
    write_parquet(table, path, hand_on=True)
    other = pa.table({"record_id": ["c"], "n": pa.array([3], pa.int64())})
    write_parquet(other, path)  # the file replaced since: its own rows
    assert read_parquet(path).equals(other)
    small = pa.table({"n": pa.array([1, 2], pa.int32())})
    write_parquet(small, path, hand_on=True)
    time.sleep(0.01)
    path.write_bytes(path.read_bytes())  # the same bytes written again in place: not the file written
    read = read_parquet(path)
    assert read is not small and read.equals(small)


def _wait_for_reads_ahead() -> None:
    for _, _, future in list(read._AHEAD.values()):
        future.exception(timeout=120)


def test_a_read_ahead_is_what_the_stage_reads_and_a_changed_file_is_read_again(tmp_path, inbox, catalog, monkeypatch):
    """A dataset's files read ahead (while earlier datasets are validated) are taken by its stage only
    while each file is the one that was read: the stage's rows are those of a read of its own; a file
    changed since is read again by the stage; a read ahead that failed is read again too."""
    dataset = catalog["inspection_results"]
    settings = Settings(inbox=inbox, public=tmp_path / "public", state=tmp_path / "state")
    plain = Settings(inbox=inbox, public=tmp_path / "p2", state=tmp_path / "s2")
    read.run(plain, dataset, DAY1)
    expected = pq.read_table(plain.layout.rows(DAY1, dataset.id))

    calls = []
    real = read.read_file_contained

    def counted(path, ds, limits):
        calls.append(path.name)
        return real(path, ds, limits)

    monkeypatch.setattr(read, "read_file_contained", counted)
    read._STARTED.discard((str(inbox), dataset.id, DAY1))  # the plain read's, above
    read.read_ahead(settings, [dataset], DAY1)
    _wait_for_reads_ahead()
    files = len(calls)
    assert files >= 1  # every delivered file of the day, in the background
    read.run(settings, dataset, DAY1)
    assert len(calls) == files  # the stage read nothing itself
    assert pq.read_table(settings.layout.rows(DAY1, dataset.id)).equals(expected)

    # read ahead, then changed (one line more): the stage reads the file again and sees the change
    (path,) = [p for p in (inbox / dataset.id / DAY1).iterdir() if p.suffix == ".csv"][:1]
    again = Settings(inbox=inbox, public=tmp_path / "p3", state=tmp_path / "s3")
    read._STARTED.discard((str(inbox), dataset.id, DAY1))
    before = len(calls)
    read.read_ahead(again, [dataset], DAY1)
    _wait_for_reads_ahead()
    path.write_bytes(path.read_bytes() + b"\n")
    read.run(again, dataset, DAY1)
    assert calls[before:].count(path.name) == 2  # once ahead, once by the stage
    assert _sha256_read(again, dataset, path.name) == hashlib.sha256(path.read_bytes()).hexdigest()

    # a read ahead that failed: the stage reads for itself
    def failing(path, ds, limits):
        raise RuntimeError("worker gone")

    failed = Settings(inbox=inbox, public=tmp_path / "p4", state=tmp_path / "s4")
    read._STARTED.discard((str(inbox), dataset.id, DAY1))
    monkeypatch.setattr(read, "read_file_contained", failing)
    read.read_ahead(failed, [dataset], DAY1)
    _wait_for_reads_ahead()
    monkeypatch.setattr(read, "read_file_contained", counted)
    before = len(calls)
    read.run(failed, dataset, DAY1)
    assert len(calls) > before
    assert _sha256_read(failed, dataset, path.name) == hashlib.sha256(path.read_bytes()).hexdigest()


def _sha256_read(settings, dataset, name: str) -> str:
    """The sha256 the read stage recorded for the delivered file `name`."""
    recorded = json.loads(settings.layout.files(DAY1, dataset.id).read_text("utf-8"))["files"]
    return next(f["sha256"] for f in recorded if f["file"] == name)


def test_a_page_file_is_written_whole_through_short_writes_and_a_failed_write_names_it(tmp_path, monkeypatch):
    """`storage.write_file` (every page of a release): a write that takes only part of the bytes is
    carried on until all are written, a file already there is replaced, and a write that fails (a
    full disk) raises an error naming the file, its descriptor closed."""
    import errno
    import os

    from gongshi import storage

    target = str(tmp_path / "page.html")
    (tmp_path / "page.html").write_bytes(b"an older, longer page" * 10)
    real_write, closed = os.write, []
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    data = "<p>南京市市场监督管理局</p>\n".encode() * 50
    storage.write_file(target, data)
    assert (tmp_path / "page.html").read_bytes() == data

    def full(fd, data):
        if len(data) < len(payload):  # the first part went in; the disk is full on the next
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data[:100]))

    payload = b"x" * 1000
    monkeypatch.setattr(os, "write", full)
    real_close = os.close
    monkeypatch.setattr(os, "close", lambda fd: (closed.append(fd), real_close(fd)))
    with pytest.raises(OSError) as raised:
        storage.write_file(target, payload)
    assert (raised.value.errno, raised.value.filename) == (errno.ENOSPC, target)
    assert len(closed) == 1
