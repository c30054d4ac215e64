"""The sample county's address aliases: derived from the hierarchy alone (``make sample``
writes what is shipped), all valid, and each one placing exactly its own cell."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from grids.gazetteer import Gazetteer, load_aliases
from grids.hierarchy import Hierarchy
from grids.loader import load_hierarchy
from grids.sample import generate_county
from grids.sample_places import place_rows, write_places

SHIPPED = Path(__file__).resolve().parents[2] / "config"


def small(tmp_path: Path) -> tuple[Path, Hierarchy]:
    generate_county(tmp_path, seed=11, towns=2, communities=4, grids=12, micro_grids=60)
    return tmp_path, load_hierarchy(tmp_path)


def test_the_shipped_aliases_are_what_make_sample_writes(tmp_path: Path) -> None:
    county = load_hierarchy(SHIPPED)
    assert write_places(tmp_path, county) == 5723
    assert (tmp_path / "places.csv").read_bytes() == (SHIPPED / "places.csv").read_bytes()


def test_aliases_are_unique_valid_and_place_their_own_cell(tmp_path: Path) -> None:
    config, county = small(tmp_path)
    write_places(config, county)
    aliases = load_aliases(config, county)
    assert [a.name for a in aliases] == [row[0] for row in place_rows(county)]
    assert Counter(a.kind.value for a in aliases) == {
        "landmark": 8,
        "village": 12,  # 3 villages: each its 寨 and a group per grid
        "street": 3,  # the one urban community's three grids
        "building": 15,
    }
    gazetteer = Gazetteer.build(county, aliases)
    for alias in aliases:
        found = gazetteer.place(f"{alias.name}附近")
        assert found.code == alias.grid, alias
        assert found.best is not None
        assert found.best.entry.kind == alias.kind.value


def test_a_text_that_would_name_two_places_is_left_out(tmp_path: Path) -> None:
    _, county = small(tmp_path)
    rows = place_rows(county)
    assert len({alias for alias, _, _ in rows}) == len(rows)
