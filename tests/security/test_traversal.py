"""Path traversal on the routes that serve files: ``/static/``, ``/media/`` and ``/vendor/``.

Each path is written on the wire byte for byte (no client tidies ``..`` or escapes away), with
a county-wide operator's credentials so that the answer is about the path, not the caller:
400, 403 or 404, never a file from outside the folder. What lies outside is known: the
package's own source, the project's files, the database beside the media folder, and
``/etc/passwd``; none of their contents may come back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.probe import CAST, OPERATOR, PNG, Call, Probe, open_probe
from whistle.web.field import NODE_MODULES, VENDOR

shared_loop = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]

# What each target file begins with: none of it may be in an answer.
SECRETS = {
    "app.py": (ROOT / "whistle" / "app.py").read_bytes()[:60],
    "pages.py": (ROOT / "whistle" / "web" / "pages.py").read_bytes()[:60],
    "package.json": (ROOT / "package.json").read_bytes()[:40],
    "database": b"SQLite format 3",
    "passwd": b"root:x:0:0",
}

# Ways to write "go up" and "start from the root".
UP = (
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",  # escaped twice
    "%c0%ae%c0%ae",  # overlong UTF-8 dots
    "..%00",
    "....",
    "..;",
)
SEPARATORS = ("/", "%2f", "%2F", "%5c", "\\", "%252f")

# (route prefix, how many levels up reach what, the target name, what it is)
PLACES = (
    ("/static/", 1, "pages.py", "pages.py"),  # whistle/web/static/../pages.py
    ("/static/", 2, "app.py", "app.py"),  # whistle/web/static/../../app.py
    ("/static/", 3, "package.json", "package.json"),
    ("/media/", 1, "whistle.sqlite3", "database"),  # the media folder sits beside the database
    ("/vendor/", 2, "package.json", "package.json"),  # node_modules/../package.json
    ("/vendor/", 1, "package.json", "package.json"),
)


def traversals() -> list[tuple[str, str]]:
    """(path, which secret it aims at) for every spelling of every climb."""
    paths = []
    for prefix, levels, name, secret in PLACES:
        for up in UP:
            for sep in SEPARATORS:
                paths.append((prefix + (up + sep) * levels + name, secret))
        paths.append((prefix + ("..%2f" * 8) + "etc%2fpasswd", "passwd"))
    # absolute paths and a drive-style root, as the whole name
    for prefix in ("/static/", "/media/", "/vendor/"):
        for absolute in ("/etc/passwd", "%2fetc%2fpasswd", "%2Fetc%2Fpasswd", "//etc/passwd"):
            paths.append((prefix + absolute, "passwd"))
        paths.append((prefix + "file:///etc/passwd", "passwd"))
        paths.append((prefix + "C:%5cWindows%5cwin.ini", "passwd"))
    # the same climbs without a prefix's own folder: straight from the root
    for up in UP[:3]:
        paths.append((f"/{up}/{up}/etc/passwd", "passwd"))
    return paths


TRAVERSALS = traversals()
TRAVERSAL_PROBES = len(TRAVERSALS)
REFUSED = frozenset({400, 403, 404})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("traversal"), county_dir) as p:
        yield p


@shared_loop
async def test_no_climb_out_of_a_file_folder_serves_a_file(probe: Probe) -> None:
    operator = next(w for w in CAST if w.name == OPERATOR)
    headers = await probe.headers(operator, Call("GET", "/"), b"")
    problems = []
    for path, secret in TRAVERSALS:
        answer = await probe.raw("GET", path, headers)
        leaked = [name for name, start in SECRETS.items() if start in answer.body]
        if answer.status not in REFUSED or leaked:
            problems.append(f"{path} ({secret}): {answer.status}, {leaked or answer.body[:80]!r}")
    assert not problems, "\n".join(problems)


@shared_loop
async def test_the_folders_serve_their_own_files(probe: Probe) -> None:
    """The refusals above are about the path: the same requests reach the files inside."""
    operator = next(w for w in CAST if w.name == OPERATOR)
    headers = await probe.headers(operator, Call("GET", "/"), b"")
    css = await probe.raw("GET", "/static/common.css", headers)
    assert css.status == 200
    assert css.body == (ROOT / "whistle" / "web" / "static" / "common.css").read_bytes()
    upload = await probe.send(operator, Call("POST", "/api/v1/media", raw=PNG))
    assert upload.status == 201, upload.text
    photo = await probe.raw("GET", upload.json()["url"], headers)
    assert (photo.status, photo.body) == (200, PNG)
    vendored = NODE_MODULES / VENDOR["echarts.min.js"]
    if vendored.is_file():  # installed by make install (npm)
        script = await probe.raw("GET", "/vendor/echarts.min.js", headers)
        assert script.status == 200
        assert len(script.body) == vendored.stat().st_size
