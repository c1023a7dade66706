"""The personal-data scanner: every spelling people type, and the near-misses that must survive."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from gongshi.identifiers import resident_id_check_char
from gongshi.pii import MASKS, candidates, find, luhn_valid, mask_column, mask_text, scan_column

ID = "[身份证号已隐藏]"
MOBILE = "[手机号已隐藏]"
CARD = "[银行卡号已隐藏]"
EMAIL = "[邮箱已隐藏]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("经营者黄文军（身份证321204197807098146）拒绝配合", f"经营者黄文军（身份证{ID}）拒绝配合"),
        ("身份证号11010519491231002x", f"身份证号{ID}"),  # lower-case x
        ("身份证号 11010519491231002X。", f"身份证号 {ID}。"),
        ("证件 1101 0519 4912 3100 2X 已核", f"证件 {ID} 已核"),  # spaces inside
        ("证件110105-19491231-002X", f"证件{ID}"),  # hyphens inside
        ("证件１１０１０５１９４９１２３１００２Ｘ", f"证件{ID}"),  # full-width
        ("黄文军321204197807098146拒绝", f"黄文军{ID}拒绝"),  # glued to Chinese text
        ("旧证号110105491231002", f"旧证号{ID}"),  # 15-digit old form
        ("电话13951234567", f"电话{MOBILE}"),
        ("电话：+86 139 5123 4567", f"电话：{MOBILE}"),
        ("电话0086-139-5123-4567", f"电话{MOBILE}"),
        ("手机８６１３９５１２３４５６７", f"手机{MOBILE}"),
        ("手机１３９５１２３４５６７。", f"手机{MOBILE}。"),
        ("联系人王建国 13951234567", f"联系人王建国 {MOBILE}"),
        ("卡号6222021234567890128", f"卡号{CARD}"),  # Luhn-valid UnionPay
        ("工资卡 6222 0212 3456 7890 128", f"工资卡 {CARD}"),
        ("开户账号 1234567890123456", f"开户账号 {CARD}"),  # no Luhn, but said to be an account
        ("邮箱 zhang.san@163.com", f"邮箱 {EMAIL}"),
        ("邮箱 ｚｈａｎｇｓａｎ＠ｑｑ．ｃｏｍ", f"邮箱 {EMAIL}"),
        ("两个号码 13951234567、13812345678", f"两个号码 {MOBILE}、{MOBILE}"),
        # all digits, a valid ID and (by chance) a valid credit code too: privacy wins...
        ("经营者321204195312011003", f"经营者{ID}"),
        # ...unless the text says it is a code
        ("统一社会信用代码：321204195312011003", "统一社会信用代码：321204195312011003"),
    ],
)
def test_protected_spellings_are_masked(text, expected):
    assert mask_text(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "统一社会信用代码91320200921B86873E",  # a credit code is public
        "统一社会信用代码 913206001619270320？",  # even an all-digit-looking one, when valid
        "决定书文号宁市监异列〔2026〕123号",
        "检查日期2026-11-26，2026年11月25日",
        "罚款人民币1,234,567.89元",
        "任务编号JS202611260000",
        "订单号2026112612345678",  # 16 digits, starts with 2, no account context
        "流水号 320107199301267013",  # 18 digits shaped like an ID whose check fails
        "编号 11010519491331002X",  # ID-shaped, impossible birth date
        "办公电话 025-83456789",  # a landline is not a personal mobile
        "单位邮箱 office@jsmsa.gov.cn",  # an institutional address
        "坐标 118.7969, 32.0603",
        "文件 苏政发〔2015〕39号",
        "时间戳 1764345600000",
    ],
)
def test_public_identifiers_and_near_misses_survive(text):
    assert mask_text(text) == (text, Counter())


def test_valid_credit_code_is_protected_even_when_all_digits():
    from gongshi.identifiers import org_code_check_char, uscc_check_char

    body = "91320600" + "16192703"
    code = body + org_code_check_char(body[8:])
    code += uscc_check_char(code)
    assert not find(f"代码{code}")


def test_counts_by_kind():
    masked, counts = mask_text("身份证321204197807098146，电话13951234567，13812345678，a@b.cn")
    assert counts == {"resident_id": 1, "mobile": 2, "email": 1}
    assert "3212" not in masked and "1395" not in masked


def test_luhn():
    assert luhn_valid("6222021234567890128") and not luhn_valid("6222021234567890127")


def test_prefilter_skips_ordinary_text():
    column = pa.array(["未发现问题", "已责令限期整改", None, "电话13951234567", "a@b.cn"])
    assert candidates(column).tolist() == [False, False, False, True, True]


def test_vectorised_column_equals_cell_by_cell():
    cells = ["电话13951234567", "无", None, "身份证321204197807098146", "代码91320200921B86873E"]
    masked, counts = mask_column(pa.array(cells))
    assert masked.to_pylist() == [None if c is None else mask_text(c)[0] for c in cells]
    assert counts == {"mobile": 1, "resident_id": 1}


chinese = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=12)
separators = st.sampled_from(["", "：", "（", " ", "，"])


@st.composite
def resident_ids(draw):
    born = draw(st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2010, 12, 31)))
    region = draw(st.sampled_from(["110105", "320107", "321204", "440305", "510104"]))
    first17 = region + born.strftime("%Y%m%d") + f"{draw(st.integers(0, 999)):03d}"
    number = first17 + resident_id_check_char(first17)
    if draw(st.booleans()):
        number = number.lower()
    if draw(st.booleans()):
        number = number.translate({ord(c): chr(ord(c) + 0xFEE0) for c in "0123456789Xx"})  # full-width
    return number


@st.composite
def mobiles(draw):
    number = draw(st.sampled_from(["13", "15", "17", "18", "19"])) + f"{draw(st.integers(0, 10**9 - 1)):09d}"
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "86-"]))
    if draw(st.booleans()):
        number = f"{number[:3]}-{number[3:7]}-{number[7:]}"
    elif draw(st.booleans()):
        number = f"{number[:3]} {number[3:7]} {number[7:]}"
    return prefix + number


@settings(max_examples=300)
@given(before=chinese, sep1=separators, value=st.one_of(resident_ids(), mobiles()), sep2=separators, after=chinese)
def test_any_valid_id_or_mobile_inside_chinese_text_is_masked(before, sep1, value, sep2, after):
    text = before + sep1 + value + sep2 + after
    masked, counts = mask_text(text)
    assert sum(counts.values()) == 1
    assert masked == before + sep1 + next(iter(MASKS[k] for k in counts)) + sep2 + after
    digits = "".join(c for c in value.translate({i + 0xFF10: str(i) for i in range(10)}) if c.isdigit())
    assert digits[-8:] not in masked


@settings(max_examples=200)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5) | st.sampled_from("，。：-年月日号"),
        max_size=40,
    ),
    st.integers(0, 10**8),
)
def test_text_with_short_numbers_is_left_alone(text, number):
    value = f"{text}{number}{text}"
    assume(len(str(number)) <= 9)
    assert mask_text(value) == (value, Counter())


# --- detection does not depend on what stands next to a number ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("南京市sfz320106198506127311商行", f"南京市sfz{ID}商行"),
        ("经营者（身份证ID320106198506127311）拒绝配合", f"经营者（身份证ID{ID}）拒绝配合"),
        ("联系人tel13912345678，已责令整改", f"联系人tel{MOBILE}，已责令整改"),
        ("No320106198506127311", f"No{ID}"),
        ("mobile13912345678", f"mobile{MOBILE}"),
        ("TEL13912345678", f"TEL{MOBILE}"),
        ("320106198506127311abc", f"{ID}abc"),
        ("13912345678A栋", f"{MOBILE}A栋"),
        ("sfz３２０１０６１９８５０６１２７３１１号", f"sfz{ID}号"),  # full-width glued to Latin
        ("电话139.1234.5678", f"电话{MOBILE}"),  # dots
        ("电话139  1234  5678", f"电话{MOBILE}"),  # double spaces
        ("电话1\u200b3\u200b9\u200b1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7\u200b8止", f"电话{MOBILE}止"),
        ("证件3201\u200d0619\u20608506\ufeff127311", f"证件{ID}"),  # other invisible characters
        ("证件320106\u00a019850612\u00a07311", f"证件{ID}"),  # no-break spaces
        ("电话139\u20141234\u20145678", f"电话{MOBILE}"),  # dashes
        ("ID11010519491231002xabc", f"ID{ID}abc"),  # a lower-case check x, then letters
        ("身份证320106198506127311 13912345678", f"身份证{ID} {MOBILE}"),  # two numbers side by side
        ("卡号x6222021234567890128y", f"卡号x{CARD}y"),
        ("邮箱：zhang_san@163.com。", f"邮箱：{EMAIL}。"),
    ],
)
def test_numbers_glued_to_anything_are_masked(text, expected):
    assert mask_text(text)[0] == expected


def test_masks_keep_invisible_characters_outside_the_number():
    masked, counts = mask_text("\u200b电话\u200b13912345678\u200b")
    assert masked == f"\u200b电话\u200b{MOBILE}\u200b" and counts == {"mobile": 1}


@pytest.mark.parametrize(
    "text",
    [
        "坐标 118.7969 32.0603",  # numbers side by side with different separators are not one number
        "svg M139.5 123.5 L678.5 12.5",
        "sha256 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
        "记录 ipjhkmbaecdfghij，化名 pabcdefghijklmnop",
        "文号苏市监〔2026〕1391号，2026年11月26日",
        "JS202611260000123",
        "金额 13,912,345,678.00 元",
        "日期 2026-11-01 2026-11-02 2026-11-03",
        "统一社会信用代码91320200921B86873E；91320100MA1W2N6X5Q",
    ],
)
def test_our_own_identifiers_and_layouts_are_not_numbers(text):
    assert mask_text(text)[0] == text


latin = st.text(alphabet=st.characters(min_codepoint=0x41, max_codepoint=0x7A).filter(str.isalpha), max_size=8)
punctuation = st.text(alphabet=st.sampled_from(list("，。：；（）()[]、/#:_ =")), max_size=3)
context = st.one_of(chinese, latin, punctuation, st.tuples(latin, chinese).map("".join))
invisible = st.sampled_from(["", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202a"])


@st.composite
def written_numbers(draw):
    """An ID or mobile as a careless department writes it: groups, one kind of separator, invisible
    characters, full-width digits."""
    digits = draw(st.one_of(resident_ids(), mobiles().map(lambda m: "".join(c for c in m if c.isdigit())[-11:])))
    digits = digits.translate({i + 0xFF10: str(i) for i in range(10)} | {0xFF38: "X", 0xFF58: "x"})
    separator = draw(st.sampled_from(["", " ", "  ", ".", "-"]))
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=4)))
    parts = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    text = separator.join(parts)
    hidden = draw(invisible)
    if hidden:
        text = "".join(c + hidden if draw(st.booleans()) else c for c in text[:-1]) + text[-1]
    if draw(st.booleans()):
        text = text.translate({ord(c): chr(ord(c) + 0xFEE0) for c in "0123456789"})
    return text, digits


@settings(max_examples=500)
@given(before=context, written=written_numbers(), after=context)
def test_ids_and_mobiles_in_any_context_are_masked(before, written, after):
    text, digits = written
    assume(not (before[-1:] + after[:1]).isdigit())
    masked, counts = mask_text(before + text + after)
    assert sum(counts.values()) == 1, (before + text + after, masked)
    assert masked == before + next(iter(MASKS[k] for k in counts)) + after
    assert digits[-6:] not in "".join(c for c in masked if c.isdigit())


def test_corpus_of_generated_deliveries_keeps_public_identifiers(tmp_path):
    """Every credit code, task number, document number, date and entity name the generator writes
    (millions of them look alike in a province) survives the detector untouched."""
    import csv
    import json

    from gongshi.sampledata import write_sample_inbox

    write_sample_inbox(tmp_path, records=4000, days=2, seed=11)
    public = {"统一社会信用代码", "社会信用代码", "任务编号", "决定书文号", "检查日期", "列入日期", "市场主体名称",
              "调整依据", "事项编码", "生效日期", "文号"}  # fmt: skip
    values = set()
    for path in tmp_path.rglob("*.csv"):
        data = path.read_bytes()
        text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else data.decode("gb18030")
        for row in csv.DictReader(text.splitlines()):
            values |= {v for k, v in row.items() if k in public and v}
    for path in tmp_path.rglob("*.json"):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # the generator's truncated resend
        values |= {str(v) for r in records for k, v in r.items() if k in public and v}
    assert len(values) > 3000
    changed = {v: mask_text(v)[0] for v in values if mask_text(v)[0] != v}
    assert not changed


def _public_code_spans(text: str) -> list[tuple[int, int]]:
    """The plain statement of what `_in_public_code` decides: spans of valid credit codes standing
    as tokens of 18 letters and digits."""
    import re

    from gongshi.identifiers import uscc_problem

    token = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{18}(?![0-9A-Za-z])")
    return [m.span() for m in token.finditer(text) if uscc_problem(m.group().upper()) is None]


codes = st.sampled_from(["91320100MA1XYZ1234", "9132010001YR7XW964", "91320200921B86873E", "913201006CQ412WA50"])
code_text = st.lists(st.one_of(codes, st.text(alphabet="0123456789ABXx -.,，代码", max_size=12)), max_size=8).map(
    "".join
)


@given(text=code_text, start=st.integers(0, 120), length=st.integers(1, 25))
@settings(max_examples=400)
def test_a_number_in_a_credit_code_is_told_by_its_neighbourhood(text, start, length):
    """Looking only at the tokens around a number says what checking it against every credit code
    of the text says (a search shard holds hundreds of codes)."""
    from gongshi.pii import _in_public_code

    assume(start < len(text))
    end = min(len(text), start + length)
    overlaps = any(not (end <= a or start >= b) for a, b in _public_code_spans(text))
    assert _in_public_code(text, start, end) == overlaps


noise = st.text(
    alphabet=st.sampled_from([*"0123456789０１２３４５６７８９ -.·—\u200b\u3000@＠xX年号，", "٣", "१"]),
    max_size=40,
)
# noise, or a number written as people write it, with words around it and noise after
noisy_cells = st.one_of(
    noise, st.tuples(context, written_numbers(), context, noise).map(lambda t: t[0] + t[1][0] + t[2] + t[3])
)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(noisy_cells, min_size=1, max_size=12))
def test_the_column_scan_finds_in_the_cells_what_find_finds_in_each(cells):
    """The column's prefilters (a pass for eleven digits joined only by separators or invisible
    characters, an at-sign or a digit NFKC keeps; then the digit runs' shapes) never pass over a cell
    where the precise detector finds something."""
    found = {row: hits for row, hits in scan_column(pa.array(cells))}
    assert found == {row: hits for row, text in enumerate(cells) if (hits := find(text))}


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(max_size=20),
    cell=st.one_of(noise, st.tuples(context, written_numbers(), context).map(lambda t: t[0] + t[1][0] + t[2])),
    after=st.text(max_size=20),
)
def test_a_text_ruled_out_by_may_hold_or_may_find_has_nothing_to_find_in_it_or_any_part(before, cell, after):
    """The leak gate leaves out the lines `may_hold` (a data file's) or `may_find` (a page's) rules
    out: in such a text, and in every part of it (a line's pieces), neither `find` nor the
    control-character check finds anything. What `may_find` keeps, `may_hold` keeps."""
    from gongshi.pii import CONTROL_CHARACTERS, may_find, may_hold

    text = before + cell + after
    held, found = may_hold(pa.array([text]))[0], may_find(pa.array([text]))[0]
    assert held or not found
    if found:
        return
    for part in (text, cell, before, after, before + cell, cell + after):
        assert not find(part) and not re.search(CONTROL_CHARACTERS, part)


@settings(max_examples=60, deadline=None)
@given(
    pool=st.lists(noisy_cells, min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
    with_known=st.booleans(),
)
def test_a_long_column_of_repeated_cells_is_scanned_as_each_cell_alone(pool, seed, with_known):
    """A column of a thousand cells and more that repeats its values is read once per value for what
    depends on the value alone (`pii._looked_at`); what each row's own delivered numbers add is still
    the row's: the same hits as `find` on each cell with that row's known values."""
    import numpy as np

    from gongshi.pii import DISTINCT_FROM, number_digits

    rng = np.random.default_rng(seed)
    rows = DISTINCT_FROM + 200
    pool = [*pool, "请联系 025-83456789 核实", "座机83456789"]  # a landline: found only as a row's own number
    cells = [pool[i] if i < len(pool) else None for i in rng.integers(0, len(pool) + 1, rows)]
    known = None
    if with_known:  # each row's own contact number: one of the written numbers, or another, or none
        phones = ["13951234567", "025-83456789", "83456789", None]
        known = pa.table({"phone": number_digits(pa.array([phones[i] for i in rng.integers(0, 4, rows)]))})
    phone_of_row = known.column(0).to_pylist() if known else [None] * rows
    mine = [frozenset([phone]) if phone else frozenset() for phone in phone_of_row]
    found = {row: hits for row, hits in scan_column(pa.array(cells, pa.string()), known)}
    assert found == {
        row: hits for row, text in enumerate(cells) if text is not None and (hits := find(text, mine[row]))
    }


pieces_alphabet = st.sampled_from(
    [*"0123456789０１２３４５６７８９ -.,，;：:\u200b@＠xXa", "账号", "卡号", "信用代码", "代码", "gov.cn", ".com", '"']
)


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(
        st.one_of(
            st.lists(pieces_alphabet, max_size=12).map("".join),
            st.tuples(context, written_numbers(), context).map(lambda t: t[0] + t[1][0] + t[2]),
            codes,
            st.sampled_from(["6222021234567890128", "1234567890123456", "zhang.san@163.com", "a@b.gov.cn"]),
        ),
        min_size=1,
        max_size=8,
    ),
    commas=st.lists(st.sampled_from([",", '","', '":"', ", ", ",\u200b"]), min_size=8, max_size=8),
)
def test_what_is_found_in_a_line_is_what_is_found_in_its_comma_separated_pieces(parts, commas):
    """The leak gate scans a long line in pieces cut at its commas (`leakscan._pieces`): no number,
    address, digest or code holds a comma, and no context word counts across one — the same values
    are found either way, of the same kinds."""
    line = "".join(part + comma for part, comma in zip(parts, commas, strict=False))

    def found(text: str) -> list[tuple[str, str]]:
        return [(hit.kind, hit.digits) for hit in find(text)]

    assert sorted(found(line)) == sorted(hit for piece in line.split(",") for hit in found(piece))


# what stands around an at-sign in pages and deliveries: an address's characters, the JSON-LD and
# markup around "@context", and what the normalisation folds or deletes
mail_text = st.lists(
    st.sampled_from(
        [
            *"aZ09_.-+%@＠﹫\"'<>{}[](),:;= \t\n",
            *("\u200b", "\x07", "\u0301", "Ａ", "ｚ", "０", "—", "·", "。"),
            *("com", "cn", "qq", "163", "gov.cn", "张", "邮箱", "@context", "@type", '"@', "mailto:"),
        ]
    ),
    max_size=16,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=mail_text)
@example(text="QQ邮箱：12345@qq.com")
@example(text="ｚｈａｎｇ\u200b＠ｑｑ.ｃｏｍ")
@example(text="a_b%+-.0\x07﹫163。com")
def test_every_address_the_detector_reads_is_behind_an_at_sign_the_prefilters_keep(text):
    """`_MAIL_AT` — an at-sign after what may be an address's local part, only characters the
    normalisation deletes between — stands wherever `find` reads an e-mail address, so the column
    scan and the leak gate's prefilters, which keep a cell or a line only for it (or for digits), miss
    none; and an at-sign after a quote, a bracket, a space or at the start (JSON-LD's "@context")
    does not keep a line."""
    from gongshi.pii import may_find, may_hold

    column = pa.array([text])
    if any(hit.kind == "email" for hit in find(text)):
        assert may_hold(column)[0] and may_find(column)[0] and candidates(column)[0]
        assert [row for row, _ in scan_column(column)] == [0]


def test_json_ld_at_signs_keep_no_line_an_address_does():
    from gongshi.pii import may_find

    lines = pa.array(
        [
            '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Organization"}</script>',
            "联系邮箱：zhang.san@163.com",
            "联系邮箱：zhang.san\u200b＠163.com",
            "@163.com",
        ]
    )
    assert may_find(lines).tolist() == [False, True, True, False]
    assert [bool(find(line)) for line in lines.to_pylist()] == [False, True, True, False]


def test_the_unicode_tables_read_are_those_made_from_the_unicode_database():
    """The detector's tables over all of Unicode are read from the file made for this Python's
    Unicode version (a millisecond, against 0.6 s to make them): what is read is what is made."""
    from gongshi import pii

    assert pii.unicode_tables_path("14.0.0").is_file()  # Python 3.11's
    if pii.unicode_tables_path().is_file():
        assert pii._shipped_tables() is not None
    assert pii._translation() == pii._made_translation()
    assert pii._exotic_digits() == pii._made_exotic_digits()


def test_unicode_tables_of_another_version_or_damaged_are_made_instead(tmp_path, monkeypatch):
    from gongshi import pii

    path = pii.unicode_tables_path()
    try:
        version = unicodedata.unidata_version
        for content in (
            '{"unicode": "1.0.0", "translation": {}, "deleted": [], "exotic_digits": ""}',
            "{trunc",
            f'{{"unicode": "{version}", "translation": {{}}, "deleted": []}}',
            f'{{"unicode": "{version}", "translation": {{"x": "1"}}, "deleted": [], "exotic_digits": ""}}',
            f'{{"unicode": "{version}", "translation": [], "deleted": [], "exotic_digits": ""}}',
            f'{{"unicode": "{version}", "translation": {{"1": 2}}, "deleted": [], "exotic_digits": ""}}',
            "[]",
        ):
            (tmp_path / path.name).write_text(content, "utf-8")
            monkeypatch.setattr(pii, "UNICODE_TABLES", tmp_path)
            for function in (pii._shipped_tables, pii._translation, pii._exotic_digits):
                function.cache_clear()
            assert pii._shipped_tables() is None
            assert pii._translation() == pii._made_translation()
            assert pii._exotic_digits() == pii._made_exotic_digits()
    finally:
        monkeypatch.undo()
        for function in (pii._shipped_tables, pii._translation, pii._exotic_digits):
            function.cache_clear()
    assert pii._shipped_tables() is not None or not path.is_file()
