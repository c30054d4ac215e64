"""The proposed rules a replay runs under, and the cache that makes a county-year of routing
cheap.

A whistle's route depends on its source, category, cell, urgency, the units a town committee
named (or the open load it spread over) and who was on duty when it came in; the deadlines
depend on the time. Many whistles share the first six, so :class:`RouteCache` routes once per
set of inputs and keeps what the duty roster was asked while routing (``on_duty(R, t)`` for
each responder the climb looked at). A later whistle with the same inputs reuses the decision
when the roster gives the same answers at its own time (the climb is then the same, step for
step), and :meth:`~dispatch.Router.retime` works its deadlines out again. Exact, not an
approximation: a different answer routes afresh.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dispatch import CalendarEndError, DutyRoster, Router, load_dispatch_config
from dispatch.decision import Decision
from dispatch.model import Source, Urgency
from dispatch.router import RouteRequest
from grids.loader import load_hierarchy

__all__ = ["Dues", "ProposedRules", "RouteCache", "RouteKey"]

# (source, category, cell, urgency, named units, spread load)
RouteKey = tuple[str, str, str, str, tuple[str, ...], tuple[tuple[str, int], ...] | None]
_MAX_VARIANTS = 16  # decisions kept per key (one per distinct duty situation seen)


@dataclass(frozen=True, slots=True)
class ProposedRules:
    """A compiled configuration to replay under: the router (grids, rules, catalog,
    calendar) and the duty rota; ``label`` says where it came from."""

    router: Router
    duty: DutyRoster
    label: str

    @classmethod
    def from_dir(cls, config_dir: Path) -> ProposedRules:
        """The rules of a config directory, loaded and checked as the server loads them
        (raises the loaders' errors: GridConfigError, DispatchConfigError, ...)."""
        hierarchy = load_hierarchy(config_dir)
        config = load_dispatch_config(config_dir)
        router = Router.compile(hierarchy, config)
        duty = DutyRoster.load(config_dir, hierarchy, config.calendar)
        return cls(router, duty, str(config_dir))


Dues = tuple[tuple[datetime | None, datetime | None, datetime], ...]


def _slot_seconds(duty: DutyRoster, offset_minutes: int) -> int:
    """The longest step of time inside which nobody's duty can change: the gcd of every shift
    boundary, of the day, and of the zone's offset from UTC (so the steps, counted from the
    epoch, start on local boundaries)."""
    step = math.gcd(24 * 60, abs(offset_minutes))
    for rid in duty.responders():
        for shift in duty.shifts(rid):
            step = math.gcd(step, shift.start, shift.end)
    return max(step, 1) * 60


class RouteCache:
    """Routes replayed whistles, once per distinct set of inputs and duty answers."""

    def __init__(self, rules: ProposedRules) -> None:
        self._router = rules.router
        self._on_duty = rules.duty.on_duty
        # Responders without shifts are always on duty: never worth asking again.
        self._rostered = frozenset(rules.duty.responders())
        offset = rules.router.calendar.timezone.utcoffset(datetime(2026, 1, 1))
        minutes = 0 if offset is None else int(offset.total_seconds() // 60)
        self._slot = _slot_seconds(rules.duty, minutes)
        self._duty_memo: dict[tuple[str, int], bool] = {}
        self._entries: dict[RouteKey, list[tuple[tuple[tuple[str, bool], ...], Decision]]] = {}
        self.routed = 0  # calls to the router (the rest were served from the cache)
        self.served = 0

    def on_duty(self, responder_id: str, at: datetime) -> bool:
        """The roster's answer, remembered per responder and step of time (see
        :func:`_slot_seconds`: the answer cannot change inside a step)."""
        if responder_id not in self._rostered:
            return True
        key = (responder_id, int(at.timestamp() // self._slot))
        answer = self._duty_memo.get(key)
        if answer is None:
            answer = self._duty_memo[key] = self._on_duty(responder_id, at)
        return answer

    def route(self, key: RouteKey, at: datetime) -> tuple[Decision, Dues]:
        """The decision for a whistle of ``key`` received ``at`` (the cached one, the same
        object for every whistle that shares it: its deadlines are another whistle's) and
        this whistle's own deadlines, per assignment (see :meth:`Router.deadlines`)."""
        variants = self._entries.get(key)
        on_duty = self.on_duty
        if variants is not None:
            for probes, decision in variants:
                if all(on_duty(rid, at) is answer for rid, answer in probes):
                    self.served += 1
                    return decision, self._deadlines(decision, at)
        else:
            variants = self._entries[key] = []
        asked: dict[str, bool] = {}
        rostered = self._rostered

        def recording(responder_id: str, moment: datetime) -> bool:
            if responder_id not in rostered:
                return True
            answer = asked.get(responder_id)
            if answer is None:
                answer = asked[responder_id] = on_duty(responder_id, moment)
            return answer

        decision = self._route(key, at, recording)
        self.routed += 1
        if len(variants) < _MAX_VARIANTS:
            variants.append((tuple(asked.items()), decision))
        return decision, tuple(
            (a.acknowledge_due, a.claim_due, a.resolve_due) for a in decision.assignments
        )

    def decision_at(self, decision: Decision, at: datetime) -> Decision:
        """``decision`` (from :meth:`route`) with the deadlines of a whistle received ``at``."""
        try:
            return self._router.retime(decision, at)
        except CalendarEndError:
            return self._router.retime(decision, at, calendar=self._router.calendar.extrapolated())

    def _route(
        self, key: RouteKey, at: datetime, on_duty: Callable[[str, datetime], bool]
    ) -> Decision:
        source, category, cell, urgency, units, load = key
        request = RouteRequest(
            source=Source(source),
            category=category,
            cell=cell,
            received_at=at,
            urgency=Urgency(urgency),
            units=units,
            load=None if load is None else dict(load),
        )
        try:
            return self._router.route(request, on_duty=on_duty)
        except CalendarEndError:
            # As the intake does: past the calendar's end, weekends are the only days off.
            extrapolated = self._router.calendar.extrapolated()
            return self._router.route(request, on_duty=on_duty, calendar=extrapolated)

    def _deadlines(self, decision: Decision, at: datetime) -> Dues:
        try:
            return self._router.deadlines(decision, at)
        except CalendarEndError:
            return self._router.deadlines(
                decision, at, calendar=self._router.calendar.extrapolated()
            )
