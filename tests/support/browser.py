"""Browser tests: a real ``whistle serve`` on a small generated county, driven by Playwright
for Python in Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser download is
not used). ``make test`` installs chromium when it is missing and it can (as root). Without a
browser these tests skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from grids.loader import load_hierarchy
from grids.sample import generate_county
from grids.sample_places import write_places
from whistle.cameras import write_cameras
from whistle.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("WHISTLE_CHROMIUM", "/usr/bin/chromium")
# The flags this machine needs (see the machine notes): no sandbox as root, no GPU, and no
# background connections, which the closed network refuses.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "field-tests-pw"
COMMUNITY = "530524101001"  # the first community of the small county (seed 11)
MEMBER = "RM530524101001-13"  # a registered party member there, captain of a service team
TEAM = "ST530524101001-1"
PHONE = {"width": 390, "height": 844}
NARROW_PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(
            f"no Chromium at {CHROMIUM}: run `make test` as root (it installs Debian's "
            "chromium) or `apt-get install chromium`"
        )
    if not (ROOT / "node_modules" / "echarts" / "dist" / "echarts.min.js").is_file():
        _unavailable("ECharts is not installed: run `make install` (npm ci)")
    return CHROMIUM


def _in_thread(start: Any) -> None:
    """Run ``start()`` to its end on an event loop of its own thread (pytest-asyncio may run
    a loop in this one, and the Playwright sync API must not share a thread with a loop)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(start())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="start-server")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@dataclass
class Site:
    server: ServerProcess
    county: Path
    token: str  # a county-wide operator's API token, for setting up and checking

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        """Call the API as the site's operator. A filed whistle answers with the whole whistle
        (``Prefer: return=representation``), which the journeys read their assignments from."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else orjson.dumps(body),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                     "Prefer": "return=representation", **headers},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read() or b"null")


def _add_user(server: ServerProcess, name: str, role: str, scope: str | None, **extra: str) -> None:
    command = [
        sys.executable, "-m", "whistle.cli", "user", "add", "--db", str(server.db),
        "--config", str(server.config), "--name", name, "--role", role,
    ]  # fmt: skip
    if scope:
        command += ["--scope", scope]
    for key, value in extra.items():
        command += [f"--{key}", value]
    subprocess.run(command, input=PASSWORD, text=True, check=True, capture_output=True, timeout=60)


CITIZEN_BURST = 20  # citizen reports and photos the site takes at once from 127.0.0.1


@pytest.fixture(scope="session")
def site(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    county = tmp_path_factory.mktemp("county")
    generate_county(county, seed=11, towns=2, communities=4, grids=12, micro_grids=60)
    for name in ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml"):
        shutil.copyfile(ROOT / "config" / name, county / name)
    hierarchy = load_hierarchy(county)
    write_cameras(county, hierarchy)
    write_places(county, hierarchy)
    work = tmp_path_factory.mktemp("server")
    # The citizen tests share one client address: a burst of CITIZEN_BURST, so that no test
    # depends on how long the ones before it took to let the 12 s allowance come back.
    server = ServerProcess(
        work / "whistle.sqlite3",
        county,
        work / "server.log",
        extra_args=("--citizen-burst", str(CITIZEN_BURST)),
    )
    _in_thread(server.start)
    try:
        _add_user(server, "reporter", "reporter", COMMUNITY)
        _add_user(server, "operator", "operator", "530524")
        _add_user(server, "member", "responder", COMMUNITY, responder=MEMBER)
        _add_user(server, "admin", "admin", None)
        yield Site(server, county, server.create_token("operator", "530524"))
    finally:
        server.stop()


# Module scope: the Playwright sync API marks an event loop as running in this thread while
# it lives, which the async tests that run after this package must not find.
@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


def log_in(context: Any, site: Site, name: str) -> Any:
    """A new page in ``context``, logged in through the /login form."""
    page = context.new_page()
    page.goto(f"{site.url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


@pytest.fixture
def open_as(browser: Any, site: Site) -> Iterator[Any]:
    """open_as(name, phone=False): a fresh browser context and page, logged in as ``name``."""
    contexts: list[Any] = []

    def open_(name: str, *, phone: bool = False, **options: Any) -> Any:
        context = browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            **options,
        )
        _guard_dialogs(context)
        contexts.append(context)
        return log_in(context, site, name)

    yield open_
    dialogs = [d for context in contexts for d in context.whistle_dialogs]
    for context in contexts:
        context.close()
    if dialogs:
        pytest.fail(f"a page used window.alert/confirm/prompt: {dialogs}")


def _guard_dialogs(context: Any) -> None:
    """Record every native dialog a page opens: pages must use in-page dialogs, never
    window.alert/confirm/prompt (they block the operator and cannot be styled or read aloud).
    ``open_as`` fails the test afterwards."""
    context.whistle_dialogs = []

    def seen(page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            context.whistle_dialogs.append(f"{dialog.type}: {dialog.message}")

        page.on("dialog", on_dialog)

    context.on("page", seen)


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def assert_fits(page: Any) -> None:
    """The page is no wider than its viewport: nothing scrolls sideways on a phone."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px viewport"


def fill_report(page: Any, description: str) -> str:
    """Fill the form: category by code, a micro-grid picked level by level, a description."""
    page.fill("#category", "E0101")
    page.locator("#category-chosen").filter(has_text="E0101").wait_for()
    page.locator("#grid-picker button.pick").first.click()  # a grid of the community
    page.locator("#grid-crumbs button").nth(1).wait_for()
    micro = page.locator("#grid-picker button.pick").first
    code = micro.get_attribute("data-code")
    micro.click()
    page.locator(f'#place-chosen[data-code="{code}"]').wait_for()
    page.fill("#description", description)
    return str(code)


# A 1x1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
