"""GET /metrics: Prometheus text format, public, moved by intake, the lifecycle and the clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from whistle.app import create_app
from whistle.clock import FakeClock
from whistle.web import metrics
from whistle.web.keys import CLOCK, STORE, Settings
from whistle.web.metrics import METRICS

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def live(tmp_path: Path, county_dir: Path, clock: FakeClock) -> AsyncIterator[Live]:
    settings = Settings(
        db_path=tmp_path / "whistle.sqlite3", config_dir=county_dir, run_timer=False
    )
    app = create_app(settings, clock=clock)
    metrics.install(app, store_ttl=0.0)  # idempotent: a no-op once create_app wires it
    app[METRICS].store_ttl = 0.0
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Live(client, app, settings.db_path)
    await client.close()


async def scrape(live: Live) -> Samples:
    """Scrape without credentials, after the metrics subscriber has caught up."""
    subscription = live.app[METRICS].subscription
    assert subscription is not None
    await subscription.queue.join()
    response = await live.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = dict(s.labels)
            # Every sample names the process (host:port of the test server, no --name).
            assert labels.pop("process", "").startswith("127.0.0.1:"), s
            samples[(s.name, tuple(sorted(labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def due(assignment: dict[str, object], key: str) -> datetime:
    return datetime.fromisoformat(str(assignment[key]))


async def test_metrics_are_public_and_parse(live: Live) -> None:
    response = await live.client.get("/metrics")  # no Authorization header
    assert response.status == 200
    samples = await scrape(live)
    assert value(samples, "whistle_store_up") == 1.0
    assert value(samples, "whistle_bus_queue_depth") == 0.0
    assert value(samples, "whistle_store_write_queue_depth") == 0.0
    assert value(samples, "whistle_deadlines_pending") == 0.0
    assert value(samples, "whistle_webhook_notices_total", outcome="delivered") == 0.0
    assert value(samples, "whistle_cases", status="dispatched") == 0.0


async def test_counters_follow_intake_and_the_lifecycle(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    first = await cases.new(source="citizen")
    await cases.new(source="community")
    await cases.new(source="citizen", category="E0101")
    status, _, _ = await live.post({"source": "citizen"})  # invalid: 4xx, still timed
    assert 400 <= status < 500

    samples = await scrape(live)
    assert value(samples, "whistle_received_total", source="citizen") == 2
    assert value(samples, "whistle_received_total", source="community") == 1
    assert value(samples, "whistle_routed_total") == 3
    ok = value(samples, "whistle_intake_duration_seconds_count", endpoint="api", status="2xx")
    assert ok == 3
    bad = value(samples, "whistle_intake_duration_seconds_count", endpoint="api", status="4xx")
    assert bad == 1
    assert value(samples, "whistle_deadlines_pending") > 0
    # The open-cases gauge matches the store.
    counts = await live.app[STORE].queue_counts(None, live.app[CLOCK].now())
    assert value(samples, "whistle_cases", status="dispatched") == counts["dispatched"] == 3
    assert value(samples, "whistle_cases", status="resolved") == 0

    # Acknowledge and resolve the first case 30 minutes after it came in.
    assignment = first["assignments"][0]
    clock.advance(timedelta(minutes=30))
    code, doc = await cases.assignment(assignment, "acknowledge")
    assert code == 200, doc
    # As after a restart: the received time is read back from the store.
    live.app[METRICS]._received_at.clear()
    code, doc = await cases.assignment(assignment, "resolve", note="已清理")
    assert code == 200, doc

    samples = await scrape(live)
    ack = "whistle_time_to_acknowledge_seconds"
    assert value(samples, f"{ack}_count", owner="true") == 1
    assert value(samples, f"{ack}_sum", owner="true") == 1800.0
    assert value(samples, f"{ack}_bucket", owner="true", le="900.0") == 0
    assert value(samples, f"{ack}_bucket", owner="true", le="1800.0") == 1
    assert value(samples, "whistle_time_to_resolve_seconds_count") == 1
    assert value(samples, "whistle_time_to_resolve_seconds_sum") == 1800.0
    counts = await live.app[STORE].queue_counts(None, live.app[CLOCK].now())
    for state in ("dispatched", "resolved"):
        assert value(samples, "whistle_cases", status=state) == counts.get(state, 0)
    assert value(samples, "whistle_cases", status="resolved") == 1


async def test_a_missed_deadline_counts_as_an_escalation(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    police = next(a for a in doc["assignments"] if a["kind"] == "community_police")
    samples = await scrape(live)
    assert not any(name == "whistle_escalations_total" for name, _ in samples)

    clock.set(due(police, "acknowledge_due"))
    assert await cases.tick() >= 1
    samples = await scrape(live)
    escalations = {
        labels: n for (name, labels), n in samples.items() if name == "whistle_escalations_total"
    }
    assert sum(escalations.values()) >= 1
    after = await cases.get(doc["id"])
    added = [a for a in after["assignments"] if a["origin"] in ("backup", "escalation")]
    assert added
    first = added[0]
    assert (
        value(samples, "whistle_escalations_total", reason=first["origin"], level=first["level"])
        >= 1
    )
    assert value(samples, "whistle_cases_escalated") >= 0  # the store's own view


async def test_no_personal_data_in_the_exposition(live: Live, county: Hierarchy) -> None:
    doc = await Cases(live, county).new(reporter="网格员王芳", description="楼道堆放杂物")
    await scrape(live)
    text = await (await live.client.get("/metrics")).text()
    for secret in ("王芳", "楼道", doc["id"], doc["grid"]["code"]):
        assert secret not in text
