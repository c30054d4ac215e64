"""Where a new whistle is placed, and how that was found (its ``placement``).

The first of these that the whistle gives places it:

- a grid code: that cell (``by: grid``);
- a point: the deepest cell holding it (``by: coordinates``);
- an address alone: the cell the gazetteer (``grids.gazetteer``) finds for it, with the words
  matched and the entry that matched them (``by: gazetteer``).

An address that places nothing (no known name, only a town, names on different branches) is
never refused and never guessed: the whistle is held (``by: pending``, status 待定位) at the
narrowest cell known to hold it (the town its address names, when the caller may file
there; else the caller's scope; else the county), unrouted, for an operator to place by hand
(``whistle.placing``). An address beside a grid code or a point is kept, not matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from grids import Cell, Hierarchy
from grids.gazetteer import Found, Gazetteer
from whistle.auth import Principal
from whistle.documents import Placement
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.schema import LocationIn
from whistle.timefmt import rfc3339

__all__ = ["Located", "by_hand", "locate"]


@dataclass(frozen=True, slots=True)
class Located:
    """A whistle's cell and how it was found; ``held``: not placed, waiting for an operator."""

    cell: Cell
    placement: Placement

    @property
    def held(self) -> bool:
        """True when the address placed nothing (待定位)."""
        return self.placement["by"] == "pending"


def _placement(by: str, address: str | None, **found: str | None) -> Placement:
    return {
        "by": by,  # type: ignore[typeddict-item]  # one of the Literal's values, by the callers
        "address": address,
        "matched": found.get("matched"),
        "entry": found.get("entry"),
        "entry_kind": found.get("entry_kind"),
        "reason": found.get("reason"),
        "placed_by": found.get("placed_by"),
        "placed_at": found.get("placed_at"),
    }


def locate(
    location: LocationIn,
    hierarchy: Hierarchy,
    gazetteer: Gazetteer,
    principal: Principal | None,
) -> Located:
    """Place ``location`` (raises InvalidWhistle for a point outside the county)."""
    address = location.address
    if location.grid is not None:
        return Located(hierarchy.cell(location.grid), _placement("grid", address))
    if location.lat is not None and location.lon is not None:
        cell = hierarchy.locate(location.lat, location.lon)
        if cell is None:
            root = hierarchy.cell(hierarchy.root)
            raise InvalidWhistle(
                [
                    FieldError(
                        "location",
                        f"point ({location.lat}, {location.lon}) is outside every grid cell "
                        f"of {root.name} ({root.code})",
                        "outside_county",
                        (("county", root.name),),
                    )
                ]
            )
        return Located(cell, _placement("coordinates", address))
    assert address is not None  # the schema wants one of the three
    found = gazetteer.place(address)
    best = found.best
    if found.code is not None and best is not None:
        return Located(
            hierarchy.cell(found.code),
            _placement(
                "gazetteer",
                address,
                matched=best.entry.name,
                entry=best.entry.name,
                entry_kind=best.entry.kind,
            ),
        )
    return Located(
        _holder(found, hierarchy, principal), _placement("pending", address, reason=found.reason)
    )


def _holder(found: Found, hierarchy: Hierarchy, principal: Principal | None) -> Cell:
    """Where an unplaced whistle waits: the place its address names (a town), if the caller
    may file there; else the caller's scope; else the county."""
    scope = hierarchy.cell(
        principal.scope if principal is not None and principal.scope else hierarchy.root
    )
    if found.hint is not None:
        hint = hierarchy.cell(found.hint)
        if hint.is_within(scope.code):
            return hint
    return scope


def by_hand(earlier: Placement | None, who: str, at: datetime, tz: tzinfo) -> Placement:
    """The placement of a held whistle an operator placed: by hand, by whom, when."""
    address = None if earlier is None else earlier["address"]
    return _placement("hand", address, placed_by=who, placed_at=rfc3339(at, tz))
