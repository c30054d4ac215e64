"""Cross-site scripting: markup typed into whistles, notes, forms and links comes back on the
pages as text, never as markup, and every page sends a Content-Security-Policy that allows
no inline script.

Each payload goes into a case's description and reporter and a responder's resolution note
(shown on ``/cases/{id}``, ``/console`` and ``/cases``), into a citizen's case (shown on
``/track/{id}``), into a 12345 hotline file (its rows and errors shown on ``/hotline``), and
straight into what pages echo (``/claims?responder=``, the login form's name). On every page:
the payload appears escaped, and the page has no markup a payload could have made (an ``on*``
attribute, an inline script, a ``javascript:`` link, a frame, an object, a base or a refresh).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from markupsafe import escape

from tests.support.probe import CAST, OPERATOR, Answer, Call, Probe, open_probe
from whistle.web.keys import STORE

shared_loop = pytest.mark.asyncio(loop_scope="module")

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "'><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "</script><script>alert(1)</script>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">点我</a>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '" autofocus onfocus="alert(1)',
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    '<base href="//evil.example/">',
    '<meta http-equiv="refresh" content="0;url=//evil.example">',
    '<object data="data:text/html,<script>alert(1)</script>">',
    "<style>@import'//evil.example/x.css';</style>",
    "{{ 7*7 }}{% if 1 %}模板{% endif %}",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "--><script>alert(1)</script><!--",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<input onfocus=alert(1) autofocus>",
)

LIVE_TAGS = frozenset({"iframe", "frame", "object", "embed", "base", "applet", "svg", "math"})


class _Markup(HTMLParser):
    """Collects the markup in a page that could run something."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.live.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "data", "formaction") and (
                (value or "").strip().lower().startswith(("javascript:", "data:"))
            ):
                self.live.append(f"<{tag} {name}={value}>")
        if tag in LIVE_TAGS:
            self.live.append(f"<{tag}>")
        if tag == "meta" and (found.get("http-equiv") or "").lower() == "refresh":
            self.live.append("<meta http-equiv=refresh>")
        if tag == "script" and "src" not in found and found.get("type") != "application/json":
            self.live.append("an inline <script>")


def live_markup(html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser.live


def csp_problem(answer: Answer) -> str | None:
    """What is wrong with the page's Content-Security-Policy (None: nothing)."""
    policy = answer.headers.get("Content-Security-Policy")
    if not policy:
        return "no Content-Security-Policy"
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None or "'self'" not in scripts:
        return f"scripts are not limited to 'self': {policy}"
    if {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts):
        return f"scripts may run inline: {policy}"
    if directives.get("frame-ancestors") != ["'none'"]:
        return f"the page may be framed: {policy}"
    return None


def page_problems(answer: Answer, payloads: tuple[str, ...]) -> list[str]:
    """Every one of ``payloads`` shown as text, no live markup, the policy sent."""
    problems = []
    if answer.status != 200 or answer.content_type != "text/html":
        return [f"status {answer.status} {answer.content_type}: {answer.text[:200]}"]
    html = answer.text
    shown = {str(escape(p)) for p in PAYLOADS}  # (any of them may be on the page)
    for payload in payloads:
        if str(escape(payload)) not in html:
            problems.append(f"{payload!r} is not shown escaped")
        # (a payload typed pre-escaped is how another payload shows: that is no proof)
        if str(escape(payload)) != payload and payload in html and payload not in shown:
            problems.append(f"{payload!r} is in the page as it was typed")
    problems += [f"live markup: {m}" for m in live_markup(html)]
    csp = csp_problem(answer)
    if csp:
        problems.append(csp)
    return problems


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("markup"), county_dir) as p:
        yield p


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cases(probe: Probe) -> list[tuple[str, str, str, str]]:
    """For each payload: (case id, citizen case number, follow key, payload), each case with
    the payload as description, reporter and resolution note."""
    made = []
    for payload in PAYLOADS:
        doc = await probe.case(description=payload, reporter=payload)
        await probe.respond(doc["assignments"][0], "acknowledge")
        await probe.respond(doc["assignments"][0], "resolve", note=payload)
        response = await probe.live.client.post(
            "/api/v1/public/whistles",
            json={**probe.public(), "description": payload, "reporter": payload},
        )
        citizen = await response.json()
        assert response.status == 201, citizen
        stored = await probe.live.app[STORE].get_whistle(citizen["whistle_id"])
        assert stored is not None
        first = stored.assignments[0]
        await probe.respond(first, "acknowledge")
        await probe.respond(first, "resolve", note=payload)
        made.append((doc["id"], citizen["case_number"], citizen["key"], payload))
    return made


