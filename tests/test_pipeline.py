"""The day's stages without an orchestrator: the ledger reconciles, department reports are correct
and masked, re-running changes nothing."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import python_calamine
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gongshi import ledger
from gongshi.catalog import load_catalog
from gongshi.inbox import pending_days
from gongshi.pii import mask_text, mask_value
from gongshi.register import Register
from gongshi.reports import safe_values
from gongshi.settings import Settings
from gongshi.stages import intake_day, run_day

from .conftest import DAY1, DAY2, deliver


def _process(settings, catalog, days=(DAY1, DAY2)):
    return [intake_day(settings, day, catalog) for day in days]


def test_ledger_reconciles_per_file_and_day(settings, catalog):
    first, second = _process(settings, catalog)
    assert first.problems == [] and second.problems == []
    assert first.totals == {"rows_in": 49, "accepted": 44, "quarantined": 5, "warnings": 2, "files_rejected": 0}
    assert second.totals["files_rejected"] == 1
    entry = ledger.read(settings.layout, DAY2, "approval_item_changes")
    (rejected,) = entry.files
    assert rejected["status"] == "rejected" and "JSON" in rejected["reason"] and rejected["rows_in"] == 0
    inspections = ledger.read(settings.layout, DAY1, "inspection_results")
    (file,) = inspections.files
    assert (file["rows_in"], file["accepted"], file["quarantined"]) == (24, 21, 3)
    assert inspections.registered == 21 and len(file["sha256"]) == 64


def test_ledger_problems_catch_a_lost_row(settings, catalog):
    _process(settings, catalog, [DAY1])
    entry = ledger.read(settings.layout, DAY1, "inspection_results")
    entry.files[0]["accepted"] -= 1
    entry.accepted -= 1
    assert any("rows in 24 != accepted 20" in p for p in entry.problems())
    entry = ledger.read(settings.layout, DAY1, "inspection_results")
    entry.registered = 20
    assert entry.problems() == ["accepted 21 != registered 20"]


def test_quarantine_keeps_every_row_with_reasons(settings, catalog):
    _process(settings, catalog, [DAY1])
    held = pq.read_table(settings.layout.quarantine_path(DAY1, "inspection_results")).to_pylist()
    assert sorted(r["_source_row"] for r in held) == [9, 11, 13]
    assert all(r["_reasons"] for r in held)
    # the quarantine is private and keeps delivered values whole, protected ones included
    row = next(r for r in held if r["_source_row"] == 9)
    assert (row["inspection_date"], row["contact_phone"]) == ("2026/13/01", "13844783719")
    assert row["handling"] == "联系人刘秀英，电话15131012187，已告知整改要求"


def test_department_report_opens_in_excel_with_masked_values(settings, catalog):
    _process(settings, catalog)
    reports = sorted(p.name for p in settings.layout.reports_dir(DAY1).iterdir())
    assert reports == [
        "江苏省市场监管局_双随机抽查结果_2026-11-26_退回报告.xlsx",
        "省审改办_行政审批事项调整（取消、下放、转移）_2026-11-26_退回报告.xlsx",
        "省市场监管局_经营异常名录与严重违法失信名单_2026-11-26_退回报告.xlsx",
        "省税务局_守信红名单_2026-11-26_退回报告.xlsx",
    ]
    book = python_calamine.CalamineWorkbook.from_path(str(settings.layout.reports_dir(DAY1) / reports[0]))
    rows = book.get_sheet_by_name("问题明细").to_python()
    assert rows[0] == ["文件", "工作表", "行号", "字段", "报送值（已脱敏）", "问题", "级别"]
    assert [(r[2], r[3]) for r in rows[1:]] == [(9, "检查日期"), (11, "统一社会信用代码"), (13, "检查结果")]
    assert all(r[6] == "退回（未发布）" for r in rows[1:])
    blacklist = python_calamine.CalamineWorkbook.from_path(str(settings.layout.reports_dir(DAY1) / reports[2]))
    (warning,) = blacklist.get_sheet_by_name("问题明细").to_python()[1:]
    assert warning[4] == "320*************00"  # the ID number is masked even in the department's copy
    assert "提示" in warning[6]
    rejected = python_calamine.CalamineWorkbook.from_path(
        str(
            settings.layout.reports_dir(DAY2) / "省审改办_行政审批事项调整（取消、下放、转移）_2026-11-27_退回报告.xlsx"
        )
    )
    (line,) = rejected.get_sheet_by_name("退回文件").to_python()[1:]
    assert line[0] == "省审改办_审批事项调整.json" and "JSON 格式错误" in line[3]


def test_report_cells_never_become_formulas(settings, catalog, inbox):
    deliver(
        inbox,
        "inspection_results",
        DAY1,
        "测试局_x.csv",
        "任务编号,任务名称,检查实施机关,检查类型,检查日期,市场主体名称,统一社会信用代码,检查事项,检查结果\n"
        'JS0001,抽查,局,巡查,2026-11-20,"=HYPERLINK(""http://x"",""y"")",91350100M000100Y43,登记事项检查,未发现问题\n',
    )
    intake_day(Settings(inbox=inbox, public=settings.public, state=settings.state), DAY1, catalog)
    path = settings.layout.reports_dir(DAY1) / "测试局_双随机抽查结果_2026-11-26_退回报告.xlsx"
    sheet = zipfile.ZipFile(path).read("xl/worksheets/sheet2.xml").decode()
    assert "<f>" not in sheet


def test_pending_days_and_rerun_changes_nothing(settings, catalog):
    assert pending_days(settings, catalog) == [DAY1, DAY2]
    _process(settings, catalog)
    assert pending_days(settings, catalog) == [DAY1, DAY2]  # processed, but nothing went live yet
    for day in (DAY1, DAY2):
        run_day(settings, day, catalog)
    assert pending_days(settings, catalog) == []
    snapshot = _digest(settings)
    run_day(settings, DAY2, catalog)
    assert _digest(settings) == snapshot


def test_a_changed_delivery_makes_the_day_pending_again(settings, catalog, inbox):
    settings = Settings(inbox=inbox, public=settings.public, state=settings.state)
    for day in (DAY1, DAY2):
        run_day(settings, day, catalog)
    deliver(
        inbox,
        "approval_item_changes",
        DAY2,
        "省审改办_审批事项调整.json",
        (inbox / "approval_item_changes" / DAY1 / "省审改办_审批事项调整.json").read_bytes(),
    )
    assert pending_days(settings, catalog) == [DAY2]


def _digest(settings):
    """Content of everything the run keeps, except DuckDB's file layout (compared by content) and
    the register's fold that the redaction's kept rows were brought up to (a re-run folds again)."""
    from gongshi.storage import read_arrow

    digest = hashlib.sha256()
    for path in sorted(settings.state.rglob("*")):
        # A re-run builds the release under a new directory name: compare everything but that name.
        volatile = path.name in {"build.json", "release.json", "published.json"}
        volatile = volatile or path.suffix in {".duckdb", ".wal", ".xlsx"}
        if path.is_file() and path.parent.name == "redaction":
            kept = read_arrow(path)
            metadata = {k: v for k, v in (kept.schema.metadata or {}).items() if k != b"gongshi.fold"}
            digest.update(path.name.encode() + repr(sorted(metadata.items())).encode())
            digest.update(json.dumps(kept.to_pylist(), default=str).encode())
        elif path.is_file() and not volatile and "dagster" not in path.parts:
            digest.update(path.name.encode() + path.read_bytes())
    for name in sorted(p.stem for p in (settings.state / "register").glob("*.duckdb")):
        with Register(settings.layout.register_path(name), load_catalog()[name]) as register:
            digest.update(json.dumps(register.records().to_pylist(), default=str).encode())
    return digest.hexdigest()


_REPORT_TEXT = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.builds(
        lambda before, number, after: before + number + after,
        st.text(alphabet="电话身份证联系人（）：， ab@.", max_size=6),
        st.sampled_from(
            [
                "13951234567",
                "139 5123 4567",
                "321204197807098146",
                "６２２２０２１２３４５６７８９０１２",
                "a.b@example.com",
                "91320200921B86873E",
                "2026-11-26",
                "12345",
            ]
        ),
        st.text(alphabet="电话，。号x ", max_size=6),
    ),
)


@examples(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(sorted(load_catalog()["inspection_results"].fields))), _REPORT_TEXT
        ),
        max_size=25,
    )
)
def test_values_in_a_report_are_masked_by_columns_as_each_would_be_alone(pairs):
    """`safe_values` (the prefilter, then the precise pass where it points; a field that is not
    published masked whole) gives for every line what masking that value alone gives."""

    def safe_value(dataset, field, value):
        if value is None:
            return None
        if field is not None and dataset.fields[field].privacy != "publish":
            return mask_value(value)
        return mask_text(value)[0]

    dataset = load_catalog()["inspection_results"]
    fields = pa.array([f for f, _ in pairs], pa.string())
    values = pa.array([v for _, v in pairs], pa.string())
    assert safe_values(dataset, fields, values).to_pylist() == [safe_value(dataset, f, v) for f, v in pairs]
    assert any(s.privacy != "publish" for s in dataset.fields.values())  # both kinds of field are drawn
