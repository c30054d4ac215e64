"""The camera registry (天眼): ``config/cameras.csv`` places each camera in the grid.

``camera_id,grid,lat,lon,name``: a camera belongs to one cell of the grid tree (its ``grid``,
the camera's own cell) and may have a point inside it. Its detections are placed at the point
when it has one, else at its grid. A camera whistle must name a camera of this registry and
come from the camera's own cell (see ``whistle.intake``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grids import Cell, Hierarchy, Level
from grids.configcsv import ConfigCsv
from whistle.exceptions import CameraConfigError
from whistle.schema import LIMITS

__all__ = [
    "CAMERAS_FILE",
    "CAMERAS_HEADER",
    "Camera",
    "CameraRegistry",
    "camera_rows",
    "load_cameras",
    "write_cameras",
]

CAMERAS_FILE = "cameras.csv"
CAMERAS_HEADER = ("camera_id", "grid", "lat", "lon", "name")


@dataclass(frozen=True, slots=True)
class Camera:
    """One row of ``cameras.csv``; ``line`` is its line number there."""

    camera_id: str
    grid: str
    lat: float | None
    lon: float | None
    name: str
    line: int

    def location(self) -> dict[str, Any]:
        """Where its detections are: its point when it has one, else its grid."""
        if self.lat is not None and self.lon is not None:
            return {"lat": self.lat, "lon": self.lon}
        return {"grid": self.grid}


def load_cameras(config_dir: Path, hierarchy: Hierarchy) -> dict[str, Camera]:
    """Read ``cameras.csv`` (optional: without it no camera is known).

    Raises CameraConfigError with every problem, each naming file, line and camera id.
    """
    path = config_dir / CAMERAS_FILE
    if not path.exists():
        return {}
    sheet = ConfigCsv.read(path, CAMERAS_HEADER)
    cameras: dict[str, Camera] = {}
    for line, camera_id, fields in sheet.keyed(
        "camera_id", duplicate="duplicate camera", check=_camera_id_problem
    ):
        camera = _camera(sheet, line, camera_id, fields, hierarchy)
        if camera is not None:
            cameras[camera_id] = camera
    sheet.raise_problems(CameraConfigError)
    return cameras


def _camera_id_problem(camera_id: str) -> str | None:
    limit = LIMITS["camera_id"]
    return f"camera_id longer than {limit}" if len(camera_id) > limit else None


def _camera(
    sheet: ConfigCsv, line: int, camera_id: str, fields: list[str], hierarchy: Hierarchy
) -> Camera | None:
    """The camera on one row, or None after recording every problem in it."""
    _, grid, lat_text, lon_text, name = fields
    ok = True
    if grid not in hierarchy:
        sheet.problem(line, camera_id, f"unknown grid {grid!r}")
        ok = False
    if not name:
        sheet.problem(line, camera_id, "empty name")
        ok = False
    lat = lon = None
    if lat_text or lon_text:
        try:
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            sheet.problem(line, camera_id, f"bad point ({lat_text!r}, {lon_text!r})")
            return None
        why = _point_problem(lat, lon, grid, hierarchy) if ok else _range_problem(lat, lon)
        if why is not None:
            sheet.problem(line, camera_id, why)
            return None
    return Camera(camera_id, grid, lat, lon, name, line) if ok else None


def _range_problem(lat: float, lon: float) -> str | None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return f"point out of range ({lat}, {lon})"
    return None


def _point_problem(lat: float, lon: float, grid: str, hierarchy: Hierarchy) -> str | None:
    """Why a camera's point does not fit its grid: out of range, or outside the grid's shape
    (checked only when the hierarchy has shapes)."""
    out_of_range = _range_problem(lat, lon)
    if out_of_range is not None or not hierarchy.has_geometry:
        return out_of_range
    cell = hierarchy.locate(lat, lon)
    if cell is None or not cell.is_within(grid):
        where = "no cell" if cell is None else cell.code
        return f"point ({lat}, {lon}) lies in {where}, not inside grid {grid}"
    return None


def camera_rows(hierarchy: Hierarchy, per_community: int = 2) -> list[tuple[str, ...]]:
    """A deterministic registry: ``per_community`` cameras in each community, camera n at the
    centroid of the community's n-th grid (its first grid when it has fewer)."""
    rows: list[tuple[str, ...]] = []
    for community in sorted(hierarchy.cells(level=Level.COMMUNITY), key=lambda c: c.code):
        grids = sorted(
            (c for c in hierarchy.children(community.code) if c.level is Level.GRID),
            key=lambda c: c.code,
        )
        if not grids:
            continue
        for n in range(1, per_community + 1):
            grid = grids[(n - 1) if n - 1 < len(grids) else 0]
            point = hierarchy.centroid(grid.code)
            lat, lon = ("", "") if point is None else (f"{point[0]:.6f}", f"{point[1]:.6f}")
            camera_id = f"CAM-{community.code}-{n:02d}"
            rows.append((camera_id, grid.code, lat, lon, f"{community.name}{grid.name}天眼{n}号"))
    return rows


def write_cameras(config_dir: Path, hierarchy: Hierarchy, per_community: int = 2) -> int:
    """Write ``cameras.csv`` for the county in ``config_dir``; the number of cameras."""
    rows = camera_rows(hierarchy, per_community)
    lines = [",".join(CAMERAS_HEADER)] + [",".join(row) for row in rows]
    (config_dir / CAMERAS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


class CameraRegistry(Mapping[str, Camera]):
    """The known cameras, each with its own cell and the cell its detections are placed in."""

    def __init__(self, cameras: Mapping[str, Camera], hierarchy: Hierarchy) -> None:
        self._cameras = dict(cameras)
        self._hierarchy = hierarchy
        self._places: dict[str, Cell | None] = {}

    @classmethod
    def load(cls, config_dir: Path, hierarchy: Hierarchy) -> CameraRegistry:
        """``cameras.csv`` of ``config_dir`` (none: no camera is known); CameraConfigError."""
        return cls(load_cameras(config_dir, hierarchy), hierarchy)

    def __repr__(self) -> str:
        return f"CameraRegistry({len(self._cameras)} cameras)"

    def __getitem__(self, camera_id: str) -> Camera:
        return self._cameras[camera_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cameras)

    def __len__(self) -> int:
        return len(self._cameras)

    def home(self, camera_id: str) -> Cell:
        """The camera's own cell (its ``grid``): its whistles come from inside it."""
        return self._hierarchy.cell(self._cameras[camera_id].grid)

    def place(self, camera_id: str) -> Cell | None:
        """The cell the camera's detections are placed in (fixed: looked up once)."""
        if camera_id not in self._places:
            location = self._cameras[camera_id].location()
            grid = location.get("grid")
            self._places[camera_id] = (
                self._hierarchy.cell(grid)
                if grid is not None
                else self._hierarchy.locate(location["lat"], location["lon"])
            )
        return self._places[camera_id]
