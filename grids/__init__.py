"""The five-level grid hierarchy: model, loading and validation, point location."""

from grids.exceptions import ConfigError, GridConfigError, Problem, UnknownCellError
from grids.hierarchy import CellRecord, Hierarchy
from grids.model import Cell, Level, Responder, ResponderKind

__all__ = [
    "Cell",
    "CellRecord",
    "ConfigError",
    "GridConfigError",
    "Hierarchy",
    "Level",
    "Problem",
    "Responder",
    "ResponderKind",
    "UnknownCellError",
]
