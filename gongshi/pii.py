"""The personal-data scanner: finds resident ID numbers, mobile numbers, bank card numbers and
personal e-mail addresses as people type them into free text, and replaces each with a visible mask.

Two passes, so the cost grows with the suspicious cells, not with every cell times every pattern:
an RE2 prefilter over the whole Arrow column (pyarrow.compute) picks cells that could hold a
protected value; only those are read by the precise patterns, each hit confirmed by its checksum
(GB 11643 check digit and birth date, Luhn) or its shape. Public identifiers survive: a valid
统一社会信用代码 is protected from every pattern, and dates, amounts, document numbers and task
numbers are too short or too irregular to be mistaken.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi.identifiers import resident_id_problem, uscc_problem

MASKS = {
    "resident_id": "[身份证号已隐藏]",
    "mobile": "[手机号已隐藏]",
    "bank_card": "[银行卡号已隐藏]",
    "email": "[邮箱已隐藏]",
}
KIND_LABELS = {"resident_id": "身份证号", "mobile": "手机号", "bank_card": "银行卡号", "email": "电子邮箱"}

# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space map 1:1 to ASCII, so positions found in
# the folded text are positions in the original.
_FOLD = str.maketrans({**{chr(0xFF01 + i): chr(0x21 + i) for i in range(94)}, "\u3000": " "})
# RE2 prefilter: a run of eleven or more digits (single separators allowed, an ID's final X too)
# with no letter or digit on either side — as every pattern below requires — or an at-sign. The
# digits at the head of a credit code (91320200921B…) are not such a run, so ordinary rows pass.
_ALNUM = "0-9A-Za-z０-９Ａ-Ｚａ-ｚ"
PREFILTER = f"(?:^|[^{_ALNUM}])[0-9０-９](?:[ \\-－　]?[0-9０-９]){{10,}}[XxＸｘ]?(?:[^{_ALNUM}]|$)|[@＠]"

_SEP = r"[ \-]?"
_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
_RESIDENT_ID_18 = re.compile(_EDGE_BEFORE + r"[1-9](?:" + _SEP + r"[0-9]){16}" + _SEP + r"[0-9xX]" + _EDGE_AFTER)
_RESIDENT_ID_15 = re.compile(_EDGE_BEFORE + r"[1-8][0-9]{14}" + _EDGE_AFTER)
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86" + _SEP + r")?1[3-9][0-9](?:" + _SEP + r"[0-9]){8}" + _EDGE_AFTER
)
_CARD = re.compile(_EDGE_BEFORE + r"[0-9](?:" + _SEP + r"[0-9]){15,18}" + _EDGE_AFTER)
_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_USCC_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{18}(?![0-9A-Za-z])")
_CODE_CONTEXT = re.compile(r"(?:信用代码|统一代码|机构代码|代码)[：:\s]*$")
_CARD_CONTEXT = re.compile(r"(?:银行卡|卡号|账号|帐号|账户|帐户|开户行|开户)[^，。；;,]{0,8}$")
# Institutional addresses are public contact points, not personal data.
_INSTITUTIONAL_MAIL = re.compile(r"@(?:[A-Za-z0-9\-]+\.)*(?:gov\.cn|gov|org\.cn|edu\.cn)$", re.IGNORECASE)
# First two digits of a resident ID: the province-level codes of GB/T 2260 (used for 15-digit IDs,
# which have no check digit).
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


@dataclass(frozen=True)
class Hit:
    kind: str
    start: int
    end: int


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def find(text: str) -> list[Hit]:
    """Every protected value in `text`, left to right, non-overlapping."""
    folded = text.translate(_FOLD)
    taken = [(m.start(), m.end()) for m in _USCC_TOKEN.finditer(folded) if _is_credit_code(folded, m)]
    hits: list[Hit] = []

    def claim(kind: str, start: int, end: int) -> None:
        if all(end <= a or start >= b for a, b in taken):
            taken.append((start, end))
            hits.append(Hit(kind, start, end))

    for match in _EMAIL.finditer(folded):
        if not _INSTITUTIONAL_MAIL.search(match.group()):
            claim("email", match.start(), match.end())
    for match in _RESIDENT_ID_18.finditer(folded):
        if resident_id_problem(_digits(match.group()).upper()) is None:
            claim("resident_id", match.start(), match.end())
    for match in _RESIDENT_ID_15.finditer(folded):
        if match.group()[:2] in _PROVINCES and resident_id_problem(match.group()) is None:
            claim("resident_id", match.start(), match.end())
    for match in _MOBILE.finditer(folded):
        claim("mobile", match.start(), match.end())
    for match in _CARD.finditer(folded):
        digits = _digits(match.group())
        in_context = bool(_CARD_CONTEXT.search(folded[max(0, match.start() - 16) : match.start()]))
        if in_context or (digits[0] in "3456" and luhn_valid(digits) and not _id_shaped(digits)):
            claim("bank_card", match.start(), match.end())
    return sorted(hits, key=lambda h: h.start)


def _is_credit_code(text: str, match: re.Match) -> bool:
    """A valid 统一社会信用代码 — unless it is also a valid resident ID number (all digits can be
    both) and nothing before it says it is a code: then privacy wins and it is masked."""
    token = match.group().upper()
    if uscc_problem(token) is not None:
        return False
    if not token[:17].isdigit() or resident_id_problem(token) is not None:
        return True
    return bool(_CODE_CONTEXT.search(text[max(0, match.start() - 12) : match.start()]))


def _id_shaped(digits: str) -> bool:
    """An 18-digit number with a province prefix and a real birth date is a mistyped ID, not a card."""
    return len(digits) == 18 and digits[:2] in _PROVINCES and resident_id_problem(digits) == "check"


def _digits(text: str) -> str:
    return re.sub(r"[^0-9xX]", "", text)


def mask_text(text: str) -> tuple[str, Counter]:
    """`text` with every protected value replaced by its visible mask, and counts by kind."""
    hits = find(text)
    if not hits:
        return text, Counter()
    parts, position = [], 0
    for hit in hits:
        parts.append(text[position : hit.start])
        parts.append(MASKS[hit.kind])
        position = hit.end
    parts.append(text[position:])
    return "".join(parts), Counter(hit.kind for hit in hits)


def candidates(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Vectorised prefilter: True where a cell could hold a protected value."""
    return pc.fill_null(pc.match_substring_regex(column, PREFILTER), False).to_numpy(zero_copy_only=False)


def mask_column(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, Counter]:
    """Mask protected values in a whole text column; only prefiltered cells reach the precise pass."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    suspicious = np.flatnonzero(candidates(column))
    counts: Counter = Counter()
    if not len(suspicious):
        return column, counts
    replaced = []
    for value in pc.take(column, pa.array(suspicious)).to_pylist():
        masked, found = mask_text(value)
        replaced.append(masked)
        counts.update(found)
    values = column.to_numpy(zero_copy_only=False).astype(object)
    values[suspicious] = replaced
    return pa.array(values, pa.string()), counts


def mask_value(value: str | None) -> str | None:
    """A protected column's value as it may appear in a report: enough to recognise, not to use."""
    if value is None or value == "":
        return value
    if len(value) <= 2:
        return value[0] + "*" * (len(value) - 1)
    if len(value) < 8:
        return value[0] + "*" * (len(value) - 2) + value[-1]
    return value[:3] + "*" * (len(value) - 5) + value[-2:]
