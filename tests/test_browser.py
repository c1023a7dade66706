"""The site in a real browser (headless Chromium): search by a two-character fragment, open the
entity page, follow a download, no console errors, phone and desktop screenshots, axe-core on the
main page types, and the W3C validator (vnu) on every page."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from .conftest import DAY2

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GONGSHI_CHROMIUM", "/usr/bin/chromium")
VNU_JAR = Path(os.environ.get("GONGSHI_VNU_JAR", ROOT / ".ci/node_modules/vnu-jar/build/dist/vnu.jar"))
SHOTS = Path(os.environ.get("GONGSHI_SCREENSHOTS", ROOT / "build" / "screenshots"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _missing(what: str):
    """Outside CI a missing browser or validator skips; under CI=true it fails the run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI (see .ci/run)")
    pytest.skip(f"{what} not installed (see .ci/run)")


@pytest.fixture(scope="module")
def site(published_demo):
    """The demo release served over HTTP on localhost, as a web server would serve public/."""
    handler = functools.partial(QuietHandler, directory=str(published_demo.public))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/latest/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright")
    if not Path(CHROMIUM).exists():
        _missing(f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def test_search_a_two_character_fragment_and_open_the_entity(page, site):
    page.goto(site)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.fill("#home-q", "瑞丰")
    page.click(".big-search button")
    page.wait_for_selector("#search-results li a")
    results = page.locator("#search-results li a")
    assert "无锡瑞丰电子科技有限公司" in results.all_inner_texts()
    assert "找到" in page.inner_text("#search-status")
    page.get_by_role("link", name="无锡瑞丰电子科技有限公司").click()
    page.wait_for_url("**/entity/91320200E8YX606JXB.html")
    assert page.inner_text("h1") == "无锡瑞丰电子科技有限公司"
    assert "在列" in page.inner_text(".facts")
    assert page.errors == []


def test_search_by_partial_credit_code(page, site):
    page.goto(site + "search/?q=913201007079")
    page.wait_for_selector("#search-results li a")
    assert page.locator("#search-results li a").first.inner_text() == "南京恒泰电子科技有限公司"
    assert page.errors == []


def test_follow_a_download_link(page, site):
    page.goto(site + "datasets/blacklist_entries/")
    link = page.get_by_role("region", name="下载").get_by_role("link", name="CSV", exact=True)
    with page.expect_download() as download:
        link.click()
    path = download.value.path()
    data = Path(path).read_bytes()
    assert data.startswith(b'\xef\xbb\xbf"record_id"') and "南京恒泰电子科技有限公司".encode() in data
    assert page.errors == []


def test_readable_without_javascript(browser, site):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site + "entity/913201007079003CXE.html")
    assert page.inner_text("h1") == "南京恒泰电子科技有限公司"
    page.goto(site + "search/")
    assert "需要启用 JavaScript" in page.content()
    context.close()


@pytest.mark.parametrize(("width", "name"), [(360, "phone"), (1280, "desktop")])
def test_screenshots_and_no_horizontal_scroll(browser, site, width, name):
    context = browser.new_context(viewport={"width": width, "height": 800}, device_scale_factor=1)
    page = context.new_page()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for path, label in (
        ("", "home"),
        ("entity/913201007079003CXE.html", "entity"),
        ("lists/abnormal/", "list"),
        ("approvals/", "approvals"),
    ):
        page.goto(site + path)
        page.screenshot(path=str(SHOTS / f"{label}-{name}.png"), full_page=True)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (path, scroll_width)
    context.close()


PAGE_TYPES = [
    "",
    "entity/913201007079003CXE.html",
    "entity/91320300418YH4977E.html",
    "entity/91320200A270313CX1.html",  # on a black list and on the red list: both shown
    "lists/abnormal/",
    "lists/removals/",
    "lists/honour/",
    "inspections/",
    "inspections/city/zhenjiang/",
    "approvals/",
    "datasets/blacklist_entries/",
    f"datasets/blacklist_entries/changes/{DAY2}/",
    "quality/",
    "quality/timeliness/",
    "search/?q=瑞丰",
]


@pytest.mark.parametrize("path", PAGE_TYPES)
def test_accessibility_wcag_21_aa(page, site, path):
    from axe_playwright_python.sync_playwright import Axe

    page.goto(site + path)
    if "search" in path:
        page.wait_for_selector("#search-results li")
    results = Axe().run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()
    assert page.errors == []


def test_the_timeliness_page_leads_to_each_department(page, site):
    """From the quality page to 公开时效, to a department's page with its months, accessibly."""
    from axe_playwright_python.sync_playwright import Axe

    page.goto(site + "quality/")
    page.get_by_role("link", name="公开时效").first.click()
    page.wait_for_url("**/quality/timeliness/")
    assert page.locator("h2").first.inner_text()
    assert page.locator("figure.chart svg").count() >= 1
    department = page.locator("table caption:text('各部门')").locator("xpath=..").locator("a").first
    name = department.inner_text()
    department.click()
    assert page.locator("h1").inner_text() == name
    assert page.locator("caption:text('按首次公开月份')").count() == 1
    results = Axe().run(page, options=WCAG)
    assert results.violations_count == 0, results.generate_report()
    assert page.errors == []


