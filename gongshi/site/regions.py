"""Jiangsu's 13 prefecture-level cities, as the 统一社会信用代码's region digits name them."""

from __future__ import annotations

CITIES = {
    "3201": ("南京市", "nanjing"),
    "3202": ("无锡市", "wuxi"),
    "3203": ("徐州市", "xuzhou"),
    "3204": ("常州市", "changzhou"),
    "3205": ("苏州市", "suzhou"),
    "3206": ("南通市", "nantong"),
    "3207": ("连云港市", "lianyungang"),
    "3208": ("淮安市", "huaian"),
    "3209": ("盐城市", "yancheng"),
    "3210": ("扬州市", "yangzhou"),
    "3211": ("镇江市", "zhenjiang"),
    "3212": ("泰州市", "taizhou"),
    "3213": ("宿迁市", "suqian"),
}
OUTSIDE = ("省外", "outside")


def city_of(credit_code: str | None) -> tuple[str, str]:
    """(name, slug) of the city a credit code was registered in (its region digits 3-6)."""
    if not credit_code or len(credit_code) < 6:
        return OUTSIDE
    return CITIES.get(credit_code[2:6], OUTSIDE)
