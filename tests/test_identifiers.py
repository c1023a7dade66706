"""统一社会信用代码 / 组织机构代码 / 公民身份号码 against published examples, and the vectorised
twins against the scalar functions."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshi.identifiers import (
    USCC_ALPHABET,
    is_valid_resident_id,
    is_valid_uscc,
    normalise_identifier,
    normalise_identifiers,
    org_code_check_char,
    resident_id_check_char,
    resident_id_problem,
    resident_id_problems,
    uscc_check_char,
    uscc_problem,
    uscc_problems,
)

TODAY = dt.date(2026, 11, 28)


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the example in DESIGN.md (passes both checks)
        "914403001922038216",  # 华为技术有限公司, as published on its business licence
        "9144030071526726XG",  # 深圳市腾讯计算机系统有限公司
        "91320200921B86873E",  # from the sample deliveries
        "923205009232T5707K",  # an individual business (个体工商户), type 92
    ],
)
def test_published_credit_codes_pass_both_checks(code):
    assert uscc_problem(code) is None
    assert is_valid_uscc(code)


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91321100764919X410", "check"),  # the sample's wrong check character
        ("91350100M000100Y4", "length"),
        ("91350100M000100Y433", "length"),
        ("91350100M0001O0Y43", "charset"),  # letter O is not in the alphabet
        ("9135A100M000100Y43", "charset"),  # region code must be digits
    ],
)
def test_broken_credit_codes_say_why(code, problem):
    assert uscc_problem(code) == problem


def test_org_code_check_is_enforced_separately():
    # Change the org-code body and recompute only the USCC check: the GB 11714 check must still fail.
    prefix, org_body = "91350100", "M0002001"
    right = org_code_check_char(org_body)
    wrong = "0" if right != "0" else "1"
    for org_check, problem in ((right, None), (wrong, "org_check")):
        first17 = prefix + org_body + org_check
        assert uscc_problem(first17 + uscc_check_char(first17)) == problem


def test_org_code_check_maps_ten_and_eleven():
    assert org_code_check_char("D2143569") == "X"  # classic GB 11714 example D2143569-X
    assert all(c in "0123456789X" for c in (org_code_check_char(f"{n:08d}") for n in range(200)))


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("９１３２０６００１６１９２７H３２０", "91320600161927H320"),
        ("91320800r45370079d", "91320800R45370079D"),
        (" 9132 0800 R453 7007 9D ", "91320800R45370079D"),
        ("9132\u30000800R45370079D", "91320800R45370079D"),
    ],
)
def test_normalisation_full_width_lower_case_spaces(raw, normal):
    assert normalise_identifier(raw) == normal
    assert normalise_identifiers(pa.array([raw])).to_pylist() == [normal]
    assert is_valid_uscc(raw)


def test_standard_example_check_digit():
    # GB 11643-1999's own example; born 1880, so it fails the birth-date plausibility check (>= 1900).
    assert resident_id_check_char("44052418800101001") == "4"
    assert resident_id_problem("440524188001010014", TODAY) == "birth_date"


@pytest.mark.parametrize("number", ["11010519491231002X", "320107199301267012", "321204197807098146"])
def test_published_resident_ids(number):
    assert resident_id_problem(number, TODAY) is None
    assert is_valid_resident_id(number.lower(), TODAY)


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("110105194912310021", "check"),
        ("11010519491331002X", "birth_date"),
        ("110105203012310028", "birth_date"),  # born in the future
        ("1101051949123100", "length"),
        ("11010519491231002Y", "charset"),
        ("110105491231002", None),  # old 15-digit form, no check digit
        ("110105491331002", "birth_date"),
    ],
)
def test_resident_id_problems(number, problem):
    assert resident_id_problem(number, TODAY) == problem


uscc_like = st.text(alphabet=USCC_ALPHABET + "IOSVZ", min_size=16, max_size=19)


@given(st.lists(st.one_of(uscc_like, st.none()), max_size=40))
def test_vectorised_uscc_agrees_with_scalar(codes):
    expected = [None if c is None else uscc_problem(c) for c in codes]
    assert uscc_problems(pa.array(codes, pa.string())).to_pylist() == expected


@given(st.lists(st.text(alphabet=USCC_ALPHABET[:17], min_size=17, max_size=17), max_size=30))
def test_generated_check_characters_validate(bodies):
    codes = [b + uscc_check_char(b) for b in bodies]
    assert all(uscc_problem(c) != "check" for c in codes)


id_like = st.one_of(
    st.text(alphabet="0123456789", min_size=15, max_size=15),
    st.builds(
        lambda d, b: d + b, st.text(alphabet="0123456789", min_size=17, max_size=17), st.sampled_from("0123456789X")
    ),
    st.text(alphabet="0123456789X", min_size=14, max_size=19),
)


@given(st.lists(st.one_of(id_like, st.none()), max_size=40))
def test_vectorised_resident_id_agrees_with_scalar(numbers):
    expected = [None if n is None else resident_id_problem(n, TODAY) for n in numbers]
    assert resident_id_problems(pa.array(numbers, pa.string()), TODAY).to_pylist() == expected


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY), st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_built_resident_ids_are_valid(born, rest):
    first17 = rest[:6] + born.strftime("%Y%m%d") + rest[6:]
    assert resident_id_problem(first17 + resident_id_check_char(first17), TODAY) is None
