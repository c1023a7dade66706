"""Identifier algorithms: 统一社会信用代码 (GB 32100), 组织机构代码 (GB 11714), 公民身份号码 (GB 11643).

Each check exists twice on purpose: a scalar function that reads like the standard (used in tests,
error messages and the sample-data generator) and a vectorised twin over whole Arrow columns (used
by validation and redaction). Tests assert the two agree.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gongshi.dates import civil_dates

# --- 统一社会信用代码 (GB 32100-2015) -------------------------------------------------------
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I O S V Z
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"

# --- 组织机构代码 (GB 11714-1997) ------------------------------------------------------------
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]

# --- 公民身份号码 (GB 11643-1999) ------------------------------------------------------------
RESIDENT_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
RESIDENT_ID_CHECK = "10X98765432"


def normalise_identifier(value: str) -> str:
    """NFKC (full-width to half-width), strip every kind of whitespace, upper-case."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    total = sum(_org_value(c) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _org_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid 统一社会信用代码, or None when it is. `code` must be normalised."""
    if len(code) != 18:
        return "length"
    if any(c not in USCC_ALPHABET for c in code) or not code[2:8].isdigit():
        return "charset"
    if uscc_check_char(code[:17]) != code[17]:
        return "check"
    if org_code_check_char(code[8:16]) != code[16]:
        return "org_check"
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(normalise_identifier(code)) is None


def resident_id_problem(number: str, today: dt.date | None = None) -> str | None:
    """Why `number` is not a valid 公民身份号码 (18-digit or old 15-digit), or None."""
    today = today or dt.date.today()
    if len(number) == 18:
        if not number[:17].isdigit() or number[17] not in "0123456789X":
            return "charset"
        birth = number[6:14]
    elif len(number) == 15:
        if not number.isdigit():
            return "charset"
        birth = "19" + number[6:12]
    else:
        return "length"
    try:
        born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        return "birth_date"
    if born > today or born.year < 1900:
        return "birth_date"
    if len(number) == 18:
        total = sum(int(c) * w for c, w in zip(number[:17], RESIDENT_ID_WEIGHTS, strict=True))
        if RESIDENT_ID_CHECK[total % 11] != number[17]:
            return "check"
    return None


def is_valid_resident_id(number: str, today: dt.date | None = None) -> bool:
    return resident_id_problem(normalise_identifier(number), today) is None


def resident_id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK[total % 11]


# --- identifiers the project makes -------------------------------------------------------------

# Record ids and pseudonyms are hex digests written in letters only (0-9 as g-p, a-f kept): no run
# of digits in them can ever be read as an ID, phone or card number, whatever stands next to it.
HEX_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")
LETTER_HEX_PATTERN = "[a-p]"


def letters_only(hex_digest: str) -> str:
    return hex_digest.translate(HEX_AS_LETTERS)


# --- vectorised twins ---------------------------------------------------------------------------

_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
for _c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ORG_VALUE[ord(_c)] = _org_value(_c)
_USCC_CHECK_BYTES = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_ORG_CHECK_BYTES = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # index = 11 - s%11, mod 11
_RID_CHECK_BYTES = np.frombuffer(RESIDENT_ID_CHECK.encode(), dtype=np.uint8)


