"""Config versions over HTTP: proposed, applied and rolled back in a running server, with
consoles watching the stream and whistles arriving all the while."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.requests import body
from tests.whistle.web.test_stream import next_event, open_stream
from whistle.web.keys import LIVE

ACK_30 = 'acknowledge = { urgent = "10m", normal = "30m" }'
ACK_20 = 'acknowledge = { urgent = "10m", normal = "20m" }'
# Long enough for a loaded machine; no test waits for it to pass.
PATIENCE = 30.0


async def _admin(live: Live) -> dict[str, str]:
    return await live.auth(await live.token("admin", None))


async def _files(live: Live, version: int) -> dict[str, str]:
    status, doc = await live.get(
        f"/api/v1/config/versions/{version}", token=await live.token("admin", None)
    )
    assert status == 200, doc
    return doc["files"]  # type: ignore[no-any-return]


async def _post(live: Live, path: str, payload: Any) -> tuple[int, Any]:
    response = await live.client.post(path, json=payload, headers=await _admin(live))
    return response.status, await response.json()


def _ack_minutes(doc: dict[str, Any]) -> set[int]:
    """The acknowledge limits of a whistle's pushed assignments, in minutes."""
    received = datetime.fromisoformat(doc["received_at"])
    return {
        int((datetime.fromisoformat(a["acknowledge_due"]) - received) / timedelta(minutes=1))
        for a in doc["assignments"]
        if a["acknowledge_due"] is not None
    }


async def _until(progress: asyncio.Condition, condition: Any) -> None:
    async with asyncio.timeout(PATIENCE), progress:
        await progress.wait_for(condition)


async def test_applying_and_rolling_back_change_routing_live_with_consoles_open(
    live: Live, county: Hierarchy
) -> None:
    status, listing = await live.get(
        "/api/v1/config/versions", token=await live.token("admin", None)
    )
    assert status == 200
    first = listing["active"]
    assert [v["state"] for v in listing["items"]] == ["active"]
    files = await _files(live, first)
    assert ACK_30 in files["rules.toml"]
    status, proposed = await _post(
        live,
        "/api/v1/config/versions",
        {"files": {**files, "rules.toml": files["rules.toml"].replace(ACK_30, ACK_20)},
         "reason": "报到时限 30 → 20 分钟"},
    )  # fmt: skip
    assert status == 201, proposed
    assert proposed["state"] == "proposed"
    second = proposed["id"]

    consoles = [await open_stream(live) for _ in range(2)]
    answers: list[tuple[int, dict[str, Any]]] = []
    stop = asyncio.Event()
    progress = asyncio.Condition()

    async def keep_filing() -> None:
        while not stop.is_set():
            status, _, doc = await live.post(body(county))
            async with progress:
                answers.append((status, doc))
                progress.notify_all()

    sender = asyncio.create_task(keep_filing())
    try:
        await _until(progress, lambda: len(answers) >= 3)
        status, applied = await _post(live, f"/api/v1/config/versions/{second}/apply", {})
        assert status == 200, applied
        assert applied == {"active": second, "hash": proposed["hash"], "action": "apply"}
        mark = len(answers)
        await _until(progress, lambda: len(answers) >= mark + 3)
        status, back = await _post(live, f"/api/v1/config/versions/{first}/apply", {})
        assert status == 200, back
        assert back["action"] == "rollback"
        assert back["active"] == first
        mark = len(answers)
        await _until(progress, lambda: len(answers) >= mark + 3)
    finally:
        stop.set()
        await sender

    assert {s for s, _ in answers} == {201}, "a whistle was refused"
    versions = [doc["config_version"] for _, doc in answers]
    # Each whistle was filed under one version, and its deadline is that version's.
    for _, doc in answers:
        assert _ack_minutes(doc) == ({30} if doc["config_version"] == first else {20}), doc
    # Before, during, after: the versions in the order the swaps made them.
    runs = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
    assert runs == [first, second, first]

    # The consoles' streams are still live: the next whistle arrives on each.
    status, _, last = await live.post(body(county))
    assert status == 201
    for console in consoles:
        while True:
            event = await next_event(console)
            if event["event"] == "whistle.received" and event["data"]["whistle_id"] == last["id"]:
                break
        console.close()

    status, listing = await live.get(
        "/api/v1/config/versions", token=await live.token("admin", None)
    )
    states = {v["id"]: v["state"] for v in listing["items"]}
    assert states == {first: "active", second: "retired"}
    status, audit = await live.get("/api/v1/audit", token=await live.token("admin", None))
    steps = [
        (e["action"], e["target"]) for e in audit["items"] if e["action"].startswith("config.")
    ]
    assert steps[:3] == [
        ("config.rollback", str(first)),
        ("config.apply", str(second)),
        ("config.propose", str(second)),
    ]


