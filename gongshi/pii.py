"""The personal-data detector: finds resident ID numbers, mobile numbers, bank card numbers and
personal e-mail addresses however people type them, and replaces each with a visible mask. The
redaction stage, the validation of columns published as they are, and the leak gate all call it:
what one would catch, the others catch.

Detection does not depend on what stands next to a number. A cell is first normalised — full-width
forms and other scripts' digits folded to ASCII, zero-width and other invisible characters removed
(a map keeps every position in the original) — then read as groups of digits. Groups joined by one
kind of separator (a space, two spaces, a dot, a hyphen) may form one number, so `139 1234 5678`,
`139.1234.5678` and `3201 0619 8506 1273 11` are found and `118.79 32.06` (a coordinate) is not
merged with its neighbour. Whatever stands around a group — Latin letters (`sfz3201…`,
`tel1391…`, `No3201…`), Chinese, punctuation — does not matter. The checksums decide: GB 11643
check digit, province and birth date for ID numbers, the 1[3-9] prefix for mobiles, Luhn (or a word
such as 账号 before it) for bank cards.

Public identifiers survive. A valid 统一社会信用代码 standing as a token of its own is never read as
a mobile or a card (all-digit codes that are also valid ID numbers are masked unless a word such as
信用代码 precedes them: privacy wins). A hexadecimal digest (sha256 of a published file) is not a
number. Identifiers the project makes (record ids, pseudonyms) contain no digits at all, so they
cannot be mistaken (see `gongshi.identifiers.letters_only`).

Two passes, so the cost grows with the suspicious cells: a prefilter over the whole Arrow column
(`candidates`: enough digits, then the shape of an ID, mobile or card among the cell's digits, or an
at-sign) picks the cells that could hold a protected value; only those are read in Python.
Every pattern runs in linear time: groups of digits are found once, e-mail addresses are read
outwards from each at-sign within the lengths an address can have.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi import tables
from gongshi.identifiers import resident_id_problem, uscc_problem

MASKS = {
    "resident_id": "[身份证号已隐藏]",
    "mobile": "[手机号已隐藏]",
    "bank_card": "[银行卡号已隐藏]",
    "email": "[邮箱已隐藏]",
    "known_value": "[号码已隐藏]",
}
KIND_LABELS = {
    "resident_id": "身份证号",
    "mobile": "手机号",
    "bank_card": "银行卡号",
    "email": "电子邮箱",
    "known_value": "报送的受保护号码",
    "control_character": "控制字符",
    "unreadable": "无法读取的文件",
}

# --- normalisation ---------------------------------------------------------------------------------

# Characters that people (or their software) put inside numbers without meaning anything: removed.
_INVISIBLE_EXTRA = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10)}
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u30fc\u2043"
_DOTS = "\u00b7\u2027\u2219\u22c5\u30fb\uff0e\uff65\u3002"
# RE2 twins of the above for Arrow (the same sets, written as character classes).
RE2_INVISIBLE = r"\p{Cf}\p{Cc}\p{Mn}\x{115F}\x{1160}\x{17B4}\x{17B5}\x{3164}\x{FFA0}"
RE2_DASHES = "".join(f"\\x{{{ord(c):04X}}}" for c in _DASHES)
RE2_DOTS = "".join(f"\\x{{{ord(c):04X}}}" for c in _DOTS)
RE2_SEPARATORS = r"\p{Zs} .\-" + RE2_DASHES + RE2_DOTS
# Known values (landlines, account numbers: what no pattern describes) have seven digits or more.
KNOWN_MIN_DIGITS = 7


# The detector's tables over all of Unicode, as `write_unicode_tables` made them for a version of the
# Unicode database: reading them costs a millisecond, making them (a pass over 1,114,112 code points
# each) 0.6 s in every process that scans — the command's own, on every run. A test holds the file of
# the running Python's version equal to what `_made_translation` and `_made_exotic_digits` make; for
# a version without a file they are made.
UNICODE_TABLES = Path(__file__).parent / "unicode"


def unicode_tables_path(version: str = unicodedata.unidata_version) -> Path:
    return UNICODE_TABLES / f"{version}.json"


@cache
def _shipped_tables() -> tuple[dict[int, str | None], frozenset[int], str] | None:
    """(translation, deleted, exotic digits) as the file for this Python's Unicode version holds them,
    or None — no file, another version's, or one that is not what `write_unicode_tables` writes."""
    try:
        content = json.loads(unicode_tables_path().read_text("utf-8"))
        if content["unicode"] != unicodedata.unidata_version:
            return None
        table = {int(code): value for code, value in content["translation"].items()}
        deleted = frozenset(int(code) for code in content["deleted"])
        exotic = content["exotic_digits"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(exotic, str) or not all(value is None or isinstance(value, str) for value in table.values()):
        return None
    return table, deleted, exotic


def tables_version() -> bytes:
    """What the detector's tables over all of Unicode are made for, for the digests that say which
    detector made a verdict or a redaction (beside this module's own bytes): a Python with another
    Unicode database finds other characters."""
    return f"unicode {unicodedata.unidata_version}\n".encode()


def write_unicode_tables() -> Path:
    """Make the tables for the running Python's Unicode version and write them where `_translation`
    and `_exotic_digits` read them."""
    table, deleted = _made_translation()
    path = unicode_tables_path()
    path.parent.mkdir(exist_ok=True)
    content = {
        "unicode": unicodedata.unidata_version,
        "translation": {str(code): value for code, value in sorted(table.items())},
        "deleted": sorted(deleted),
        "exotic_digits": _made_exotic_digits(),
    }
    path.write_text(json.dumps(content, ensure_ascii=True, indent=0) + "\n", "utf-8")
    return path


@cache
def _translation() -> tuple[dict[int, str | None], frozenset[int]]:
    """One table for str.translate: every character maps to one character or is deleted, so a
    position in the normalised text is a position in the original once deletions are counted."""
    shipped = _shipped_tables()
    return _made_translation() if shipped is None else (shipped[0], shipped[1])


def _made_translation() -> tuple[dict[int, str | None], frozenset[int]]:
    """`_translation` made from this Python's Unicode database."""
    table: dict[int, str | None] = {}
    deleted = set(_INVISIBLE_EXTRA)
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        category = unicodedata.category(char)
        if char in "\t\r":
            table[code] = " "
        elif char == "\n":
            continue
        elif category in {"Cf", "Cc"} or (category == "Mn" and code >= 0xE0100):
            deleted.add(code)
        elif category == "Nd" and code > 0x7F:
            table[code] = str(unicodedata.decimal(char))
        elif category == "Zs" and char != " ":
            table[code] = " "
        elif category in {"Zl", "Zp"}:
            table[code] = "\n"
    for code in deleted:
        table[code] = None
    table |= {ord(c): "-" for c in _DASHES} | {ord(c): "." for c in _DOTS}
    table |= {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F) if code not in table}
    table[0xFE6B] = "@"  # small commercial at
    return table, frozenset(deleted)


