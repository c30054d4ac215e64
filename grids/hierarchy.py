"""The five-level hierarchy: a read-only view over flat columns (``grids.tables``).

A Hierarchy is built once from validated records (``grids.loader``), or mapped from the
compiled cache (``grids.cache``), and is read-only afterwards. What is held where, and why:

- Every cell, responder and shape is a row of typed columns (numpy arrays, one UTF-8 blob
  per string attribute), so a province of 2.8 million cells is a few hundred megabytes that
  several processes map from one file instead of 8 GB of Python objects each.
- ``Cell`` and ``Responder`` objects are made when asked for and kept in a bounded memo, so
  the cells and responders a process actually uses stay objects (routing asks for the same
  towns and communities again and again) while the millions it never touches stay rows.
  A cell's shapely shape is built from its packed coordinates only when read (maps, pages).
- ``graph`` is a networkx DiGraph of the upper levels (county, towns, communities), built on
  first use: what walks the tree at that level (reports, admin) keeps networkx, while the
  grids and micro-grids below are walked through the children columns (``children``).
- Point location is the bucket grid of ``grids.locate``, whose arrays live in the same file.

:meth:`adopt` replaces everything a Hierarchy reads in one reference assignment, which is
how a reload swaps in a new config while requests keep using the object they hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import networkx as nx
import numpy as np
import shapely

from grids.exceptions import UnknownCellError
from grids.locate import Locator
from grids.model import Cell, Level, Responder, ResponderKind
from grids.tables import KINDS, Tables, column_view, compile_tables, shape_at

__all__ = ["GRAPH_LEVELS", "CellRecord", "Hierarchy"]

# The levels held in the networkx graph: a province has 25,501 cells down to its
# communities, against 2.8 million down to its micro-grids.
GRAPH_LEVELS = Level.COMMUNITY
# Objects kept per process before the memo starts afresh: enough for every cell routing
# touches in a county, a bounded few megabytes in a province.
_MEMO_LIMIT = 200_000
_LEVELS = {int(level): level for level in Level}
# Cells and responders a hierarchy may have to be made whole at load (see Hierarchy._warm).
_WARM_LIMIT = 100_000
_KIND_NUMBER = {kind: number for number, kind in enumerate(KINDS)}


@dataclass(frozen=True, slots=True)
class CellRecord:
    """A row of the cells file: what a cell is before it is placed in the tree."""

    code: str
    parent: str | None
    level: Level
    name: str
    line: int = 0


class _Keys:
    """Find a row by its key (a code, an id) with a binary search over sorted UTF-8 keys."""

    __slots__ = ("_count", "_rank", "_sorted", "_width")

    def __init__(self, sorted_keys: Any, rank: Any) -> None:
        self._sorted = sorted_keys
        self._rank = column_view(rank, "i")
        self._count = len(sorted_keys)
        self._width = sorted_keys.dtype.itemsize

    def find(self, key: str) -> int:
        """The row of ``key``, or -1."""
        raw = key.encode("utf-8")
        # Longer than every key: searchsorted would compare a truncated copy. Trailing NULs
        # are what a fixed-width bytes column drops: no code or id in a CSV file has one.
        if len(raw) > self._width or not raw or raw.endswith(b"\0"):
            return -1
        at = int(np.searchsorted(self._sorted, raw))
        if at < self._count and self._sorted[at] == raw:
            return int(self._rank[at])
        return -1


class _State:
    """Everything a Hierarchy reads, built over one Tables (swapped whole by ``adopt``)."""

    def __init__(self, tables: Tables) -> None:
        a = tables.arrays
        self.tables = tables
        self.codes = tables.strings("cell_code").reader()
        self.names = tables.strings("cell_name").reader()
        self.parent = column_view(a["cell_parent"], "i")
        self.level = column_view(a["cell_level"], "B")
        self.child_start, self.child_list = (
            column_view(a["child_start"], "q"),
            column_view(a["child_list"], "i"),
        )
        self.at_start, self.at_list = (
            column_view(a["at_start"], "q"),
            column_view(a["at_list"], "i"),
        )
        self.shape_kind = column_view(a["shape_kind"], "B")
        self.cell_keys = _Keys(a["code_sorted"], a["code_rank"])
        self.resp_keys = _Keys(a["id_sorted"], a["id_rank"])
        self.resp_ids = tables.strings("resp_id").reader()
        self.resp_names = tables.strings("resp_name").reader()
        self.resp_contacts = tables.strings("resp_contact").reader()
        self.resp_kind = column_view(a["resp_kind"], "B")
        self.resp_grid = column_view(a["resp_grid"], "i")
        self.resp_backup = column_view(a["resp_backup"], "i")
        self.resp_line = column_view(a["resp_line"], "i")
        self.resp_categories = column_view(a["resp_categories"], "i")
        self.category_sets = [frozenset(s) for s in tables.meta["categories"]]
        self.count = len(self.parent)
        self.responders = len(self.resp_kind)
        roots = np.flatnonzero(a["cell_parent"] < 0)
        self.root = self.codes[int(roots[0])] if len(roots) else ""
        self.rows: dict[str, int] = {}
        self.cells: dict[int, Cell] = {}
        self.by_id: dict[str, Responder | None] = {}
        self.at: dict[int, tuple[Responder, ...]] = {}
        self.at_kind: dict[tuple[int, ResponderKind], tuple[Responder, ...]] = {}
        self.people: dict[int, Responder] = {}
        self.graph: nx.DiGraph | None = None
        self.locator: Locator | None = None
        if "loc_ranked" in a and len(a["loc_ranked"]):
            ranked = a["loc_ranked"]
            arrays = {name[4:]: value for name, value in a.items() if name.startswith("loc_")}
            self.locator = Locator.from_arrays(
                arrays, column_view(ranked, "i"), lambda i: shape_at(tables, int(ranked[i]))
            )


class Hierarchy:
    """The grid tree with its responders and a point locator.

    Construct with :meth:`build` from records that have already been validated, or with
    :meth:`from_tables` over compiled columns; either assumes a single root, known parents
    and levels that follow their parent's.
    """

    def __init__(self, tables: Tables) -> None:
        self._state = _State(tables)
        self._warm()

    def _warm(self) -> None:
        """Make at once the objects routing will ask for first: all of a county's (a few
        tens of thousands: a miss costs a whistle as much as its rules), and a province's
        cells down to its communities (what every whistle climbs through)."""
        st = self._state
        if st.count + st.responders <= _WARM_LIMIT:
            for row in range(st.count):
                self._cell(row)
                for responder in self._at(row):
                    self.responders_at(responder.grid, responder.kind)
            return
        # A province's communities alone hold half a million registered members: their
        # objects wait until a whistle asks for them.
        levels = np.asarray(st.tables.arrays["cell_level"])
        for row in np.flatnonzero(levels <= int(GRAPH_LEVELS)).tolist():
            self._cell(row)

    @classmethod
    def from_tables(cls, tables: Tables) -> Hierarchy:
        return cls(tables)

    @classmethod
    def build(
        cls,
        cells: Iterable[CellRecord],
        responders: Iterable[Responder] = (),
        geometries: Mapping[str, Any] | None = None,
    ) -> Hierarchy:
        """Build from validated records; ``geometries`` maps a code to a shapely geometry."""
        records = list(cells)
        codes = [r.code for r in records]
        levels = [int(r.level) for r in records]
        row = {code: index for index, code in enumerate(codes)}
        shapes = {code: g for code, g in (geometries or {}).items() if code in row}
        located = np.array([row[code] for code in shapes], dtype=np.int64)
        locator: dict[str, Any] = {}
        if len(located):
            # Priority order: deepest level first, then code (see Locator).
            rank = np.empty(len(codes), dtype=np.int64)
            rank[np.argsort(np.array(codes, dtype=np.str_), kind="stable")] = np.arange(len(codes))
            level = np.array(levels, dtype=np.int64)[located]
            ranked = located[np.lexsort((rank[located], -level))]
            ordered = np.array(list(shapes.values()), dtype=object)
            by_row = {int(r): i for i, r in enumerate(located)}
            geoms = ordered[[by_row[int(r)] for r in ranked]]
            locator = {"ranked": ranked.astype(np.int32), **Locator.index_arrays(geoms)}
        tables = compile_tables(
            codes,
            [r.parent for r in records],
            levels,
            [r.name for r in records],
            list(responders),
            shapes,
            locator,
        )
        return cls(tables)

    @property
    def tables(self) -> Tables:
        """The columns this hierarchy reads (what the compiled cache writes)."""
        return self._state.tables

    def adopt(self, other: Hierarchy) -> None:
        """Read ``other``'s cells and responders from now on: one reference assignment, so a
        caller on the event loop never sees half of each."""
        self._state = other._state

    @property
    def root(self) -> str:
        return self._state.root

    # -- cells ---------------------------------------------------------------------------

    def _row(self, code: str) -> int:
        st = self._state
        row = st.rows.get(code)
        if row is None:
            row = st.cell_keys.find(code) if isinstance(code, str) else -1
            if row < 0:
                return -1
            if len(st.rows) > _MEMO_LIMIT:
                st.rows.clear()
            st.rows[code] = row
        return row

    def _cell(self, row: int) -> Cell:
        st = self._state
        cell = st.cells.get(row)
        if cell is None:
            code = st.codes[row]
            up = st.parent[row]
            path: tuple[str, ...]
            if up < 0:
                parent, path = None, (code,)
            else:
                above = self._cell(up)
                parent, path = above.code, (*above.path, code)
            shape_of = partial(shape_at, st.tables, row) if st.shape_kind[row] else None
            cell = Cell(
                code, st.names[row], _LEVELS[st.level[row]], parent, path, shape_of=shape_of
            )
            if len(st.cells) > _MEMO_LIMIT:
                st.cells.clear()
            st.cells[row] = cell
            # Whoever holds the cell asks by its code next (the router climbs by code).
            if len(st.rows) > _MEMO_LIMIT:
                st.rows.clear()
            st.rows[code] = row
        return cell

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self._row(code) >= 0

    def __len__(self) -> int:
        return self._state.count

    def __repr__(self) -> str:
        st = self._state
        return f"Hierarchy(root={st.root!r}, cells={st.count}, responders={st.responders})"

    def cell(self, code: str) -> Cell:
        """The cell with ``code``; raises UnknownCellError."""
        row = self._row(code)
        if row < 0:
            raise UnknownCellError(code)
        return self._cell(row)

    def row_of(self, code: str) -> int:
        """The row of ``code`` in :attr:`tables` (-1 when unknown): for indexes kept as
        numbers, such as the gazetteer's."""
        return self._row(code)

    def get(self, code: str) -> Cell | None:
        row = self._row(code)
        return None if row < 0 else self._cell(row)

    def ancestors(self, code: str) -> list[Cell]:
        """The cell itself, then its parent, and so on up to the root."""
        cell = self.cell(code)
        chain = [cell]
        while cell.parent is not None:
            cell = self.cell(cell.parent)
            chain.append(cell)
        return chain

    def at_level(self, code: str, level: Level) -> Cell:
        """The ancestor of ``code`` at ``level``; the cell itself when it is at or above it."""
        cell = self.cell(code)
        if cell.level <= level:
            return cell
        return self.cell(cell.path[level - 1])

    def _children(self, row: int) -> Sequence[int]:
        st = self._state
        children: Sequence[int] = st.child_list[st.child_start[row] : st.child_start[row + 1]]
        return children

    def children(self, code: str) -> list[Cell]:
        """The cell's children in file order; raises UnknownCellError."""
        row = self._row(code)
        if row < 0:
            raise UnknownCellError(code)
        return [self._cell(child) for child in self._children(row)]

    def child_count(self, code: str) -> int:
        row = self._row(code)
        if row < 0:
            raise UnknownCellError(code)
        return len(self._children(row))

    def cells(self, *, level: Level | None = None, parent: str | None = None) -> Iterator[Cell]:
        """Cells in file order, optionally only one level and/or one parent's children."""
        if parent is not None:
            yield from (c for c in self.children(parent) if level is None or c.level == level)
            return
        if level is None:
            rows: Iterable[int] = range(self._state.count)
        else:
            levels = np.asarray(self._state.tables.arrays["cell_level"])
            rows = np.flatnonzero(levels == int(level)).tolist()
        for row in rows:
            yield self._cell(row)

    def codes(self, level: Level | None = None) -> list[str]:
        """The codes of the cells (of one level), file order, without making the cells."""
        st = self._state
        if level is None:
            return [st.codes[row] for row in range(st.count)]
        levels = np.asarray(st.tables.arrays["cell_level"])
        return [st.codes[row] for row in np.flatnonzero(levels == int(level)).tolist()]

    def count(self, level: Level) -> int:
        """How many cells are at ``level``."""
        return int(np.count_nonzero(self._state.tables.arrays["cell_level"] == int(level)))

    @property
    def graph(self) -> nx.DiGraph:
        """The cells down to ``GRAPH_LEVELS`` as a networkx DiGraph (parent -> child, file
        order), each node's ``cell`` attribute its Cell. Built on first use."""
        st = self._state
        if st.graph is None:
            graph = nx.DiGraph()
            upper = [c for c in self.cells() if c.level <= GRAPH_LEVELS] if st.count else []
            for cell in upper:
                graph.add_node(cell.code, cell=cell)
            graph.add_edges_from((c.parent, c.code) for c in upper if c.parent is not None)
            st.graph = graph
        return st.graph

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

    def bounds(self, code: str) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) of the cell's shape, or None when it has none."""
        geometry = self.cell(code).geometry
        return None if geometry is None else tuple(shapely.bounds(geometry).tolist())

    # -- responders ----------------------------------------------------------------------

    def _responder(self, index: int) -> Responder:
        st = self._state
        responder = st.people.get(index)
        if responder is None:
            backup = st.resp_backup[index]
            responder = Responder(
                id=st.resp_ids[index],
                name=st.resp_names[index],
                kind=KINDS[st.resp_kind[index]],
                grid=self._cell(st.resp_grid[index]).code,
                categories=st.category_sets[st.resp_categories[index]],
                backup=None if backup < 0 else st.resp_ids[backup],
                contact=st.resp_contacts[index],
                line=st.resp_line[index],
            )
            if len(st.people) > _MEMO_LIMIT:
                st.people.clear()
            st.people[index] = responder
            # Asked for by id next (a backup, a duty post): no binary search then.
            if len(st.by_id) > _MEMO_LIMIT:
                st.by_id.clear()
            st.by_id[responder.id] = responder
        return responder

    def responder(self, responder_id: str) -> Responder | None:
        st = self._state
        if responder_id in st.by_id:
            return st.by_id[responder_id]
        index = st.resp_keys.find(responder_id) if isinstance(responder_id, str) else -1
        found = None if index < 0 else self._responder(index)
        if len(st.by_id) > _MEMO_LIMIT:
            st.by_id.clear()
        st.by_id[responder_id] = found
        return found

    @property
    def responder_count(self) -> int:
        return self._state.responders

    def _at(self, row: int) -> tuple[Responder, ...]:
        st = self._state
        found = st.at.get(row)
        if found is None:
            found = tuple(
                self._responder(i) for i in st.at_list[st.at_start[row] : st.at_start[row + 1]]
            )
            if len(st.at) > _MEMO_LIMIT:
                st.at.clear()
            st.at[row] = found
        return found

    def responders_at(self, code: str, kind: ResponderKind | None = None) -> tuple[Responder, ...]:
        """The responders attached to the cell itself (not its subtree), roster order."""
        row = self._row(code)
        if row < 0:
            return ()
        if kind is None:
            return self._at(row)
        st = self._state
        key = (row, kind)
        found = st.at_kind.get(key)
        if found is None:
            # Only the responders of this kind become objects (a grid has several kinds).
            number, kinds = _KIND_NUMBER[kind], st.resp_kind
            rows = st.at_list[st.at_start[row] : st.at_start[row + 1]]
            found = tuple(self._responder(i) for i in rows if kinds[i] == number)
            if len(st.at_kind) > _MEMO_LIMIT:
                st.at_kind.clear()
            st.at_kind[key] = found
        return found

    def responders_of_kind(self, kind: ResponderKind) -> Mapping[str, tuple[Responder, ...]]:
        """Cell code -> the responders of ``kind`` attached to it, roster order (read-only).

        Cells without one are not keys. A view: it reads whatever this hierarchy holds now.
        """
        return _KindView(self, kind)

    def category_sets(self) -> Iterator[tuple[frozenset[str], Iterator[Responder]]]:
        """Each distinct set of categories in the roster, with the responders that have it
        (roster order): checking the categories once per set, not per responder."""
        st = self._state
        column = np.asarray(st.tables.arrays["resp_categories"])
        for number, categories in enumerate(st.category_sets):
            rows = np.flatnonzero(column == number).tolist()
            yield categories, (self._responder(i) for i in rows)

    # -- locating ------------------------------------------------------------------------

    @property
    def has_geometry(self) -> bool:
        return self._state.locator is not None

    def locate(self, lat: float, lon: float) -> Cell | None:
        """The deepest cell whose shape contains the point, or None when none does."""
        locator = self._state.locator
        if locator is None:
            return None
        row = locator.locate(lat, lon)
        return None if row is None else self._cell(row)


