"""Every page in Chromium, with script typed into every text a page shows: no script runs,
and the Content-Security-Policy is never violated.

Town A gets a case whose description and reporter are script, a resolution note that is
script, a silence whose comment and author are script (and a case it mutes, whose page names
it), and a citizen's case whose description is script. Then every page of the router (each
GET route that answers a page, opened by the first role it admits) is loaded twice:

- with the policy bypassed, so that only the escaping stands between the payload and the
  page: ``window.__pwned`` stays unset and no page error is raised;
- with the policy on: no ``securitypolicyviolation`` event and no console error (an inline
  script, an ``on*=`` handler or a ``style=`` attribute the page itself carries would be one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.security.test_route_matrix import (
    BUILDERS,
    DOORS,
    PAGE,
    ROUTES,
    THROUGH,
    door_key,
    expected,
)
from tests.support.browser import CHROMIUM_ARGS, chromium
from tests.support.probe import (
    ADMIN,
    CAST,
    COMMITTEE,
    HOME,
    OPERATOR,
    REPORTER,
    RESPONDER,
    Probe,
    Who,
    open_probe,
)

shared_loop = pytest.mark.asyncio(loop_scope="module")
__all__ = ["chromium"]  # the fixture: Debian's Chromium, or a skip (a failure under CI=true)

PUBLIC_PAGES = ("GET /", "GET /citizen", "GET /login", "GET /track/{id}")
PAGES = sorted(
    r for r in ROUTES if r.startswith("GET ") and (DOORS[r].kind == PAGE or r in PUBLIC_PAGES)
)
PREFERENCE = (OPERATOR, RESPONDER, REPORTER, COMMITTEE, ADMIN)


def script(where: str) -> str:
    """Markup that, if a page made it live, would set ``window.__pwned`` to ``where``."""
    return f'"><img src=x onerror=__pwned="{where}"><svg onload=__pwned="{where}">'


# The texts that people type and pages show, each with its own payload.
TEXTS = ("description", "reporter", "note", "comment", "author", "citizen")
# A second case page: the case a silence mutes names the silence's comment and author.
MORE_PATHS = {"GET /cases/{id}": ("muted",)}
# Each path, with the policy bypassed and with it on.
XSS_BROWSER_CHECKS = (len(PAGES) + sum(map(len, MORE_PATHS.values()))) * 2

WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' '
    + (e.sourceFile || '') + ':' + e.lineNumber));
"""


def _opener(route: str) -> Who:
    door = DOORS[door_key(route)]
    for role in PREFERENCE:
        who = next(w for w in CAST if w.name == role)
        if expected(door, who) == THROUGH:
            return who
    return next(w for w in CAST if w.name == OPERATOR)


