"""批量核查: for a list of credit codes — a procurement officer's bid list, a licensing queue — each
entity's name, whether it is on a black list now (which, since when, deciding authority), on the red
list, and its inspections with findings in the last 12 months, as of one release.

The release carries a static index for it (`check/`, written with the site): one small JSON file per
bucket of codes, so that checking 5,000 codes reads a few hundred files, not 5,000 pages, in the
browser (the bulk check page) and here (`gongshi check`). The bucket of a code is a few characters of
its organisation-code part (positions 9–), which are spread evenly; `check/meta.json` says how many.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gongshi.identifiers import normalise_identifier, uscc_problem

FOLDER = "check"
META = f"{FOLDER}/meta.json"
START = 8  # bucket characters start at the organisation-code part
MAX_CODES = 5000
CODE_HEADERS = ("统一社会信用代码", "credit_code", "社会信用代码", "信用代码")
VALID, MALFORMED, UNKNOWN = "已收录", "代码有误", "未收录"
PROBLEMS = {  # `identifiers.uscc_problem` in words (the bulk check page says the same)
    "length": "不是 18 位",
    "charset": "含有代码中不能出现的字符",
    "check": "第 18 位校验码不符",
    "org_check": "组织机构代码部分的校验码不符",
}


def chars_for(entities: int, per_bucket: int = 200) -> int:
    """How many code characters name a bucket: the fewest that keep buckets around `per_bucket`."""
    chars = 1
    while entities / (31**chars) > per_bucket and chars < 4:
        chars += 1
    return chars


def bucket_of(code: str, chars: int) -> str:
    part = code[START : START + chars]
    return part if len(part) == chars else "_"


@dataclass(frozen=True)
class Release:
    """A release to check against: a folder (`public/latest`, a dated release) or its URL."""

    where: str

    def read(self, relative: str) -> bytes | None:
        if self.where.startswith(("http://", "https://")):
            url = self.where.rstrip("/") + "/" + urllib.parse.quote(relative)
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    return response.read()
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    return None
                raise
        path = Path(self.where) / relative
        return path.read_bytes() if path.is_file() else None

    def json(self, relative: str):
        data = self.read(relative)
        return json.loads(data) if data is not None else None


def read_codes(data: bytes) -> list[str]:
    """Codes from a file: one per line, or a CSV with a column headed 统一社会信用代码 or credit_code
    (UTF-8 with or without BOM, or GB18030). Blank lines are skipped; order is kept."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [cell.strip() for cell in rows[0]]
    column = next((header.index(h) for h in CODE_HEADERS if h in header), None)
    if column is not None:
        values = [row[column] if column < len(row) else "" for row in rows[1:]]
    else:
        values = [row[0] if row else "" for row in rows]
    return [v.strip() for v in values if v.strip()]


def check(codes: Iterable[str], release: Release) -> tuple[list[str], list[dict]]:
    """The result columns and one row per code, in the order given."""
    meta = release.json(META)
    if meta is None:
        raise FileNotFoundError(f"{release.where} 中没有批量核查索引（{META}）：请指向一个发布目录或其网址")
    codes = list(codes)
    if len(codes) > MAX_CODES:
        raise ValueError(f"一次最多核查 {MAX_CODES:,} 个代码，收到 {len(codes):,} 个")
    buckets: dict[str, dict] = {}
    rows = []
    for given in codes:
        code = normalise_identifier(given)
        problem = uscc_problem(code)
        row = {
            "统一社会信用代码": given,
            "核查结果": VALID if problem is None else f"{MALFORMED}：{PROBLEMS.get(problem, problem)}",
        }
        entity = None
        if problem is None:
            bucket = bucket_of(code, meta["chars"])
            if bucket not in buckets:
                buckets[bucket] = release.json(f"{FOLDER}/{bucket}.json") or {}
            entity = buckets[bucket].get(code)
            if entity is None:
                row["核查结果"] = UNKNOWN
        row["市场主体名称"] = entity["n"] if entity else ""
        for column in meta["columns"]:
            row[column["label"]] = "；".join(entity.get(column["key"]) or []) or column["none"] if entity else ""
        row["数据日期"] = meta["release"]
        rows.append(row)
    header = ["统一社会信用代码", "核查结果", "市场主体名称", *(c["label"] for c in meta["columns"]), "数据日期"]
    return header, rows


def to_csv(header: list[str], rows: list[dict]) -> bytes:
    """UTF-8 with BOM (Excel opens it in Chinese), formulas neutralised as in every download."""
    from gongshi.writers.csv import FORMULA_START

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["'" + v if (v := str(row.get(h, ""))).startswith(FORMULA_START) else v for h in header])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