OPERATOR_WHO = next(w for w in CAST if w.name == OPERATOR)
NEWEST = 10  # /cases lists the 20 newest whistles: the last payloads' two cases each
# Page renders checked: the case page, the citizen's page, the hotline report, /claims and the
# login form once per payload; the console with all of them; the case list with the newest.
XSS_PAGE_CHECKS = 5 * len(PAYLOADS) + len(PAYLOADS) + NEWEST


@shared_loop
async def test_what_people_typed_is_shown_as_text_on_the_case_pages(
    probe: Probe, cases: list[tuple[str, str, str, str]]
) -> None:
    problems = []
    for case_id, number, key, payload in cases:
        for name, path in (
            ("case page", f"/cases/{case_id}"),
            ("citizen's page", f"/track/{number}?key={key}"),
        ):
            answer = await probe.send(OPERATOR_WHO, Call("GET", path))
            problems += [f"{name} {payload!r}: {p}" for p in page_problems(answer, (payload,))]
    assert not problems, "\n".join(problems)


@shared_loop
async def test_what_people_typed_is_shown_as_text_in_the_lists(
    probe: Probe, cases: list[tuple[str, str, str, str]]
) -> None:
    console = await probe.send(OPERATOR_WHO, Call("GET", "/console"))
    problems = [f"console: {p}" for p in page_problems(console, PAYLOADS)]
    listed = await probe.send(OPERATOR_WHO, Call("GET", "/cases"))
    problems += [f"case list: {p}" for p in page_problems(listed, PAYLOADS[-NEWEST:])]
    assert not problems, "\n".join(problems)


@shared_loop
async def test_a_hotline_file_full_of_markup_is_reported_as_text(probe: Probe) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["工单编号", "来电时间", "诉求类别", "诉求内容", "网格", "纬度", "经度", "来电人"]
    )
    for payload in PAYLOADS:
        # the ticket is shown, the unknown category and grid are echoed in the row's errors
        writer.writerow([payload, "", payload, payload, payload, "", "", payload])
    call = Call(
        "POST",
        "/hotline",
        form={"csrf_token": probe.csrf(OPERATOR_WHO)},
        multipart={"file": ("12345.csv", out.getvalue().encode())},
    )
    answer = await probe.send(OPERATOR_WHO, call)
    assert answer.status in (200, 400), answer.text[:300]
    answer.status = 200  # a file of bad rows is a 400 page: it is still a page to check
    assert not page_problems(answer, PAYLOADS), page_problems(answer, PAYLOADS)


@shared_loop
async def test_what_a_page_echoes_from_its_link_or_form_is_text(probe: Probe) -> None:
    problems = []
    citizen = next(w for w in CAST if w.role is None)
    for payload in PAYLOADS:
        claims = await probe.send(
            OPERATOR_WHO, Call("GET", f"/claims?responder={quote(payload, safe='')}")
        )
        problems += [f"claims {payload!r}: {p}" for p in page_problems(claims, (payload,))]
        # Past the login throttle's window (failures per address): each attempt is judged on
        # its own, so the form comes back rather than a 429.
        probe.clock.advance(timedelta(minutes=16))
        form = {"name": payload, "password": "wrong password", "csrf_token": "login-csrf"}
        login = await probe.send(
            citizen, Call("POST", "/login", form=form, cookies={"whistle_login": "login-csrf"})
        )
        login.status = 200 if login.status == 401 else login.status  # the form again, 401
        problems += [f"login {payload!r}: {p}" for p in page_problems(login, (payload,))]
    assert not problems, "\n".join(problems)


def test_the_live_markup_check_sees_the_payloads_that_would_be_live() -> None:
    """Were a payload printed as it was typed, the page check would see it; the others are
    inert outside an attribute, and the escaping check covers them."""
    inert = [p for p in PAYLOADS if not live_markup(f"<p>{p}</p>")]
    assert inert == [
        '" autofocus onfocus="alert(1)',
        "' onmouseover='alert(1)",
        "javascript:alert(1)",
        "<style>@import'//evil.example/x.css';</style>",
        "{{ 7*7 }}{% if 1 %}模板{% endif %}",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",  # an unknown tag "scr<script"
    ]
    assert not live_markup('<script type="application/json">{"a": "\\u003c"}</script>')