class _KindView(Mapping[str, tuple[Responder, ...]]):
    """``Hierarchy.responders_of_kind``: looked up per code, never materialised."""

    __slots__ = ("_hierarchy", "_kind")

    def __init__(self, hierarchy: Hierarchy, kind: ResponderKind) -> None:
        self._hierarchy = hierarchy
        self._kind = kind

    def __getitem__(self, code: str) -> tuple[Responder, ...]:
        found = self._hierarchy.responders_at(code, self._kind)
        if not found:
            raise KeyError(code)
        return found

    def get(self, code: str, default: Any = None) -> Any:
        return self._hierarchy.responders_at(code, self._kind) or default

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and bool(self._hierarchy.responders_at(code, self._kind))

    def _rows(self) -> list[int]:
        st = self._hierarchy._state
        a = st.tables.arrays
        chosen = np.flatnonzero(np.asarray(a["resp_kind"]) == _KIND_NUMBER[self._kind])
        grids = np.asarray(a["resp_grid"])[chosen]
        rows: list[int] = np.unique(grids).tolist()
        return rows

    def __iter__(self) -> Iterator[str]:
        codes = self._hierarchy._state.codes
        # File order of the cells, as the dict this view replaces had (roster order of their
        # first responder is what that was; callers only look codes up).
        return iter([codes[row] for row in self._rows()])

    def __len__(self) -> int:
        return len(self._rows())
