"""The five-level hierarchy held in a networkx DiGraph (parent -> child).

A Hierarchy is built once at start-up from validated records (see ``grids.loader``) and is
read-only afterwards. The graph is the tree; the lookups on a whistle's path (a cell by code,
responders by cell and kind) are plain dicts built beside it, since routing calls them on
every whistle. The graph costs about half a kilobyte per node, which is what bounds a
province's memory (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import networkx as nx

from grids.exceptions import UnknownCellError
from grids.locate import Locator
from grids.model import Cell, Level, Responder, ResponderKind

__all__ = ["CellRecord", "Hierarchy"]


@dataclass(frozen=True, slots=True)
class CellRecord:
    """A row of the cells file: what a cell is before it is placed in the tree."""

    code: str
    parent: str | None
    level: Level
    name: str
    line: int = 0


class Hierarchy:
    """The grid tree with its responders and a point locator.

    Construct with :meth:`build` from records that have already been validated; the
    constructor assumes a single root, known parents and levels that follow their parent's.
    """

    def __init__(
        self,
        graph: nx.DiGraph,
        root: str,
        responders: Mapping[str, Responder],
        locator: Locator | None,
    ) -> None:
        self.graph = graph
        self.root = root
        self._cells: dict[str, Cell] = {code: data["cell"] for code, data in graph.nodes(data=True)}
        self._responders = dict(responders)
        by_cell: dict[str, list[Responder]] = {}
        by_cell_kind: dict[tuple[str, ResponderKind], list[Responder]] = {}
        for responder in self._responders.values():
            by_cell.setdefault(responder.grid, []).append(responder)
            by_cell_kind.setdefault((responder.grid, responder.kind), []).append(responder)
        self._by_cell = {code: tuple(rs) for code, rs in by_cell.items()}
        self._by_cell_kind = {key: tuple(rs) for key, rs in by_cell_kind.items()}
        self._by_kind: dict[ResponderKind, dict[str, tuple[Responder, ...]]] = {
            kind: {} for kind in ResponderKind
        }
        for (code, kind), rs in self._by_cell_kind.items():
            self._by_kind[kind][code] = rs
        self._locator = locator

    @classmethod
    def build(
        cls,
        cells: Iterable[CellRecord],
        responders: Iterable[Responder] = (),
        geometries: Mapping[str, Any] | None = None,
    ) -> Hierarchy:
        """Build from validated records; ``geometries`` maps a code to a shapely geometry."""
        records = list(cells)
        geometries = geometries or {}
        parents = {r.code: r.parent for r in records}
        paths: dict[str, tuple[str, ...]] = {}

        def path_of(code: str) -> tuple[str, ...]:
            # Iterative so that a deep (or long) chain cannot hit the recursion limit.
            chain: list[str] = []
            cursor: str | None = code
            while cursor is not None and cursor not in paths:
                chain.append(cursor)
                cursor = parents[cursor]
            prefix = paths[cursor] if cursor is not None else ()
            for item in reversed(chain):
                prefix = (*prefix, item)
                paths[item] = prefix
            return paths[code]

        root = ""
        graph = nx.DiGraph()
        for record in records:
            cell = Cell(
                code=record.code,
                name=record.name,
                level=record.level,
                parent=record.parent,
                path=path_of(record.code),
                geometry=geometries.get(record.code),
            )
            graph.add_node(record.code, cell=cell)
            if record.parent is None:
                root = record.code
        graph.add_edges_from((r.parent, r.code) for r in records if r.parent is not None)
        located = [
            (code, graph.nodes[code]["cell"].level, geom)
            for code, geom in geometries.items()
            if code in graph
        ]
        locator = Locator(located) if located else None
        return cls(graph, root, {r.id: r for r in responders}, locator)

    # -- cells ---------------------------------------------------------------------------

    def __contains__(self, code: object) -> bool:
        return code in self._cells

    def __len__(self) -> int:
        return len(self._cells)

    def __repr__(self) -> str:
        return (
            f"Hierarchy(root={self.root!r}, cells={len(self._cells)}, "
            f"responders={len(self._responders)})"
        )

    def cell(self, code: str) -> Cell:
        """The cell with ``code``; raises UnknownCellError."""
        try:
            return self._cells[code]
        except KeyError:
            raise UnknownCellError(code) from None

    def get(self, code: str) -> Cell | None:
        return self._cells.get(code)

    def ancestors(self, code: str) -> list[Cell]:
        """The cell itself, then its parent, and so on up to the root."""
        return [self._cells[c] for c in reversed(self.cell(code).path)]

    def at_level(self, code: str, level: Level) -> Cell:
        """The ancestor of ``code`` at ``level``; the cell itself when it is at or above it."""
        cell = self.cell(code)
        if cell.level <= level:
            return cell
        return self._cells[cell.path[level - 1]]

    def children(self, code: str) -> list[Cell]:
        """The cell's children in file order; raises UnknownCellError."""
        self.cell(code)
        return [self._cells[c] for c in self.graph.successors(code)]

    def child_count(self, code: str) -> int:
        self.cell(code)
        return int(self.graph.out_degree(code))

    def cells(self, *, level: Level | None = None, parent: str | None = None) -> Iterator[Cell]:
        """Cells in insertion order, optionally only one level and/or one parent's children."""
        if parent is not None:
            source: Iterable[Cell] = self.children(parent)
        else:
            source = self._cells.values()
        for cell in source:
            if level is None or cell.level == level:
                yield cell

    def centroid(self, code: str) -> tuple[float, float] | None:
        """(lat, lon) of the cell's shape, or None when it has none."""
        geometry = self.cell(code).geometry
        if geometry is None:
            return None
        point = geometry.centroid
        if not geometry.contains(point):
            # A concave shape's centroid can fall outside it; this point never does.
            point = geometry.representative_point()
        return (float(point.y), float(point.x))

    # -- responders ----------------------------------------------------------------------

    def responder(self, responder_id: str) -> Responder | None:
        return self._responders.get(responder_id)

    @property
    def responder_count(self) -> int:
        return len(self._responders)

    def responders_at(self, code: str, kind: ResponderKind | None = None) -> tuple[Responder, ...]:
        """The responders attached to the cell itself (not its subtree), roster order."""
        if kind is None:
            return self._by_cell.get(code, ())
        return self._by_cell_kind.get((code, kind), ())

    def responders_of_kind(self, kind: ResponderKind) -> Mapping[str, tuple[Responder, ...]]:
        """Cell code -> the responders of ``kind`` attached to it, roster order (read-only).

        For a caller that looks up one kind at many cells: a lookup by code alone is cheaper
        than :meth:`responders_at`'s by (code, kind).
        """
        return MappingProxyType(self._by_kind[kind])

    # -- locating ------------------------------------------------------------------------

    @property
    def has_geometry(self) -> bool:
        return self._locator is not None

    def locate(self, lat: float, lon: float) -> Cell | None:
        """The deepest cell whose shape contains the point, or None when none does."""
        if self._locator is None:
            return None
        code = self._locator.locate(lat, lon)
        return None if code is None else self._cells[code]
