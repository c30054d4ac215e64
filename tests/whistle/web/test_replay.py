"""What-if replay over HTTP: a county-wide admin starts a replay of a recorded month under a
proposed configuration, reads its report and its CSV; nobody else may; bad requests are
refused naming the field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from grids import Hierarchy
from tests.support.harness import Live, StartServer
from tests.support.pages import add_user, log_in
from tests.support.replay import FIRST_DAY, LAST_DAY, record_month, rules_variant
from tests.whistle.replay.test_engine import STREETLIGHT_TO_TOWN
from whistle.auth import Role
from whistle.clock import FakeClock


@pytest.fixture
async def rlive(
    start_server: StartServer, county_dir: Path, county: Hierarchy, clock: FakeClock, tmp_path: Path
) -> Live:
    proposals = tmp_path / "proposals"
    proposals.mkdir()
    rules_variant(county_dir, proposals / "streetlight", rules=STREETLIGHT_TO_TOWN)
    live = await start_server(extra={"replay_configs": str(proposals)})
    await record_month(live, county, clock, n=48)
    return live


async def start(live: Live, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    token = token or await live.token("admin", scope=None)
    response = await live.client.post("/api/v1/replays", json=body, headers=await live.auth(token))
    return response.status, await response.json()


async def finished(live: Live, job_id: str) -> dict[str, Any]:
    """The job once the worker is done with it (a replay of 48 cases takes a few seconds,
    most of them the worker process starting)."""
    token = await live.token("admin", scope=None)
    for _ in range(600):
        status, doc = await live.get(f"/api/v1/replays/{job_id}", token=token)
        assert status == 200, doc
        if doc["status"] != "running":
            return doc  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError("the replay did not finish")


async def test_an_admin_replays_a_month_under_a_proposed_rule(rlive: Live) -> None:
    status, job = await start(
        rlive, {"since": FIRST_DAY, "until": LAST_DAY, "config": "streetlight"}
    )
    assert status == 202, job
    assert job["status"] == "running"
    done = await finished(rlive, job["id"])
    assert done["status"] == "done", done["error"]
    report = done["report"]
    assert report["cases"] == 48
    assert report["changed"] == len(report["changed_cases"]) > 0
    token = await rlive.token("admin", scope=None)
    response = await rlive.client.get(
        f"/api/v1/replays/{job['id']}/kinds.csv", headers=await rlive.auth(token)
    )
    assert response.status == 200
    text = (await response.read()).decode("utf-8-sig")
    assert text.splitlines()[0] == "kind,name,before,after,delta"
    assert "grid_department" in text


async def test_the_active_rules_change_nothing(rlive: Live) -> None:
    _, job = await start(rlive, {"since": FIRST_DAY, "until": LAST_DAY, "config": "active"})
    done = await finished(rlive, job["id"])
    assert done["report"]["changed"] == 0
    assert done["report"]["rates"]["before"] == done["report"]["rates"]["after"]


async def test_the_stored_version_in_force_changes_nothing(rlive: Live) -> None:
    status, active = await rlive.get(
        "/api/v1/config/versions", token=await rlive.token("admin", scope=None)
    )
    assert status == 200, active
    version = next(v["id"] for v in active["items"] if v["state"] == "active")
    _, job = await start(rlive, {"since": FIRST_DAY, "until": LAST_DAY, "version": str(version)})
    done = await finished(rlive, job["id"])
    assert done["status"] == "done", done
    assert done["report"]["cases"] > 0
    assert done["report"]["changed"] == 0
    status, problem = await start(rlive, {"since": FIRST_DAY, "until": LAST_DAY, "version": "99"})
    assert status == 422
    assert problem["errors"][0]["field"] == "version"


async def test_only_an_admin_may_replay(live: Live) -> None:
    body = {"since": FIRST_DAY, "until": LAST_DAY, "config": "active"}
    for role in ("operator", "committee"):
        status, problem = await start(live, body, await live.token(role))
        assert status == 403, (role, problem)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"since": LAST_DAY, "until": FIRST_DAY, "config": "active"}, "until"),
        ({"since": FIRST_DAY, "until": LAST_DAY, "config": "../etc"}, "config"),
        ({"since": FIRST_DAY, "until": LAST_DAY, "config": "nowhere"}, "config"),
        ({"since": FIRST_DAY, "until": LAST_DAY}, "config"),
        ({"since": FIRST_DAY, "until": LAST_DAY, "version": "v1"}, "version"),
        ({"since": "someday", "until": LAST_DAY, "config": "active"}, "since"),
        ({"since": FIRST_DAY, "until": LAST_DAY, "config": "active", "x": 1}, "x"),
    ],
)
async def test_a_bad_replay_request_is_refused_naming_the_field(
    live: Live, body: dict[str, Any], field: str
) -> None:
    status, problem = await start(live, body)
    assert status == 422, problem
    assert field in {e["field"] for e in problem["errors"]}, problem


async def test_an_unknown_replay_is_a_problem_404(live: Live) -> None:
    status, problem = await live.get(
        "/api/v1/replays/NOPE", token=await live.token("admin", scope=None)
    )
    assert status == 404
    assert "NOPE" in problem["detail"]


async def test_the_page_offers_the_proposals_in_chinese_and_english(rlive: Live) -> None:
    await add_user(rlive, "chief", Role.ADMIN, None)
    await log_in(rlive.client, "chief")
    html = await (await rlive.client.get("/admin/replay")).text()
    assert "<h1>规则推演</h1>" in html
    assert '<option value="streetlight">streetlight</option>' in html
    assert '<option value="active">当前规则</option>' in html
    html = await (await rlive.client.get("/admin/replay?lang=en")).text()
    assert "<h1>Rules replay</h1>" in html
    assert "<script>" not in html  # code only from /static (a data block is not code)
