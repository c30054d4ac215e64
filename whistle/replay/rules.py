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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dispatch import CalendarEndError, DutyRoster, Router, load_dispatch_config
from dispatch.decision import Decision
from dispatch.model import Source, Urgency
from dispatch.router import RouteRequest
from grids.loader import load_hierarchy

__all__ = ["ProposedRules", "RouteCache", "RouteKey"]

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


class RouteCache:
    """Routes replayed whistles, once per distinct set of inputs and duty answers."""

    def __init__(self, rules: ProposedRules) -> None:
        self._router = rules.router
        self._on_duty = rules.duty.on_duty
        self._entries: dict[RouteKey, list[tuple[tuple[tuple[str, bool], ...], Decision]]] = {}
        self.routed = 0  # calls to the router (the rest were served from the cache)
        self.served = 0

    def route(self, key: RouteKey, at: datetime) -> Decision:
        """The decision for a whistle of ``key`` received ``at``."""
        variants = self._entries.get(key)
        on_duty = self._on_duty
        if variants is not None:
            for probes, decision in variants:
                if all(on_duty(rid, at) is answer for rid, answer in probes):
                    self.served += 1
                    return self._retime(decision, at)
        else:
            variants = self._entries[key] = []
        asked: dict[str, bool] = {}

        def recording(responder_id: str, moment: datetime) -> bool:
            answer = asked.get(responder_id)
            if answer is None:
                answer = asked[responder_id] = on_duty(responder_id, moment)
            return answer

        decision = self._route(key, at, recording)
        self.routed += 1
        if len(variants) < _MAX_VARIANTS:
            variants.append((tuple(asked.items()), decision))
        return decision

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

    def _retime(self, decision: Decision, at: datetime) -> Decision:
        try:
            return self._router.retime(decision, at)
        except CalendarEndError:
            return self._router.retime(decision, at, calendar=self._router.calendar.extrapolated())