def test_every_page_is_valid_html(published_demo):
    java = shutil.which("java")
    if java is None or not VNU_JAR.is_file():
        _missing(f"java and the W3C validator at {VNU_JAR}")
    site = (published_demo.public / "latest").resolve()
    done = subprocess.run(
        [java, "-jar", str(VNU_JAR), "--errors-only", "--skip-non-html", str(site)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]


def _valid_code(seed: int) -> str:
    """A well-formed credit code (GB 32100 and GB 11714 check characters) that no demo entity has."""
    from gongshi.identifiers import org_code_check_char, uscc_check_char

    body = f"{seed:08d}"
    org = body + org_code_check_char(body)
    first17 = "91320100" + org
    return first17 + uscc_check_char(first17)


def _phone_page(browser):
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        accept_downloads=True,
    )
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return context, page


def test_bulk_check_of_five_thousand_pasted_codes_on_a_phone(browser, site, tmp_path):
    """5,000 codes pasted (known, unknown, malformed), checked in the browser, downloaded as CSV with
    the same answers `gongshi check` gives for the same codes."""
    import csv
    import io

    from gongshi import checking

    known = ["91320200A270313CX1", "913201007079003CXE"]
    codes = known + [_valid_code(n) for n in range(4995)] + ["91320200A270313CX2", "ＡＢＣ", "=HYPERLINK(1)"]
    context, page = _phone_page(browser)
    try:
        page.goto(site + "check/")
        pasted = "统一社会信用代码\n" + "\n".join(codes)  # as a paste puts it there (typing 90,000 keys is not)
        page.locator("#check-codes").evaluate("(area, text) => { area.value = text; }", pasted)
        page.click("#check-form button[type=submit]")
        page.wait_for_selector("#check-status[data-done]", timeout=30_000)
        status = page.inner_text("#check-status")
        assert "核查了 5,000 个代码：3 个代码有误，4995 个未收录" in status, status
        row = page.locator("#check-results tbody tr").first.locator("td").all_inner_texts()
        assert row[:3] == ["91320200A270313CX1", "已收录", "无锡长江餐饮管理有限公司"]
        assert "经营异常名录（2026-11-03 列入），决定机关：无锡市市场监督管理局" in row[3]
        # the first 200 rows in the table (a phone lays out 5,000 slowly), every row on request
        assert page.locator("#check-results tbody tr").count() == 200
        assert "表中列出前 200 行，全部结果见下载的 CSV" in page.inner_text("#check-results caption")
        page.click("#check-all")
        assert page.locator("#check-results tbody tr").count() == 5000
        assert page.locator("#check-more").is_hidden()
        with page.expect_download() as waiting:
            page.click("#check-download")
        download = waiting.value
        assert download.suggested_filename == f"批量核查-{DAY2}.csv"
        data = Path(download.path()).read_bytes()
        assert page.errors == []
    finally:
        context.close()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header, expected = checking.check(codes, checking.Release(site))
    assert rows[0] == header
    assert rows[1:] == [["'" + v if v.startswith("=") else v for v in (r[h] for h in header)] for r in expected]


def test_bulk_check_reads_an_uploaded_xlsx_and_csv(browser, site, tmp_path):
    import xlsxwriter

    book_path = tmp_path / "投标人.xlsx"
    book = xlsxwriter.Workbook(str(book_path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["序号", "统一社会信用代码", "名称"])
    sheet.write_row(1, 0, [1, "913201007079003CXE", "甲"])
    sheet.write_row(2, 0, [2, "91320100000000000X", "乙"])
    book.close()
    listing = tmp_path / "codes.csv"
    listing.write_bytes("credit_code\r\n91320200A270313CX1\r\n".encode("gb18030"))
    context, page = _phone_page(browser)
    try:
        page.goto(site + "check/")
        page.set_input_files("#check-file", str(book_path))
        page.click("#check-form button[type=submit]")
        page.wait_for_selector("#check-status[data-done]")
        cells = [r.locator("td").all_inner_texts() for r in page.locator("#check-results tbody tr").all()]
        assert [c[:2] for c in cells] == [
            ["913201007079003CXE", "已收录"],
            ["91320100000000000X", "代码有误：第 18 位校验码不符"],
        ]
        page.evaluate("document.querySelector('#check-status').removeAttribute('data-done')")
        page.set_input_files("#check-file", str(listing))
        page.click("#check-form button[type=submit]")
        page.wait_for_selector("#check-status[data-done]")
        assert (
            page.locator("#check-results tbody tr").first.locator("td").nth(2).inner_text()
            == "无锡长江餐饮管理有限公司"
        )
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page, options=WCAG)
        assert results.violations_count == 0, results.generate_report()
        assert page.errors == []
    finally:
        context.close()