async def test_an_invalid_version_is_refused_by_line_and_the_active_one_stays(
    live: Live, county: Hierarchy
) -> None:
    active = live.app[LIVE].current
    files = await _files(live, active.version_id or 0)
    lines = files["rules.toml"].splitlines()
    number = lines.index(ACK_30) + 1
    typo = files["rules.toml"].replace(ACK_30, ACK_30.replace('"30m"', '"20mm"'))
    status, refused = await _post(
        live, "/api/v1/config/versions", {"files": {**files, "rules.toml": typo}, "reason": "typo"}
    )
    assert status == 422, refused
    assert refused["problems"] == [
        {
            "file": "rules.toml",
            "line": number,
            "where": "defaults.acknowledge",
            "message": refused["problems"][0]["message"],
        }
    ]
    assert "invalid duration '20mm'" in refused["problems"][0]["message"]
    assert refused["errors"][0]["field"] == "files.rules.toml"
    assert refused["errors"][0]["reason"].startswith(f"line {number}: ")

    # Validation alone says the same and stores nothing.
    status, checked = await _post(
        live, "/api/v1/config/validate", {"files": {**files, "rules.toml": typo}}
    )
    assert status == 200
    assert checked["ok"] is False
    assert checked["problems"] == refused["problems"]
    status, fine = await _post(live, "/api/v1/config/validate", {"files": files})
    assert fine == {"ok": True, "problems": []}

    assert live.app[LIVE].current is active
    status, listing = await live.get(
        "/api/v1/config/versions", token=await live.token("admin", None)
    )
    assert [(v["id"], v["state"]) for v in listing["items"]] == [(active.version_id, "active")]
    status, _, doc = await live.post(body(county))
    assert doc["config_version"] == active.version_id
    assert _ack_minutes(doc) == {30}
    status, audit = await live.get("/api/v1/audit", token=await live.token("admin", None))
    refusal = next(e for e in audit["items"] if e["action"] == "config.refused")
    assert refusal["detail"]["step"] == "propose"
    assert refusal["detail"]["problems"] == 1
    assert refusal["detail"]["first"][0].startswith(f"rules.toml:{number}: ")

    status, _missing = await _post(live, "/api/v1/config/versions/99/apply", {})
    assert status == 404


async def test_a_case_records_the_version_that_routed_it(live: Live, county: Hierarchy) -> None:
    version = live.app[LIVE].current.version_id
    assert version == 1  # the files of --config, stored at first start
    status, _, doc = await live.post(body(county))
    assert status == 201
    assert doc["config_version"] == version
    status, stored = await live.get(f"/api/v1/whistles/{doc['id']}?timeline=true")
    assert stored["config_version"] == version
    routed = next(e for e in stored["timeline"] if e["type"] == "whistle.routed")
    assert routed["data"]["config_version"] == version


async def test_a_version_is_proposed_as_multipart_files_too(live: Live) -> None:
    files = await _files(live, live.app[LIVE].current.version_id or 0)
    form = aiohttp.FormData()
    for name, text in files.items():
        text = text.replace(ACK_30, ACK_20) if name == "rules.toml" else text
        form.add_field(name, text.encode(), filename=name, content_type="text/plain")
    form.add_field("reason", "from the command line")
    response = await live.client.post(
        "/api/v1/config/versions", data=form, headers=await _admin(live)
    )
    proposed = await response.json()
    assert response.status == 201, proposed
    assert proposed["reason"] == "from the command line"
    stored = await _files(live, proposed["id"])
    assert ACK_20 in stored["rules.toml"]
    assert stored.keys() == files.keys()


async def test_only_an_admin_reads_or_changes_versions(live: Live) -> None:
    operator = await live.token("operator")
    status, _ = await live.get("/api/v1/config/versions", token=operator)
    assert status == 403
    response = await live.client.post(
        "/api/v1/config/validate", json={"files": {}}, headers=await live.auth(operator)
    )
    assert response.status == 403
