"""12345 hotline import: the CLI against a database file, the operators' upload page with its
CSRF token, idempotent re-imports, and per-row errors named by their row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
import pytest

from grids import Hierarchy, Level
from tests.support.feeds import feeds_config
from tests.support.harness import Live
from tests.support.hotline import HEADER, import_cli, tickets
from tests.support.pages import add_user, hidden_csrf, log_in
from whistle.auth import Role
from whistle.exceptions import HotlineConfigError
from whistle.integrations.hotline import load_hotline_categories
from whistle.web.keys import LIVE

SHIPPED = Path(__file__).resolve().parents[3] / "config"


def whistles(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM whistles").fetchone()[0])


def test_cli_import_twice_creates_each_ticket_once(
    tmp_path: Path, county_dir: Path, county: Hierarchy
) -> None:
    config = feeds_config(tmp_path, county_dir)
    csv = tmp_path / "12345.csv"
    csv.write_text(tickets(county), encoding="utf-8-sig")  # with a BOM, as Excel writes
    db = tmp_path / "import.sqlite3"

    first = import_cli(csv, db, config)
    assert first.returncode == 0, first.stderr
    assert "4 rows: created 2, skipped duplicates 0, errors 2" in first.stdout
    assert "row 5 (T003): 诉求类别: unknown hotline category '外星人来访'" in first.stdout
    assert "row 6 (T004): 来电时间: unreadable time '昨天'" in first.stdout
    assert "网格: give 网格, 纬度 and 经度, or 事发地址" in first.stdout
    assert whistles(db) == 2

    again = import_cli(csv, db, config)
    assert again.returncode == 0, again.stderr
    assert "created 0, skipped duplicates 2, errors 2" in again.stdout
    assert whistles(db) == 2


def test_cli_reads_gb18030_and_refuses_a_wrong_header(
    tmp_path: Path, county_dir: Path, county: Hierarchy
) -> None:
    config = feeds_config(tmp_path, county_dir)
    db = tmp_path / "import.sqlite3"
    csv = tmp_path / "gbk.csv"
    csv.write_bytes(tickets(county).encode("gb18030"))
    done = import_cli(csv, db, config)
    assert done.returncode == 0, done.stderr
    assert "created 2" in done.stdout

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,time\n1,2\n", encoding="utf-8")
    refused = import_cli(wrong, db, config)
    assert refused.returncode == 1
    assert "wrong header" in refused.stdout
    missing = import_cli(tmp_path / "absent.csv", db, config)
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr


async def test_upload_page_imports_once_and_needs_csrf(feeds_live: Live, county: Hierarchy) -> None:
    live = feeds_live
    await add_user(live, "op", Role.OPERATOR, county.root)
    assert (await log_in(live.client, "op")).status == 303
    page = await live.client.get("/hotline")
    assert page.status == 200
    html = await page.text()
    csrf = hidden_csrf(html)
    assert 'enctype="multipart/form-data"' in html
    data = tickets(county).encode()

    def form(token: str | None) -> aiohttp.FormData:
        payload = aiohttp.FormData()
        if token is not None:
            payload.add_field("csrf_token", token)
        payload.add_field("file", data, filename="12345.csv", content_type="text/csv")
        return payload

    refused = await live.client.post("/hotline", data=form(None))
    assert refused.status == 403
    forged = await live.client.post("/hotline", data=form("forged"))
    assert forged.status == 403

    first = await live.client.post("/hotline", data=form(csrf))
    assert first.status == 200
    text = await first.text()
    assert "4 rows: created 2, skipped duplicates 0, errors 2" in text
    assert 'data-row="5" data-status="error"' in text
    assert "unknown hotline category &#39;外星人来访&#39;" in text  # escaped
    _, listed = await live.get("/api/v1/whistles?source=citizen")
    assert {item["external_id"] for item in listed["items"]} == {"T001", "T002"}
    by_ticket = {item["external_id"]: item for item in listed["items"]}
    assert by_ticket["T001"]["category"]["code"] == "E0101"
    assert by_ticket["T001"]["reporter"] == "张先生"
    assert by_ticket["T002"]["category"]["code"] == "E0403"

    again = await live.client.post("/hotline", data=form(csrf))
    assert "created 0, skipped duplicates 2, errors 2" in await again.text()
    _, listed = await live.get("/api/v1/whistles?source=citizen")
    assert len(listed["items"]) == 2


async def test_upload_page_is_for_operators(feeds_live: Live, county: Hierarchy) -> None:
    live = feeds_live
    page = await live.client.get("/hotline", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/login")
    grid = next(county.cells(level=Level.GRID))
    await add_user(live, "worker", Role.REPORTER, grid.code)
    await log_in(live.client, "worker")
    assert (await live.client.get("/hotline")).status == 403


def test_hotline_category_table_problems_name_the_line(tmp_path: Path, county: Hierarchy) -> None:
    from dispatch import load_dispatch_config

    catalog = load_dispatch_config(SHIPPED).catalog
    (tmp_path / "hotline_categories.csv").write_text(
        "hotline_category,category\n城管,E0101\n城管,E0102\n其他,X9999\n", encoding="utf-8"
    )
    with pytest.raises(HotlineConfigError) as caught:
        load_hotline_categories(tmp_path, catalog)
    text = str(caught.value)
    assert "hotline_categories.csv:3: 城管: duplicate; first defined on line 2" in text
    assert "hotline_categories.csv:4: 其他: unknown category 'X9999'" in text


async def test_shipped_hotline_categories_map_into_the_catalog(feeds_live: Live) -> None:
    mapping = load_hotline_categories(SHIPPED, feeds_live.app[LIVE].catalog)
    assert mapping["城市管理-垃圾清运"] == "E0101"


EXPORT = Path(__file__).resolve().parents[2] / "data" / "hotline" / "12345-export-address-only.csv"


async def test_an_export_with_addresses_and_no_points_is_placed_or_held(
    feeds_live: Live, county: Hierarchy
) -> None:
    live = feeds_live
    await add_user(live, "op", Role.OPERATOR, county.root)
    assert (await log_in(live.client, "op")).status == 303
    csrf = hidden_csrf(await (await live.client.get("/hotline")).text())
    payload = aiohttp.FormData()
    payload.add_field("csrf_token", csrf)
    payload.add_field("file", EXPORT.read_bytes(), filename="12345.csv", content_type="text/csv")
    answer = await live.client.post("/hotline", data=payload)
    assert answer.status == 200
    assert "2 rows: created 2, skipped duplicates 0, errors 0" in await answer.text()

    _, listed = await live.get("/api/v1/whistles?source=citizen")
    by_ticket = {item["external_id"]: item for item in listed["items"]}
    placed = by_ticket["YN20261120000731"]
    assert placed["status"] == "dispatched"
    assert placed["grid"]["code"] == "530524101001003002"  # 田园文化路2号 in places.csv
    assert placed["placement"]["by"] == "gazetteer"
    assert placed["placement"]["entry"] == "田园文化路2号"
    assert placed["location"]["address"] == "云南省保山市昌宁县田园镇田园文化路2号3单元"
    assert placed["assignments"]
    held = by_ticket["YN20261120000788"]
    assert held["status"] == "unplaced"  # never refused, never guessed: 待定位
    assert held["grid"]["code"] == county.root
    assert held["assignments"] == []
    assert held["placement"]["reason"] == "only 昌宁县 (县) is known"


def test_an_export_without_the_address_column_still_reads_and_a_short_row_is_named(
    tmp_path: Path, county_dir: Path, county: Hierarchy
) -> None:
    config = feeds_config(tmp_path, county_dir)
    db = tmp_path / "whistle.sqlite3"
    grid = next(county.cells(level=Level.GRID)).code
    csv_file = tmp_path / "old.csv"
    csv_file.write_text(
        f"{HEADER}\nT1,,城市管理-垃圾清运,垃圾,{grid},,,\nT2,,城市管理-垃圾清运,少一列,,,\n",
        encoding="utf-8",
    )
    done = import_cli(csv_file, db, config)
    assert "2 rows: created 1, skipped duplicates 0, errors 1" in done.stdout, done.stdout
    assert "expected 8 fields (9 with 事发地址), got 7" in done.stdout


def test_the_cli_places_addresses_by_the_aliases_too(tmp_path: Path, county_dir: Path) -> None:
    config = feeds_config(tmp_path, county_dir)
    db = tmp_path / "import.sqlite3"
    done = import_cli(EXPORT, db, config)
    assert "2 rows: created 2, skipped duplicates 0, errors 0" in done.stdout, done.stderr
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT external_id, status || ' ' || grid_code FROM whistles"))
    assert rows == {
        "YN20261120000731": "dispatched 530524101001003002",  # 田园文化路2号, an alias
        "YN20261120000788": "unplaced 530524",
    }
