"""SIGKILL at random moments under concurrent intake, then restart and check what survived.

Each round starts ``whistle serve`` as a real process over the same database, fires a burst of
whistles (one Idempotency-Key each) and kills the process with SIGKILL once a random number of
them were acknowledged. After every kill: every 201 is stored, the event log is gap-free and
intact, and the restart re-arms every pending deadline. After the last restart every key is
retried: each gives exactly one whistle, the one acknowledged before if there was one. Then the
server's clock (``--clock-offset-file``, moved with SIGUSR1) jumps past every acknowledgement
deadline, the process is killed once more in the middle of firing them, and after the restart
every one of them has fired exactly once: one answering event per deadline, in the timelines.

3 kills by default; 20 with ``WHISTLE_FULL=1`` (``make soak``).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from grids import Hierarchy
from tests.support.reliability import FULL, NO_LIMITS, body, check_log, stored_ids
from whistle.testing import ServerProcess

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

KILLS = 20 if FULL else 3
BURST = 120  # whistles fired per round
SEED = 20261121


@pytest.fixture
def server(tmp_path: Path, county_dir: Path) -> Iterator[ServerProcess]:
    # Rate limits are not the fault under test: lift them so that bursts are not 429'd.
    # The clock is the wall clock plus the seconds in clock-offset (none until the test
    # writes some): the test moves it past the deadlines.
    offset = ("--clock-offset-file", str(tmp_path / "clock-offset"))
    srv = ServerProcess(
        tmp_path / "w.sqlite3", county_dir, tmp_path / "server.log", extra_args=NO_LIMITS + offset
    )
    yield srv
    srv.stop()


async def post(
    session: aiohttp.ClientSession, url: str, token: str, payload: dict[str, Any], key: str
) -> tuple[int, str | None]:
    try:
        async with session.post(
            f"{url}/api/v1/whistles",
            json=payload,
            headers={"Idempotency-Key": key, "Authorization": f"Bearer {token}"},
        ) as response:
            doc = await response.json(content_type=None)
            return response.status, doc.get("id")
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return 0, None  # the server died under us: not acknowledged


def rearmed_counts(log: Path) -> list[int]:
    """``pending`` of every ``deadlines.rearmed`` line in the server log, in order."""
    counts = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "deadlines.rearmed":
            counts.append(int(entry["pending"]))
    return counts


def count(db: Path, sql: str) -> int:
    raw = sqlite3.connect(db)
    try:
        return int(raw.execute(sql).fetchone()[0])
    finally:
        raw.close()


async def test_random_sigkills_lose_nothing_acknowledged(
    server: ServerProcess, county: Hierarchy
) -> None:
    rng = random.Random(SEED)
    payloads: dict[str, dict[str, Any]] = {}
    acked: dict[str, str] = {}  # key -> whistle id, from a 201
    token = ""
    expected_pending = 0  # pending deadline rows the last kill left behind
    for round_no in range(KILLS):
        await server.start()
        if round_no > 0:
            # The restart re-armed exactly the pending deadlines the killed process left.
            assert rearmed_counts(server.log)[-1] == expected_pending
        else:
            token = server.create_token("operator", county.root)
        keys = [f"r{round_no}-{n}" for n in range(BURST)]
        for n, key in enumerate(keys):
            payloads[key] = body(county, round_no * BURST + n)
        target = rng.randint(1, BURST * 3 // 4)  # kill once this many were acknowledged...
        extra_delay = rng.uniform(0.0, 0.05)  # ...plus a random sliver of time
        async with aiohttp.ClientSession() as session:
            tasks = [
                asyncio.create_task(post(session, server.url, token, payloads[key], key))
                for key in keys
            ]
            done_ok = 0
            for future in asyncio.as_completed(tasks):
                status, _ = await future
                done_ok += status == 201
                if done_ok >= target:
                    break
            await asyncio.sleep(extra_delay)
            server.signal(signal.SIGKILL)
            results = await asyncio.gather(*tasks)
        for key, (status, whistle_id) in zip(keys, results, strict=True):
            if status == 201 and whistle_id:
                acked[key] = whistle_id

        # Every acknowledged whistle survived; nothing is stored twice; the log is whole.
        stored = stored_ids(server.db)
        assert len(stored) == len(set(stored))
        assert set(acked.values()) <= set(stored), f"round {round_no}: acknowledged but lost"
        # Two events per whistle, besides the links that tell a case of a likely duplicate.
        intake = "SELECT count(*) FROM events WHERE type != 'case.possible_duplicate'"
        assert count(server.db, intake) == 2 * len(stored)
        check_log(server.db)
        assert (
            count(
                server.db,
                "SELECT count(*) FROM (SELECT idempotency_key FROM whistles "
                "WHERE idempotency_key IS NOT NULL GROUP BY 1 HAVING count(*) > 1)",
            )
            == 0
        )
        expected_pending = count(server.db, "SELECT count(*) FROM deadlines WHERE status='pending'")

    # The kills did land mid-burst: some whistles were never acknowledged.
    assert 0 < len(acked) < len(payloads)

    # The last restart: clients retry every key they ever sent.
    await server.start()
    assert rearmed_counts(server.log)[-1] == expected_pending
    async with aiohttp.ClientSession() as session:
        retried = await asyncio.gather(
            *(post(session, server.url, token, payloads[key], key) for key in payloads)
        )
        ids: dict[str, str] = {}
        for key, (status, whistle_id) in zip(payloads, retried, strict=True):
            assert status == 201, key
            assert whistle_id
            if key in acked:
                assert whistle_id == acked[key]  # the same whistle, not a second one
            ids[key] = whistle_id
        assert len(set(ids.values())) == len(payloads)  # exactly one whistle per key

        # Every case has its resolve-by deadline, read back over the API.
        auth = {"Authorization": f"Bearer {token}"}

        async def case_of(whistle_id: str) -> dict[str, Any]:
            async with session.get(f"{server.url}/api/v1/whistles/{whistle_id}", headers=auth) as r:
                assert r.status == 200
                doc = await r.json()
                return dict(doc["case"])

        cases = await asyncio.gather(*(case_of(w) for w in ids.values()))
        assert all(case.get("resolve_due") for case in cases)

    # Time moves past every acknowledgement deadline; one more kill lands mid-firing.
    first_tier = await fire_first_tier_across_a_kill(server)
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {token}"}

        async def timeline_of(whistle_id: str) -> list[dict[str, Any]]:
            async with session.get(f"{server.url}/api/v1/whistles/{whistle_id}", headers=auth) as r:
                assert r.status == 200
                return list((await r.json())["timeline"])

        found = await asyncio.gather(*(timeline_of(w) for w in ids.values()))
        timelines = dict(zip(ids.values(), found, strict=True))
    fired = 0
    for (whistle_id, key), status in first_tier.items():
        answers = answering_events(timelines[whistle_id], key)
        # Fired: exactly one answer in the timeline. Cancelled (nobody left to hand it to):
        # none. Never twice, though the firing process was killed and restarted.
        assert len(answers) == (1 if status == "fired" else 0), (whistle_id, key, answers)
        assert all(event["actor"] == "scheduler" for event in answers)
        fired += status == "fired"
    assert fired > 0
    server.signal(signal.SIGTERM)

    stored = stored_ids(server.db)
    assert sorted(stored) == sorted(ids.values())
    # Two events per whistle from intake (and one per likely duplicate it links to an earlier
    # case), and one per deadline fired: nothing else, no repeat.
    links = count(server.db, "SELECT count(*) FROM events WHERE type = 'case.possible_duplicate'")
    assert check_log(server.db) == 2 * len(payloads) + links + fired
    raw = sqlite3.connect(server.db)
    try:
        rows = raw.execute("SELECT whistle_id, key, status FROM deadlines").fetchall()
        fired_twice = raw.execute(
            "SELECT whistle_id, key FROM deadlines WHERE status = 'fired' "
            "GROUP BY whistle_id, key HAVING count(*) > 1"
        ).fetchall()
    finally:
        raw.close()
    # The later deadlines (urge, supervise, escalate, the replacements' acknowledgements) are
    # days away even on the moved clock: every case still has pending ones.
    by_case: dict[str, set[str]] = {}
    for whistle_id, _key, status in rows:
        by_case.setdefault(whistle_id, set()).add(status)
    assert set(by_case) == set(stored)
    assert all("pending" in statuses for statuses in by_case.values())
    assert fired_twice == []


FIRST_TIER = ("acknowledge", "claim")  # deadlines that fire minutes after intake, not days


def pending_first_tier(db: Path) -> dict[tuple[str, str], datetime]:
    raw = sqlite3.connect(db)
    try:
        rows = raw.execute(
            "SELECT whistle_id, key, due_at FROM deadlines WHERE status = 'pending'"
        ).fetchall()
    finally:
        raw.close()
    return {
        (wid, key): datetime.fromisoformat(due)
        for wid, key, due in rows
        if key.rpartition(":")[2] in FIRST_TIER
    }


def statuses(db: Path, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    raw = sqlite3.connect(db)
    try:
        found = {
            (wid, key): status
            for wid, key, status in raw.execute("SELECT whistle_id, key, status FROM deadlines")
        }
    finally:
        raw.close()
    return {k: found[k] for k in keys}


def answering_events(timeline: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The events that answer deadline ``<assignment>:acknowledge`` (or ``:claim``): a
    replacement assignment for it, or the case marked overdue on its account."""
    assignment = key.rpartition(":")[0]
    return [
        event
        for event in timeline
        if (event["type"] == "assignment.added" and event["data"].get("replaces") == assignment)
        or (event["type"] == "case.overdue" and event["data"].get("assignment") == assignment)
    ]


