"""``--db``: a SQLite path or URL opens the store in one place; anything else says why."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.support.harness import new_whistle
from whistle.bus import Bus
from whistle.cli import main
from whistle.exceptions import StoreUrlError
from whistle.store import StoreUrl, open_store


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ("var/whistle.sqlite3", Path("var/whistle.sqlite3")),
        ("/srv/whistle/db.sqlite3", Path("/srv/whistle/db.sqlite3")),
        ("sqlite:///srv/whistle/db.sqlite3", Path("/srv/whistle/db.sqlite3")),
        ("SQLite:///srv/db.sqlite3", Path("/srv/db.sqlite3")),
        ("sqlite:///srv/my%20db.sqlite3", Path("/srv/my db.sqlite3")),
        ("data:2026.sqlite3", Path("data:2026.sqlite3")),  # a colon alone makes no URL
    ],
)
def test_a_path_or_a_sqlite_url_names_the_file(given: str, path: Path) -> None:
    assert StoreUrl.parse(given) == StoreUrl("sqlite", path)


def test_a_postgresql_url_is_kept_whole_for_the_driver_and_out_of_the_repr() -> None:
    url = StoreUrl.parse("postgresql://whistle:s3cret@db:5433/whistle?sslmode=require")
    assert url.backend == "postgresql"
    assert url.dsn == "postgresql://whistle:s3cret@db:5433/whistle?sslmode=require"
    assert "s3cret" not in repr(url)
    assert StoreUrl.parse("postgres://db/whistle").backend == "postgresql"


def test_a_path_object_is_a_sqlite_file() -> None:
    assert StoreUrl.parse(Path("w.sqlite3")) == StoreUrl("sqlite", Path("w.sqlite3"))


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("mysql://whistle:s3cret@db/whistle", "unknown database scheme 'mysql'"),
        ("postgresql://whistle:s3cret@/whistle", "names its host"),
        ("postgresql://whistle:s3cret@db", "names no database"),
        ("sqlite://dbhost/whistle.sqlite3", "not a host ('dbhost')"),
        ("sqlite:///srv/db.sqlite3?mode=ro", "no ?options"),
        ("sqlite:///", "names no file"),
        ("", "no database given"),
    ],
)
def test_a_location_no_backend_takes_is_refused_with_the_reason(given: str, reason: str) -> None:
    with pytest.raises(StoreUrlError) as refused:
        StoreUrl.parse(given)
    assert reason in str(refused.value)
    assert "s3cret" not in str(refused.value)  # a URL's password never reaches a log


async def test_a_sqlite_url_and_its_plain_path_open_the_same_store(tmp_path: Path) -> None:
    db = tmp_path / "one.sqlite3"
    store = await open_store(f"sqlite://{db}", Bus())  # tmp_path is absolute: sqlite:///...
    await store.create_whistle(new_whistle(1))
    await store.close()
    assert db.exists()
    store = await open_store(db, Bus())
    try:
        assert await store.get_whistle(new_whistle(1).whistle.id) is not None
    finally:
        await store.close()


async def test_open_store_refuses_an_unknown_scheme_before_touching_anything(
    tmp_path: Path,
) -> None:
    with pytest.raises(StoreUrlError, match="mysql"):
        await open_store("mysql://db/whistle", Bus())


@pytest.mark.parametrize(
    "command",
    [["serve"], ["token", "list"], ["import-hotline", "calls.csv"]],
)
def test_the_command_line_names_db_and_why_for_an_unknown_scheme(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--db", "mysql://whistle:s3cret@db/whistle"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --db: unknown database scheme 'mysql'" in err
    assert "postgresql://" in err
    assert "s3cret" not in err


async def _cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whistle.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_token_made_through_a_sqlite_url_is_listed_through_the_path(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cli.sqlite3"
    code, _, err = await _cli(
        "token", "create", "--db", f"sqlite://{db}", "--role", "admin", "--label", "url",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = await _cli("token", "list", "--db", str(db))
    assert code == 0, err
    assert out.rstrip().endswith("\turl")
    assert "admin" in out
