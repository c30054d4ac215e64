"""Config swap section: applying and rolling back a config version under load (issue 20).

``whistle serve`` on the county takes whistles from concurrent clients twice for the same
time: once with nothing changing (the baseline), once while a version shortening the 报到
limit (30 → 20 minutes) is applied at a third of the run and the first version rolled back
to at two thirds. Rows: answers other than 201 during the swaps (target 0: none refused),
p50/p99 latency with the swaps beside the baseline, and how long each apply took to answer.

    python bench/config_swap.py [--size tiny|full] [--json PATH] [--config DIR]
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import Row, parser, write_report  # noqa: E402
from intake import payload_points, start_whistle, whistle_posts  # noqa: E402
from load import LoadResult, run_load  # noqa: E402

from whistle.testing import ServerProcess  # noqa: E402

SECTION = "config_swap"
ACK_30 = 'acknowledge = { urgent = "10m", normal = "30m" }'
ACK_20 = 'acknowledge = { urgent = "10m", normal = "20m" }'


@dataclass(frozen=True, slots=True)
class Size:
    clients: int
    seconds: float


SIZES = {"tiny": Size(clients=4, seconds=6.0), "full": Size(clients=32, seconds=15.0)}


def _call(server: ServerProcess, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=None if body is None else orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return orjson.loads(response.read())


def _load(
    server: ServerProcess, points: list[dict[str, float]], token: str, size: Size,
    seen: list[tuple[float, int | None]],
) -> LoadResult:  # fmt: skip
    """Whistles for ``size.seconds``; ``seen`` gets (answered at, config_version) per 201."""

    def acknowledged(n: int, status: int, body: bytes) -> list[str]:
        if status != 201:
            return []
        doc = orjson.loads(body)
        seen.append((time.perf_counter(), doc.get("config_version")))
        return [doc["id"]]

    return run_load(
        server.url,
        whistle_posts(points, token),
        clients=size.clients,
        requests=10_000_000,
        seconds=size.seconds,
        acknowledged=acknowledged,
    )


def measure(config: Path, workdir: Path, size: Size, *, swap: bool) -> dict[str, Any]:
    """One run on a fresh database; with ``swap``, apply at 1/3 and roll back at 2/3."""
    root, points = payload_points(config, 500)
    server = start_whistle(config, workdir, "swap" if swap else "baseline")
    steps: list[dict[str, Any]] = []
    seen: list[tuple[float, int | None]] = []
    try:
        operator = server.create_token("operator", root)
        admin = server.create_token("admin", None)
        first = _call(server, admin, "GET", "/api/v1/config/versions")["active"]
        files = _call(server, admin, "GET", f"/api/v1/config/versions/{first}")["files"]
        shorter = {**files, "rules.toml": files["rules.toml"].replace(ACK_30, ACK_20)}
        second = _call(server, admin, "POST", "/api/v1/config/versions",
                       {"files": shorter, "reason": "bench"})["id"]  # fmt: skip

        def swaps() -> None:
            for at, version in ((1 / 3, second), (2 / 3, first)):
                time.sleep(max(0.0, began + size.seconds * at - time.perf_counter()))
                asked = time.perf_counter()
                _call(server, admin, "POST", f"/api/v1/config/versions/{version}/apply", {})
                steps.append({"version": version, "asked": asked, "answered": time.perf_counter()})

        began = time.perf_counter()
        worker = threading.Thread(target=swaps) if swap else None
        if worker is not None:
            worker.start()
        result = _load(server, points, operator, size, seen)
        if worker is not None:
            worker.join()
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGTERM)
    return {"result": result, "steps": steps, "seen": seen, "versions": (first, second)}


def rows_for(size: Size, base: dict[str, Any], swapped: dict[str, Any]) -> list[Row]:
    clients = f"{size.clients} clients"
    b, s = base["result"], swapped["result"]
    applies = [(st["answered"] - st["asked"]) * 1000 for st in swapped["steps"]]
    refused = s.errors({201})
    return [
        Row(SECTION, f"answers other than 201 during apply + rollback ({clients})", refused,
            "", "0", refused == 0, f"{s.sent:,} whistles sent"),
        Row(SECTION, f"p50 latency, baseline / with swaps ({clients})",
            f"{b.ms(0.50):.1f} / {s.ms(0.50):.1f}", "ms"),
        Row(SECTION, f"p99 latency, baseline / with swaps ({clients})",
            f"{b.ms(0.99):.1f} / {s.ms(0.99):.1f}", "ms"),
        Row(SECTION, f"max latency, baseline / with swaps ({clients})",
            f"{b.ms(1):.0f} / {s.ms(1):.0f}", "ms"),
        Row(SECTION, "apply, then rollback: time to answer",
            " / ".join(f"{ms:.0f}" for ms in applies), "ms",
            note="the version compiled in full before the swap"),
    ]  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "config")
    args = p.parse_args()
    size = SIZES.get(args.size, SIZES["full"])  # nothing larger: large runs full
    with tempfile.TemporaryDirectory(prefix="whistle-bench-swap-") as tmp:
        base = measure(args.config, Path(tmp), size, swap=False)
        swapped = measure(args.config, Path(tmp), size, swap=True)
    rows = rows_for(size, base, swapped)
    details = {
        "sent": {"baseline": base["result"].sent, "swaps": swapped["result"].sent},
        "steps": [
            {"version": st["version"], "ms": round((st["answered"] - st["asked"]) * 1000, 1)}
            for st in swapped["steps"]
        ],
        # The versions in the order the answers carried them: first, second, first.
        "runs": [
            v
            for i, (_, v) in enumerate(swapped["seen"])
            if i == 0 or swapped["seen"][i - 1][1] != v
        ][:20],
    }
    write_report(args.json, SECTION, args.size, rows, details)
    if any(row.met is False for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
