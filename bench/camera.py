"""Camera section: the camera feed's batch endpoint (天眼), 100 detections per request.

N concurrent clients (bench/load.py) post signed JSON Lines batches to
``POST /api/v1/feeds/camera`` of a real ``whistle serve``: each batch holds 100 detections
spread over the configured cameras (config/cameras.csv), a few detections per camera as a
burst would send them, each camera watching one ongoing situation (an event type fixed per
camera), and one detection in fifty below the confidence threshold. The feed answers each
line ``created`` (a new case), ``grouped`` (a repeat joined the camera's open case),
``low_confidence`` (stored muted) or ``duplicate``/``error``.

Afterwards every acknowledged detection is looked up in the database: a created or
low-confidence one as a whistle with its detection id as ``external_id``, a grouped one as a
``case.repeated`` event on the case it joined carrying its detection id. The script exits
non-zero if any is missing.

    python bench/camera.py [--size tiny|full] [--json PATH] [--config DIR] [--clients N]
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Row, parser, write_report  # noqa: E402
from intake import start_whistle  # noqa: E402
from load import LoadResult, Post, run_load  # noqa: E402

from grids.loader import load_hierarchy  # noqa: E402
from whistle.auth import parse_token, sign_request, signing_key  # noqa: E402
from whistle.integrations.feeds import CAMERAS_FILE, load_cameras, write_cameras  # noqa: E402

SECTION = "camera"
PATH = "/api/v1/feeds/camera"
PER_REQUEST = 100
BURST = 4  # detections of one camera in a row, as a burst arrives
STORED = ("created", "grouped", "low_confidence", "duplicate")
CHINA = timezone(timedelta(hours=8))

# What the county's cameras mostly see, most frequent first (repeated = weighted).
EVENTS = (
    ["garbage_exposed"] * 5
    + ["illegal_parking"] * 4
    + ["out_of_store_business"] * 3
    + ["bike_parking"] * 2
    + ["illegal_vending"] * 2
    + ["bin_overflow", "garbage_pile", "road_spill", "waterlogging", "smoke", "road_damage"]
)


@dataclass(frozen=True, slots=True)
class Size:
    clients: int
    requests: int
    seconds: float


SIZES = {
    "tiny": Size(clients=4, requests=8, seconds=20.0),
    "full": Size(clients=16, requests=5_000, seconds=12.0),
}


def detection_id(run: str, n: int, line: int) -> str:
    return f"bench-{run}-{n}-{line}"


# Which camera (an index into the sorted registry), event type and confidence the g-th
# detection of a run has (g counts every detection of the run, request by request).
Plan = Callable[[int], tuple[int, str, float]]


def bursts(cameras: int) -> Plan:
    """The camera section's feed: ``BURST`` detections in a row per camera, cameras spread
    by a stride, each camera watching one ongoing situation (an event type fixed by the
    camera), and one detection in fifty below the confidence threshold."""

    def plan(g: int) -> tuple[int, str, float]:
        camera = ((g // BURST) * 7919) % cameras
        return camera, EVENTS[(camera * 31) % len(EVENTS)], 0.42 if g % 50 == 49 else 0.91

    return plan


def detections(
    cameras: list[str], run: str, n: int, per_request: int = PER_REQUEST, plan: Plan | None = None
) -> list[dict[str, Any]]:
    """Request n's detections, by ``plan`` (default :func:`bursts`).

    With the bursts, as a burst looks in the field: the first detection of a camera opens a
    case and the camera's later ones within the repeat window join it. A detection below the
    confidence threshold is stored as a muted whistle of its own.
    """
    plan = plan or bursts(len(cameras))
    now = datetime.now(CHINA)
    items = []
    for k in range(per_request):
        camera, event, confidence = plan(n * per_request + k)
        items.append(
            {
                "camera_id": cameras[camera],
                "event_type": event,
                "confidence": confidence,
                "time": (now - timedelta(seconds=per_request - k)).isoformat(),
                "snapshot_url": f"https://cam.example/snap/{run}/{n}/{k}.jpg",
                "detection_id": detection_id(run, n, k + 1),
            }
        )
    return items


def camera_posts(
    cameras: list[str],
    token: str,
    run: str,
    per_request: int = PER_REQUEST,
    plan: Plan | None = None,
) -> Callable[[int], Post]:
    """Request n: ``detections(n)`` (by ``plan``) as signed JSON Lines."""
    token_id = parse_token(token)
    assert token_id is not None, "not a token"
    key = signing_key(token)

    def make(n: int) -> Post:
        items = detections(cameras, run, n, per_request, plan)
        body = b"\n".join(orjson.dumps(d) for d in items)
        stamp = int(time.time())
        headers = {
            "X-Whistle-Key": token_id,
            "X-Whistle-Timestamp": str(stamp),
            "X-Whistle-Signature": sign_request(key, stamp, body),
            "Content-Type": "application/x-ndjson",
        }
        return Post(PATH, body, headers)

    return make


def acknowledged_lines(run: str) -> Callable[[int, int, bytes], list[str]]:
    """Each stored line of a 200 (or 207) answer as ``status<TAB>detection id<TAB>whistle id``."""

    def read(n: int, status: int, body: bytes) -> list[str]:
        if status not in (200, 207):  # 207: some lines were errors, the rest stored
            return []
        answer = orjson.loads(body)
        return [
            f"{r['status']}\t{detection_id(run, n, r['line'])}\t{r['whistle_id']}"
            for r in answer["results"]
            if r["status"] in STORED
        ]

    return read


def missing_detections(db: Path, acknowledged: list[str]) -> int:
    """How many acknowledged detections the SQLite database ``db`` does not hold."""
    with sqlite3.connect(db) as raw:
        whistles = dict(raw.execute("SELECT external_id, id FROM whistles WHERE source = 'camera'"))
        repeats = list(
            raw.execute("SELECT whistle_id, data FROM events WHERE type = 'case.repeated'")
        )
    return missing_among(whistles, repeats, acknowledged)


def missing_among(
    whistles: Mapping[str, str], repeats: Iterable[tuple[str, str]], acknowledged: list[str]
) -> int:
    """How many acknowledged detections are not stored, given the camera whistles stored
    (external id -> whistle id) and the ``case.repeated`` events (case id, data as JSON)."""
    # A case.repeated event lists the detections a batch added to the case.
    joined = {
        (whistle_id, detection.get("external_id"))
        for whistle_id, data in repeats
        for detection in orjson.loads(data).get("detections", [])
    }
    missing = 0
    for line in acknowledged:
        status, detection, whistle_id = line.split("\t")
        if status == "grouped":
            missing += (whistle_id, detection) not in joined
        else:
            missing += whistles.get(detection) != whistle_id
    return missing


def camera_config(config: Path, workdir: Path, per_community: int | None = None) -> Path:
    """``config``, or a copy of it with a generated camera registry when it has none (or,
    with ``per_community``, always: that many cameras in each community)."""
    if per_community is None and (config / CAMERAS_FILE).exists():
        return config
    copy = workdir / "config"
    shutil.copytree(config, copy)
    write_cameras(copy, load_hierarchy(copy), per_community or 2)
    return copy


@dataclass(slots=True)
class CameraRun:
    result: LoadResult
    missing: int
    lines: dict[str, int]

    @property
    def detections_per_s(self) -> float:
        return self.result.acknowledged_per_s


def measure_camera(
    config: Path, workdir: Path, clients: int, requests: int, seconds: float, processes: int = 1
) -> CameraRun:
    """Start ``whistle serve`` on ``config`` and load its camera feed; stops it after."""
    config = camera_config(config, workdir)
    hierarchy = load_hierarchy(config)
    cameras = sorted(load_cameras(config, hierarchy))
    if not cameras:
        raise SystemExit(f"{config}: no cameras configured")
    server = start_whistle(config, workdir, "camera")
    run = datetime.now(CHINA).strftime("%H%M%S")
    try:
        token = server.create_token(
            "integration", hierarchy.root, source="camera", label="bench camera feed"
        )
        result = run_load(
            server.url,
            camera_posts(cameras, token, run),
            clients=clients,
            requests=requests,
            seconds=seconds,
            acknowledged=acknowledged_lines(run),
            processes=processes,
        )
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGTERM)
    lines = dict.fromkeys(STORED, 0)
    for line in result.acknowledged:
        status = line.split("\t", 1)[0]
        lines[status] += 1
    return CameraRun(result, missing_detections(server.db, result.acknowledged), lines)


def rows_for(size: Size, run: CameraRun) -> list[Row]:
    result = run.result
    clients = f"{size.clients} clients × {PER_REQUEST} detections"
    sent = result.sent * PER_REQUEST
    not_stored = sent - len(result.acknowledged)
    counts = ", ".join(f"{k} {v:,}" for k, v in run.lines.items())
    return [
        Row(SECTION, f"detections/s ({clients})", run.detections_per_s, "detections/s",
            "≥ 50,000/s", run.detections_per_s >= 50_000, counts),
        Row(SECTION, f"batch requests/s ({clients})", result.requests_per_s, "req/s"),
        Row(SECTION, "batch p50 latency", result.ms(0.50), "ms"),
        Row(SECTION, "batch p99 latency", result.ms(0.99), "ms"),
        Row(SECTION, "detections sent but not stored (error lines, failed requests)",
            not_stored, "", "0", not_stored == 0),
        Row(SECTION, "acknowledged but missing from the database", run.missing, "", "0",
            run.missing == 0, "each as a whistle or as a case.repeated event"),
    ]  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--clients", type=int, help="concurrent clients (default: by size)")
    p.add_argument("--processes", type=int, default=1, help="client processes (1 or 2)")
    args = p.parse_args()
    size = SIZES.get(args.size, SIZES["full"])  # nothing larger: large runs full
    if args.clients:
        size = Size(args.clients, size.requests, size.seconds)
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var", prefix="bench-camera-") as tmp:
        run = measure_camera(
            args.config, Path(tmp), size.clients, size.requests, size.seconds, args.processes
        )
    details: dict[str, Any] = {
        "size": {"clients": size.clients, "requests": size.requests, "seconds": size.seconds},
        "per_request": PER_REQUEST,
        "load": run.result.summary(),
        "lines": run.lines,
        "acknowledged_missing": run.missing,
    }
    write_report(args.json, SECTION, args.size, rows_for(size, run), details)
    if run.missing:
        raise SystemExit(f"{run.missing} acknowledged detections are missing from the database")


if __name__ == "__main__":
    main()
