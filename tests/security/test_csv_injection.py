"""CSV injection: a name that starts like a spreadsheet formula (``=``, ``+``, ``-``, ``@``,
tab, carriage return) leaves the statistics CSV exports as text, prefixed with a single
quote, so that Excel shows it instead of running it.

The names in the exports come from the configuration (cells, responders, categories), so the
probe's county has formula names: two towns, a community, two grid party members and a 大类.
Every export is read back with the csv module: no text cell may start like a formula.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from grids import Level, ResponderKind
from grids.loader import load_hierarchy
from tests.support.feeds import feeds_config
from tests.support.formulas import (
    COMMUNITY,
    EXPORTS,
    MAJOR,
    MEMBER,
    NAMES,
    TOWN_A,
    TOWN_B,
    UNPOSTED,
)
from tests.support.probe import AWAY, CAST, COMMITTEE, HOME, Call, Probe, open_probe
from whistle.stats import BREAKDOWN_METRICS, csv_table

shared_loop = pytest.mark.asyncio(loop_scope="module")

FORMULA = re.compile(r"^[=+\-@\t\r]")


def formula_county(tmp: Path, county_dir: Path) -> Path:
    """The probe's county with formula names (the names only: codes and shape are the same)."""
    config = feeds_config(tmp, county_dir)
    county = load_hierarchy(config)
    towns = list(county.cells(level=Level.TOWN))
    micro = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(towns[0].code))
    community = county.at_level(micro.code, Level.COMMUNITY)
    grid = county.at_level(micro.code, Level.GRID)
    cells = {towns[0].code: TOWN_A, towns[1].code: TOWN_B, community.code: COMMUNITY}
    people = {
        county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0].id: MEMBER,
        county.responders_at(grid.code, ResponderKind.UNPOSTED_MEMBER)[0].id: UNPOSTED,
    }
    _rename(config / "grids.csv", "code", cells)
    _rename(config / "responders.csv", "id", people)
    catalog = config / "categories.toml"
    text = catalog.read_text(encoding="utf-8")
    major = tomllib.loads(text)["major"][0]
    assert major["code"] == "E01"
    catalog.write_text(
        text.replace(f'name = "{major["name"]}"', f"name = {_toml(MAJOR)}", 1), encoding="utf-8"
    )
    return config


def _rename(path: Path, key: str, names: dict[str, str]) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["name"] = names.get(row[key], row["name"])
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    tmp = tmp_path_factory.mktemp("csv")
    county_copy = tmp / "county"
    shutil.copytree(county_dir, county_copy)
    config = formula_county(tmp / "with-cameras", county_copy)
    async with open_probe(tmp, county_copy, config=config) as p:
        # A case in each town (the places tables list cells with cases), reported in (报到)
        # by both of town A's grid party members (the responders table lists who answered).
        doc = await p.case()
        for assignment in doc["assignments"][:2]:
            await p.respond(assignment, "acknowledge")
        await p.case(location={"grid": p.micro(AWAY)})
        yield p


def cells(body: bytes) -> list[str]:
    text = body.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@shared_loop
async def test_formula_names_leave_every_export_as_text(probe: Probe) -> None:
    committee = next(w for w in CAST if w.name == COMMITTEE)  # town A's committee
    community = probe.county.at_level(probe.micro(), Level.COMMUNITY).code
    grids = {"county": probe.county.root, "town A": probe.towns[HOME], "community": community}
    seen: set[str] = set()
    problems = []
    for table, where in EXPORTS:
        # The county's exports are an admin's; the committee reads its town and below.
        who = next(w for w in CAST if w.name == "admin") if where == "county" else committee
        path = f"/api/v1/stats/{table}.csv?grid={grids[where]}"
        answer = await probe.send(who, Call("GET", path))
        assert answer.status == 200, (path, answer.text[:200])
        for cell in cells(answer.body):
            if FORMULA.match(cell) and not _is_number(cell):
                problems.append(f"{table} ({where}): {cell!r} starts like a formula")
            if cell.startswith("'") and cell[1:] in NAMES:
                seen.add(cell[1:])
    assert not problems, "\n".join(problems)
    # Every formula name was in some export (as text), so the check above had work to do.
    assert seen == set(NAMES), set(NAMES) - seen


def test_tab_and_carriage_return_prefixes_are_neutralised_too() -> None:
    """A name read from the configuration is stripped, so these two reach the writer only
    from elsewhere: the writer neutralises them all the same."""
    row = {"key": "\t=1+1", "name": "\r=1+1", **dict.fromkeys(BREAKDOWN_METRICS, 0)}
    written = cells(csv_table({"sources": [row]}, "sources"))
    assert "'\t=1+1" in written
    assert "'\r=1+1" in written
    assert not [c for c in written if FORMULA.match(c)]
