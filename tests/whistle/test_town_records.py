"""The town's rule for records (issue 14): each whistle records who filed it, the
authenticated principal, beside the free-text ``reporter``; a hotline import is filed by the
operator who uploaded it."""

from __future__ import annotations

import getpass
import json
import sqlite3
from pathlib import Path

import aiohttp

from grids import Hierarchy
from tests.support.feeds import feeds_config
from tests.support.harness import Live
from tests.support.hotline import import_cli, tickets
from tests.support.pages import add_user, hidden_csrf, log_in
from tests.support.requests import body
from whistle.auth import Role


async def test_a_whistle_records_the_token_that_filed_it_beside_the_free_text_reporter(
    live: Live, county: Hierarchy
) -> None:
    token = await live.token("reporter", scope=county.root)
    status, _, doc = await live.post(body(county, reporter="网格员王芳"), token=token)
    assert status == 201
    token_id = token.split("_")[1]
    expected = {"kind": "token", "id": f"token:{token_id}", "role": "reporter"}
    assert {k: doc["filed_by"][k] for k in expected} == expected
    assert doc["reporter"] == "网格员王芳"  # what the reporter typed, unchanged
    # Stored: read back, and on the log's first event.
    _, again = await live.get(f"/api/v1/whistles/{doc['id']}")
    assert again["filed_by"] == doc["filed_by"]
    received = again["timeline"][0]
    assert received["type"] == "whistle.received"
    assert received["data"]["filed_by"] == doc["filed_by"]


async def test_a_citizen_on_the_public_endpoint_is_filed_as_the_public(
    live: Live, county: Hierarchy
) -> None:
    citizen = body(county)
    del citizen["source"]
    response = await live.client.post("/api/v1/public/whistles", json=citizen)
    assert response.status == 201
    number = (await response.json())["case_number"]
    _, doc = await live.get(f"/api/v1/whistles/{number}")
    assert doc["filed_by"]["kind"] == "public"
    assert doc["filed_by"]["id"] is None


async def test_a_hotline_upload_is_filed_by_the_operator_who_uploaded_it(
    feeds_live: Live, county: Hierarchy
) -> None:
    live = feeds_live
    await add_user(live, "op-zhang", Role.OPERATOR, county.root)
    assert (await log_in(live.client, "op-zhang")).status == 303
    csrf = hidden_csrf(await (await live.client.get("/hotline")).text())
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", tickets(county).encode(), filename="12345.csv", content_type="text/csv")
    assert (await live.client.post("/hotline", data=form)).status == 200
    _, listed = await live.get("/api/v1/whistles?source=citizen")
    assert {item["external_id"] for item in listed["items"]} == {"T001", "T002"}
    for item in listed["items"]:
        assert item["filed_by"]["kind"] == "session"
        assert item["filed_by"]["id"] == "op-zhang"
        assert item["filed_by"]["role"] == "operator"
        assert item["reporter"] in ("张先生", "李女士")  # the caller, as the ticket names them
    # The case page shows it.
    page = await (await live.client.get(f"/cases/{listed['items'][0]['id']}")).text()
    assert "登记账号: op-zhang (operator)" in page


def test_a_hotline_import_from_the_command_line_is_filed_by_the_system_user(
    tmp_path: Path, county_dir: Path, county: Hierarchy
) -> None:
    config = feeds_config(tmp_path, county_dir)
    csv = tmp_path / "12345.csv"
    csv.write_text(tickets(county), encoding="utf-8")
    db = tmp_path / "import.sqlite3"
    done = import_cli(csv, db, config)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as raw:
        docs = [json.loads(row[0]) for row in raw.execute("SELECT doc FROM whistles")]
    assert len(docs) == 2
    assert {(d["filed_by"]["kind"], d["filed_by"]["id"]) for d in docs} == {
        ("cli", f"cli:{getpass.getuser()}")
    }
