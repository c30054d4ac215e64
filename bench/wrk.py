"""A second opinion on the load: Debian's ``wrk`` (C, one event loop per thread) posting the
same whistles as bench/load.py, so that a Python client that is itself the bottleneck is not
mistaken for the server.

``ensure()`` installs wrk with apt-get when it is missing and we are root (as ``make test``
installs Chromium); otherwise the intake section says it could not compare. The bodies go to
wrk in a Lua script, one request each in turn.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkResult", "ensure", "run_wrk"]


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What wrk measured: answers per second (all, and the non-2xx among them) and p99."""

    requests_per_s: float
    requests: int
    non_2xx: int
    seconds: float
    p99_ms: float | None

    @property
    def ok_per_s(self) -> float:
        """2xx answers per second."""
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0


def ensure() -> str | None:
    """The path of wrk, installing it when missing and root; None if there is none."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
            return None
    return shutil.which("wrk")


def _lua(path: str, bodies: list[bytes], headers: dict[str, str]) -> str:
    def quote(text: str) -> str:
        return "[==[" + text + "]==]"

    lines = ['wrk.method = "POST"']
    # The spaces matter: ``headers[[==[`` would open a long string, not an index.
    lines += [f"wrk.headers[ {quote(k)} ] = {quote(v)}" for k, v in headers.items()]
    lines.append("local bodies = {")
    lines += [f"  {quote(b.decode())}," for b in bodies]
    lines += [
        "}",
        "local i = 0",
        "request = function()",
        "  i = i + 1",
        f"  return wrk.format(nil, {quote(path)}, nil, bodies[(i % #bodies) + 1])",
        "end",
    ]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _parse(text: str, seconds: float) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)", text, re.MULTILINE)
    if rate is None or total is None:
        raise RuntimeError(f"wrk said nothing we can read:\n{text}")
    took = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    return WrkResult(
        requests_per_s=float(rate.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non.group(1)) if non else 0,
        seconds=took or seconds,
        p99_ms=None if p99 is None else float(p99.group(1)) * _UNITS[p99.group(2)],
    )


def run_wrk(
    wrk: str,
    url: str,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    *,
    clients: int,
    seconds: float,
    threads: int = 2,
) -> WrkResult:
    """Post ``bodies`` in turn to ``url + path`` with ``clients`` connections for
    ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(path, bodies, headers))
    try:
        out = subprocess.run(
            [wrk, f"-t{min(threads, clients)}", f"-c{clients}", f"-d{max(1, int(seconds))}s",
             "--latency", "-s", script.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        )  # fmt: skip
    finally:
        Path(script.name).unlink(missing_ok=True)
    if out.stderr.strip():  # a script error: wrk would have sent GET / all along
        raise RuntimeError(f"wrk: {out.stderr.strip()}")
    return _parse(out.stdout, seconds)
