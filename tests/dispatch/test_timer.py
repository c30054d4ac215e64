"""DeadlineTimer: ordering, replacing a case's set, stale entries."""

from __future__ import annotations

import sys
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
    assert len(timer._heap) <= 2 * len(timer) + 1024
    # Compaction kept the right entries: the due ones, earliest first, once each.
    fired = timer.pop_due(base)
    assert sorted(fired) == sorted((f"c{n}", "escalate:0") for n in range(0, 2000, 2))
    assert len(timer) == 1000


def test_load_arms_many_at_once_in_due_order() -> None:
    timer = DeadlineTimer()
    timer.arm("z", "ack", at(25))
    added = timer.load(
        [("b", "urge:1", at(40)), ("a", "a-1:acknowledge", at(10)), ("b", "b-1:ack", at(20))]
    )
    assert added == 3
    assert len(timer) == 4
    assert timer.pending("b") == {"urge:1": at(40), "b-1:ack": at(20)}
    assert timer.pop_due(at(30)) == [("a", "a-1:acknowledge"), ("b", "b-1:ack"), ("z", "ack")]
    assert timer.pop_due(at(40)) == [("b", "urge:1")]
    assert len(timer) == 0


def test_load_shares_one_case_id_and_interns_round_keys() -> None:
    timer = DeadlineTimer()
    # Fresh string objects per row, as rows read from a database are.
    rows = [("".join(["c", "1"]), "".join(["urge:", "1"]), at(m)) for m in (10, 20)]
    timer.load([rows[0], (rows[1][0], "".join(["escalate:", "1"]), at(30))])
    ids = {id(case_id) for _, case_id, _ in timer._heap}
    assert len(ids) == 1
    assert next(k for k in timer.pending("c1") if k.startswith("urge")) is sys.intern("urge:1")


def test_replacing_with_unchanged_deadlines_adds_no_heap_entries() -> None:
    timer = DeadlineTimer()
    timer.replace("a", {"a-1:ack": at(10), "urge:1": at(50)})
    for _ in range(5):  # each transition of the case hands over its whole set again
        timer.replace("a", {"a-1:ack": at(10), "urge:1": at(50)})
    assert timer.entries == 2
    timer.replace("a", {"urge:1": at(50)})  # acknowledged
    assert timer.pop_due(at(10)) == []
    assert timer.pop_due(at(50)) == [("a", "urge:1")]
    assert len(timer) == 0


def test_stale_entries_are_compacted_once_they_outnumber_the_live_ones() -> None:
    timer = DeadlineTimer()
    for n in range(3_000):
        timer.replace(f"c{n}", {"urge:1": at(60 + n % 7)})
    for n in range(3_000):
        timer.replace(f"c{n}", {"urge:1": at(90 + n % 7)})  # every one moved later
    assert len(timer) == 3_000
    assert timer.entries <= 2 * 3_000 + 1024
    assert timer.pop_due(at(80)) == []
    assert len(timer.pop_due(at(100))) == 3_000
