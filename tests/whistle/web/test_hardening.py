"""Hardening: nosniff on every answer, Secure cookies behind a TLS proxy, no locals in logs."""

from __future__ import annotations

import io

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from grids import Hierarchy
from tests.support.harness import Live, StartServer
from tests.support.pages import PASSWORD, add_user, hidden_csrf, log_in
from whistle.auth import Role
from whistle.cli import _parser
from whistle.exceptions import Conflict
from whistle.logs import log_processors
from whistle.web.problems import error_middleware


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/api/v1/categories",
        "/api/v1/stats/sources.csv?since=2026-11-23&until=2026-11-24",
        "/static/common.css",
        "/api/v1/openapi.json",
        "/api/v1/whistles/nothing-here",
        "/login",
    ],
)
async def test_every_answer_tells_the_browser_not_to_guess_its_type(live: Live, path: str) -> None:
    token = await live.token("committee")
    response = await live.client.get(path, headers=await live.auth(token))
    assert response.status in (200, 404), await response.text()
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


async def test_cookies_are_not_secure_on_plain_http_by_default(
    live: Live, county: Hierarchy
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    form = await live.client.get("/login?lang=en")
    assert not form.cookies["whistle_login"]["secure"]
    assert not form.cookies["whistle_lang"]["secure"]
    session = await log_in(live.client, "op")
    assert not session.cookies["whistle_session"]["secure"]


async def test_secure_cookies_behind_a_tls_proxy(
    start_server: StartServer, county: Hierarchy
) -> None:
    live = await start_server(secure_cookies=True)
    await add_user(live, "op", Role.OPERATOR, county.root)
    form = await live.client.get("/login?lang=en")
    assert form.cookies["whistle_login"]["secure"]
    assert form.cookies["whistle_lang"]["secure"]
    # The client does not send Secure cookies over plain HTTP: send it as the proxy would.
    token = form.cookies["whistle_login"].value
    session = await live.client.post(
        "/login",
        data={"name": "op", "password": PASSWORD, "csrf_token": hidden_csrf(await form.text())},
        headers={"Cookie": f"whistle_login={token}"},
        allow_redirects=False,
    )
    assert session.status == 303
    assert session.cookies["whistle_session"]["secure"]
    assert session.cookies["whistle_session"]["httponly"]


def test_serve_has_a_secure_cookies_option() -> None:
    assert _parser().parse_args(["serve", "--secure-cookies"]).secure_cookies is True
    assert _parser().parse_args(["serve"]).secure_cookies is False


@pytest.mark.parametrize("json", [True, False])
async def test_an_unhandled_error_on_login_logs_no_password(json: bool) -> None:
    async def login_that_breaks(request: web.Request) -> web.StreamResponse:
        password = "correct horse battery staple"  # what the handler holds when it breaks
        raise RuntimeError(f"broken after reading {len(password)} characters")

    out = io.BytesIO() if json else io.StringIO()
    factory = structlog.BytesLoggerFactory(out) if json else structlog.PrintLoggerFactory(out)
    # The server's own processors (configure_logging's), writing here and not cached.
    structlog.configure(processors=log_processors(json=json), logger_factory=factory)
    try:
        request = make_mocked_request("POST", "/login")
        response = await error_middleware(request, login_that_breaks)
    finally:
        structlog.reset_defaults()
    assert response.status == 500
    written = out.getvalue()
    text = written.decode() if isinstance(written, bytes) else written
    assert "http.unhandled" in text
    assert "RuntimeError" in text
    assert "broken after reading 28 characters" in text  # the traceback is still there
    assert "correct horse" not in text


async def test_a_case_that_kept_changing_under_every_retry_is_busy_not_a_server_error() -> None:
    # CaseService.act gives up after its retries when other steps keep landing on the case
    # (the soak saw a burst do it). Nothing was written: the caller may try again at once.
    async def act_on_a_busy_case(request: web.Request) -> web.StreamResponse:
        raise Conflict("case 01ABC kept changing; try again")

    response = await error_middleware(make_mocked_request("POST", "/x"), act_on_a_busy_case)
    assert isinstance(response, web.Response)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert response.text is not None
    assert "kept changing" in response.text
