"""DeadlineTimer: ordering, replacing a case's set, stale entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.timer import DeadlineTimer

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_pop_due_returns_only_due_deadlines_earliest_first() -> None:
    timer = DeadlineTimer()
    timer.arm("b", "ack", at(20))
    timer.arm("a", "ack", at(10))
    timer.arm("c", "ack", at(30))
    assert timer.pop_due(at(5)) == []
    assert timer.pop_due(at(20)) == [("a", "ack"), ("b", "ack")]
    assert len(timer) == 1
    assert timer.next_due() == at(30)


def test_replace_drops_the_old_set() -> None:
    timer = DeadlineTimer()
    timer.replace("a", {"ack": at(10), "urge": at(50)})
    timer.replace("a", {"urge": at(60)})
    assert len(timer) == 1
    assert timer.pop_due(at(55)) == []  # the old urge at 50 is gone, the ack too
    assert timer.pop_due(at(60)) == [("a", "urge")]
    assert len(timer) == 0
    assert timer.next_due() is None


def test_moving_a_deadline_later_does_not_fire_it_early() -> None:
    timer = DeadlineTimer()
    timer.arm("a", "resolve", at(10))
    timer.arm("a", "resolve", at(100))
    assert len(timer) == 1
    assert timer.pop_due(at(50)) == []
    assert timer.pop_due(at(100)) == [("a", "resolve")]


def test_replace_with_nothing_empties_the_case() -> None:
    timer = DeadlineTimer()
    timer.replace("a", {"ack": at(1)})
    timer.replace("a", {})
    assert timer.pending("a") == {}
    assert timer.pop_due(at(10)) == []


def test_many_deadlines_pop_in_order() -> None:
    timer = DeadlineTimer()
    for n in range(1000, 0, -1):
        timer.arm(f"case{n}", "ack", at(n))
    popped = timer.pop_due(at(1000))
    assert [case for case, _ in popped] == [f"case{n}" for n in range(1, 1001)]


def test_heap_stays_within_twice_the_pending_deadlines_as_cases_are_rearmed() -> None:
    timer = DeadlineTimer()
    base = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    for n in range(2000):
        case = f"c{n}"
        # Every write re-arms the whole set; resolving empties it. Nothing ever falls due.
        timer.replace(case, {"urge:0": base + timedelta(days=5), "escalate:0": base})
        timer.replace(case, {"urge:0": base + timedelta(days=6), "escalate:0": base})
        if n % 2:
            timer.replace(case, {})
    assert len(timer) == 2000  # 1000 cases still open, two deadlines each
    assert len(timer._heap) <= 2 * len(timer) + 64
    # Compaction kept the right entries: the due ones, earliest first, once each.
    fired = timer.pop_due(base)
    assert sorted(fired) == sorted((f"c{n}", "escalate:0") for n in range(0, 2000, 2))
    assert len(timer) == 1000
