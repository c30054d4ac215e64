"""Helpers for tests and benchmarks that need `whistle serve` as a real process."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``whistle serve`` in a child process, on a free port, logging to ``log``.

    ``start()`` returns once ``/readyz`` answers 200 (the config is loaded and the database
    open); it raises RuntimeError, with the end of the log, if the process exits first.
    """

    def __init__(
        self, db: Path, config: Path, log: Path, *, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.db, self.config, self.log = db, config, log
        self.extra_args = extra_args
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"ServerProcess({self.url!r}, db={str(self.db)!r})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, ready_within: float = 60.0) -> None:
        command = [
            sys.executable, "-m", "whistle.cli", "serve", "--port", str(self.port),
            "--db", str(self.db), "--config", str(self.config), *self.extra_args,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            # Popen only spawns (no waiting); readiness is polled over HTTP below.
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)  # noqa: ASYNC220
        async with asyncio.timeout(ready_within), aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {tail}")
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)

    def create_token(self, role: str, scope: str | None, **extra: str) -> str:
        """A token from ``whistle token create`` against this server's database."""
        command = [
            sys.executable, "-m", "whistle.cli", "token", "create", "--db", str(self.db),
            "--config", str(self.config), "--role", role,
        ]  # fmt: skip
        if scope is not None:
            command += ["--scope", scope]
        for name, value in extra.items():
            command += [f"--{name}", value]
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
        return done.stdout.strip()

    def signal(self, sig: int = signal.SIGTERM, *, timeout: float = 60.0) -> int:
        """Send ``sig`` and return the exit code."""
        assert self.proc is not None, "not started"
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Kill the process if it still runs (for test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
