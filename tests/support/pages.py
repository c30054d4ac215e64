"""Logging in to pages and reading their forms, for the page tests."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.harness import Live
from whistle.auth import Role
from whistle.web.access import ACCESS

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


PASSWORD = "correct horse battery"


async def add_user(live: Live, name: str, role: Role, scope: str | None) -> None:
    await live.app[ACCESS].add_user(
        name=name, password=PASSWORD, role=role, scope=scope, by="tests"
    )


def hidden_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


async def log_in(client: TestClient[Any, Any], name: str, password: str = PASSWORD) -> Any:
    form = await client.get("/login")
    csrf = hidden_csrf(await form.text())
    return await client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf},
        allow_redirects=False,
    )
