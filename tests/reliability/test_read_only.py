"""The database's filesystem turns read-only under a running server.

How: the database lives on a small ext4 image the test makes and loop-mounts with
``errors=remount-ro``; ``/sys/fs/ext4/<dev>/trigger_fs_error`` then makes the kernel put the
filesystem into emergency read-only mode, as it does after a real I/O error, with the server's
files open. (``mount -o remount,ro`` cannot do it: Linux refuses with EBUSY while a process
holds a file open for writing, which a running SQLite always does; and ``chmod`` does not
touch descriptors already open.)

What must hold: intake answers 503 with Retry-After and a clear message, within the busy
timeout (never a 500, never a hang); every whistle acknowledged before reads back; SIGTERM
still exits 0. The kernel never lets an emergency read-only filesystem become writable again
in place (remount rw is refused until it is unmounted and checked), so "the fault clears"
means: the server stops, the filesystem is checked and mounted again. While it is mounted
read-only, ``whistle serve`` refuses to start with a clear message (SQLite cannot even read a
WAL database it cannot write the shared-memory file of); once it is writable again, the
restarted server has every acknowledged whistle and takes new ones.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from grids import Hierarchy
from tests.support.reliability import NO_LIMITS, body, check_log, stored_ids
from whistle.testing import ServerProcess

pytestmark = pytest.mark.reliability

IN_CI = os.environ.get("CI") == "true"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


class Ext4Disk:
    """A 16 MiB ext4 image, loop-mounted at ``mountpoint`` (root only)."""

    def __init__(self, image: Path, mountpoint: Path) -> None:
        self.image, self.mountpoint = image, mountpoint

    def mount(self, *options: str) -> subprocess.CompletedProcess[str]:
        opts = ",".join(("loop", "errors=remount-ro", *options))
        return _run("mount", "-o", opts, str(self.image), str(self.mountpoint))

    def umount(self) -> None:
        _run("umount", str(self.mountpoint))

    @property
    def device(self) -> str:
        """``loopN``: the name of the mounted filesystem under /sys/fs/ext4."""
        for line in Path("/proc/mounts").read_text().splitlines():
            source, target = line.split()[:2]
            if target == str(self.mountpoint):
                return Path(source).name
        raise AssertionError(f"{self.mountpoint} is not mounted")

    def fail(self) -> None:
        """Make the kernel see a filesystem error: emergency read-only, files still open."""
        Path(f"/sys/fs/ext4/{self.device}/trigger_fs_error").write_text("whistle test\n")

    def check(self) -> None:
        done = _run("e2fsck", "-fy", str(self.image))
        assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: errors corrected


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[Ext4Disk]:
    if os.geteuid() != 0:
        pytest.skip("the read-only test loop-mounts an ext4 image and needs root")
    missing = [tool for tool in ("mkfs.ext4", "e2fsck", "losetup") if shutil.which(tool) is None]
    disk = Ext4Disk(tmp_path / "disk.img", tmp_path / "disk")
    disk.mountpoint.mkdir()
    problem = f"missing {', '.join(missing)}" if missing else ""
    if not problem:
        with disk.image.open("wb") as image:
            image.truncate(16 * 1024 * 1024)
        done = _run("mkfs.ext4", "-q", "-F", str(disk.image))
        done = done if done.returncode else disk.mount()
        problem = done.stderr.strip() if done.returncode else ""
    if problem:
        if IN_CI:
            pytest.fail(f"cannot make a loop-mounted ext4 as root: {problem}")
        pytest.skip(f"cannot make a loop-mounted ext4: {problem}")
    try:
        yield disk
    finally:
        _run("umount", "-l", str(disk.mountpoint))


async def post(
    session: aiohttp.ClientSession, url: str, token: str, n: int, county: Hierarchy
) -> tuple[int, dict[str, str], Any]:
    async with session.post(
        f"{url}/api/v1/whistles",
        json=body(county, n),
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"ro-{n}"},
    ) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


async def test_read_only_filesystem_gives_503_keeps_every_201_and_recovers_after_a_check(
    tmp_path: Path, county_dir: Path, county: Hierarchy, ext4_disk: Ext4Disk
) -> None:
    server = ServerProcess(
        ext4_disk.mountpoint / "whistle.sqlite3",
        county_dir,
        tmp_path / "server.log",
        extra_args=NO_LIMITS,
    )
    try:
        await server.start()
        token = server.create_token("operator", county.root)
        auth = {"Authorization": f"Bearer {token}"}
        acked: list[str] = []
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(
                *(post(session, server.url, token, n, county) for n in range(30))
            )
            for status, _, doc in answers:
                assert status == 201, doc
                acked.append(doc["id"])

            ext4_disk.fail()

            # Writes: a clear 503 with Retry-After, one after another, each within the busy
            # timeout. Never a 500, never a hang.
            for n in range(30, 40):
                started = time.monotonic()
                async with asyncio.timeout(15):
                    status, headers, doc = await post(session, server.url, token, n, county)
                assert status == 503, doc
                assert time.monotonic() - started < 10
                assert int(headers["Retry-After"]) >= 1
                assert doc["title"] == "Storage unavailable"
                assert "nothing was stored" in doc["detail"]
            # Not ready (readyz takes a write), and says so rather than hanging.
            async with asyncio.timeout(15), session.get(f"{server.url}/readyz") as response:
                assert response.status == 503
            # Reads: every acknowledged whistle is still there.
            for whistle_id in acked:
                async with session.get(
                    f"{server.url}/api/v1/whistles/{whistle_id}", headers=auth
                ) as response:
                    assert response.status == 200
                    assert (await response.json())["id"] == whistle_id
        assert server.signal(signal.SIGTERM, timeout=20) == 0

        # The filesystem cannot go back to read-write in place: unmount, check, and mount it
        # read-only first. The server refuses to start, saying why, and quickly.
        ext4_disk.umount()
        ext4_disk.check()
        done = ext4_disk.mount("ro")
        assert done.returncode == 0, done.stderr
        with pytest.raises(RuntimeError, match="cannot start"):
            await server.start(ready_within=30)
        assert server.proc is not None
        assert server.proc.returncode == 2

        # Writable again: the restarted server has every acknowledged whistle, takes new ones.
        ext4_disk.umount()
        done = ext4_disk.mount()
        assert done.returncode == 0, done.stderr
        await server.start()
        assert set(acked) <= set(stored_ids(server.db))
        async with aiohttp.ClientSession() as session:
            status, _, doc = await post(session, server.url, token, 40, county)
            assert status == 201, doc
        assert server.signal(signal.SIGTERM, timeout=20) == 0
        assert sorted(stored_ids(server.db)) == sorted([*acked, doc["id"]])
        check_log(server.db)
    finally:
        server.stop()
