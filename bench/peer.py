"""Peer section: Prometheus Alertmanager and whistle take the same events, in one run.

Alertmanager (Debian's ``prometheus-alertmanager``, installed here when missing and we are
root) runs on loopback without clustering, with a routing tree built from the county's towns:
one route per town code, matched on the ``town`` label, each to a webhook receiver (a real
aiohttp server on loopback, run by this script, that counts deliveries). The same client
(bench/load.py) posts to ``POST /api/v2/alerts``:

- single: the intake section's whistles, one alert per request (labels alertname=category,
  town, grid, source; annotation description), at the intake's concurrency;
- batch: the camera section's detections, 100 alerts per request, at the camera's
  concurrency.

In the same run whistle takes the same events (bench/intake.py's pipeline and
bench/camera.py's feed), and the rows give events/s of both and the ratios whistle /
Alertmanager. Alertmanager keeps alerts in memory; whistle writes each whistle to disk
(fsync'd group commit) before it answers.

If Alertmanager is missing and cannot be installed, the section reports one row "skipped:
<reason>" and exits 0.

    python bench/peer.py [--size tiny|full] [--json PATH] [--config DIR]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import camera  # noqa: E402
import intake  # noqa: E402
from common import Row, parser, wait_ready, write_report  # noqa: E402
from load import LoadResult, Post, run_load  # noqa: E402

from grids import Hierarchy, Level  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402
from whistle.integrations.feeds import CAMERA_EVENTS, load_cameras  # noqa: E402
from whistle.testing import free_port  # noqa: E402

SECTION = "peer"
BINARIES = ("alertmanager", "prometheus-alertmanager")
IN_MEMORY = (
    "Alertmanager keeps alerts in memory; whistle writes each whistle to disk "
    "(fsync'd group commit) before it answers"
)


@dataclass(frozen=True, slots=True)
class Size:
    single_clients: int
    batch_clients: int
    requests: int
    seconds: float
    points: int


SIZES = {
    "tiny": Size(single_clients=4, batch_clients=4, requests=40, seconds=10.0, points=50),
    "full": Size(single_clients=64, batch_clients=16, requests=40_000, seconds=8.0, points=2_000),
}


# -- Alertmanager ---------------------------------------------------------------------------


def alertmanager_binary() -> tuple[str | None, str]:
    """The binary's path, installing Debian's package if we may; else None and why not."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found, ""
    if os.geteuid() != 0:
        return None, "prometheus-alertmanager not installed and not root to install it"
    if shutil.which("apt-get") is None:
        return None, "prometheus-alertmanager not installed and no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "prometheus-alertmanager"],
            check=True,
            env=env,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not install prometheus-alertmanager: {exc}"
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found, ""
    return None, "prometheus-alertmanager installed but no binary on PATH"


def alertmanager_config(towns: list[str], hook_port: int) -> dict[str, Any]:
    """A routing tree with one route per town (label ``town``), each to its own webhook."""

    def receiver(name: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{hook_port}/hook/{name}"
        return {"name": name, "webhook_configs": [{"url": url, "send_resolved": False}]}

    return {
        "route": {
            "receiver": "county",
            "group_by": ["town", "alertname"],
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "4h",
            "routes": [
                {"matchers": [f'town="{town}"'], "receiver": f"town-{town}"} for town in towns
            ],
        },
        "receivers": [receiver("county"), *(receiver(f"town-{town}") for town in towns)],
    }


class Alertmanager:
    """Alertmanager as a child process on loopback, without clustering."""

    def __init__(self, binary: str, workdir: Path, config: dict[str, Any]) -> None:
        self.port = free_port()
        self.config_file = workdir / "alertmanager.yml"
        # JSON is YAML: the config is written without a YAML library.
        self.config_file.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
        self.command = [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        self.log = workdir / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 30.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=log)
        wait_ready(self.proc, f"{self.url}/-/ready", self.log, "alertmanager", ready_within)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class WebhookReceiver:
    """A real aiohttp server on loopback, in its own thread, counting Alertmanager's
    deliveries (webhook posts) and the alerts they carry."""

    def __init__(self) -> None:
        self.port = free_port()
        self.deliveries = 0
        self.alerts = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)

    async def _hook(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.deliveries += 1
        self.alerts += len(body.get("alerts", []))
        return web.Response(text="ok")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/hook/{receiver}", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("webhook receiver did not start")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


# -- the same events as alerts -----------------------------------------------------------------


def _alert(labels: dict[str, str], description: str) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {"description": description},
        "startsAt": datetime.now(UTC).isoformat(),
    }


def single_alerts(hierarchy: Hierarchy, points: list[dict[str, float]]) -> Callable[[int], Post]:
    """Request n: intake's whistle n as one alert (the same source, category and place)."""
    placed = []
    for point in points:
        cell = hierarchy.locate(point["lat"], point["lon"])
        assert cell is not None, f"{point} is in no cell"
        placed.append((hierarchy.at_level(cell.code, Level.TOWN).code, cell.code))
    headers = {"Content-Type": "application/json"}

    def make(n: int) -> Post:
        source, category = intake.SOURCES[n % len(intake.SOURCES)]
        town, grid = placed[(n * 7919) % len(points)]
        labels = {"alertname": category, "town": town, "grid": grid, "source": source}
        return Post("/api/v2/alerts", orjson.dumps([_alert(labels, f"bench #{n}")]), headers)

    return make


