"""Hostile input on every route, by every principal of the cast: SQL metacharacters in every
path and query parameter, bodies that are oversized, deeply nested, not UTF-8 or NaN-laden,
and coordinates that are not on Earth.

The routes come from the app's router (through test_route_matrix.py, whose builders make a
valid call for each route and principal); this module spoils one part of that call at a time.
The query parameters of a route are the ones the OpenAPI document declares for it, and for a
route it does not describe (the pages), :data:`PAGE_QUERY`, the names the pages read.

Each answer: never a 5xx, no trace of SQL or Python in it, no town A data for a town B
principal. Afterwards the database has every table and row it had, and passes its integrity
check. A whistle with a point off the Earth is never stored.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlencode

import orjson
import pytest
import pytest_asyncio
from markupsafe import escape

from tests.security.test_route_matrix import (
    BUILDERS,
    DOORS,
    PAGE,
    PUBLIC,
    ROUTES,
    THROUGH,
    door_key,
    expected,
)
from tests.support.probe import (
    AWAY,
    CAST,
    CITIZEN,
    MARKER,
    OPERATOR,
    PNG,
    Answer,
    Call,
    Probe,
    Who,
    open_probe,
)
from whistle.web.keys import SETTINGS
from whistle.web.openapi import document

shared_loop = pytest.mark.asyncio(loop_scope="module")

# SQL metacharacters and their usual company: quotes, comments, statement ends, UNION, LIKE
# wildcards, an escape, a NUL, digits that are not ASCII and a number too big for any integer.
SQL = (
    "'",
    "\"'); DROP TABLE whistles;--",
    "' OR '1'='1' --",
    "1 UNION SELECT name, sql FROM sqlite_master--",
    "%_%' ESCAPE '\\",
    "x\x00' --",
    "١٢٣",
    "9" * 400,
)
# What the pages read from their query (the API's parameters are in the OpenAPI document).
PAGE_QUERY = ("lang", "grid", "since", "until", "status", "q", "responder", "key", "sort")
# Open311's GeoReport v2 query parameters (its routes are described by Open311, not here).
OPEN311_QUERY = ("jurisdiction_id", "service_request_id", "service_code", "start_date",
                 "end_date", "status", "api_key", "lat", "long")  # fmt: skip
PUBLIC_PAGES = ("GET /", "GET /citizen", "GET /login", "GET /track/{id}")
# What an answer says when SQL or Python broke inside (a payload quoted back is fine).
LEAKS = re.compile(
    r"sqlite3\.|syntax error|Traceback|OperationalError|IntegrityError|no such (table|column)"
    r"|unrecognized token|near \"",
    re.I,
)

ID_PATTERN = re.compile(r"\{(\w+)\}")


def _template(route: str) -> re.Pattern[str]:
    """A pattern for the route's concrete paths, a group per path parameter."""
    path = route.split(" ", 1)[1]
    parts = ID_PATTERN.split(path)
    text = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/?]+?)" for i, p in enumerate(parts))
    return re.compile(f"^{text}(?=$|\\?)")


def _declared_query() -> dict[str, tuple[str, ...]]:
    doc = document()
    found: dict[str, tuple[str, ...]] = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            names = tuple(p["name"] for p in op.get("parameters", ()) if p["in"] == "query")
            found[f"{method.upper()} {path}"] = names
    return found


DECLARED = _declared_query()
PROBED = [r for r in ROUTES if not r.startswith("HEAD ")]  # HEAD runs GET's handler