async def wait_until(condition: Any, what: str, *, within: float = 600.0) -> None:
    """Poll ``condition()`` (work the server does, not a deadline: its clock was moved)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def fire_first_tier_across_a_kill(server: ServerProcess) -> dict[tuple[str, str], str]:
    """Move the server's clock past every pending acknowledgement (and claim) deadline, kill it
    with SIGKILL once some but not all have fired, restart it, and wait for the rest.

    Returns each of those deadlines' final status (``fired``, or ``cancelled`` when the
    firing found nobody to hand the case to).
    """
    due = pending_first_tier(server.db)
    assert due, "no acknowledgement deadline was pending"
    later = min(
        (d for (wid, key), d in _all_pending(server.db).items() if (wid, key) not in due),
        default=None,
    )
    target = max(due.values())
    # Past every first-tier deadline and before any later one, so each fires exactly once
    # and nothing else does.
    assert later is None or target < later
    offset = (target - datetime.now(UTC)).total_seconds() + 60
    offset_file = next(
        Path(arg) for prev, arg in zip(server.extra_args, server.extra_args[1:], strict=False)
        if prev == "--clock-offset-file"
    )  # fmt: skip
    offset_file.write_text(f"{offset}\n", encoding="utf-8")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGUSR1)

    def done() -> int:
        return sum(status != "pending" for status in statuses(server.db, list(due)).values())

    await wait_until(lambda: done() > 0, "the first firing")
    server.signal(signal.SIGKILL)
    at_kill = done()
    assert 0 < at_kill < len(due), f"the kill did not land mid-firing ({at_kill}/{len(due)})"
    check_log(server.db)

    await server.start()  # reads the offset file at start: the rest is past due at once
    await wait_until(lambda: done() == len(due), "every first-tier deadline to fire")
    return statuses(server.db, list(due))


def _all_pending(db: Path) -> dict[tuple[str, str], datetime]:
    raw = sqlite3.connect(db)
    try:
        rows = raw.execute(
            "SELECT whistle_id, key, due_at FROM deadlines WHERE status = 'pending'"
        ).fetchall()
    finally:
        raw.close()
    return {(wid, key): datetime.fromisoformat(due) for wid, key, due in rows}
