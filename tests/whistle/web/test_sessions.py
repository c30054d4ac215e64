"""Sessions: a login always gets a new id and ends the one the browser brought, a logout ends
the session on the server (the old cookie, replayed, opens nothing), and the cookie is
HttpOnly and SameSite; login throttling answers in Chinese with Retry-After."""

from __future__ import annotations

from datetime import timedelta

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.pages import PASSWORD, add_user, hidden_csrf
from whistle.auth import Role
from whistle.clock import FakeClock


async def _login(live: Live, name: str, password: str = PASSWORD, *, cookie: str = "") -> object:
    """POST /login as a browser would, with ``cookie`` besides the login form's own."""
    form = await live.client.get("/login")
    token = form.cookies["whistle_login"].value
    live.client.session.cookie_jar.clear()
    return await live.client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": hidden_csrf(await form.text())},
        headers={"Cookie": "; ".join(filter(None, [f"whistle_login={token}", cookie]))},
        allow_redirects=False,
    )


async def _page(live: Live, session: str, path: str = "/cases") -> int:
    live.client.session.cookie_jar.clear()
    response = await live.client.get(
        path, headers={"Cookie": f"whistle_session={session}"}, allow_redirects=False
    )
    return response.status


async def test_login_gets_a_new_session_and_ends_the_one_the_browser_brought(
    live: Live, county: Hierarchy
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    first = await _login(live, "op")
    old = first.cookies["whistle_session"].value  # type: ignore[attr-defined]
    assert await _page(live, old) == 200
    second = await _login(live, "op", cookie=f"whistle_session={old}")
    new = second.cookies["whistle_session"].value  # type: ignore[attr-defined]
    assert new != old
    assert await _page(live, new) == 200
    assert await _page(live, old) == 303  # to /login: the old id opens nothing any more


async def test_a_planted_session_id_is_not_adopted_by_the_login(
    live: Live, county: Hierarchy
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    answer = await _login(live, "op", cookie="whistle_session=chosen-by-an-attacker")
    assert answer.cookies["whistle_session"].value != "chosen-by-an-attacker"  # type: ignore[attr-defined]
    assert await _page(live, "chosen-by-an-attacker") == 303


async def test_logout_ends_the_session_on_the_server(live: Live, county: Hierarchy) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    answer = await _login(live, "op")
    session = answer.cookies["whistle_session"].value  # type: ignore[attr-defined]
    live.client.session.cookie_jar.clear()
    page = await live.client.get("/cases", headers={"Cookie": f"whistle_session={session}"})
    csrf = hidden_csrf(await page.text())
    live.client.session.cookie_jar.clear()
    out = await live.client.post(
        "/logout",
        data={"csrf_token": csrf},
        headers={"Cookie": f"whistle_session={session}"},
        allow_redirects=False,
    )
    assert out.status == 303
    # The browser forgets the cookie; a copy of it, replayed, is refused by the server.
    assert await _page(live, session) == 303
    live.client.session.cookie_jar.clear()
    api = await live.client.get(
        "/api/v1/whistles", headers={"Cookie": f"whistle_session={session}"}
    )
    assert api.status == 401


async def test_the_session_cookie_is_httponly_and_samesite(live: Live, county: Hierarchy) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    answer = await _login(live, "op")
    cookie = answer.cookies["whistle_session"]  # type: ignore[attr-defined]
    assert cookie["httponly"]
    assert cookie["samesite"] in ("Strict", "Lax")
    assert cookie["path"] == "/"


async def test_failed_logins_are_refused_in_chinese_with_retry_after_then_end(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    for _ in range(5):
        wrong = await _login(live, "op", "wrong")
        assert wrong.status == 401  # type: ignore[attr-defined]
    refused = await _login(live, "op")
    assert refused.status == 429  # type: ignore[attr-defined]
    assert int(refused.headers["Retry-After"]) == 60  # type: ignore[attr-defined]
    assert "登录失败次数过多，请在60 秒后再试" in await refused.text()  # type: ignore[attr-defined]
    assert "whistle_session" not in refused.cookies  # type: ignore[attr-defined]
    # A sliding window on the injected clock: after the refusal the right password works.
    clock.advance(timedelta(seconds=61))
    assert (await _login(live, "op")).status == 303  # type: ignore[attr-defined]
