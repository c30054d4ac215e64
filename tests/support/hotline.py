"""The 12345 export header, for the hotline tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from grids import Hierarchy, Level
from whistle.integrations.hotline import COLUMNS

HEADER = ",".join(COLUMNS)


def tickets(county: Hierarchy) -> str:
    """Two good tickets (one by grid, one by point), two bad ones, and a blank line."""
    grid = next(county.cells(level=Level.GRID))
    centroid = county.centroid(grid.code)
    assert centroid is not None
    lat, lon = centroid
    return (
        "\n".join(
            [
                HEADER,
                f"T001,2026-11-20 09:30:00,城市管理-垃圾清运,楼下垃圾没人清,{grid.code},,,张先生",
                f"T002,2026/11/20 10:00,交通管理-乱停车,小区门口乱停车,,{lat},{lon},李女士",
                "",
                f"T003,2026-11-20 11:00,外星人来访,测试,{grid.code},,,",
                "T004,昨天,E0101,测试,,,,",
            ]
        )
        + "\n"
    )


def import_cli(csv: Path, db: Path, config: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "whistle.cli", "import-hotline", str(csv),
        "--db", str(db), "--config", str(config),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
