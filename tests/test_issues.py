"""The issue registry: every code the readers, the inbox and validation can emit has its Chinese
label and severity in `gongshi/issues.py`, and an unknown code is refused where it is emitted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gongshi import issues
from gongshi.identifiers import USCC_PROBLEMS
from gongshi.ingest import FileRejected
from gongshi.validation import _RESIDENT_ID_MESSAGES

SOURCES = Path(__file__).resolve().parent.parent / "gongshi"
# Where a code is written in the source: a rejection, an ignored entry, a validation issue, a finding.
# The first plain string literal after the call names the code.
EMITTED = [
    r'FileRejected\(\s*"([a-z_]+)"',
    r'Ignored\(.{0,200}?"([a-z_]+)"',
    r'self\.add\(.{0,300}?"([a-z_]+)"',
    r'findings\.append\(.{0,200}?"([a-z_]+)"',
    r'\(\s*"(excel_number_precision)",',
    r'reason_code="([a-z_]+)"',
]


def emitted_codes() -> set[str]:
    codes = set()
    for path in SOURCES.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in EMITTED:
            codes |= set(re.findall(pattern, text, flags=re.S))
    codes |= {f"credit_code_{p}" for p in USCC_PROBLEMS} | {f"resident_id_{p}" for p in _RESIDENT_ID_MESSAGES}
    return codes


def test_every_emitted_code_has_a_label_and_severity():
    codes = emitted_codes()
    assert len(codes) > 40  # the patterns still find the emitters
    assert sorted(codes - set(issues.ISSUES)) == []


def test_every_registered_code_is_emitted_somewhere_and_labelled_in_chinese():
    assert sorted(set(issues.ISSUES) - emitted_codes() - {"resident_id_excel_precision"}) == []
    for kind in issues.ISSUES.values():
        assert re.search(r"[\u4e00-\u9fff]", kind.label), kind
        assert kind.severity in {"file", "ignored", "error", "warning"}


def test_an_unknown_code_is_refused_where_it_is_emitted():
    with pytest.raises(issues.UnknownIssue):
        issues.kind("brand_new_check")
    with pytest.raises(issues.UnknownIssue):
        FileRejected("brand_new_rejection", "某原因")
    assert issues.kind("missing_supervision_measures", {"missing_supervision_measures": "未报送"}).severity == "warning"
