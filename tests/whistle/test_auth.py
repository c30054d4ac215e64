"""Authentication: tokens, feed signatures, sessions, rate limits, the citizens' door, the audit
trail, the refusal log, and ``whistle token`` on the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from aiohttp import ClientResponse
from structlog.testing import LogCapture

from grids import Hierarchy, Level
from tests.support.auth import cli, signed_headers
from tests.support.harness import Live, StartServer, whistle_count
from tests.support.requests import body as whistle_body
from whistle.auth import Role, parse_token, sign_request, signing_key
from whistle.clock import FakeClock
from whistle.ratelimit import Limit
from whistle.web.access import (
    ACCESS,
    CSRF_HEADER,
    SESSION_COOKIE,
    TOKEN_CACHE_SECONDS,
    AccessLimits,
)
from whistle.web.keys import HIERARCHY

CATEGORIES = "/api/v1/categories"  # any authenticated principal may read it


async def problem_of(response: ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/problem+json"
    answer: dict[str, Any] = await response.json()
    return answer


async def bearer(live: Live, token: str, path: str = CATEGORIES) -> ClientResponse:
    return await live.client.get(path, headers={"Authorization": f"Bearer {token}"})


async def assert_401(response: ClientResponse, reason: str) -> None:
    problem = await problem_of(response)
    assert response.status == 401, problem
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert reason in problem["detail"]


# -- bearer tokens ------------------------------------------------------------------------------


async def test_token_expires_after_its_lifetime(live: Live, clock: FakeClock) -> None:
    issued = await live.app[ACCESS].issue_token(
        role=Role.OPERATOR, scope=live.app[HIERARCHY].root, expires=timedelta(hours=1)
    )
    assert (await bearer(live, issued.token)).status == 200
    clock.advance(timedelta(minutes=59, seconds=59))
    assert (await bearer(live, issued.token)).status == 200
    clock.advance(timedelta(seconds=1))
    await assert_401(await bearer(live, issued.token), f"token {issued.id} expired")


async def test_revoked_token_is_refused(live: Live) -> None:
    token = await live.token("operator")
    assert (await bearer(live, token)).status == 200
    token_id = parse_token(token)
    assert token_id is not None
    await live.app[ACCESS].revoke_token(token_id, by="tests")
    await assert_401(await bearer(live, token), "revoked")


async def test_a_token_checked_once_does_not_let_another_secret_of_its_id_in(
    live: Live,
) -> None:
    token = await live.token("operator")
    for _ in range(3):  # the second and third are answered from the checked-token cache
        assert (await bearer(live, token)).status == 200
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    await assert_401(await bearer(live, forged), "wrong token")
    assert (await bearer(live, token)).status == 200


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer nonsense", "malformed token"),
        ("Bearer wst_0123456789ab_short", "malformed token"),
        ("Basic xyz", "must be 'Bearer <token>'"),
        ("", "must be 'Bearer <token>'"),
        ("Bearer ", "must be 'Bearer <token>'"),
        ("Bearer   ", "must be 'Bearer <token>'"),
        (f"Bearer wst_0123456789ab_{'A' * 43}", "unknown token"),
    ],
)
async def test_malformed_or_unknown_authorization_is_401(
    live: Live, header: str, reason: str
) -> None:
    response = await live.client.get(CATEGORIES, headers={"Authorization": header})
    await assert_401(response, reason)


async def test_no_credentials_is_401_asking_for_a_bearer_token(live: Live) -> None:
    await assert_401(await live.client.get(CATEGORIES), "no credentials")


async def test_real_token_id_with_the_wrong_secret_is_401(live: Live) -> None:
    token = await live.token("admin", scope=None)
    token_id = parse_token(token)
    forged = f"wst_{token_id}_{'A' * 43}"
    assert parse_token(forged) == token_id
    await assert_401(await bearer(live, forged), "wrong token")


# -- signed feeds -------------------------------------------------------------------------------


async def feed(live: Live, source: str = "police") -> str:
    """An integration token of the county that files ``source`` whistles."""
    return await live.token("integration", source=source)


def police_whistle(county: Hierarchy, **overrides: Any) -> bytes:
    fields = {"source": "police", "category": "E0701", **overrides}
    return orjson.dumps(whistle_body(county, **fields))


async def send_signed(live: Live, data: bytes, headers: dict[str, str]) -> ClientResponse:
    """POST a signed whistle, asking for the whole whistle back (not the short receipt)."""
    wanted = {"Content-Type": "application/json", "Prefer": "return=representation"}
    return await live.client.post("/api/v1/whistles", data=data, headers={**wanted, **headers})


async def test_signed_feed_files_its_own_source(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    token = await feed(live)
    data = police_whistle(county)
    response = await send_signed(live, data, signed_headers(token, data, clock.now()))
    doc = await response.json()
    assert response.status == 201, doc
    assert doc["source"] == "police"
    assert [a["kind"] for a in doc["assignments"]] == ["police_station"]


async def test_signed_feed_may_not_file_another_source(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    token = await feed(live)
    data = orjson.dumps(whistle_body(county, source="citizen"))
    response = await send_signed(live, data, signed_headers(token, data, clock.now()))
    problem = await problem_of(response)
    assert response.status == 403, problem
    assert "files police whistles, not citizen" in problem["detail"]
    assert await whistle_count(live) == 0


async def test_feed_with_a_bearer_token_must_sign(live: Live, county: Hierarchy) -> None:
    token = await feed(live)
    response = await live.client.post(
        "/api/v1/whistles", data=police_whistle(county), headers=await live.auth(token)
    )
    await assert_401(response, "must be signed")
    assert await whistle_count(live) == 0


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param("signature", id="signature over another body"),
        pytest.param("key", id="signed with another feed's key"),
        pytest.param("scheme", id="signature without the sha256= prefix"),
    ],
)
async def test_bad_signature_is_401(
    live: Live, county: Hierarchy, clock: FakeClock, tamper: str
) -> None:
    token = await feed(live)
    data = police_whistle(county)
    stamp = int(clock.now().timestamp())
    if tamper == "signature":
        other = police_whistle(county, urgency="urgent")
        signature = sign_request(signing_key(token), stamp, other)
    elif tamper == "key":
        signature = sign_request(signing_key(await feed(live, "camera")), stamp, data)
    else:
        signature = sign_request(signing_key(token), stamp, data).removeprefix("sha256=")
    headers = signed_headers(token, data, clock.now(), signature=signature)
    await assert_401(await send_signed(live, data, headers), "wrong signature")
    assert await whistle_count(live) == 0


@pytest.mark.parametrize("missing", ["X-Whistle-Key", "X-Whistle-Timestamp"])
async def test_signature_without_its_key_or_timestamp_is_401(
    live: Live, county: Hierarchy, clock: FakeClock, missing: str
) -> None:
    token = await feed(live)
    data = police_whistle(county)
    headers = signed_headers(token, data, clock.now())
    del headers[missing]
    await assert_401(await send_signed(live, data, headers), "needs X-Whistle-Key")


async def test_replayed_signed_request_is_refused(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    token = await feed(live)
    data = police_whistle(county)
    headers = signed_headers(token, data, clock.now())
    assert (await send_signed(live, data, headers)).status == 201
    clock.advance(timedelta(seconds=30))  # still inside the timestamp's tolerance
    await assert_401(await send_signed(live, data, headers), "replayed")
    assert await whistle_count(live) == 1


@pytest.mark.parametrize(
    ("shift", "signed_at"),
    [
        pytest.param(timedelta(minutes=10), "before", id="ten minutes old"),
        pytest.param(timedelta(minutes=10), "after", id="ten minutes in the future"),
    ],
)
async def test_signed_request_outside_the_time_window_is_401(
    live: Live, county: Hierarchy, clock: FakeClock, shift: timedelta, signed_at: str
) -> None:
    token = await feed(live)
    data = police_whistle(county)
    at = clock.now() if signed_at == "before" else clock.now() + shift
    headers = signed_headers(token, data, at)
    if signed_at == "before":
        clock.advance(shift)
    await assert_401(await send_signed(live, data, headers), "too old or in the future")
    assert await whistle_count(live) == 0


async def test_only_integration_tokens_sign_requests(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    # The signing key is the token's stored hash: were any token allowed to sign, whoever
    # read the token table could act as an operator or the admin without knowing a token.
    for role, scope in (("operator", "root"), ("admin", None)):
        token = await live.token(role, scope=scope)
        data = orjson.dumps(whistle_body(county))
        clock.advance(timedelta(seconds=1))
        await assert_401(
            await send_signed(live, data, signed_headers(token, data, clock.now())),
            "only integration tokens sign",
        )
    assert await whistle_count(live) == 0


async def test_signed_request_with_a_revoked_feed_token_is_401(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    token = await feed(live)
    token_id = parse_token(token)
    assert token_id is not None
    await live.app[ACCESS].revoke_token(token_id, by="tests")
    data = police_whistle(county)
    await assert_401(
        await send_signed(live, data, signed_headers(token, data, clock.now())), "revoked"
    )


# -- sessions -----------------------------------------------------------------------------------


async def test_session_needs_the_csrf_token_on_unsafe_methods(
    live: Live, county: Hierarchy
) -> None:
    access = live.app[ACCESS]
    await access.add_user(
        name="wangfang", password="correct horse", role=Role.OPERATOR, scope=county.root
    )
    found = await access.login("wangfang", "correct horse")
    assert found is not None
    session, csrf = found
    cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
    assert (await live.client.get(CATEGORIES, headers=cookie)).status == 200
    data = whistle_body(county)
    response = await live.client.post("/api/v1/whistles", json=data, headers=cookie)
    problem = await problem_of(response)
    assert response.status == 403
    assert "CSRF" in problem["detail"]
    response = await live.client.post(
        "/api/v1/whistles", json=data, headers={**cookie, CSRF_HEADER: "guess"}
    )
    assert response.status == 403
    response = await live.client.post(
        "/api/v1/whistles", json=data, headers={**cookie, CSRF_HEADER: csrf}
    )
    assert response.status == 201
    assert await access.login("wangfang", "wrong password") is None
    await access.logout(session)
    await assert_401(await live.client.get(CATEGORIES, headers=cookie), "log in again")


# -- rate limits --------------------------------------------------------------------------------


async def test_principal_over_its_rate_gets_429_then_recovers(
    start_server: StartServer, clock: FakeClock
) -> None:
    live = await start_server(limits=AccessLimits(principal=Limit(rate=1, burst=2)))
    token = await live.token("operator")
    assert [(await bearer(live, token)).status for _ in range(2)] == [200, 200]
    response = await bearer(live, token)
    problem = await problem_of(response)
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    assert "too many requests" in problem["detail"]
    # The limit is per principal: somebody else is not held up.
    assert (await bearer(live, await live.token("committee"))).status == 200
    clock.advance(timedelta(seconds=1))
    assert (await bearer(live, token)).status == 200


async def test_address_over_its_rate_gets_429_whoever_it_claims_to_be(
    start_server: StartServer, clock: FakeClock
) -> None:
    live = await start_server(limits=AccessLimits(address=Limit(rate=0.5, burst=2)))
    guesses = [f"Bearer wst_{n:012x}_{'A' * 43}" for n in range(2)]
    for guess in guesses:
        response = await live.client.get(CATEGORIES, headers={"Authorization": guess})
        assert response.status == 401
    response = await bearer(live, await live.token("operator"))
    assert response.status == 429
    assert response.headers["Retry-After"] == "2"
    clock.advance(timedelta(seconds=2))
    assert (await bearer(live, await live.token("operator"))).status == 200


# -- the citizens' door -------------------------------------------------------------------------


def citizen_whistle(county: Hierarchy, **overrides: Any) -> dict[str, Any]:
    micro = next(county.cells(level=Level.MICRO_GRID)).code
    return {
        "category": "E0101",
        "description": "楼道堆放杂物，影响通行",
        "location": {"grid": micro},
        "reporter": "李大爷 13800000000",
        **overrides,
    }


async def file_as_citizen(live: Live, county: Hierarchy) -> dict[str, Any]:
    response = await live.client.post("/api/v1/public/whistles", json=citizen_whistle(county))
    answer: dict[str, Any] = await response.json()
    assert response.status == 201, answer
    return answer


async def test_citizen_files_without_credentials_and_follows_the_link(
    live: Live, county: Hierarchy
) -> None:
    filed = await file_as_citizen(live, county)
    case_number, key = filed["case_number"], filed["key"]
    assert filed["follow_url"] == f"/track/{case_number}?key={key}"
    response = await live.client.get(f"/api/v1/public/whistles/{case_number}?key={key}")
    raw = await response.read()
    assert response.status == 200, raw
    view = orjson.loads(raw)
    assert view["case_number"] == case_number
    assert view["status"] == "dispatched"
    assert view["can_rate"] is False
    assert "李大爷" not in raw.decode()  # nobody's personal data, not even the reporter's
    status, doc = await live.get(f"/api/v1/whistles/{filed['whistle_id']}")
    assert status == 200
    assert doc["source"] == "citizen"
    assert doc["case_number"] == case_number != filed["whistle_id"]


@pytest.mark.parametrize(
    ("case", "query"),
    [
        pytest.param("{id}", "?key=wrong", id="wrong key"),
        pytest.param("{id}", "", id="no key"),
        pytest.param("nosuchcase", "?key={key}", id="a case that does not exist"),
    ],
)
async def test_citizen_link_with_a_wrong_key_is_404(
    live: Live, county: Hierarchy, case: str, query: str
) -> None:
    filed = await file_as_citizen(live, county)
    case = case.format(id=filed["case_number"])
    query = query.format(key=filed["key"])
    response = await live.client.get(f"/api/v1/public/whistles/{case}{query}")
    problem = await problem_of(response)
    assert response.status == 404
    assert problem["detail"] == "no case for this link"
    response = await live.client.post(
        f"/api/v1/public/whistles/{case}/rate{query}", json={"grade": "满意"}
    )
    assert response.status == 404
    assert (await problem_of(response))["detail"] == "no case for this link"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"source": "police"}, "source"),
        ({"source": "camera"}, "source"),
        ({"camera_id": "CAM-001"}, "camera_id"),
        ({"external_id": "110-2026-0001"}, "external_id"),
        ({"urgency": "urgent"}, "urgency"),
    ],
)
async def test_citizen_may_not_send_what_names_a_system(
    live: Live, county: Hierarchy, extra: dict[str, Any], field: str
) -> None:
    response = await live.client.post(
        "/api/v1/public/whistles", json=citizen_whistle(county, **extra)
    )
    problem = await problem_of(response)
    assert response.status == 422
    reason = (
        "the public endpoint files citizen whistles only" if field == "source" else "unknown field"
    )
    assert problem["errors"] == [{"field": field, "reason": reason}]
    assert await whistle_count(live) == 0


async def test_citizen_may_say_source_citizen(live: Live, county: Hierarchy) -> None:
    response = await live.client.post(
        "/api/v1/public/whistles", json=citizen_whistle(county, source="citizen")
    )
    assert response.status == 201


async def test_citizen_door_is_rate_limited_per_address(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    for _ in range(5):
        await file_as_citizen(live, county)
    response = await live.client.post("/api/v1/public/whistles", json=citizen_whistle(county))
    problem = await problem_of(response)
    assert response.status == 429
    assert response.headers["Retry-After"] == "12"
    assert "too many requests" in problem["detail"]
    assert await whistle_count(live) == 5
    clock.advance(timedelta(seconds=12))
    await file_as_citizen(live, county)
    assert await whistle_count(live) == 6


async def test_citizen_rates_the_closed_case_once_through_the_link(
    live: Live, county: Hierarchy
) -> None:
    filed = await file_as_citizen(live, county)
    rate = f"/api/v1/public/whistles/{filed['case_number']}/rate?key={filed['key']}"
    response = await live.client.post(rate, json={"grade": "满意"})
    assert response.status == 409  # not closed yet
    status, doc = await live.get(f"/api/v1/whistles/{filed['whistle_id']}")
    assert status == 200
    first = doc["assignments"][0]
    responder = await live.token("responder", responder=first["responder"]["id"])
    for action, data in (("acknowledge", {}), ("resolve", {"note": "已清理"})):
        response = await live.client.post(
            f"/api/v1/assignments/{first['id']}/{action}",
            json=data,
            headers=await live.auth(responder),
        )
        assert response.status == 200
    response = await live.client.post(
        f"/api/v1/whistles/{filed['whistle_id']}/verify",
        json={"passed": True},
        headers=await live.auth(),
    )
    assert response.status == 200
    response = await live.client.post(rate, json={"grade": "满意", "comment": "处理很快"})
    view = await response.json()
    assert response.status == 200, view
    assert view["status"] == "rated"
    assert view["rating"]["grade"] == "satisfied"
    response = await live.client.post(rate, json={"grade": "不满意"})
    problem = await problem_of(response)
    assert response.status == 409
    assert problem["current"] == "rated"


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        pytest.param(b"{not json", 400, "not valid JSON", id="malformed JSON"),
        pytest.param(b"[1, 2]", 422, "expected a JSON object", id="not an object"),
        pytest.param(
            orjson.dumps({"description": "x" * 70_000}), 413, "too large", id="70 KB body"
        ),
    ],
)
async def test_citizen_body_that_is_not_a_small_json_object(
    live: Live, data: bytes, status: int, reason: str
) -> None:
    response = await live.client.post(
        "/api/v1/public/whistles", data=data, headers={"Content-Type": "application/json"}
    )
    problem = await problem_of(response)
    assert response.status == status, problem
    assert problem["errors"][0]["field"] == "body"
    assert reason in problem["errors"][0]["reason"]
    assert await whistle_count(live) == 0


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        pytest.param(b"{not json", 400, "not valid JSON", id="malformed JSON"),
        pytest.param(orjson.dumps({"x": "x" * 70_000}), 413, "too large", id="70 KB body"),
    ],
)
async def test_signed_feed_body_that_is_malformed_or_too_large(
    live: Live, clock: FakeClock, data: bytes, status: int, reason: str
) -> None:
    token = await feed(live)
    response = await send_signed(live, data, signed_headers(token, data, clock.now()))
    problem = await problem_of(response)
    assert response.status == status, problem
    assert problem["errors"][0]["field"] == "body"
    assert reason in problem["errors"][0]["reason"]


# -- the audit trail and the refusal log -----------------------------------------------------


async def test_tokens_made_and_revoked_over_the_api_are_audited(
    live: Live, county: Hierarchy
) -> None:
    admin = await live.token("admin", scope=None)
    admin_id = parse_token(admin)
    headers = await live.auth(admin)
    town = next(county.cells(level=Level.TOWN)).code
    response = await live.client.post(
        "/api/v1/tokens",
        json={"role": "reporter", "scope": town, "label": "网格员王芳", "expires": "30d"},
        headers=headers,
    )
    made = await response.json()
    assert response.status == 201, made
    assert parse_token(made["token"]) == made["id"]
    assert (await bearer(live, made["token"])).status == 200
    response = await live.client.delete(f"/api/v1/tokens/{made['id']}", headers=headers)
    revoked = await response.json()
    assert response.status == 200
    assert revoked["revoked_at"] is not None
    assert revoked["scope"] == town
    await assert_401(await bearer(live, made["token"]), "revoked")
    response = await live.client.get("/api/v1/tokens", headers=headers)
    listed = {t["id"]: t for t in (await response.json())["items"]}
    assert "token" not in listed[made["id"]]
    assert listed[made["id"]]["label"] == "网格员王芳"

    response = await live.client.get("/api/v1/audit", headers=headers)
    trail = (await response.json())["items"]
    mine = [(e["action"], e["actor"], e["detail"]) for e in trail if e["target"] == made["id"]]
    assert mine == [  # newest first
        ("token.revoke", f"token:{admin_id}", {}),
        ("token.create", f"token:{admin_id}", {"role": "reporter", "scope": town}),
    ]


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        ({"role": "admin", "scope": "root"}, "scope"),
        ({"role": "operator"}, "scope"),
        ({"role": "operator", "scope": "nowhere"}, "scope"),
        ({"role": "responder", "scope": "root"}, "responder"),
        ({"role": "responder", "scope": "root", "responder": "nobody"}, "responder"),
        ({"role": "integration", "scope": "root"}, "source"),
        ({"role": "integration", "scope": "root", "source": "mayor"}, "source"),
        ({"role": "reporter", "scope": "root", "source": "police"}, "source"),
        ({"role": "reporter", "scope": "root", "expires": "5wd"}, "expires"),
        ({"role": "king", "scope": "root"}, "role"),
    ],
)
async def test_bad_grant_is_refused_with_the_field_named(
    live: Live, county: Hierarchy, grant: dict[str, str], field: str
) -> None:
    if grant.get("scope") == "root":
        grant = {**grant, "scope": county.root}
    response = await live.client.post(
        "/api/v1/tokens", json=grant, headers=await live.auth(await live.token("admin", None))
    )
    problem = await problem_of(response)
    assert response.status == 422, problem
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_responder_token_outside_its_scope_is_refused(live: Live, county: Hierarchy) -> None:
    first, second = (c.code for c in county.cells(level=Level.TOWN))
    stranger = next(
        r.id for c in county.cells() if c.is_within(second) for r in county.responders_at(c.code)
    )
    response = await live.client.post(
        "/api/v1/tokens",
        json={"role": "responder", "scope": first, "responder": stranger},
        headers=await live.auth(await live.token("admin", None)),
    )
    problem = await problem_of(response)
    assert response.status == 422
    assert problem["errors"] == [{"field": "responder", "reason": f"{stranger} is outside {first}"}]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    yield capture
    structlog.reset_defaults()


async def test_every_refusal_is_logged_with_who_and_why(
    start_server: StartServer, county: Hierarchy, logs: LogCapture
) -> None:
    live = await start_server(limits=AccessLimits(public=Limit(rate=1 / 60, burst=1)))
    committee = await live.token("committee")
    committee_id = parse_token(committee)
    await live.client.get(CATEGORIES)  # 401
    await live.client.post(  # 403
        "/api/v1/whistles", json=whistle_body(county), headers=await live.auth(committee)
    )
    status, _, doc = await live.post(whistle_body(county))
    assert status == 201
    operator_id = parse_token(await live.token("operator"))
    await live.client.post(  # 409: nothing to rate yet
        f"/api/v1/whistles/{doc['id']}/rate", json={"grade": "满意"}, headers=await live.auth()
    )
    for _ in range(2):  # the second is 429
        await live.client.post("/api/v1/public/whistles", json=citizen_whistle(county))

    refused = [e for e in logs.entries if e["event"] == "access.refused"]
    got = [(e["status"], e["who"], e["role"], e["method"], e["path"]) for e in refused]
    assert got == [
        (401, None, None, "GET", CATEGORIES),
        (403, f"token:{committee_id}", "committee", "POST", "/api/v1/whistles"),
        (409, f"token:{operator_id}", "operator", "POST", f"/api/v1/whistles/{doc['id']}/rate"),
        (429, "public", None, "POST", "/api/v1/public/whistles"),
    ]
    reasons = [e["reason"] for e in refused]
    assert "no credentials" in reasons[0]
    assert "committee may not POST /api/v1/whistles" in reasons[1]
    assert "cannot rate case" in reasons[2]
    assert "too many requests" in reasons[3]
    assert all(e["log_level"] == "warning" and e["address"] == "127.0.0.1" for e in refused)


# -- whistle token, on the command line ---------------------------------------------------------


async def test_cli_token_authenticates_until_the_cli_revokes_it(
    start_server: StartServer,
    county: Hierarchy,
    county_dir: Path,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    db = tmp_path / "cli.sqlite3"
    code, out, err = await cli(
        "token", "create", "--db", str(db), "--role", "operator",
        "--scope", county.root, "--config", str(county_dir),
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    token = lines[0]
    token_id = parse_token(token)
    assert token_id is not None
    live = await start_server(db=db)
    response = await bearer(live, token, "/api/v1/whistles")
    assert response.status == 200
    code, out, err = await cli("token", "revoke", "--db", str(db), token_id)
    assert code == 0, err
    # Another process revoked it: the server sees that once its token cache (5 s) runs out.
    clock.advance(timedelta(seconds=TOKEN_CACHE_SECONDS))
    await assert_401(await bearer(live, token, "/api/v1/whistles"), "revoked")


async def test_cli_refuses_an_unknown_scope_naming_the_field(
    county_dir: Path, tmp_path: Path
) -> None:
    code, out, err = await cli(
        "token", "create", "--db", str(tmp_path / "cli.sqlite3"), "--role", "operator",
        "--scope", "nowhere", "--config", str(county_dir),
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert "--scope: unknown grid code 'nowhere'" in err
