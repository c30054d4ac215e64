"""Helpers for tests and benchmarks that need `whistle serve` as a real process."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

__all__ = ["ServerProcess", "free_port"]

# What `whistle serve` prints once its socket is bound (whistle/cli.py, _run).
SERVING = re.compile(rb"whistle: serving on http://[^\s:]+:(\d+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago.

    Racy by nature: the port is released before the caller binds it, and another process
    may take it in between. Only for children that cannot bind port 0 and say which port
    they got (the benches' Alertmanager and ceiling server); ``whistle serve`` can, and
    ServerProcess lets it.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``whistle serve`` in a child process, on a port of its own, logging to ``log``.

    The child binds port 0 and names the port it got in its serving line; ``start()`` reads
    it from the log (so no other process can take the port between choosing and binding)
    and then returns once ``/readyz`` answers 200 (the config is loaded and the database
    open). It raises RuntimeError, with the end of the log, if the process exits first.
    Each start binds afresh: ``port`` and ``url`` are those of the latest start.
    """

    def __init__(
        self,
        db: Path | str,
        config: Path,
        log: Path,
        *,
        extra_args: tuple[str, ...] = (),
        cwd: Path | None = None,
    ) -> None:
        # db: a SQLite file, or a postgresql:// URL (several servers may share one).
        self.db, self.config, self.log = db, config, log
        self.extra_args = extra_args
        # Where the child runs, and so which ``whistle`` it imports (``python -m`` puts the
        # working directory first on the path): a bench compares another checkout this way.
        self.cwd = cwd
        self.port: int | None = None  # known once started
        self.proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        where = self.url if self.port is not None else "not started"
        return f"ServerProcess({where!r}, db={str(self.db)!r})"

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("ServerProcess has no port before start()")
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, ready_within: float = 60.0) -> None:
        command = [
            sys.executable, "-m", "whistle.cli", "serve", "--port", "0",
            "--db", str(self.db), "--config", str(self.config), *self.extra_args,
        ]  # fmt: skip
        self.port = None
        # The log is appended to across restarts: look for this start's line only.
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            # Popen only spawns (no waiting); the port and readiness are polled below.
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                command, stdout=log, stderr=log, cwd=self.cwd
            )
        async with asyncio.timeout(ready_within), aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {tail}")
                if self.port is None:
                    self.port = self._bound_port(offset)
                if self.port is not None:
                    try:
                        async with session.get(f"{self.url}/readyz") as response:
                            if response.status == 200:
                                return
                    except aiohttp.ClientConnectionError:
                        pass
                await asyncio.sleep(0.05)

    def _bound_port(self, offset: int) -> int | None:
        """The port in this start's serving line, if the child printed it yet."""
        with self.log.open("rb") as log:
            log.seek(offset)
            found = SERVING.search(log.read())
        return int(found.group(1)) if found else None

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
        done = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=120, cwd=self.cwd
        )
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