def batch_alerts(hierarchy: Hierarchy, config: Path, run: str) -> Callable[[int], Post]:
    """Request n: the camera section's 100 detections of request n as 100 alerts."""
    registry = load_cameras(config, hierarchy)
    cameras = sorted(registry)
    town_of = {cid: hierarchy.at_level(cam.grid, Level.TOWN).code for cid, cam in registry.items()}
    headers = {"Content-Type": "application/json"}

    def make(n: int) -> Post:
        alerts = [
            _alert(
                {
                    "alertname": CAMERA_EVENTS[d["event_type"]],
                    "town": town_of[d["camera_id"]],
                    "grid": registry[d["camera_id"]].grid,
                    "source": "camera",
                },
                f"{d['event_type']} at {d['camera_id']} ({d['detection_id']})",
            )
            for d in camera.detections(cameras, run, n)
        ]
        return Post("/api/v2/alerts", orjson.dumps(alerts), headers)

    return make


def accepted(per_request: int) -> Callable[[int, int, bytes], list[str]]:
    """Alertmanager answers 200 with no body: count each alert of a 200 as acknowledged."""

    def read(n: int, status: int, body: bytes) -> list[str]:
        return [f"{n}:{k}" for k in range(per_request)] if status == 200 else []

    return read


# -- the run ------------------------------------------------------------------------------------


@dataclass(slots=True)
class PeerRun:
    am_single: LoadResult
    am_batch: LoadResult
    whistle_single: LoadResult
    whistle_single_missing: int
    whistle_batch: camera.CameraRun
    deliveries: int
    delivered_alerts: int
    towns: int


def measure(binary: str, config: Path, workdir: Path, size: Size) -> PeerRun:
    hierarchy = load_hierarchy(config)
    config = camera.camera_config(config, workdir)
    towns = sorted(c.code for c in hierarchy.cells(level=Level.TOWN))
    root, points = intake.payload_points(config, size.points)
    receiver = WebhookReceiver()
    receiver.start()
    manager = Alertmanager(binary, workdir, alertmanager_config(towns, receiver.port))
    try:
        manager.start()
        am_single = run_load(
            manager.url,
            single_alerts(hierarchy, points),
            clients=size.single_clients,
            requests=size.requests,
            seconds=size.seconds,
            acknowledged=accepted(1),
        )
        am_batch = run_load(
            manager.url,
            batch_alerts(hierarchy, config, "am"),
            clients=size.batch_clients,
            requests=size.requests,
            seconds=size.seconds,
            acknowledged=accepted(camera.PER_REQUEST),
        )
        time.sleep(2)  # group_wait is 1 s: let the first deliveries reach the receiver
    finally:
        manager.stop()
        receiver.stop()
    single_size = intake.Size(size.single_clients, size.requests, size.seconds, size.points)
    whistle_single, missing = intake.measure_pipeline(
        config, workdir, points, root, single_size, processes=1
    )
    whistle_batch = camera.measure_camera(
        config, workdir, size.batch_clients, size.requests, size.seconds
    )
    return PeerRun(
        am_single, am_batch, whistle_single, missing, whistle_batch,
        receiver.deliveries, receiver.alerts, len(towns),
    )  # fmt: skip


def rows_for(size: Size, run: PeerRun) -> list[Row]:
    single = run.whistle_single.acknowledged_per_s
    am_single = run.am_single.acknowledged_per_s
    batch = run.whistle_batch.detections_per_s
    am_batch = run.am_batch.acknowledged_per_s
    missing = run.whistle_single_missing + run.whistle_batch.missing
    am_errors = run.am_single.errors({200}) + run.am_batch.errors({200})
    one = f"one per request, {size.single_clients} clients"
    hundred = f"100 per request, {size.batch_clients} clients"
    return [
        Row(SECTION, f"Alertmanager alerts/s ({one})", am_single, "alerts/s",
            note="in memory only"),
        Row(SECTION, f"whistle whistles/s ({one})", single, "whistles/s",
            note="each on disk before the 201"),
        Row(SECTION, "whistle / Alertmanager, single", single / am_single * 100 if am_single
            else 0.0, "%", note=IN_MEMORY),
        Row(SECTION, f"Alertmanager alerts/s ({hundred})", am_batch, "alerts/s",
            note="in memory only"),
        Row(SECTION, f"whistle camera detections/s ({hundred})", batch, "detections/s",
            note="each on disk before the answer"),
        Row(SECTION, "whistle / Alertmanager, batch of 100", batch / am_batch * 100 if am_batch
            else 0.0, "%", note=IN_MEMORY),
        Row(SECTION, "Alertmanager webhook deliveries during the run", run.deliveries, "",
            note=f"{run.delivered_alerts:,} alerts, {run.towns} town routes"),
        Row(SECTION, "Alertmanager answers other than 200", am_errors, "", "0", am_errors == 0),
        Row(SECTION, "whistle: acknowledged but missing from the database", missing, "", "0",
            missing == 0),
    ]  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "config")
    args = p.parse_args()
    size = SIZES.get(args.size, SIZES["full"])  # nothing larger: large runs full
    binary, why = alertmanager_binary()
    if binary is None:
        write_report(args.json, SECTION, args.size, [Row(SECTION, "Alertmanager peer",
                     f"skipped: {why}")], {"skipped": why})  # fmt: skip
        return
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var", prefix="bench-peer-") as tmp:
        run = measure(binary, args.config, Path(tmp), size)
    details = {
        "binary": binary,
        "alertmanager_single": run.am_single.summary(),
        "alertmanager_batch": run.am_batch.summary(),
        "whistle_single": run.whistle_single.summary(),
        "whistle_batch": run.whistle_batch.result.summary(),
        "whistle_batch_lines": run.whistle_batch.lines,
    }
    write_report(args.json, SECTION, args.size, rows_for(size, run), details)
    if run.whistle_single_missing or run.whistle_batch.missing:
        raise SystemExit("whistle acknowledged events that are missing from the database")


if __name__ == "__main__":
    main()