def normalise_identifiers(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Vectorised `normalise_identifier`: NFKC, drop whitespace, upper-case.

    Cells that are already plain upper-case ASCII (nearly all) are left alone; only the rest pay for
    Unicode normalisation.
    """
    column = _combine(column)
    plain = pc.fill_null(pc.match_substring_regex(column, r"^[0-9A-Z\-]*$"), True)
    if pc.all(plain).as_py():
        return column
    messy = pc.invert(plain)
    fixed = pc.utf8_upper(
        pc.replace_substring_regex(pc.utf8_normalize(pc.filter(column, messy), form="NFKC"), r"\s+", "")
    )
    return pc.replace_with_mask(column, messy, fixed)


def _combine(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _fixed_width_bytes(column: pa.Array, width: int) -> np.ndarray:
    """View an array of ASCII strings that all have exactly `width` bytes as an (n, width) matrix."""
    column = _combine(column).cast(pa.large_string())
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)
    if len(column) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    return data[offsets[0] : offsets[-1]].reshape(len(column), width)


USCC_PROBLEMS = ("length", "charset", "check", "org_check")  # code i + 1 in `uscc_problem_codes`


def uscc_problem_codes(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Vectorised `uscc_problem` over normalised codes as int8: 0 valid or null, i + 1 for USCC_PROBLEMS[i]."""
    column = _combine(column)
    codes = np.zeros(len(column), dtype=np.int8)
    present = pc.is_valid(column).to_numpy(zero_copy_only=False)
    length_ok = pc.fill_null(pc.equal(pc.utf8_length(column), 18), False).to_numpy(zero_copy_only=False)
    charset_ok = pc.fill_null(pc.match_substring_regex(column, USCC_PATTERN), False).to_numpy(zero_copy_only=False)
    codes[present & ~length_ok] = 1
    codes[present & length_ok & ~charset_ok] = 2
    candidates = np.flatnonzero(charset_ok)
    if len(candidates):
        matrix = _fixed_width_bytes(column.filter(pa.array(charset_ok)), 18)
        total = _USCC_VALUE[matrix[:, :17]] @ np.array(USCC_WEIGHTS, dtype=np.int64)
        check_ok = _USCC_CHECK_BYTES[(31 - total % 31) % 31] == matrix[:, 17]
        org_total = _ORG_VALUE[matrix[:, 8:16]] @ np.array(ORG_WEIGHTS, dtype=np.int64)
        org_ok = _ORG_CHECK_BYTES[(11 - org_total % 11) % 12] == matrix[:, 16]
        codes[candidates[~check_ok]] = 3
        codes[candidates[check_ok & ~org_ok]] = 4
    return codes


def uscc_problems(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Vectorised `uscc_problem` over normalised codes: the problem name, null where valid (or null)."""
    names = np.array([None, *USCC_PROBLEMS], dtype=object)
    return pa.array(names[uscc_problem_codes(column)], pa.string())


def resident_id_problems(column: pa.Array | pa.ChunkedArray, today: dt.date) -> pa.Array:
    """Vectorised `resident_id_problem` over normalised numbers: null where valid (or null input)."""
    column = _combine(column)
    n = len(column)
    problem = np.full(n, None, dtype=object)
    present = pc.fill_null(pc.invert(pc.is_null(column)), False).to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.utf8_length(column), 0).to_numpy(zero_copy_only=False)
    is18 = pc.fill_null(pc.match_substring_regex(column, r"^[0-9]{17}[0-9X]$"), False).to_numpy(zero_copy_only=False)
    is15 = pc.fill_null(pc.match_substring_regex(column, r"^[0-9]{15}$"), False).to_numpy(zero_copy_only=False)
    problem[present & ~np.isin(lengths, [15, 18])] = "length"
    problem[present & np.isin(lengths, [15, 18]) & ~is18 & ~is15] = "charset"
    for width, mask in ((18, is18), (15, is15)):
        rows = np.flatnonzero(mask)
        if not len(rows):
            continue
        matrix = _fixed_width_bytes(pc.take(column, pa.array(rows)), width)
        digits = matrix.astype(np.int64) - ord("0")
        if width == 18:
            year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
            month = digits[:, 10] * 10 + digits[:, 11]
            day = digits[:, 12] * 10 + digits[:, 13]
        else:
            year = 1900 + digits[:, 6] * 10 + digits[:, 7]
            month = digits[:, 8] * 10 + digits[:, 9]
            day = digits[:, 10] * 10 + digits[:, 11]
        birth_ok = _valid_dates(year, month, day, today)
        problem[rows[~birth_ok]] = "birth_date"
        if width == 18:
            total = digits[:, :17] @ np.array(RESIDENT_ID_WEIGHTS, dtype=np.int64)
            check_ok = _RID_CHECK_BYTES[total % 11] == matrix[:, 17]
            problem[rows[birth_ok & ~check_ok]] = "check"
    return pa.array(problem, type=pa.string())


def _valid_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray, today: dt.date) -> np.ndarray:
    """True where (year, month, day) is a real calendar date between 1900-01-01 and `today`."""
    dates = civil_dates(year, month, day)
    return ~np.isnat(dates) & (dates >= np.datetime64("1900-01-01")) & (dates <= np.datetime64(today, "D"))
