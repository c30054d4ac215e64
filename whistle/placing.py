"""Placing a held whistle by hand (待定位 -> 派遣).

A whistle whose address placed nothing waits, unrouted and with no clock running, at the
narrowest cell known to hold it (``whistle.places``). An operator whose scope holds it picks
its cell; from then on it is a whistle like any other: routed by the rules from that cell,
as of the moment it was placed (the time it waited is the dispatcher's, not the
responders'), with its deadlines, notices and likely duplicates by grid. One guarded step
writes ``whistle.placed`` (where, by whom, from where) and ``whistle.routed``, the new place
of its row, its search text and its statistics row: two operators placing the same whistle
at once place it once, and the second is told it is no longer waiting (409).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, tzinfo
from typing import Any, cast

import structlog

from dispatch.case import CaseState, CaseStatus
from dispatch.lifecycle import Change, IllegalTransition
from grids import Cell, Hierarchy, Level
from whistle import filing
from whistle.auth import Principal, allow_cell
from whistle.cases import CaseService
from whistle.clock import Clock
from whistle.exceptions import CaseNotFound, Conflict, FieldError, InvalidWhistle
from whistle.intake import Intake, grid_path
from whistle.places import by_hand
from whistle.schema import WhistleIn
from whistle.store import Placed, Store, StoredWhistle, Transition

__all__ = ["Placer"]

log = structlog.get_logger(__name__)

_RETRIES = 3


class Placer:
    """Places held whistles (status ``unplaced``) where an operator says."""

    def __init__(
        self,
        *,
        intake: Intake,
        cases: CaseService,
        store: Store,
        hierarchy: Hierarchy,
        clock: Clock,
        tz: tzinfo,
    ) -> None:
        self._intake = intake
        self._cases = cases
        self._store = store
        self._hierarchy = hierarchy
        self._clock = clock
        self._tz = tz

    def __repr__(self) -> str:
        return f"Placer({self._hierarchy!r})"

    def target(self, grid: Any) -> Cell:
        """The cell named by ``grid`` (InvalidWhistle: none, not a code, the county)."""
        if not isinstance(grid, str) or not grid.strip():
            raise InvalidWhistle([FieldError("grid", "required: the code of the cell")])
        cell = self._hierarchy.get(grid.strip())
        if cell is None:
            raise InvalidWhistle([FieldError("grid", f"unknown grid code {grid.strip()!r}")])
        if cell.level is Level.COUNTY:
            raise InvalidWhistle(
                [FieldError("grid", "pick a town or a cell below it, not the whole county")]
            )
        return cell

    async def place(self, whistle_id: str, cell: Cell, principal: Principal) -> CaseState:
        """Place the held whistle at ``cell`` and route it; the case as it then stands.

        Raises CaseNotFound, Forbidden (the case or the cell outside the principal's scope),
        IllegalTransition (not waiting for a place), Conflict (kept changing).
        """
        allow_cell(principal, cell, "the cell picked")
        for _ in range(_RETRIES):
            stored = await self._store.get_whistle(whistle_id)
            if stored is None:
                raise CaseNotFound(whistle_id)
            held_at = self._hierarchy.cell(stored.row_doc["grid"]["code"])
            allow_cell(principal, held_at, f"case {whistle_id}")
            state = await self._cases.load(whistle_id)
            if state.status is not CaseStatus.UNPLACED:
                raise IllegalTransition(
                    f"case {whistle_id} is not waiting for a place ({state.status.value})",
                    status=state.status.value,
                    allowed=[],
                )
            now = self._clock.now()
            step, new = await self._step(stored, state, cell, principal, now)
            try:
                await self._store.transition(step)
            except Conflict:
                continue
            log.info("whistle.placed", whistle_id=whistle_id, grid=cell.code, by=principal.id)
            return new
        raise Conflict(f"case {whistle_id} kept changing; try again")

    async def _step(
        self,
        stored: StoredWhistle,
        state: CaseState,
        cell: Cell,
        principal: Principal,
        now: datetime,
    ) -> tuple[Transition, CaseState]:
        whistle_id = state.id
        timeline = await self._store.timeline(whistle_id)
        whistle = WhistleIn.model_validate(timeline[0].data["request"])
        # Routed, and filed, under the config version in force when it is placed.
        rules = self._intake.rules
        decision = await self._intake.route(whistle, cell, now, rules)
        assignments, trace = filing.assignment_rows(whistle_id, decision, self._hierarchy, self._tz)
        old = stored.row_doc
        category = rules.catalog.get(whistle.category)
        assert category is not None  # validated when it came in
        doc = filing.whistle_document(
            whistle_id,
            whistle,
            cell,
            decision,
            datetime.fromisoformat(old["received_at"]),
            hierarchy=self._hierarchy,
            category=category,
            trace=trace,
            silence=None,
            duplicates=list(old.get("possible_duplicates") or ()),
            filed_by=old["filed_by"],
            tz=self._tz,
            placement=by_hand(old.get("placement"), principal.actor, now, self._tz),
            config_version=rules.version,
        )
        doc["case_number"] = old.get("case_number")
        doc["urgency"] = old["urgency"]
        placed = Change(
            "whistle.placed",
            {
                "grid": cell.code,
                "from": old["grid"]["code"],
                "by": principal.id,
                "address": (old.get("location") or {}).get("address"),
            },
        )
        routed = Change("whistle.routed", filing.routed_data(doc, decision, assignments, trace))
        step, new = self._cases.step(state, [placed, routed], now, principal.actor)
        row = Placed(
            grid_code=cell.code,
            grid_path=grid_path(cell),
            grid_level=int(cell.level),
            near=self._hierarchy.at_level(cell.code, Level.GRID).code,
            doc=cast("dict[str, Any]", doc),
        )
        return dataclasses.replace(step, placed=row), new
