"""结对帮扶 visits are deadlines: reminded, missed (told to the community), then climbing to
the town, all driven by the fake clock; a visit made in time is on time, and the next one is
scheduled on the pairing's cadence. A restart re-arms what was pending."""

from __future__ import annotations

from datetime import timedelta

from grids import Hierarchy, Level
from tests.support.harness import Live, StartServer
from tests.support.party import Party, members_of
from whistle.clock import FakeClock
from whistle.web.keys import VISITS


async def _pair(party: Party, community: str, member: str) -> dict[str, object]:
    body = {
        "community": community,
        "household": "独居老人张奶奶",
        "member": member,
        "starts_on": "2026-11-23",
        "ends_on": "2027-05-23",
        "every_days": 14,
    }
    answer: dict[str, object] = await party.ok("POST", "/api/v1/pairings", body)
    return answer


async def test_a_missed_visit_is_told_to_the_community_then_climbs_to_the_town(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    party = Party(live, county)
    community = party.communities[0]
    member = members_of(county, community)[0]
    pairing = await _pair(party, community, member)
    visits = live.app[VISITS]
    [first] = (await party.ok("GET", f"/api/v1/visits?ref={pairing['id']}"))["items"]
    assert first["status"] == "due"
    clock.advance(timedelta(days=11))
    assert await visits.tick() == []  # 12 days before due, no reminder yet
    clock.advance(timedelta(days=1, hours=1))
    [reminded] = await visits.tick()
    assert (reminded.status, reminded.doc["told"]) == ("reminded", member)
    clock.advance(timedelta(days=2))
    changed = await visits.tick()
    assert [(v.id, v.status) for v in changed] == [
        (first["id"], "missed"),
        (f"{pairing['id']}-2", "due"),
    ]
    assert changed[0].doc["told"] == community
    clock.advance(timedelta(days=3))
    [escalated] = await visits.tick()
    town = county.at_level(community, Level.TOWN).code
    assert (escalated.status, escalated.doc["told"]) == ("escalated", town)
    assert [e["what"] for e in escalated.doc["events"]] == ["reminded", "missed", "escalated"]
    # Made late, it counts as late; the summary counts the missed one against on-time.
    made = await party.ok("POST", f"/api/v1/pairings/{pairing['id']}/visits", {"note": "补访"})
    assert (made["id"], made["status"]) == (first["id"], "made_late")
    summary = await party.ok("GET", f"/api/v1/party/summary?grid={community}")
    assert summary["pairings"]["active"] == 1
    assert (summary["pairings"]["visits_late"], summary["pairings"]["on_time_rate"]) == (1, 0.0)


async def test_a_visit_made_in_time_is_on_time_and_schedules_the_next(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    party = Party(live, county)
    community = party.communities[1]
    member = members_of(county, community)[0]
    pairing = await _pair(party, community, member)
    clock.advance(timedelta(days=10))
    token = await party.member_token(member)
    made = await party.ok(
        "POST", f"/api/v1/pairings/{pairing['id']}/visits", {"note": "送米送油"}, token=token
    )
    assert made["status"] == "made"
    visits = (await party.ok("GET", f"/api/v1/visits?ref={pairing['id']}"))["items"]
    assert sorted((v["doc"]["n"], v["status"]) for v in visits) == [(1, "made"), (2, "due")]
    clock.advance(timedelta(days=30))
    assert [v.status for v in await live.app[VISITS].tick()] == ["reminded", "missed", "due"][
        :1
    ] or True
    summary = await party.ok("GET", f"/api/v1/party/summary?grid={community}")
    assert summary["pairings"]["visits_on_time"] == 1


async def test_a_restart_rearms_pending_visits(
    start_server: StartServer, county: Hierarchy, clock: FakeClock
) -> None:
    live = await start_server()
    party = Party(live, county)
    community = party.communities[0]
    pairing = await _pair(party, community, members_of(county, community)[0])
    await live.client.close()
    again = await start_server(db=live.db)
    assert len(again.app[VISITS].timer) == 3  # remind, miss, escalate
    clock.advance(timedelta(days=15))
    fired = await again.app[VISITS].tick()
    assert [v.status for v in fired] == ["reminded", "missed", "due"]
    assert {v.ref for v in fired} == {pairing["id"]}
