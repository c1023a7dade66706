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
