"""The standing security probe's cast and client: one server per test module, two towns.

Every principal but the admin belongs to a town: "home" is town A, where every resource the
probes aim at lies; "away" is town B, whose principals must never get town A's data. Each
principal carries all of its credentials at once (a bearer token or a feed signature for the
API, a session cookie for the pages), so that one request tries the door whatever kind it is.

Town A's cases carry :data:`MARKER` in their description and reporter, and so does a grid
silence on town A: an answer to an away principal that contains it has leaked town A's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import sqlite3
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from grids import Hierarchy, Level, ResponderKind
from grids.loader import load_hierarchy
from tests.support.auth import signed_headers
from tests.support.feeds import feeds_config
from tests.support.harness import Live
from tests.support.images import PNG as PNG  # the probe's photo, for its users
from tests.support.requests import body as whistle_body
from whistle.app import create_app
from whistle.auth import Role, hash_password, token_hash
from whistle.clock import FakeClock
from whistle.integrations.feeds import camera_rows
from whistle.ratelimit import Limit
from whistle.store import SessionRecord, UserRecord
from whistle.web.access import ACCESS, AccessLimits
from whistle.web.keys import STORE, Settings

HOME, AWAY = "home", "away"
MARKER = "甲镇探针PROBE7Q"  # only ever written into town A's cases, reporters and silences
PASSWORD = "probe password 1"

# Roles as the probe names them: the two integrations differ in what they may file.
REPORTER, RESPONDER, OPERATOR = "reporter", "responder", "operator"
COMMITTEE, ADMIN = "committee", "admin"
POLICE, CAMERA = "police system", "camera system"  # integration tokens of one source each
CITIZEN = "citizen"  # no credentials at all
ROLES = (REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN, POLICE, CAMERA)
INTEGRATIONS = {POLICE: "police", CAMERA: "camera"}
WITH_LOGIN = (REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN)  # integrations have no login

# No limit the probe can reach: the fake clock never refills a bucket.
UNLIMITED = Limit(rate=1e9, burst=1e9)


@dataclass(frozen=True)
class Who:
    """One principal of the cast. ``credential`` is ``valid``, ``none``, ``expired`` or
    ``revoked`` (the last two: an operator's token and session that no longer hold)."""

    name: str
    role: str | None
    town: str | None
    credential: str = "valid"

    @property
    def authenticated(self) -> bool:
        return self.credential == "valid" and self.role is not None

    @property
    def has_session(self) -> bool:
        return self.authenticated and self.role in WITH_LOGIN


CAST: tuple[Who, ...] = (
    Who(CITIZEN, None, None, "none"),
    *(Who(role, role, None if role == ADMIN else HOME) for role in ROLES),
    Who("expired operator", OPERATOR, HOME, "expired"),
    Who("revoked operator", OPERATOR, HOME, "revoked"),
    # The admin is not scoped: there is no away admin.
    *(Who(f"away {role}", role, AWAY) for role in ROLES if role != ADMIN),
)


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Call:
    """One request. ``responder``: the responder id a home responder acts as (default: town A's
    grid member, who gets its citizen cases). ``cookies`` are sent besides the principal's
    session; ``session``, when given, replaces the principal's session cookie."""

    method: str
    path: str
    json: Any = None
    form: dict[str, str] | None = None
    raw: bytes | None = None
    multipart: dict[str, tuple[str, bytes]] | None = None  # name -> (filename, content)
    responder: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    session: str | None = None
    stream: bool = False  # an event stream: only its head is read


@dataclass
class Probe:
    """A live server over the small county, with the cast's credentials and a client that
    keeps no cookies (each request carries exactly the credentials the cast member has)."""

    live: Live
    county: Hierarchy
    clock: FakeClock
    db: Path
    http: aiohttp.ClientSession
    base: str
    towns: dict[str, str]
    sessions: dict[str, tuple[str, str]] = field(default_factory=dict)  # cast name -> (id, csrf)
    _cache: dict[str, Any] = field(default_factory=dict)
    _serial: int = 0

    # -- places and people -------------------------------------------------------------------

    def micro(self, town: str = HOME) -> str:
        code = self.towns[town]
        return next(c.code for c in self.county.cells(level=Level.MICRO_GRID) if c.is_within(code))

    def grid_member(self, town: str = HOME) -> str:
        """The grid's registered party member: the first responder of a citizen case there."""
        grid = self.county.at_level(self.micro(town), Level.GRID)
        return self.county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0].id

    def board_member(self, town: str = HOME) -> str:
        """A registered party member of the community, eligible on its claim board."""
        community = self.county.at_level(self.micro(town), Level.COMMUNITY)
        members = self.county.responders_at(community.code, ResponderKind.REGISTERED_MEMBER)
        return next(r.id for r in members if r.handles("E0801"))

    def camera(self, town: str = HOME) -> str:
        """A camera of the registry (``cameras.csv``) that stands in ``town``."""
        return next(
            row[0]
            for row in camera_rows(self.county)
            if self.county.cell(row[1]).is_within(self.towns[town])
        )

    def serial(self) -> int:
        self._serial += 1
        return self._serial

    # -- resources in town A, made through the API as a county-wide operator ---------------

    def whistle(self, **overrides: Any) -> dict[str, Any]:
        base = {
            "description": f"楼道堆放杂物 {MARKER}",
            "reporter": f"网格员 {MARKER}",
            "location": {"grid": self.micro()},
        }
        return whistle_body(self.county, **{**base, **overrides})

    async def case(self, **overrides: Any) -> dict[str, Any]:
        status, _, doc = await self.live.post(self.whistle(**overrides))
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]

    async def ok(self, method: str, path: str, data: Any, token: str | None = None) -> Any:
        response = await self.live.client.request(
            method, path, json=data, headers=await self.live.auth(token)
        )
        answer = await response.json()
        assert response.status in (200, 201), answer
        return answer

    async def respond(self, assignment: dict[str, Any], action: str, **data: Any) -> None:
        """The assignment's own responder acts on it."""
        token = await self.live.token(
            "responder", scope=self.towns[HOME], responder=assignment["responder"]["id"]
        )
        await self.ok("POST", f"/api/v1/assignments/{assignment['id']}/{action}", data, token)

    async def resolved(self) -> dict[str, Any]:
        doc = await self.case()
        await self.respond(doc["assignments"][0], "acknowledge")
        await self.respond(doc["assignments"][0], "resolve", note=f"已清理 {MARKER}")
        return doc

    async def closed(self) -> dict[str, Any]:
        doc = await self.resolved()
        await self.ok("POST", f"/api/v1/whistles/{doc['id']}/verify", {"passed": True})
        return doc

    async def citizen_case(self, *, closed: bool = False) -> tuple[str, str]:
        """A whistle filed through the public door: (its id, follow key). The public door
        takes the id as well as the 受理编号; Open311 and the operators' API take the id."""
        response = await self.live.client.post("/api/v1/public/whistles", json=self.public())
        answer = await response.json()
        assert response.status == 201, answer
        if closed:
            stored = await self.live.app[STORE].get_whistle(answer["whistle_id"])
            assert stored is not None
            first = stored.assignments[0]
            await self.respond(first, "acknowledge")
            await self.respond(first, "resolve", note="已清理")
            await self.ok(
                "POST", f"/api/v1/whistles/{answer['whistle_id']}/verify", {"passed": True}
            )
        return answer["whistle_id"], answer["key"]

    def public(self) -> dict[str, Any]:
        return {
            "category": "E0101",
            "description": f"楼道堆放杂物 {MARKER}",
            "location": {"grid": self.micro()},
        }

    async def resource(self, key: str, fresh: bool, make: Callable[[], Awaitable[Any]]) -> Any:
        """``make()`` once per ``key`` for principals that should be refused (a refusal changes
        nothing), and anew for each principal that should get through (its call may)."""
        if fresh:
            return await make()
        if key not in self._cache:
            self._cache[key] = await make()
        return self._cache[key]

    async def session_for(self, who: Who) -> tuple[str, str]:
        """A new session (id, csrf) of ``who``'s login, for calls that end one (logout)."""
        return await self._new_session(self._user(who))

    # -- credentials -------------------------------------------------------------------------

    def _user(self, who: Who) -> str:
        return f"probe-{who.name.replace(' ', '-')}"

    async def _new_session(
        self, user: str, *, ttl: timedelta = timedelta(hours=12)
    ) -> tuple[str, str]:
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock.now()
        await self.live.app[STORE].save_session(
            SessionRecord(token_hash(session_id), user, csrf, now, now + ttl)
        )
        return session_id, csrf

    def _scope(self, who: Who) -> str | None:
        return None if who.town is None else self.towns[who.town]

    def _responder(self, who: Who, call: Call | None) -> str | None:
        if who.role != RESPONDER:
            return None
        if who.town == HOME and call is not None and call.responder is not None:
            return call.responder
        return self.grid_member(who.town or HOME)

    async def token(self, who: Who, call: Call | None = None) -> str:
        role = who.role
        assert role is not None
        source = INTEGRATIONS.get(role)
        return await self.live.token(
            "integration" if source else role,
            scope=self._scope(who),
            responder=self._responder(who, call),
            source=source,
        )

    async def headers(self, who: Who, call: Call, body: bytes) -> dict[str, str]:
        headers: dict[str, str] = {}
        cookies = dict(call.cookies)
        if who.credential in ("expired", "revoked"):
            token, session = self._cache[f"{who.credential} credentials"]
            headers["Authorization"] = f"Bearer {token}"
            cookies["whistle_session"] = session
        elif who.authenticated:
            assert who.role is not None
            if who.role in INTEGRATIONS:
                # Every signature is used once: a second probe at the same second would be a
                # replay, so the clock moves on a second per signed request.
                self.clock.advance(timedelta(seconds=1))
                headers.update(signed_headers(await self.token(who, call), body, self.clock.now()))
            else:
                headers["Authorization"] = f"Bearer {await self.token(who, call)}"
                cookies["whistle_session"] = call.session or self.sessions[who.name][0]
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return headers

    def csrf(self, who: Who) -> str:
        return self.sessions[who.name][1] if who.name in self.sessions else ""

    # -- sending -----------------------------------------------------------------------------

    async def send(self, who: Who, call: Call, *, headers: dict[str, str] | None = None) -> Answer:
        """``call`` as ``who``; ``headers`` replace the cast's credentials when given."""
        data: Any = None
        extra: dict[str, str] = {}
        if call.multipart is not None:
            form = aiohttp.FormData()
            for name, (filename, content) in call.multipart.items():
                form.add_field(name, content, filename=filename, content_type="text/csv")
            for name, value in (call.form or {}).items():
                form.add_field(name, value)
            data, body = form, b""
        elif call.form is not None:
            body = urllib.parse.urlencode(call.form).encode()
            extra["Content-Type"] = "application/x-www-form-urlencoded"
        elif call.raw is not None:
            body = call.raw
            extra["Content-Type"] = "application/octet-stream"
        elif call.json is not None:
            body = orjson.dumps(call.json)
            extra["Content-Type"] = "application/json"
        else:
            body = b""
        if data is None:
            # Over a MiB, aiohttp wants a stream rather than bytes (it warns otherwise).
            data = io.BytesIO(body) if len(body) > 1 << 20 else body or None
        sent = {**(await self.headers(who, call, body) if headers is None else headers), **extra}
        async with self.http.request(
            call.method, self.base + call.path, data=data, headers=sent, allow_redirects=False
        ) as response:
            received = CIMultiDict(response.headers)
            if call.stream and response.status == 200:
                return Answer(response.status, received, b"")  # it would never end by itself
            return Answer(response.status, received, await response.read())

    async def raw(
        self, method: str, target: str, headers: dict[str, str], *, wait: float = 5.0
    ) -> Answer:
        """A request written byte for byte on its own connection (no client tidies ``target``:
        ``..`` and percent-escapes reach the server as they are). The body is what arrives
        until the server closes the connection or ``wait`` seconds pass."""
        url = urllib.parse.urlsplit(self.base)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            lines = [f"{method} {target} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            data = b""
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    while chunk := await reader.read(65536):
                        data += chunk
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        received = CIMultiDict(tuple(line.split(": ", 1)) for line in header_lines if ": " in line)
        return Answer(int(status_line.split(" ")[1]), received, body)

    # -- the database, read beside the server ------------------------------------------------

    def table_counts(self) -> dict[str, int]:
        """Rows per table, and the schema's own rows, read with a second connection. A full
        text index's shadow tables (``whistle_search_data`` …) are left out: FTS5 merges their
        segments as it goes, so their rows shrink with no row of the index lost (the index
        itself, ``whistle_search``, is counted)."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            tables = db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall()
            virtual = [n for n, sql in tables if str(sql).upper().startswith("CREATE VIRTUAL")]
            names = [n for n, _ in tables if not any(n.startswith(f"{v}_") for v in virtual)]
            counts = {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
            counts["sqlite_master"] = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        return counts

    def integrity(self) -> str:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])


@asynccontextmanager
async def open_probe(tmp: Path, county_dir: Path, **settings: Any) -> AsyncIterator[Probe]:
    """A server over a copy of the small county with cameras (so both feeds work), the cast's
    tokens and sessions, expired and revoked credentials, and town A's marked silence."""
    clock = FakeClock()
    config = settings.pop("config", None) or feeds_config(tmp, county_dir)
    limits = AccessLimits(principal=UNLIMITED, address=UNLIMITED, public=UNLIMITED)
    options = Settings(
        db_path=tmp / "whistle.sqlite3",
        config_dir=config,
        run_timer=False,
        limits=limits,
        **settings,
    )
    app = create_app(options, clock=clock)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    try:
        county = load_hierarchy(config)
        towns = [c.code for c in county.cells(level=Level.TOWN)]
        assert len(towns) == 2, towns
        probe = Probe(
            live=Live(client, app, options.db_path),
            county=county,
            clock=clock,
            db=options.db_path,
            http=http,
            base=str(client.make_url("")).rstrip("/"),
            towns={HOME: towns[0], AWAY: towns[1]},
        )
        await _cast(probe)
        yield probe
    finally:
        await http.close()
        await client.close()


async def _cast(probe: Probe) -> None:
    store, access = probe.live.app[STORE], probe.live.app[ACCESS]
    now = probe.clock.now()
    # One argon2 hash for every login: hashing is the slow part, and each login is its own row.
    hashed = await asyncio.to_thread(hash_password, PASSWORD)
    for who in CAST:
        if not who.has_session:
            continue
        user = probe._user(who)
        await store.save_user(
            UserRecord(
                user, hashed, str(who.role), probe._scope(who), probe._responder(who, None), now
            )
        )
        probe.sessions[who.name] = await probe._new_session(user)
    # An operator of town A whose token ran out and whose session expired; another whose token
    # was revoked and who logged out.
    home = probe.towns[HOME]
    for kind in ("expired", "revoked"):
        issued = await access.issue_token(
            role=Role.OPERATOR, scope=home, expires=timedelta(seconds=1), by="probe"
        )
        user = f"probe-{kind}-operator"
        await store.save_user(UserRecord(user, hashed, "operator", home, None, now))
        session, _ = await probe._new_session(user, ttl=timedelta(seconds=1))
        if kind == "revoked":
            await access.revoke_token(issued.id, by="probe")
            await access.logout(session)
        probe._cache[f"{kind} credentials"] = (issued.token, session)
    probe.clock.advance(timedelta(seconds=2))
    # A grid silence on town A that starts in a month (so nothing is muted meanwhile); its
    # comment is marked, and only town A's readers may see it.
    silence = {
        "matchers": {"grid": home, "category": "E01"},
        "starts_at": (probe.clock.now() + timedelta(days=30)).isoformat(),
        "duration_minutes": 60,
        "author": "值班员",
        "comment": f"道路施工 {MARKER}",
    }
    await probe.ok("POST", "/api/v1/silences", silence)
