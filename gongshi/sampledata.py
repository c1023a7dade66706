"""Synthetic deliveries with the mess departments really send: GB18030 and UTF-8-BOM CSV, XLSX with a
merged title row and IDs Excel turned into floats, JSON arrays and a truncated JSON file, full-width
and lower-case credit codes, Chinese date spellings, impossible dates, wrong check characters,
empty required results, markup and spreadsheet formulas in text, and personal data typed into
free text. Deterministic for a seed; columns are built whole with numpy, so a million rows take
seconds."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import xlsxwriter

from gongshi.catalog import load_catalog
from gongshi.identifiers import ORG_WEIGHTS, RESIDENT_ID_CHECK, RESIDENT_ID_WEIGHTS, USCC_ALPHABET, USCC_WEIGHTS

CITIES = {
    "南京": "320100",
    "无锡": "320200",
    "徐州": "320300",
    "常州": "320400",
    "苏州": "320500",
    "南通": "320600",
    "连云港": "320700",
    "淮安": "320800",
    "盐城": "320900",
    "扬州": "321000",
    "镇江": "321100",
    "泰州": "321200",
    "宿迁": "321300",
}
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = ["伟", "敏", "静", "丽华", "建国", "秀英", "桂兰", "海燕", "晓明", "志强", "国平", "文军", "春梅"]
BRANDS = ["恒泰", "鑫盛", "华润达", "宏远", "长江", "苏源", "金陵", "润发", "东方", "新宇", "瑞丰", "天合"]
TRADES = [
    "电子科技有限公司",
    "化工有限公司",
    "食品有限公司",
    "医药连锁有限公司",
    "贸易有限公司",
    "机械制造有限公司",
    "物流有限公司",
    "建筑工程有限公司",
    "餐饮管理有限公司",
    "纺织有限公司",
]
ITEMS = [
    "登记事项检查",
    "企业年度报告公示情况检查",
    "产品质量监督抽查",
    "食品经营许可事项检查",
    "广告发布行为检查",
    "安全生产条件检查",
]
RESULTS = [
    "未发现问题",
    "未按规定公示年报",
    "发现问题已责令改正",
    "发现问题待后续处理",
    "通过登记的住所（经营场所）无法联系",
    "未发现开展本次抽查涉及的经营活动",
    "不配合检查情节严重",
]
TYPES = ["双随机抽查", "定向抽查", "专项检查"]
LIST_REASONS = {
    "经营异常名录": [
        "未按照规定的期限公示年度报告",
        "通过登记的住所或者经营场所无法联系",
        "公示企业信息隐瞒真实情况、弄虚作假",
    ],
    "严重违法失信名单": ["提交虚假材料取得公司登记，被撤销登记", "被列入经营异常名录届满3年仍未履行相关义务"],
}
REMOVAL_REASONS = ["依法补报了未报年份的年度报告并公示", "依法办理住所或者经营场所变更登记", "信用修复申请经审核通过"]
MEASURES = [
    "建立在线监管平台，实行随机抽查和年度报告制度",
    "行业协会实行自律管理，主管部门开展事后抽查",
    "实行“飞行检查”和年度专项督查",
    "纳入“双随机、一公开”监管，按比例抽查",
]
AUTHORITIES = [
    "江苏省发展和改革委员会",
    "江苏省住房和城乡建设厅",
    "江苏省商务厅",
    "江苏省交通运输厅",
    "江苏省生态环境厅",
]
INSPECTION_HEADER = [
    "任务编号",
    "任务名称",
    "检查实施机关",
    "检查类型",
    "检查日期",
    "市场主体名称",
    "统一社会信用代码",
    "法定代表人（负责人）",
    "检查事项",
    "检查结果",
    "处理情况",
    "联系电话",
    "执法人员",
]
BLACKLIST_HEADER = [
    "名单类型",
    "市场主体名称",
    "统一社会信用代码",
    "法定代表人",
    "法定代表人身份证号码",
    "列入原因",
    "列入日期",
    "作出决定机关",
    "决定书文号",
    "移出原因",
    "移出日期",
    "移出决定机关",
]
SHARE = {"inspection_results": 0.70, "blacklist_entries": 0.25, "approval_item_changes": 0.05}
XLSX_MAX_ROWS = 20_000  # bigger lists come as CSV, as departments' systems export them

_ALPHABET = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_FULLWIDTH = str.maketrans({chr(0x30 + i): chr(0xFF10 + i) for i in range(10)})


def _strings(matrix: np.ndarray) -> np.ndarray:
    """(n, width) uint8 ASCII matrix -> array of Python str."""
    width = matrix.shape[1]
    return np.frombuffer(np.ascontiguousarray(matrix).tobytes(), dtype=f"S{width}").astype(str).astype(object)


def credit_codes(rng: np.random.Generator, regions: np.ndarray, individual: np.ndarray) -> np.ndarray:
    """Valid 统一社会信用代码 (both check characters), `regions` as 6-digit strings."""
    n = len(regions)
    matrix = np.zeros((n, 18), dtype=np.uint8)
    matrix[:, 0] = ord("9")
    matrix[:, 1] = np.where(individual, ord("2"), ord("1"))
    matrix[:, 2:8] = np.frombuffer("".join(regions).encode(), dtype=np.uint8).reshape(n, 6)
    body = rng.integers(0, 31, size=(n, 8))
    matrix[:, 8:16] = _ALPHABET[body]
    org_values = np.where(matrix[:, 8:16] <= ord("9"), matrix[:, 8:16] - ord("0"), matrix[:, 8:16] - ord("A") + 10)
    org_check = (11 - (org_values.astype(np.int64) @ np.array(ORG_WEIGHTS)) % 11) % 11
    matrix[:, 16] = np.where(org_check == 10, ord("X"), ord("0") + org_check)
    lookup = np.full(256, 0, dtype=np.int64)
    lookup[_ALPHABET] = np.arange(31)
    total = lookup[matrix[:, :17]] @ np.array(USCC_WEIGHTS)
    matrix[:, 17] = _ALPHABET[(31 - total % 31) % 31]
    return _strings(matrix)


def resident_ids(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    """Valid 18-digit 公民身份号码 born 1950-2003."""
    n = len(regions)
    born = np.datetime64("1950-01-01") + rng.integers(0, 19700, size=n).astype("timedelta64[D]")
    text = np.char.replace(np.datetime_as_string(born, unit="D"), "-", "")
    matrix = np.zeros((n, 18), dtype=np.uint8)
    matrix[:, :4] = np.frombuffer("".join(r[:4] for r in regions).encode(), dtype=np.uint8).reshape(n, 4)
    matrix[:, 4:6] = _DIGITS[rng.integers(0, 10, size=(n, 2))]
    matrix[:, 6:14] = np.frombuffer("".join(text).encode(), dtype=np.uint8).reshape(n, 8)
    matrix[:, 14:17] = _DIGITS[rng.integers(0, 10, size=(n, 3))]
    total = (matrix[:, :17].astype(np.int64) - ord("0")) @ np.array(RESIDENT_ID_WEIGHTS)
    matrix[:, 17] = np.frombuffer(RESIDENT_ID_CHECK.encode(), dtype=np.uint8)[total % 11]
    return _strings(matrix)


def mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    prefixes = np.array(["13", "15", "16", "17", "18", "19"], dtype=object)
    rest = rng.integers(0, 10**9, size=n)
    return prefixes[rng.integers(0, len(prefixes), size=n)] + np.char.zfill(rest.astype(str), 9).astype(object)


class _Entities:
    """A pool of market entities that the datasets share, so lists and inspections meet."""

    def __init__(self, rng: np.random.Generator, n: int):
        city_names = np.array(list(CITIES), dtype=object)
        self.city = city_names[rng.integers(0, len(city_names), size=n)]
        regions = np.array([CITIES[c] for c in self.city], dtype=object)
        individual = rng.random(n) < 0.08
        trade = np.array(TRADES, dtype=object)[rng.integers(0, len(TRADES), size=n)]
        brand = np.array(BRANDS, dtype=object)[rng.integers(0, len(BRANDS), size=n)]
        self.name = np.where(individual, self.city + "市" + brand + "小吃店", self.city + brand + trade)
        self.name = self.name + np.where(rng.random(n) < 0.5, "", np.char.mod("%d", np.arange(n)).astype(object))
        self.code = credit_codes(rng, regions, individual)
        self.person = _names(rng, n)
        self.person_id = resident_ids(rng, regions)


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    surnames = np.array(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), size=n)]
    return surnames + np.array(GIVEN, dtype=object)[rng.integers(0, len(GIVEN), size=n)]


def _choice(rng: np.random.Generator, values: list[str], n: int) -> np.ndarray:
    return np.array(values, dtype=object)[rng.integers(0, len(values), size=n)]


def _rolls(rng: np.random.Generator, n: int, every: list[float]) -> np.ndarray:
    """Uniform draws deciding each row's mess; the first rows take each kind once, so even a small
    file carries every kind of mess."""
    roll = rng.random(n)
    if n >= 4 * len(every):
        roll[: len(every)] = every
    return roll


def _mess_codes(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    codes = codes.copy()
    roll = _rolls(rng, len(codes), [0.005, 0.015, 0.0225])
    full = np.flatnonzero(roll < 0.01)
    codes[full] = [c.translate(_FULLWIDTH) for c in codes[full]]
    lower = np.flatnonzero((roll >= 0.01) & (roll < 0.02))
    codes[lower] = [c.lower() for c in codes[lower]]
    wrong = np.flatnonzero((roll >= 0.02) & (roll < 0.025))
    codes[wrong] = [c[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(c[17]) + 1) % 31] for c in codes[wrong]]
    return codes


def _mess_dates(rng: np.random.Generator, day: dt.date, n: int, back: int = 3) -> np.ndarray:
    dates = np.datetime64(day) - rng.integers(0, back + 1, size=n).astype("timedelta64[D]")
    text = np.datetime_as_string(dates, unit="D").astype(object)
    roll = _rolls(rng, n, [0.005, 0.015, 0.0225])
    chinese = np.flatnonzero(roll < 0.01)
    text[chinese] = [f"{t[:4]}年{int(t[5:7])}月{int(t[8:10])}日" for t in text[chinese]]
    slash = np.flatnonzero((roll >= 0.01) & (roll < 0.02))
    text[slash] = [t.replace("-", "/") for t in text[slash]]
    text[(roll >= 0.02) & (roll < 0.025)] = f"{day.year}/13/01"
    return text


def _handling(rng: np.random.Generator, persons: np.ndarray, person_ids: np.ndarray) -> np.ndarray:
    n = len(persons)
    plain = _choice(rng, ["已责令限期整改", "整改到位，销号处理", "住所无法联系，已列入经营异常名录", ""], n)
    phones = mobiles(rng, n)
    roll = _rolls(rng, n, [0.03, 0.07, 0.101])
    text = plain.copy()
    # How careless departments write numbers: after a word, glued to Latin letters, split by dots.
    id_words = _choice(rng, ["（身份证", "（身份证ID", "（sfz", "（证件号No"], n)
    with_id = roll < 0.05
    text[with_id] = "经营者" + persons[with_id] + id_words[with_id] + person_ids[with_id] + "）拒绝配合"
    parts = [pc.utf8_slice_codeunits(pa.array(phones, pa.string()), a, b) for a, b in ((0, 3), (3, 7), (7, 11))]
    dotted = pc.binary_join_element_wise(*parts, ".").to_numpy(zero_copy_only=False).astype(object)
    phones = np.where(rng.random(n) < 0.2, dotted, phones)
    phone_words = _choice(rng, ["，电话", "，tel", "，mobile"], n)
    with_phone = (roll >= 0.05) & (roll < 0.10)
    text[with_phone] = (
        "联系人" + persons[with_phone] + phone_words[with_phone] + phones[with_phone] + "，已告知整改要求"
    )
    text[(roll >= 0.10) & (roll < 0.102)] = '<img src=x onerror="alert(1)">商户称已整改'
    return text


def inspection_rows(rng: np.random.Generator, entities: _Entities, day: dt.date, n: int, offset: int) -> dict:
    pick = rng.integers(0, len(entities.code), size=n)
    city = entities.city[pick]
    result = _choice(rng, RESULTS, n)
    result[rng.random(n) < 0.005] = ""
    names = entities.name[pick].copy()
    names[rng.random(n) < 0.001] = '=HYPERLINK("http://example.invalid","点击")'
    task = np.char.mod(f"JS{day:%Y%m%d}%07d", np.arange(offset, offset + n)).astype(object)
    return {
        "任务编号": task,
        "任务名称": city + f"市{day.year}年度“双随机、一公开”抽查",
        "检查实施机关": city + "市市场监督管理局",
        "检查类型": _choice(rng, TYPES, n),
        "检查日期": _mess_dates(rng, day, n),
        "市场主体名称": names,
        "统一社会信用代码": _mess_codes(rng, entities.code[pick]),
        "法定代表人（负责人）": entities.person[pick],
        "检查事项": _choice(rng, ITEMS, n),
        "检查结果": result,
        "处理情况": _handling(rng, entities.person[pick], entities.person_id[pick]),
        "联系电话": mobiles(rng, n),
        "执法人员": _names(rng, n) + "、" + _names(rng, n),
    }


def blacklist_rows(rng: np.random.Generator, entities: _Entities, day: dt.date, n: int, earlier: list[dict]) -> dict:
    """Listings of the day, and (after the first day) removals of earlier listings."""
    removals = min(n // 5, sum(len(e["名单类型"]) for e in earlier)) if earlier else 0
    listings = n - removals
    pick = rng.integers(0, len(entities.code), size=listings)
    list_type = _choice(rng, list(LIST_REASONS), listings)
    reasons = np.array(
        [
            LIST_REASONS[t][i % len(LIST_REASONS[t])]
            for t, i in zip(list_type, rng.integers(0, 3, size=listings), strict=True)
        ],
        dtype=object,
    )
    city = entities.city[pick]
    empty = np.full(listings, "", dtype=object)
    rows = {
        "名单类型": list_type,
        "市场主体名称": entities.name[pick],
        "统一社会信用代码": _mess_codes(rng, entities.code[pick]),
        "法定代表人": entities.person[pick],
        "法定代表人身份证号码": entities.person_id[pick],
        "列入原因": reasons,
        "列入日期": _mess_dates(rng, day, listings, back=20),
        "作出决定机关": city + "市市场监督管理局",
        "决定书文号": city + np.char.mod(f"市监异列〔{day.year}〕%d号", rng.integers(1, 999, listings)).astype(object),
        "移出原因": empty,
        "移出日期": empty,
        "移出决定机关": empty,
    }
    if removals:
        pool = {k: np.concatenate([e[k] for e in earlier]) for k in BLACKLIST_HEADER}
        listed = np.flatnonzero(pool["移出日期"] == "")
        chosen = rng.choice(listed, size=min(removals, len(listed)), replace=False)
        removal = {
            k: pool[k][chosen]
            for k in ("名单类型", "市场主体名称", "统一社会信用代码", "法定代表人", "法定代表人身份证号码")
        }
        m = len(chosen)
        blank = np.full(m, "", dtype=object)
        removal.update(
            {
                "列入原因": blank,
                "列入日期": blank,
                "作出决定机关": blank,
                "决定书文号": blank,
                "移出原因": _choice(rng, REMOVAL_REASONS, m),
                "移出日期": np.full(m, day.isoformat(), object),
                "移出决定机关": pool["作出决定机关"][chosen],
            }
        )
        rows = {k: np.concatenate([rows[k], removal[k]]) for k in BLACKLIST_HEADER}
    return rows


def approval_records(rng: np.random.Generator, day: dt.date, n: int, offset: int) -> list[dict]:
    adjustment = _choice(rng, ["取消", "下放", "转移"], n)
    measures = _choice(rng, MEASURES, n)
    measures[rng.random(n) < 0.1] = ""
    phones = mobiles(rng, n)
    with_contact = rng.random(n) < 0.03
    measures[with_contact] = (
        measures[with_contact] + "，联系人" + _names(rng, int(with_contact.sum())) + " " + phones[with_contact]
    )
    authority = _choice(rng, AUTHORITIES, n)
    receiving = np.where(adjustment == "下放", "设区市" + authority.astype(str), "")
    receiving = np.where(adjustment == "转移", "江苏省相关行业协会", receiving)
    return [
        {
            # the day in the code: a delivery generated with another seed adds items, it does not
            # silently correct the items of an earlier delivery that happen to share a number
            "事项编码": f"JS-XK-{day:%Y%m%d}-{offset + i:05d}",
            "事项名称": f"审批事项{offset + i}",
            "事项类型": "行政许可",
            "原实施机关": authority[i],
            "调整方式": adjustment[i],
            "承接机关": receiving[i],
            "设定依据": "省政府规范性文件",
            "调整依据": f"苏政发〔{day.year}〕{39 + i % 20}号",
            "生效日期": day.isoformat(),
            "事中事后监管措施": measures[i],
            "监管责任单位": authority[i],
        }
        for i in range(n)
    ]


def _write_csv(path: Path, rows: dict, header: list[str], encoding: str) -> None:
    table = pa.table({h: pa.array(rows[h], pa.string()) for h in header})
    buffer = io.BytesIO()
    pv.write_csv(table, buffer, pv.WriteOptions(quoting_style="needed"))
    data = buffer.getvalue()
    if encoding == "gb18030":
        data = data.decode("utf-8").encode("gb18030")
    elif encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _write_xlsx(path: Path, rows: dict, header: list[str], title: str, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("列入信息")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.merge_range(0, 0, 0, len(header) - 1, title)
    for column, name in enumerate(header):
        sheet.write_string(1, column, name)
    as_float = rng.random(len(rows[header[0]])) < 0.02  # Excel turned some ID numbers into numbers
    for index in range(len(rows[header[0]])):
        for column, name in enumerate(header):
            value = rows[name][index]
            if not value:
                continue
            if name == "列入日期" and len(value) == 10 and value[4] == "-":
                sheet.write_datetime(index + 2, column, dt.datetime.fromisoformat(value), date_format)
            elif name == "法定代表人身份证号码" and as_float[index] and value.isdigit():
                sheet.write_number(index + 2, column, float(value))
            else:
                sheet.write_string(index + 2, column, value)
    book.close()


def write_sample_inbox(
    out: Path,
    records: int,
    days: int,
    seed: int = 0,
    start: dt.date = dt.date(2026, 11, 1),
    datasets: list[str] | None = None,
    catalog: dict | None = None,
) -> dict[str, int]:
    """Write `records` rows over `days` delivery days under `out`; return rows written per dataset.
    The three datasets the project started with have generators of their own, below; any other
    dataset of `catalog` that declares `sample:` in its dataset.yaml is written from that."""
    rng = np.random.default_rng(seed)
    declared = {d.id: d.sample for d in (catalog or load_catalog()).values() if d.sample and d.id not in SHARE}
    shares = SHARE | {name: sample.share for name, sample in declared.items()}
    datasets = datasets or list(shares)
    share = {name: shares[name] / sum(shares[d] for d in datasets) for name in datasets}
    entities = _Entities(rng, max(50, records // 20))
    written = dict.fromkeys(datasets, 0)
    earlier_lists: list[dict] = []
    for index in range(days):
        day = start + dt.timedelta(days=index)
        per_day = {name: int(records * share[name]) // days for name in datasets}
        if index == days - 1:  # the remainder lands on the last day, so the total is exact
            for name in datasets:
                per_day[name] = int(records * share[name]) - per_day[name] * (days - 1)
            per_day[datasets[0]] += records - sum(int(records * share[n]) for n in datasets)
        # a dataset with no row that day has no delivery (a few records over many days)
        per_day = {name: n for name, n in per_day.items() if n > 0}
        if "inspection_results" in per_day:
            n = per_day["inspection_results"]
            rows = inspection_rows(rng, entities, day, n, written["inspection_results"])
            header = list(INSPECTION_HEADER)
            if index % 2:  # another department: the code column last, under another name
                rows["社会信用代码"] = rows.pop("统一社会信用代码")
                header.remove("统一社会信用代码")
                header.append("社会信用代码")
            encoding = "gb18030" if index % 2 == 0 else "utf-8-sig"
            department = "江苏省市场监管局" if index % 2 == 0 else "苏州市市场监管局"
            path = out / "inspection_results" / day.isoformat() / f"{department}_抽查结果_{day:%Y%m%d}.csv"
            _write_csv(path, rows, header, encoding)
            written["inspection_results"] += n
        if "blacklist_entries" in per_day:
            n = per_day["blacklist_entries"]
            rows = blacklist_rows(rng, entities, day, n, earlier_lists)
            earlier_lists.append(rows)
            folder = out / "blacklist_entries" / day.isoformat()
            if index % 2 == 0 and n <= XLSX_MAX_ROWS:
                title = f"{day.year}年{day.month}月经营异常名录及严重违法失信名单列入信息"
                _write_xlsx(folder / f"省市场监管局_名单列入_{day:%Y%m%d}.xlsx", rows, BLACKLIST_HEADER, title, rng)
            else:
                _write_csv(folder / f"省市场监管局_名单变动_{day:%Y%m%d}.csv", rows, BLACKLIST_HEADER, "utf-8-sig")
            written["blacklist_entries"] += n
        if "approval_item_changes" in per_day:
            n = per_day["approval_item_changes"]
            items = approval_records(rng, day, n, written["approval_item_changes"])
            text = json.dumps(items, ensure_ascii=False, indent=1)
            folder = out / "approval_item_changes" / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "省审改办_审批事项调整.json").write_text(text, encoding="utf-8")
            if index == 1:  # a resend cut off in transit: rejected as a whole, the day goes on
                (folder / "省审改办_审批事项调整_补报.json").write_text(text[: len(text) // 2], encoding="utf-8")
            written["approval_item_changes"] += n
        for name in (n for n in datasets if n in declared and n in per_day):
            # A stream of its own: declaring a dataset does not change the others' sample data.
            own = np.random.default_rng([seed, index, len(name)])
            rows = declared_rows(own, entities, day, per_day[name], declared[name])
            _write_declared(out / name / day.isoformat(), declared[name], day, rows)
            written[name] += per_day[name]
    return written


def declared_rows(rng: np.random.Generator, entities: _Entities, day: dt.date, n: int, sample) -> dict:
    """Rows of a dataset from its `sample:` declaration: choices, entities of the shared pool (so
    its records meet the other datasets'), dates around the delivery day."""
    pick = rng.integers(0, len(entities.code), size=n)
    rows = {}
    for header, column in sample.columns.items():
        if column.choice is not None:
            rows[header] = _choice(rng, column.choice, n)
        elif column.entity is not None:
            rows[header] = (entities.name if column.entity == "name" else entities.code)[pick]
        else:
            low, high = column.date["days"]
            offsets = rng.integers(low, high + 1, size=n)
            base = np.datetime64(day, "D")
            rows[header] = np.datetime_as_string(base + offsets.astype("timedelta64[D]")).astype(object)
    return rows


def _write_declared(folder: Path, sample, day: dt.date, rows: dict) -> None:
    header = list(sample.columns)
    if sample.file_format == "json":
        folder.mkdir(parents=True, exist_ok=True)
        records = [dict(zip(header, values, strict=True)) for values in zip(*rows.values(), strict=True)]
        path = folder / f"{sample.department}_{day:%Y%m%d}.json"
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        _write_csv(folder / f"{sample.department}_{day:%Y%m%d}.csv", rows, header, "utf-8-sig")
