"""SQL injection: classic payloads in every query parameter and JSON or form string field of
the endpoints that reach the database.

Each payload must be answered with a 4xx naming the field, or taken as plain data: a filter
that matches nothing lists nothing (no extra rows), a text field is stored exactly as sent.
Never a 5xx. After each target's payloads the database is checked from a second connection:
the same tables, no table has lost a row, ``PRAGMA integrity_check`` says ``ok``, and the
whistles table grew by exactly the whistles that were answered 201.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.probe import CAST, OPERATOR, PASSWORD, Answer, Call, Probe, open_probe
from whistle.web.keys import STORE

shared_loop = pytest.mark.asyncio(loop_scope="module")

# Classic injections, plus numbers that only look like numbers: Unicode digits ("١", "²"),
# which str.isdigit() accepts and int() may not, and a 400-digit one.
PAYLOADS = (
    "'",
    "''",
    '"',
    "`",
    "\\",
    "\\'",
    ";",
    "' OR '1'='1",
    "' OR 1=1 --",
    "' OR 1=1 #",
    '" OR "1"="1',
    "') OR ('1'='1",
    "' OR ''='",
    "1 OR 1=1",
    "-1 OR 1=1",
    "admin'--",
    "x' AND 1=0 UNION SELECT name FROM sqlite_master --",
    "' UNION SELECT NULL --",
    "' UNION ALL SELECT 1,2,3,4,5,6,7,8 --",
    "' UNION SELECT sql FROM sqlite_master WHERE '1'='1",
    "'; DROP TABLE whistles; --",
    "1); DROP TABLE events; --",
    "'; DELETE FROM assignments; --",
    "'; UPDATE tokens SET role='admin'; --",
    "'; ATTACH DATABASE '/tmp/probe.db' AS p; --",
    "'; PRAGMA writable_schema=1; --",
    "' || (SELECT sqlite_version()) || '",
    "' AND randomblob(100000000) --",
    "1' AND 1=(SELECT count(*) FROM sqlite_master) --",
    "*/ OR /*",
    "' GLOB '*",
    "' LIKE '%",
    "%",
    "_",
    "%25",
    "E01%",
    "%' OR '%'='",
    "0x27",
    "1e309",
    "9" * 40,
    "9" * 400,
    "²",
    "١٢",
    "$1",
    ":id",
    "?",
)

READ_ONLY = frozenset({200, 400, 404})
LOGIN = frozenset({401, 429})  # wrong name or password; 429 once the address is locked out


@dataclass(frozen=True)
class Target:
    """One place a payload goes: how to send it, and what the answer may be."""

    name: str
    call: Callable[[Probe, str], Awaitable[Call]]
    statuses: frozenset[int] = READ_ONLY
    check: Callable[[Probe, str, Answer], str | None] | None = None  # what else must hold
    creates: bool = False  # a 201 stores one whistle
    payloads: tuple[str, ...] = PAYLOADS


Build = Callable[[Probe, str], Awaitable[Call]]


def query(path: str, name: str, *, prefix: str = "", **fixed: str) -> Build:
    async def build(p: Probe, payload: str) -> Call:
        payload = prefix + payload
        return Call("GET", f"{path}?{urllib.parse.urlencode({**fixed, name: payload})}")

    return build


def path_segment(template: str) -> Build:
    async def build(p: Probe, payload: str) -> Call:
        return Call("GET", template.format(urllib.parse.quote(payload, safe="")))

    return build


def no_rows(key: str) -> Callable[[Probe, str, Answer], str | None]:
    """A filter that no stored row matches lists nothing."""

    def check(p: Probe, payload: str, answer: Answer) -> str | None:
        if answer.status != 200:
            return None
        rows = answer.json()
        for part in key.split("."):
            rows = rows[part]
        return None if not rows else f"{len(rows)} rows for a filter that matches none"

    return check


def open311_rows(p: Probe, payload: str, answer: Answer) -> str | None:
    return None if answer.status != 200 or answer.json() == [] else "rows for no such request"


WHOLE = {"Prefer": "return=representation"}


def whistle_field(path: str) -> Build:
    """A whistle whose field at ``path`` (dotted) is the payload."""

    async def build(p: Probe, payload: str) -> Call:
        body = p.whistle()
        *parents, last = path.split(".")
        holder = body
        for part in parents:
            holder = holder[part]
        holder[last] = [payload] if last == "media_urls" else payload
        # The whole whistle back: the checks read what was stored from the answer.
        return Call("POST", "/api/v1/whistles", json=body, extra=WHOLE)

    return build


def stored_as_sent(field: str) -> Callable[[Probe, str, Answer], str | None]:
    def check(p: Probe, payload: str, answer: Answer) -> str | None:
        if answer.status != 201:
            return None
        stored = answer.json().get(field)
        return None if stored == payload else f"stored {field} {stored!r}, sent {payload!r}"

    return check


def open311_post(field: str) -> Build:
    async def build(p: Probe, payload: str) -> Call:
        point = p.county.centroid(p.micro())
        assert point is not None
        form = {
            "api_key": await p.live.token("operator"),
            "service_code": "E0101",
            "lat": str(point[0]),
            "long": str(point[1]),
            "description": "open311 注入探针",
            field: payload,
        }
        return Call("POST", "/open311/v2/requests.json", form=form)

    return build


def login(field: str) -> Build:
    async def build(p: Probe, payload: str) -> Call:
        form = {"name": "probe-admin", "password": PASSWORD, "csrf_token": "login-csrf"}
        form[field] = payload
        return Call("POST", "/login", form=form, cookies={"whistle_login": "login-csrf"})

    return build


def not_logged_in(p: Probe, payload: str, answer: Answer) -> str | None:
    cookies = " ".join(answer.headers.getall("Set-Cookie", []))
    return "a session was given" if "whistle_session=" in cookies else None


LIST = "/api/v1/whistles"
STATS, DRILL, CSV = "/api/v1/stats", "/api/v1/stats/cases", "/api/v1/stats/sources.csv"
O311 = "/open311/v2/requests.json"

TARGETS = (
    # the whistle list's filters
    Target("list status", query(LIST, "status"), check=no_rows("items")),
    Target("list source", query(LIST, "source"), check=no_rows("items")),
    Target("list category", query(LIST, "category"), check=no_rows("items")),
    Target("list grid", query(LIST, "grid"), check=no_rows("items")),
    Target("list level", query(LIST, "level"), check=no_rows("items")),
    Target("list since", query(LIST, "since"), check=no_rows("items")),
    Target("list until", query(LIST, "until"), check=no_rows("items")),
    Target("list limit", query(LIST, "limit")),
    Target("list cursor", query(LIST, "cursor"), check=no_rows("items")),
    Target("list unknown parameter", query(LIST, "status' OR '1'='1")),
    Target("whistle by id", path_segment("/api/v1/whistles/{}"), statuses=frozenset({400, 404})),
    # intake: every string field of a whistle
    *(
        Target(
            f"intake {field}",
            whistle_field(field),
            statuses=frozenset({201, 422}),
            check=stored_as_sent(field) if field in ("description", "reporter") else None,
            creates=True,
        )
        for field in (
            "source",
            "category",
            "description",
            "reporter",
            "urgency",
            "occurred_at",
            "external_id",
            "location.grid",
            "media_urls",
        )
    ),
    # statistics
    Target("stats grid", query(STATS, "grid")),
    Target("stats since", query(STATS, "since")),
    Target("stats until", query(STATS, "until")),
    Target("drill metric", query(DRILL, "metric")),
    Target("drill bucket", query(DRILL, "bucket", metric="total"), check=no_rows("ids")),
    *(
        Target(
            f"drill {kind} bucket",
            query(DRILL, "bucket", prefix=f"{kind}:", metric="total"),
            check=no_rows("ids"),
        )
        for kind in ("source", "category", "place", "day")
    ),
    Target("drill limit", query(DRILL, "limit", metric="total")),
    Target("csv grid", query(CSV, "grid")),
    Target("csv table", path_segment("/api/v1/stats/{}.csv"), statuses=frozenset({400, 404})),
    # the grid
    Target("grids level", query("/api/v1/grids", "level")),
    Target("grids parent", query("/api/v1/grids", "parent")),
    Target("grids limit", query("/api/v1/grids", "limit")),
    Target("grids offset", query("/api/v1/grids", "offset")),
    Target("grid by code", path_segment("/api/v1/grids/{}"), statuses=frozenset({400, 404})),
    Target("roster by code", path_segment("/api/v1/grids/{}/roster")),
    Target("inbox by responder", path_segment("/api/v1/responders/{}/inbox")),
    # GeoReport v2
    Target("open311 service_request_id", query(O311, "service_request_id"), check=open311_rows),
    Target("open311 service_code", query(O311, "service_code"), check=open311_rows),
    Target("open311 status", query(O311, "status"), check=open311_rows),
    Target("open311 start_date", query(O311, "start_date"), check=open311_rows),
    Target("open311 end_date", query(O311, "end_date"), check=open311_rows),
    Target("open311 jurisdiction_id", query(O311, "jurisdiction_id"), check=open311_rows),
    Target(
        "open311 request by id",
        path_segment("/open311/v2/requests/{}.json"),
        statuses=frozenset({400, 404}),
    ),
    *(
        Target(
            f"open311 post {field}",
            open311_post(field),
            statuses=frozenset({201, 400, 401, 403, 404}),
            creates=True,
        )
        for field in ("description", "service_code", "lat", "long", "api_key", "address_string")
    ),
    # the login form
    Target("login name", login("name"), statuses=LOGIN, check=not_logged_in),
    # A password never reaches SQL (the name finds the row; argon2 checks the password), and
    # each try costs an argon2 verification: the classic few are enough here.
    Target(
        "login password",
        login("password"),
        statuses=LOGIN,
        check=not_logged_in,
        payloads=("' OR '1'='1", "' OR 1=1 --", "admin'--", "'; DROP TABLE users; --", "%"),
    ),
)

SQL_INJECTION_PROBES = sum(len(t.payloads) for t in TARGETS)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("injection"), county_dir) as p:
        await p.live.token("operator")  # the county-wide operator, for GeoReport's api_key
        await p.case()  # something to find, so that "no extra rows" means something
        await p.citizen_case()
        yield p


def test_the_payloads_are_about_forty_classic_ones() -> None:
    assert len(PAYLOADS) == len(set(PAYLOADS)) >= 40


@shared_loop
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_sql_injection_is_taken_as_data(probe: Probe, target: Target) -> None:
    operator = next(w for w in CAST if w.name == OPERATOR)
    before = probe.table_counts()
    whistles = await probe.live.app[STORE].count_whistles()
    created = 0
    problems = []
    for payload in target.payloads:
        answer = await probe.send(operator, await target.call(probe, payload))
        created += target.creates and answer.status == 201
        wrong = None
        if answer.status not in target.statuses:
            wrong = f"status {answer.status}: {answer.text[:200]}"
        elif target.check is not None:
            wrong = target.check(probe, payload, answer)
        if wrong:
            problems.append(f"{payload!r}: {wrong}")
    assert not problems, f"{target.name}:\n" + "\n".join(problems)
    after = probe.table_counts()
    assert set(after) == set(before), "tables were created or dropped"
    assert after["sqlite_master"] == before["sqlite_master"], "the schema changed"
    shrunk = {t: (before[t], after[t]) for t in before if after[t] < before[t]}
    assert not shrunk, f"rows went missing: {shrunk}"
    assert await probe.live.app[STORE].count_whistles() == whistles + created
    assert probe.integrity() == "ok"


@shared_loop
async def test_a_login_with_the_right_password_still_works_after_the_payloads(
    probe: Probe,
) -> None:
    """The login target's refusals are about the payload: the real password gets in."""
    citizen = next(w for w in CAST if w.role is None)
    answer = await probe.send(citizen, await login("name")(probe, "probe-admin"))
    assert answer.status in (303, 429)  # 429: a lockout after the wrong passwords
    if answer.status == 303:
        assert not_logged_in(probe, "", answer) is not None
