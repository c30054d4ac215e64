"""The live event stream (Server-Sent Events) behind the operator console."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
from aiohttp import ClientResponse

from grids import Hierarchy
from tests.support.auth import cli
from tests.support.harness import Live
from tests.support.pages import add_user, hidden_csrf, log_in
from tests.support.requests import file_in, towns
from tests.support.sse import PATIENCE, next_block, next_event, open_stream
from whistle.auth import Role, parse_token
from whistle.clock import FakeClock
from whistle.web import stream
from whistle.web.access import ACCESS, TOKEN_CACHE_SECONDS
from whistle.web.keys import BUS, HIERARCHY, STORE
from whistle.web.stream import STREAMS


async def test_a_filed_whistle_arrives_on_the_stream_with_its_summary(
    live: Live, county: Hierarchy
) -> None:
    response = await open_stream(live)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"].startswith("no-cache")
    doc = await file_in(live, county, towns(county)[0])
    received = await next_event(response)
    assert received["event"] == "whistle.received"
    assert received["data"]["whistle_id"] == doc["id"]
    assert received["data"]["type"] == "whistle.received"
    assert received["data"]["at"].endswith("+08:00")  # Asia/Shanghai
    assert received["data"]["status"] == "dispatched"
    assert received["id"] == str(received["data"]["seq"])
    routed = await next_event(response)
    assert routed["event"] == "whistle.routed"
    assert int(routed["id"]) > int(received["id"])
    response.close()


async def test_a_session_cookie_opens_the_stream(live: Live, county: Hierarchy) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    response = await live.client.get("/api/v1/stream")  # the cookie; no CSRF for a GET
    assert response.status == 200
    doc = await file_in(live, county, towns(county)[0])
    assert (await next_event(response))["data"]["whistle_id"] == doc["id"]
    response.close()


async def test_a_town_operator_does_not_see_the_other_towns_events(
    live: Live, county: Hierarchy
) -> None:
    town_a, town_b = towns(county)
    response = await open_stream(live, await live.token("operator", scope=town_a))
    await file_in(live, county, town_b)
    ours = await file_in(live, county, town_a)
    first = await next_event(response)
    assert first["data"]["whistle_id"] == ours["id"]  # town B's two events were left out
    response.close()


async def test_a_responder_follows_its_own_notices_and_nobody_follows_anonymously(
    live: Live, county: Hierarchy
) -> None:
    # What a responder's stream carries (its own notices only): tests/whistle/test_tasks.py.
    doc = await file_in(live, county, towns(county)[0])
    token = await live.token("responder", responder=doc["assignments"][0]["responder"]["id"])
    response = await live.client.get("/api/v1/stream", headers=await live.auth(token))
    assert response.status == 200
    response.close()
    anonymous = await live.client.get("/api/v1/stream")
    assert anonymous.status == 401


async def test_last_event_id_replays_what_was_missed(live: Live, county: Hierarchy) -> None:
    town = towns(county)[0]
    # Other categories: not likely duplicates, whose events would join the first's timeline.
    first = await file_in(live, county, town)
    second = await file_in(live, county, town, category="E0103")
    seen = max(e.seq for e in await live.app[STORE].timeline(first["id"]))
    response = await open_stream(live, **{"Last-Event-ID": str(seen)})
    replayed = await next_event(response)
    assert replayed["event"] == "whistle.received"
    assert replayed["data"]["whistle_id"] == second["id"]
    assert int(replayed["id"]) > seen
    assert (await next_event(response))["event"] == "whistle.routed"
    # Then live, without repeating what the replay sent.
    third = await file_in(live, county, town, category="E0104")
    assert (await next_event(response))["data"]["whistle_id"] == third["id"]
    response.close()


async def test_a_gap_longer_than_the_replay_limit_asks_the_client_to_reset(
    live: Live, county: Hierarchy
) -> None:
    live.app[STREAMS].replay_limit = 1
    town = towns(county)[0]
    await file_in(live, county, town)
    await file_in(live, county, town)
    response = await open_stream(live, **{"Last-Event-ID": "0"})
    assert (await next_event(response))["event"] == "whistle.received"
    assert (await next_event(response))["event"] == "reset"


async def test_heartbeats_are_comment_lines(live: Live) -> None:
    live.app[STREAMS].heartbeat = 0.01
    response = await open_stream(live)
    blocks = [await next_block(response) for _ in range(3)]
    assert [": ping"] in blocks
    response.close()


async def test_closed_browsers_leave_the_hub_which_holds_one_bus_subscription(
    live: Live,
) -> None:
    hub = live.app[STREAMS]
    hub.heartbeat = 0.01  # the next heartbeat finds the connection gone
    bus = live.app[BUS]
    before = len(bus.subscriptions)
    responses = [await open_stream(live) for _ in range(3)]
    for response in responses:
        await next_block(response)
    assert hub.open_streams == 3
    assert len(bus.subscriptions) == before + 1  # one for the hub, not one per stream
    for response in responses:
        response.close()
    async with asyncio.timeout(PATIENCE):
        await hub.wait_idle()
    assert hub.open_streams == 0
    assert len(bus.subscriptions) == before + 1


async def test_shutdown_ends_open_streams(live: Live) -> None:
    response = await open_stream(live)
    await next_block(response)
    await stream.close_streams(live.app)
    async with asyncio.timeout(PATIENCE):
        rest = await response.content.read()  # the server ended the response
    assert b"event:" not in rest
    assert live.app[STREAMS].open_streams == 0


# -- a stream lives no longer than its credential --------------------------------------------


async def rest_of(response: ClientResponse) -> str:
    """Everything until the server ends the stream (fails after PATIENCE if it never does)."""
    async with asyncio.timeout(PATIENCE):
        return (await response.content.read()).decode()


def revoked_reason(rest: str) -> str:
    block = rest[rest.index("event: revoked") :].split("\n")
    return str(orjson.loads(block[1].removeprefix("data: "))["why"])


async def test_revoking_a_token_ends_its_open_stream(live: Live, county: Hierarchy) -> None:
    live.app[STREAMS].recheck = 0.05
    token = await live.token("operator", scope=towns(county)[0])
    response = await open_stream(live, token)
    await next_block(response)
    admin = await live.token("admin", scope=None)
    token_id = parse_token(token)
    revoke = await live.client.delete(f"/api/v1/tokens/{token_id}", headers=await live.auth(admin))
    assert revoke.status == 200
    rest = await rest_of(response)
    assert "revoked" in revoked_reason(rest)
    assert live.app[STREAMS].open_streams == 0
    # A stream of another token goes on.
    other = await open_stream(live)
    await next_block(other)
    assert live.app[STREAMS].open_streams == 1
    other.close()


async def test_logging_out_ends_the_sessions_open_stream(live: Live, county: Hierarchy) -> None:
    live.app[STREAMS].recheck = 0.05
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    csrf = hidden_csrf(await (await live.client.get("/cases")).text())
    response = await live.client.get("/api/v1/stream")
    assert response.status == 200
    await next_block(response)
    done = await live.client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert done.status == 303
    rest = await rest_of(response)
    assert "log in again" in revoked_reason(rest)


async def test_a_token_revoked_by_another_process_ends_its_stream_once_the_cache_runs_out(
    live: Live, clock: FakeClock
) -> None:
    live.app[STREAMS].recheck = 0.05
    token = await live.token("committee")
    response = await open_stream(live, token)
    await next_block(response)
    token_id = parse_token(token)
    assert token_id is not None
    code, _, err = await cli("token", "revoke", "--db", str(live.db), token_id)
    assert code == 0, err
    clock.advance(timedelta(seconds=TOKEN_CACHE_SECONDS))
    rest = await rest_of(response)
    assert f"token {token_id} was revoked" in revoked_reason(rest)


async def test_an_expiring_token_ends_its_stream(live: Live, clock: FakeClock) -> None:
    live.app[STREAMS].recheck = 0.05
    issued = await live.app[ACCESS].issue_token(
        role=Role.OPERATOR, scope=live.app[HIERARCHY].root, expires=timedelta(minutes=5)
    )
    response = await open_stream(live, issued.token)
    await next_block(response)
    clock.advance(timedelta(minutes=5))
    rest = await rest_of(response)
    assert "expired" in revoked_reason(rest)