async def _seed(p: Probe) -> dict[str, str]:
    """Town A's texts of script, through the API; the paths that show them."""
    doc = await p.case(description=script("description"), reporter=script("reporter")[:100])
    first = doc["assignments"][0]
    await p.respond(first, "acknowledge")
    await p.respond(first, "resolve", note=script("note"))
    silence = {
        "matchers": {"grid": p.micro(), "category": "E0103"},  # none of the other probes' cases
        "starts_at": p.clock.now().isoformat(),
        "duration_minutes": 600,
        "author": script("author")[:64],
        "comment": script("comment"),
    }
    await p.ok("POST", "/api/v1/silences", silence)
    muted = await p.case(description=script("description"), category="E0103")
    response = await p.live.client.post(
        "/api/v1/public/whistles", json={**p.public(), "description": script("citizen")}
    )
    citizen = await response.json()
    assert response.status == 201, citizen
    return {
        "GET /cases/{id}": f"/cases/{doc['id']}",
        "muted": f"/cases/{muted['id']}",
        "GET /track/{id}": f"/track/{citizen['whistle_id']}?key={citizen['key']}",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("chromium"), county_dir) as p:
        p._cache["pages"] = await _seed(p)
        yield p


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chrome(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def _path(p: Probe, route: str, who: Who) -> str:
    seeded: dict[str, str] = p._cache["pages"]
    if route in seeded:
        return seeded[route]
    return (await BUILDERS[route](p, who, False)).path


async def _load(browser: Any, p: Probe, who: Who, path: str, *, bypass_csp: bool) -> dict[str, Any]:
    context = await browser.new_context(bypass_csp=bypass_csp, locale="zh-CN")
    try:
        if who.has_session:
            cookie = {"name": "whistle_session", "value": p.sessions[who.name][0], "url": p.base}
            await context.add_cookies([cookie])
        await context.add_init_script(WATCH)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
        response = await page.goto(p.base + path, wait_until="load")
        # The pages fetch and draw after load; the live ones never go quiet (their stream).
        with contextlib.suppress(Exception):
            await page.wait_for_load_state("networkidle", timeout=1000)
        found = await page.evaluate("() => [window.__pwned || null, window.__violations]")
        return {
            "status": None if response is None else response.status,
            "url": page.url,
            "pwned": found[0],
            "violations": found[1],
            "errors": errors,
        }
    finally:
        await context.close()


def test_every_page_of_the_router_is_loaded() -> None:
    assert {"GET /console", "GET /cases/{id}", "GET /wall", "GET /track/{id}"} <= set(PAGES)
    assert all(r in BUILDERS for r in PAGES)


@shared_loop
@pytest.mark.parametrize("route", PAGES)
async def test_no_script_runs_and_the_policy_holds(probe: Probe, chrome: Any, route: str) -> None:
    who = _opener(route)
    paths = [await _path(probe, route, who)]
    paths += [probe._cache["pages"][key] for key in MORE_PATHS.get(route, ())]
    problems = []
    for path in paths:
        bare, guarded = await asyncio.gather(
            _load(chrome, probe, who, path, bypass_csp=True),
            _load(chrome, probe, who, path, bypass_csp=False),
        )
        assert bare["status"] == 200, (path, bare)
        assert route == "GET /login" or "/login" not in bare["url"], (path, bare)
        if bare["pwned"] or guarded["pwned"]:
            problems.append(f"{path}: script ran from {bare['pwned'] or guarded['pwned']}")
        problems += [f"{path} (no policy): {e}" for e in bare["errors"]]
        problems += [f"{path}: violation {v}" for v in guarded["violations"]]
        problems += [f"{path}: {e}" for e in guarded["errors"]]
    assert not problems, f"{route} as {who.name}:\n" + "\n".join(problems)


@shared_loop
async def test_the_payloads_reach_the_pages_so_a_live_one_would_show(
    probe: Probe, chrome: Any
) -> None:
    """The checks above mean something: the typed script is on the pages, as text."""
    operator = next(w for w in CAST if w.name == OPERATOR)
    context = await chrome.new_context()
    try:
        await context.add_cookies(
            [{"name": "whistle_session", "value": probe.sessions[OPERATOR][0], "url": probe.base}]
        )
        page = await context.new_page()
        seen = ""
        for path in (probe._cache["pages"]["GET /cases/{id}"], probe._cache["pages"]["muted"]):
            await page.goto(probe.base + path)
            seen += await page.inner_text("body")
        await page.goto(probe.base + "/silences")
        seen += await page.inner_text("body")
    finally:
        await context.close()
    for where in ("description", "note", "comment"):
        assert script(where) in seen, where
    assert operator.town == HOME
    probe.clock.advance(timedelta(seconds=1))


@shared_loop
async def test_a_live_payload_would_be_caught(probe: Probe, chrome: Any) -> None:
    """The watch works: markup made live on a real page under its policy is a violation, and
    without the policy it runs and sets window.__pwned."""
    found = []
    for bypass in (False, True):
        context = await chrome.new_context(bypass_csp=bypass)
        try:
            await context.add_init_script(WATCH)
            page = await context.new_page()
            await page.goto(probe.base + "/login")
            await page.evaluate(
                "() => { const d = document.createElement('div');"
                " d.innerHTML = '<img src=x onerror=\"__pwned=1\">'; document.body.append(d); }"
            )
            await page.wait_for_function("() => window.__pwned || window.__violations.length")
            found.append(await page.evaluate("() => [window.__pwned || 0, window.__violations]"))
        finally:
            await context.close()
    (guarded_pwned, guarded_violations), (bare_pwned, _) = found
    assert guarded_pwned == 0, found
    assert guarded_violations, found
    assert bare_pwned == 1