def parameters(route: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(path parameters, query parameters) of ``route``."""
    path_params = tuple(ID_PATTERN.findall(route))
    if route in DECLARED:
        return path_params, DECLARED[route]
    if route.startswith("GET /open311/"):
        return path_params, OPEN311_QUERY
    page = DOORS[door_key(route)].kind == PAGE or route in PUBLIC_PAGES
    return path_params, PAGE_QUERY if page and route.startswith("GET ") else ()


def _principals(route: str) -> list[Who]:
    """Who spoils the route: each admitted principal of town A, its town B twin, a citizen (a
    public route: a citizen and an operator of each town, as everyone gets the same door)."""
    door = DOORS[door_key(route)]
    if door.kind == PUBLIC:
        return [w for w in CAST if w.name in (CITIZEN, OPERATOR, f"away {OPERATOR}")]
    home = [w for w in CAST if w.town != AWAY and expected(door, w) == THROUGH]
    twins = [w for w in CAST if w.town == AWAY and w.role in {h.role for h in home}]
    citizen = [w for w in CAST if w.name == CITIZEN]
    return list(dict.fromkeys([*home, *twins, *citizen]))


SQL_PARAMETER_PROBES = sum(
    len(SQL) * sum(len(group) for group in parameters(r)) * len(_principals(r)) for r in PROBED
)

# Bodies no client should send. Each is under the 64 KiB limit but the first.
OVERSIZED = "oversized"
_JSON, _FORM = "application/json", "application/x-www-form-urlencoded"
BODIES: dict[str, tuple[bytes, str]] = {
    OVERSIZED: (b"", _JSON),  # the route's own limit and a KiB: see _oversized
    "deeply nested array": (b"[" * 30_000 + b"]" * 30_000, _JSON),
    "deeply nested object": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, _JSON),
    "invalid UTF-8 JSON": (b'{"description": "\xff\xfe\xc3(", "reporter": "\xed\xa0\x80"}', _JSON),
    "NaN and Infinity": (b'{"location": {"lat": NaN, "lon": Infinity}, "grade": NaN}', _JSON),
    "not an object": (b"[1, 2, 3]", _JSON),
    "invalid UTF-8 form": (b"name=\xff\xfe&password=\xc3(&csrf_token=\xed\xa0\x80", _FORM),
    "broken multipart": (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="../../x"\r\n\r\n\xff',
        "multipart/form-data; boundary=b",
    ),
}
BODY_ROUTES = [r for r in PROBED if r.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE")]
BODY_PROBES = len(BODIES) * sum(len(_principals(r)) for r in BODY_ROUTES)

# Points that are not on Earth, or not numbers: JSON literals (raw) for the JSON routes.
COORDINATES = (
    "NaN", "Infinity", "-Infinity", "1e400", '"NaN"', '"Infinity"', "91", "-90.0001", "180.5",
    "-181", '"北纬"', "true", "[]", "{}",
)  # fmt: skip
# Per value: lat and lon of a whistle, of a citizen's whistle, of an Open311 request, of locate.
COORDINATE_PROBES = len(COORDINATES) * 8


def _echoes(payload: str) -> tuple[str, ...]:
    """The forms in which an answer may quote what it was sent (as sent, JSON, HTML, URL)."""
    json = orjson.dumps(payload).decode()[1:-1]
    return (payload, json, str(escape(payload)), str(escape(json)), quote(payload, safe=""))


def _problems(
    who: Who, answer: Answer, what: str, payload: str = "", *, public: bool = False
) -> list[str]:
    found = []
    if answer.status >= 500:
        found.append(f"{who.name}, {what}: {answer.status} {answer.text[:200]}")
    text = answer.text
    for echo in _echoes(payload) if payload else ():
        text = text.replace(echo, "")
    if LEAKS.search(text):
        found.append(f"{who.name}, {what}: the answer tells of the inside: {answer.text[:200]}")
    # A public route gives anyone what it gives (a follow key opens its case to whoever has it).
    if who.town == AWAY and not public and MARKER in answer.text:
        found.append(f"{who.name}, {what}: town A's data: {answer.text[:200]}")
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("hostile"), county_dir) as p:
        before = p.table_counts()
        yield p
        after = p.table_counts()
        lost = {t: (n, after.get(t)) for t, n in before.items() if after.get(t, -1) < n}
        assert not lost, f"rows or tables lost: {lost}"
        assert p.integrity() == "ok"


def test_every_route_is_spoiled_and_the_api_parameters_are_declared() -> None:
    assert set(BUILDERS) >= {door_key(r) for r in PROBED}
    with_params = [r for r in PROBED if any(parameters(r))]
    assert len(with_params) > 40, with_params
    assert "status" in parameters("GET /api/v1/whistles")[1]


@shared_loop
@pytest.mark.parametrize("route", [r for r in PROBED if any(parameters(r))])
async def test_sql_metacharacters_in_every_parameter_are_only_data(
    probe: Probe, route: str
) -> None:
    path_params, query_params = parameters(route)
    pattern = _template(route)
    public = DOORS[door_key(route)].kind == PUBLIC
    problems: list[str] = []
    for who in _principals(route):
        call = await BUILDERS[door_key(route)](probe, who, False)
        match = pattern.match(call.path)
        assert match is not None, (route, call.path)
        for payload in SQL:
            for name in path_params:
                start, end = match.span(name)
                spoiled = call.path[:start] + quote(payload, safe="") + call.path[end:]
                answer = await probe.send(who, _with_path(call, spoiled))
                problems += _problems(
                    who, answer, f"{{{name}}}={payload[:30]!r}", payload, public=public
                )
            for name in query_params:
                joiner = "&" if "?" in call.path else "?"
                spoiled = call.path + joiner + urlencode({name: payload})
                answer = await probe.send(who, _with_path(call, spoiled))
                problems += _problems(
                    who, answer, f"?{name}={payload[:30]!r}", payload, public=public
                )
    assert not problems, f"{route}:\n" + "\n".join(problems[:20])


def _with_path(call: Call, path: str) -> Call:
    return Call(
        call.method, path, json=call.json, form=call.form, raw=call.raw,
        multipart=call.multipart, responder=call.responder, cookies=call.cookies,
        session=call.session, stream=call.stream,
    )  # fmt: skip


@shared_loop
@pytest.mark.parametrize("route", BODY_ROUTES)
async def test_hostile_bodies_are_refused_never_a_server_error(probe: Probe, route: str) -> None:
    public = DOORS[door_key(route)].kind == PUBLIC
    problems: list[str] = []
    for who in _principals(route):
        call = await BUILDERS[door_key(route)](probe, who, False)
        for kind, (body, content_type) in BODIES.items():
            if kind == OVERSIZED:
                body = _oversized(probe, route)
            spoiled = _with_path(call, call.path)
            spoiled.json = spoiled.form = spoiled.multipart = None
            spoiled.raw = body
            headers = await probe.headers(who, spoiled, body)
            headers["Content-Type"] = content_type
            answer = await probe.send(who, spoiled, headers=headers)
            problems += _problems(who, answer, kind, public=public)
            # Taken: a 2xx (a 303 to /login for no session has read nothing).
            if kind == OVERSIZED and answer.status < 300:
                problems.append(f"{who.name}: a body over its limit was taken ({answer.status})")
    assert not problems, f"{route}:\n" + "\n".join(problems[:20])


def _oversized(probe: Probe, route: str) -> bytes:
    """A JSON body a KiB over the route's limit (its handler's ``body_limit``, or the app's)."""
    method, path = route.split(" ", 1)
    handler = next(
        r.handler
        for r in probe.live.app.router.routes()
        if r.method == method and r.resource is not None and r.resource.canonical == path
    )
    limit = getattr(handler, "__whistle_body_limit__", probe.live.app[SETTINGS].max_body)
    return b'{"description": "' + b"x" * (limit + 1024) + b'"}'


def _point(lat: str, lon: str = "100.9") -> bytes:
    return f'{{"lat": {lat}, "lon": {lon}}}'.encode()


@shared_loop
@pytest.mark.parametrize("value", COORDINATES)
async def test_a_point_off_the_earth_is_refused_and_nothing_is_filed(
    probe: Probe, value: str
) -> None:
    operator = next(w for w in CAST if w.name == OPERATOR)
    citizen = next(w for w in CAST if w.name == CITIZEN)
    before = probe.table_counts()["whistles"]
    filed = orjson.dumps(probe.whistle(location={"grid": "PLACE"}))
    public = orjson.dumps({**probe.public(), "location": {"grid": "PLACE"}})
    answers = []
    for who, path, template in (
        (operator, "/api/v1/whistles", filed),
        (citizen, "/api/v1/public/whistles", public),
    ):
        for point in (_point(value), _point("25.0", value)):
            body = template.replace(b'{"grid":"PLACE"}', point)
            call = Call("POST", path, raw=body)
            headers = {**await probe.headers(who, call, body), "Content-Type": "application/json"}
            answers.append((path, await probe.send(who, call, headers=headers)))
    form = (await BUILDERS["POST /open311/v2/requests.{fmt}"](probe, citizen, True)).form
    assert form is not None
    for field in ("lat", "long"):
        spoiled = Call("POST", "/open311/v2/requests.json", form={**form, field: value.strip('"')})
        answers.append(("open311", await probe.send(citizen, spoiled)))
    for field in ("lat", "lon"):
        query = urlencode({"lat": "25.0", "lon": "100.9", field: value.strip('"')})
        locate = Call("GET", f"/api/v1/public/locate?{query}")
        answers.append(("locate", await probe.send(citizen, locate)))
    wrong = [(path, a.status, a.text[:160]) for path, a in answers if not 400 <= a.status < 500]
    assert not wrong, wrong
    assert probe.table_counts()["whistles"] == before


@shared_loop
async def test_a_nul_in_the_search_text_is_a_400_naming_q(probe: Probe) -> None:
    """Found by this probe: a NUL ended the FTS5 string early and SQLite failed (a 500)."""
    operator = next(w for w in CAST if w.name == OPERATOR)
    answer = await probe.send(operator, Call("GET", "/api/v1/whistles?q=" + quote("杂物\x00' --")))
    assert answer.status == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["q"]


@shared_loop
async def test_a_body_over_the_limit_is_413_where_the_handler_reads_none(probe: Probe) -> None:
    """Found by this probe: DELETE handlers never read their body, so any size was taken."""
    operator = next(w for w in CAST if w.name == OPERATOR)
    body = b"x" * (probe.live.app[SETTINGS].max_body + 1)
    answer = await probe.send(operator, Call("DELETE", "/api/v1/silences/nothing", raw=body))
    assert answer.status == 413, answer.text
    assert "body" in answer.text
    # A route that reads its body keeps its own limit: a 200 KiB photo is taken.
    photo = Call("POST", "/api/v1/media", raw=PNG + bytes(200 * 1024))
    taken = await probe.send(operator, photo)
    assert taken.status == 201, taken.text