def normalise(text: str) -> tuple[str, list[int] | None]:
    """The text as the detector reads it, and for each of its characters the index in `text`
    (None when nothing was removed: positions are the same)."""
    table, deleted = _translation()
    folded = text.translate(table)
    if len(folded) == len(text):
        return folded, None
    return folded, [i for i, char in enumerate(text) if ord(char) not in deleted]


# --- the detector ----------------------------------------------------------------------------------

_GROUP = re.compile(r"[0-9]+")
# What may stand between the groups of one number; one number uses one kind throughout.
_JOINERS = frozenset({" ", "  ", ".", "-", " - "})
_LONGEST = 19  # a bank card
_COUNTRY_CODES = ("86", "0086")
_DIGEST = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})(?![0-9A-Za-z])")
_CODE_CONTEXT = re.compile(r"(?:信用代码|统一代码|机构代码|代码)[：:\s]*$")
_CARD_CONTEXT = re.compile(r"(?:银行卡|卡号|账号|帐号|账户|帐户|开户行|开户)[^，。；;,]{0,8}$")
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
# A domain is read as one run of domain characters first, so this never backtracks far.
_DOMAIN = re.compile(r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Institutional addresses are public contact points, not personal data.
_INSTITUTIONAL_MAIL = re.compile(r"(?:^|\.)(?:gov\.cn|gov|org\.cn|edu\.cn)$", re.IGNORECASE)
# First two digits of a resident ID: the province-level codes of GB/T 2260.
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


@dataclass(frozen=True)
class Hit:
    kind: str
    start: int  # in the original text
    end: int
    digits: str = ""  # the number as digits (the address for e-mail): for the hidden-value net


@dataclass(frozen=True)
class _Group:
    start: int
    end: int
    digits: str
    x_end: int  # where an X (or x) right after it, or after a separator, ends: an ID's check character; else 0


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def find(text: str, known: frozenset[str] = frozenset()) -> list[Hit]:
    """Every protected value in `text`, left to right, non-overlapping, in original positions.

    `known`: digit strings delivered in columns that are never published (the same record's contact
    phone, say): a number in the text that is one of them is found too, whatever its shape."""
    norm, origin = normalise(text)
    hits = [_to_original(hit, origin) for hit in _find_normalised(norm, known)]
    return sorted(hits, key=lambda h: h.start)


def _to_original(hit: Hit, origin: list[int] | None) -> Hit:
    if origin is None:
        return hit
    return Hit(hit.kind, origin[hit.start], origin[hit.end - 1] + 1, hit.digits)


def _find_normalised(norm: str, known: frozenset[str] = frozenset()) -> list[Hit]:
    digests = [m.span() for m in _DIGEST.finditer(norm)]
    taken: list[tuple[int, int]] = []
    hits: list[Hit] = []

    def free(start: int, end: int, spans) -> bool:
        return all(end <= a or start >= b for a, b in spans)

    def claim(kind: str, start: int, end: int, digits: str, respect_codes: bool) -> None:
        # Digits inside a hex digest are never a number; an all-digit credit code that is also a
        # valid ID number is still masked as one (privacy wins).
        if free(start, end, taken) and free(start, end, digests):
            if not (respect_codes and _in_public_code(norm, start, end)):
                taken.append((start, end))
                hits.append(Hit(kind, start, end, digits))

    for hit in _emails(norm):
        claim(hit.kind, hit.start, hit.end, hit.digits, respect_codes=False)
    # Longest first: an 18-digit ID is not claimed as the 15-digit one its first digits may form.
    numbers = sorted(_numbers(norm), key=lambda n: (-len(n[2]), n[0]))
    for start, end, digits in numbers:
        if _is_resident_id(norm, start, digits):
            claim("resident_id", start, end, digits, respect_codes=False)
    for start, end, digits in numbers:
        national = _mobile_part(digits)
        if national is not None:
            claim("mobile", start - (start > 0 and norm[start - 1] == "+"), end, national, respect_codes=True)
    for start, end, digits in numbers:
        if 16 <= len(digits) <= _LONGEST and digits.isdigit():
            in_context = bool(_CARD_CONTEXT.search(norm[max(0, start - 16) : start]))
            if in_context or (digits[0] in "3456" and luhn_valid(digits) and not _id_shaped(digits)):
                claim("bank_card", start, end, digits, respect_codes=True)
    if known:
        # A known value is matched exactly, so its groups may be joined by separators of any kind.
        for start, end, digits in sorted(_numbers(norm, mixed=True), key=lambda n: (-len(n[2]), n[0])):
            if len(digits) >= KNOWN_MIN_DIGITS and any(
                digits.startswith(prefix) and digits[len(prefix) :] in known for prefix in ("", *_COUNTRY_CODES)
            ):
                claim("known_value", start, end, digits, respect_codes=True)
    return hits


def _numbers(norm: str, mixed: bool = False):
    """(start, end, digits) of every way the digit groups of `norm` can form one number: a group
    alone, or consecutive groups joined by the same separator, up to a bank card's length. An ID's
    final X belongs to the number when it follows the last group directly."""
    cluster: list[_Group] = []
    gaps: list[str] = []
    has_x = "X" in norm or "x" in norm
    for match in _GROUP.finditer(norm):
        start, end = match.span()
        # whether an X ends the group is looked at only where it matters: before a joiner, and in
        # a cluster long enough for an ID (most groups of a long text are neither)
        group = _Group(start, end, match.group(), 0)
        gap = norm[cluster[-1].end : start] if cluster else None
        if gap in _JOINERS and not (has_x and _check_x_end(norm, cluster[-1].end)):
            gaps.append(gap)
            cluster.append(group)
        else:
            yield from _long_enough(norm, cluster, gaps, mixed, has_x)
            cluster, gaps = [group], []
    yield from _long_enough(norm, cluster, gaps, mixed, has_x)


def _long_enough(norm: str, cluster: list[_Group], gaps: list[str], mixed: bool, has_x: bool):
    """`_spans` of a cluster with enough digits for a number that is ever reported."""
    digits = sum(len(g.digits) for g in cluster)
    if digits < _SHORTEST:
        return
    if has_x and digits >= 17:
        cluster = [_Group(g.start, g.end, g.digits, _check_x_end(norm, g.end)) for g in cluster]
    yield from _spans(cluster, gaps, mixed)


# No number of fewer digits is ever reported (a known value has at least KNOWN_MIN_DIGITS; a mobile,
# an ID and a card more): a cluster of groups with fewer digits in all is not spelled out.
_SHORTEST = KNOWN_MIN_DIGITS


def _spans(cluster: list[_Group], gaps: list[str], mixed: bool):
    for i, first in enumerate(cluster):
        digits = ""
        # A country code (+86 139-…) may have a separator of its own.
        same_from = i + 1 if first.digits in _COUNTRY_CODES else i
        for j in range(i, len(cluster)):
            if j > same_from + 1 and gaps[j - 1] != gaps[same_from] and not mixed:
                break
            digits += cluster[j].digits
            if len(digits) > _LONGEST:
                break
            yield first.start, cluster[j].end, digits
            if cluster[j].x_end and len(digits) == 17:
                yield first.start, cluster[j].x_end, digits + "X"


def _check_x_end(norm: str, end: int) -> int:
    for gap in ("", *_JOINERS):
        if norm.startswith(gap + "X", end) or norm.startswith(gap + "x", end):
            return end + len(gap) + 1
    return 0


def _is_resident_id(norm: str, start: int, digits: str) -> bool:
    if len(digits) not in (15, 18) or digits[:2] not in PROVINCES or resident_id_problem(digits) is not None:
        return False
    if len(digits) == 18 and digits.isdigit() and uscc_problem(digits) is None:
        # All digits, a valid ID and a valid credit code: masked unless the text says it is a code.
        return not _CODE_CONTEXT.search(norm[max(0, start - 12) : start])
    return True


def _mobile_part(digits: str) -> str | None:
    """The 11-digit mobile number `digits` is (with a 86 / 0086 country code), else None."""
    for prefix in ("", *_COUNTRY_CODES):
        national = digits[len(prefix) :]
        if digits.startswith(prefix) and len(national) == 11 and national[0] == "1" and national[1] in "3456789":
            return national if national.isdigit() else None
    return None


def _id_shaped(digits: str) -> bool:
    """An 18-digit number with a province prefix and a real birth date is a mistyped ID, not a card."""
    return len(digits) == 18 and digits[:2] in PROVINCES and resident_id_problem(digits) == "check"


def _in_public_code(norm: str, start: int, end: int) -> bool:
    """Whether `norm[start:end]` overlaps a valid credit code standing as a token of 18 letters and
    digits, looking only at the tokens around it: a long text (a search shard holds hundreds of
    codes) costs what the number's neighbourhood costs, not every code of the text."""
    position = start
    while 0 < position < len(norm) and norm[position] in _ALNUM and norm[position - 1] in _ALNUM:
        position -= 1  # to the start of the token `start` is in
    while position < end:
        if norm[position] not in _ALNUM:
            position += 1
            continue
        token_end = position
        while token_end < len(norm) and norm[token_end] in _ALNUM:
            token_end += 1
        if token_end - position == 18 and uscc_problem(norm[position:token_end].upper()) is None:
            return True
        position = token_end
    return False


_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")  # a token: 18 of these


def _emails(norm: str):
    """Personal e-mail addresses, read outwards from each at-sign (linear in the text)."""
    for match in re.finditer("@", norm):
        start = at = match.start()
        while start > 0 and at - start < 64 and norm[start - 1] in _EMAIL_LOCAL:
            start -= 1
        while start < at and not norm[start].isalnum():
            start += 1
        end = at + 1
        while end < len(norm) and end - at <= 253 and norm[end] in _EMAIL_DOMAIN:
            end += 1
        while end > at + 1 and not norm[end - 1].isalpha():  # "…@163.com。" or "…@163.com2026"
            end -= 1
        domain = norm[at + 1 : end]
        if start == at or not _DOMAIN.fullmatch(domain):
            continue
        if not _INSTITUTIONAL_MAIL.search(domain):
            yield Hit("email", start, end, norm[start:end].lower())


# --- masking -------------------------------------------------------------------------------------


def mask_text(text: str) -> tuple[str, Counter]:
    """`text` with every protected value replaced by its visible mask, and counts by kind."""
    hits = find(text)
    return _masked(text, hits), Counter(hit.kind for hit in hits)


def _masked(text: str, hits: list[Hit]) -> str:
    parts, position = [], 0
    for hit in hits:
        parts += [text[position : hit.start], MASKS[hit.kind]]
        position = hit.end
    return "".join(parts) + text[position:]


def candidates(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Vectorised prefilter: True where a cell could hold a protected value — a superset of what
    `find` finds. Only the cells `_worth_a_look` passes are looked at; among those, on their digits
    as the detector would join them (`_digit_runs`), the shape of an ID number (a province, a
    19xx/20xx birth date), a mobile (1[3-9]) or a card (16 digits from 3–6, or any 16 in a cell with
    a word such as 账号). Cells with an at-sign or with digits NFKC does not fold (Arabic-Indic,
    Devanagari…) always go to the precise pass."""
    column = _as_strings(column)
    selected = np.zeros(len(column), dtype=bool)
    rows = np.flatnonzero(_matches(column, _worth_a_look()))
    if len(rows):
        selected[rows[_shaped(pc.take(column, pa.array(rows)))]] = True
    return selected


def _shaped(cells: pa.Array, runs: pa.Array | None = None) -> np.ndarray:
    always = _matches(cells, f"{_MAIL_AT}|[{_exotic_digits()}]")
    runs = _digit_runs(cells) if runs is None else runs
    shaped = _matches(runs, "[0-9]{16}") & _matches(cells, _CARD_WORDS)
    for shape in _NUMBER_SHAPES:  # one pattern each: RE2 is ten times slower on their alternation
        shaped |= _matches(runs, shape)
    return shaped | always


# What an ID number (18 or 15 digits), a mobile and a card look like among a cell's digit runs.
_PROVINCE = "(?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12])"  # PROVINCES as a pattern
_NUMBER_SHAPES = (
    _PROVINCE + "[0-9]{4}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]",
    _PROVINCE + "[0-9]{6}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}",
    "1[3-9][0-9]{9}",
    "[3-6][0-9]{15}",
)
_CARD_WORDS = "银行卡|卡号|账号|帐号|账户|帐户|开户"
# An at-sign `_emails` can read an address around: after a character that is, once normalised, part
# of an address's local part — written as any character but the ASCII that never is (quotes,
# brackets, spaces, `:` `,` `;` `=`: a page's JSON-LD has "@context" and "@type"), with only
# characters the normalisation deletes between. An at-sign at the start, or after one of those, has
# no local part: `_emails` reads nothing there.
_MAIL_AT = f"[^\\s\"'<>(){{}}\\[\\],:;=][{RE2_INVISIBLE}]*[@＠﹫]"
_SHORTEST_SHAPE = 11  # digits of the shortest number `_NUMBER_SHAPES` describe (a mobile)


def _digit_runs(cells: pa.Array) -> pa.Array:
    """Each cell's digits as the detector can join them: full-width folded, separators and invisible
    characters removed, every other character a `|` (an ID's X kept). Every number `find` reports
    is a substring of one of these runs."""
    text = pc.replace_substring_regex(cells, f"[{RE2_SEPARATORS}{RE2_INVISIBLE}]+", "")
    return _nfkc(pc.replace_substring_regex(text, "[^\\p{Nd}XxＸｘ]+", "|"))


def _nfkc(cells: pa.Array) -> pa.Array:
    """NFKC, paid only by the cells that are not plain ASCII (for which it changes nothing)."""
    ascii_only = pc.fill_null(pc.string_is_ascii(cells), True)
    if pc.all(ascii_only).as_py():
        return cells
    other = pc.invert(ascii_only)
    return pc.replace_with_mask(cells, other, pc.utf8_normalize(cells.filter(other), form="NFKC"))


@cache
def _exotic_digits() -> str:
    """An RE2 class of the decimal digits NFKC leaves alone (all but ASCII and full-width)."""
    shipped = _shipped_tables()
    return _made_exotic_digits() if shipped is None else shipped[2]


def _made_exotic_digits() -> str:
    """`_exotic_digits` made from this Python's Unicode database."""
    codes = [c for c in range(0x80, sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Nd"]
    codes = [c for c in codes if not 0xFF10 <= c <= 0xFF19]
    ranges, start = [], codes[0]
    for previous, code in zip(codes, [*codes[1:], None], strict=True):
        if code != previous + 1:
            ranges.append(f"\\x{{{start:X}}}-\\x{{{previous:X}}}")
            start = code
    return "".join(ranges)


@cache
def _worth_a_look() -> str:
    """Cells where `find` (without known values) can find anything: an at-sign after what may be an
    address's local part (`_MAIL_AT`), a digit NFKC does not fold, or as many digits as a mobile's
    with nothing but separators and invisible characters between them — what `_digit_runs` joins;
    the shortest shape `_shaped` looks for has eleven. A pass of RE2's automaton that writes
    nothing: most lines of a release with digits have a date or a code, and `_digit_runs` rewrites
    each of them twice."""
    gap = f"[{RE2_SEPARATORS}{RE2_INVISIBLE}]*"
    return f"{_MAIL_AT}|[{_exotic_digits()}]|\\p{{Nd}}(?:{gap}\\p{{Nd}}){{{_SHORTEST_SHAPE - 1}}}"


def may_hold(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Vectorised prefilter: False only where neither `scan_column` without known values nor the
    control-character check can find anything — in the cell or in any part of it (both are searches
    for a pattern anywhere in a cell: what a part holds, the whole holds)."""
    column = _as_strings(column)
    return _matches(column, f"{_worth_a_look()}|{CONTROL_CHARACTERS}")  # one pass: as fast as either alone


def may_find(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """`may_hold`, narrowed by the number shapes `scan_column` looks for among a cell's digit runs
    (`_shaped`): still False only where neither finds anything in the cell or in any part of it — a
    part's digit runs are part of the cell's (separators dropped and every other character a `|`
    are changes of one character at a time)."""
    column = _as_strings(column)
    keep = np.zeros(len(column), dtype=bool)
    rows = np.flatnonzero(may_hold(column))
    if len(rows):
        cells = pc.take(column, pa.array(rows))
        keep[rows[_shaped(cells) | _matches(cells, CONTROL_CHARACTERS)]] = True
    return keep


def near_known(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Vectorised prefilter: True where a cell has the digits of a known value (seven or more)."""
    return _at_least(_all_digits(column), KNOWN_MIN_DIGITS)


def _at_least(digits: pa.Array, length: int) -> np.ndarray:
    return pc.fill_null(pc.greater_equal(pc.utf8_length(digits), length), False).to_numpy(zero_copy_only=False)


def _matches(cells: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(cells, pattern), False).to_numpy(zero_copy_only=False)


def _as_strings(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


DISTINCT_FROM = 1000  # cells of a column from which what depends on a cell's value alone is read per value


def _looked_at(column: pa.Array, prefilter: str) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """The rows `prefilter` matches, their digit runs (`_digit_runs`) and whether those have a
    shape (`_shaped`) — each a function of the cell's value: in a long column that repeats its values
    (a published name, a task, an authority: a million rows hold a few hundred thousand), computed
    once per distinct value and given to every row that holds it."""
    distinct = None
    if len(column) >= DISTINCT_FROM:
        encoded = pc.dictionary_encode(column)
        if 2 * len(encoded.dictionary) <= len(column):
            distinct, indices = encoded.dictionary, np.asarray(pc.fill_null(encoded.indices, -1))
    if distinct is None:
        rows = np.flatnonzero(_matches(column, prefilter))
        cells = pc.take(column, pa.array(rows))
        runs = _digit_runs(cells)
        return rows, runs, _shaped(cells, runs)
    wanted = np.flatnonzero(_matches(distinct, prefilter))
    cells = pc.take(distinct, pa.array(wanted))
    runs = _digit_runs(cells)
    shaped = _shaped(cells, runs)
    at = np.full(len(distinct) + 1, -1, dtype=np.int64)  # a value's place among the wanted (-1: not; null: last)
    at[wanted] = np.arange(len(wanted))
    place = at[indices]
    rows = np.flatnonzero(place >= 0)
    return rows, runs.take(pa.array(place[rows])), shaped[place[rows]]


def scan_column(column: pa.Array | pa.ChunkedArray, known: pa.Table | None = None) -> list[tuple[int, list[Hit]]]:
    """(row, hits) for every cell of a text column that holds a protected value. `known`, aligned
    with the column, holds for each row the numbers delivered for that record in columns that are
    never published (`number_digits` of each): found in the row's text, they are hits too."""
    column = _as_strings(column)
    flagged = np.zeros(len(column), dtype=bool)
    known_by_row: dict[int, frozenset[str]] = {}
    with_known = known is not None and known.num_columns
    # no digit, no at-sign: nothing to find; without known values, not even fewer than a mobile's digits
    rows, runs, shaped = _looked_at(column, r"[\p{Nd}@＠﹫]" if with_known else _worth_a_look())
    flagged[rows[shaped]] = True
    if with_known and len(rows):
        has_known = np.zeros(len(rows), dtype=bool)
        for values in known.columns:
            has_known |= pc.is_valid(pc.take(values, pa.array(rows))).to_numpy(zero_copy_only=False)
        digits = pc.replace_substring_regex(runs, "[|Xx]+", "")
        near = np.flatnonzero(has_known & _at_least(digits, KNOWN_MIN_DIGITS))
        if len(near):
            # Only where a known value is among the cell's digits (a vectorised substring test) does
            # find() look for it.
            values = known.take(pa.array(rows[near]))
            contained = _contains_any(pc.take(digits, pa.array(near)), values)
            per_column = [values.column(i).filter(pa.array(contained)).to_pylist() for i in range(values.num_columns)]
            for row, *mine in zip(rows[near][contained], *per_column, strict=True):
                known_by_row[int(row)] = frozenset(v for v in mine if v)
            flagged[rows[near][contained]] = True
    suspicious = np.flatnonzero(flagged)
    if not len(suspicious):
        return []
    found, seen = [], {}  # a value held by many rows is read by `find` once (for the same known values)
    for row, value in zip(suspicious, pc.take(column, pa.array(suspicious)).to_pylist(), strict=True):
        mine = known_by_row.get(int(row), frozenset())
        hits = seen.get((value, mine))
        if hits is None:
            hits = seen[(value, mine)] = find(value, mine)
        if hits:
            found.append((int(row), hits))
    return found


def mask_column(column: pa.Array | pa.ChunkedArray, known: pa.Table | None = None) -> tuple[pa.Array, Counter]:
    """Mask protected values in a whole text column (`known` as for `scan_column`); only
    prefiltered cells reach the precise pass. The masked column and how many values of each kind."""
    masked, by_row = mask_column_by_row(column, known)
    return masked, Counter({kind: int(per_row.sum()) for kind, per_row in by_row.items()})


def mask_column_by_row(
    column: pa.Array | pa.ChunkedArray, known: pa.Table | None = None
) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """`mask_column`, counting per row: kind -> how many values of that kind each row had masked."""
    column = _as_strings(column)
    found = scan_column(column, known)
    counts: dict[str, np.ndarray] = {}
    if not found:
        return column, counts
    rows = np.array([row for row, _ in found])
    replaced = []
    for value, (row, hits) in zip(pc.take(column, pa.array(rows)).to_pylist(), found, strict=True):
        replaced.append(_masked(value, hits))
        for hit in hits:
            per_row = counts.get(hit.kind)
            if per_row is None:  # not `setdefault`: that would make a column of zeros for every hit
                per_row = counts[hit.kind] = np.zeros(len(column), dtype=np.int32)
            per_row[row] += 1
    cells = column.to_numpy(zero_copy_only=False).astype(object)
    cells[rows] = replaced
    return pa.array(cells, pa.string()), counts


def number_digits(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The digits of each value (full-width folded), null where fewer than KNOWN_MIN_DIGITS: what a
    known protected value looks like to `find(known=…)` and to the leak gate."""
    digits = _all_digits(column)
    return pc.if_else(pc.greater_equal(pc.utf8_length(digits), KNOWN_MIN_DIGITS), digits, None)


def _contains_any(digits: pa.Array, values: pa.Table) -> np.ndarray:
    """Row by row: does `digits` contain any of the row's `values`? (DuckDB: Arrow has no row-wise
    substring search.)"""
    table = values.rename_columns([f"k{i}" for i in range(values.num_columns)]).append_column("d", digits)
    condition = " OR ".join(f"contains(d, k{i})" for i in range(values.num_columns))
    with tables.query() as connection:
        connection.register("cells", table)
        result = connection.sql(f"SELECT coalesce({condition}, false) AS hit FROM cells").fetchnumpy()["hit"]
    return np.asarray(result, dtype=bool)


def _all_digits(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return _nfkc(pc.replace_substring_regex(_as_strings(column), r"[^\p{Nd}]+", ""))


def mask_value(value: str | None) -> str | None:
    """A protected column's value as it may appear in a report: enough to recognise, not to use."""
    if value is None or value == "":
        return value
    if len(value) <= 2:
        return value[0] + "*" * (len(value) - 1)
    if len(value) < 8:
        return value[0] + "*" * (len(value) - 2) + value[-1]
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


# --- control characters --------------------------------------------------------------------------

# C0 and C1 control characters other than tab, line feed and carriage return: never published.
CONTROL_CHARACTERS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"
