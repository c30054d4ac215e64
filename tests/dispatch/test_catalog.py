from __future__ import annotations

from pathlib import Path

import pytest

from dispatch import Catalog, CategoryType, DispatchConfigError, Duration, Urgency
from grids import ResponderKind

ROOT = Path(__file__).resolve().parents[2]

HEAD = """
[limit_classes]
emergency = "2h"
general = "7d"

[defaults]
limit = "general"
"""

MAJOR = """
[[major]]
code = "E01"
name = "市容环境"
name_en = "City appearance"
"""

ONE = (
    HEAD
    + MAJOR
    + """
[[major.category]]
code = "E0101"
name = "暴露垃圾"
name_en = "Exposed rubbish"
"""
)


def problems(text: str) -> list[str]:
    with pytest.raises(DispatchConfigError) as info:
        Catalog.from_toml(text)
    return [str(p) for p in info.value.problems]


def category(extra: str) -> str:
    """The one-category catalog with ``extra`` lines added to the category."""
    return ONE + extra


# -- the shipped catalog -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return Catalog.load(ROOT / "config" / "categories.toml")


def test_shipped_catalog_has_the_domain_majors(shipped: Catalog) -> None:
    majors = {major.code: major.name for major in shipped.majors()}
    assert majors == {
        "E01": "市容环境",
        "E02": "宣传广告",
        "E03": "施工管理",
        "E04": "街面秩序",
        "E05": "突发事件",
        "E06": "矛盾纠纷",
        "E07": "治安",
        "E08": "民生服务",
        "E09": "食品药品安全",
        "F01": "公用设施",
        "F02": "道路交通",
        "F03": "市容环境",
        "F04": "园林绿化",
        "F05": "房屋土地",
    }
    assert 40 <= len(shipped) <= 70
    for item in shipped:
        assert item.code.startswith(item.major)
        assert item.type is (CategoryType.EVENT if item.code[0] == "E" else CategoryType.FACILITY)
        assert item.name
        assert item.name_en
        assert shipped.major(item.major) is not None


def test_shipped_catalog_settings(shipped: Catalog) -> None:
    fire = shipped["E0501"]
    assert fire.urgency is Urgency.URGENT
    assert fire.limit == Duration.parse("2h")
    assert fire.limit_class == "emergency"
    assert fire.needs == (ResponderKind.GRID_DEPARTMENT,)
    assert shipped["E0101"].limit == Duration.parse("4wh")
    assert shipped["E0101"].limit_class is None
    assert shipped["F0103"].limit_class == "utilities"
    assert shipped["E0304"].limit == Duration.parse("15d")
    claimable = {c.code for c in shipped if c.claimable}
    assert claimable
    assert all(code.startswith("E08") for code in claimable)
    assert "E0801" in claimable


def test_lookups(shipped: Catalog) -> None:
    assert shipped.get("E0501") is shipped["E0501"]
    assert shipped.get("E9999") is None
    assert "E0501" in shipped
    assert "E05" not in shipped
    assert [c.code for c in shipped][:3] == ["E0101", "E0102", "E0103"]
    emergencies = shipped.major("E05")
    assert emergencies is not None
    assert [c.code for c in shipped.matching(["E05"])] == list(emergencies.categories)


@pytest.mark.parametrize(
    ("prefix", "known"),
    [("E0501", True), ("E05", True), ("F", True), ("E99", False), ("E05011", False), ("*", False)],
)
def test_has_prefix(shipped: Catalog, prefix: str, known: bool) -> None:
    assert shipped.has_prefix(prefix) is known


# -- inheritance ---------------------------------------------------------------------------


def test_options_inherit_defaults_then_major_then_category() -> None:
    text = (
        HEAD
        + """
[[major]]
code = "E05"
name = "突发事件"
name_en = "Emergencies"
urgency = "urgent"
limit = "emergency"
needs = ["grid_department"]

[[major.category]]
code = "E0501"
name = "火灾"
name_en = "Fire"

[[major.category]]
code = "E0505"
name = "积水内涝"
name_en = "Flooding"
limit = "4wh"
needs = []

[[major]]
code = "E08"
name = "民生服务"
name_en = "Public services"

[[major.category]]
code = "E0801"
name = "助老探访"
name_en = "Visit to an elderly person"
claimable = true
"""
    )
    catalog = Catalog.from_toml(text)
    fire, flood, visit = catalog
    assert (fire.urgency, str(fire.limit), fire.limit_class) == (Urgency.URGENT, "2h", "emergency")
    assert fire.needs == (ResponderKind.GRID_DEPARTMENT,)
    assert (flood.urgency, str(flood.limit), flood.limit_class, flood.needs) == (
        Urgency.URGENT,
        "4wh",
        None,
        (),
    )
    assert (visit.urgency, str(visit.limit), visit.claimable) == (Urgency.NORMAL, "7d", True)
    assert (visit.major, visit.major_name) == ("E08", "民生服务")
    assert catalog.limit_classes == {
        "emergency": Duration.parse("2h"),
        "general": Duration.parse("7d"),
    }


# -- validation: one test per rule ---------------------------------------------------------


def test_unknown_key_fails() -> None:
    assert problems(category('colour = "red"\n')) == [
        "categories.toml: major[0] (E01).category[0] (E0101): unknown key 'colour'; expected "
        "one of code, name, name_en, urgency, limit, needs, claimable, duplicate_radius, "
        "duplicate_window, keywords"
    ]


def test_unknown_top_level_key_fails() -> None:
    assert problems(ONE + "[categories]\n") == [
        "categories.toml: unknown key 'categories'; expected one of limit_classes, defaults, major"
    ]


def test_invalid_category_code_fails() -> None:
    assert problems(ONE.replace('"E0101"', '"E101"')) == [
        "categories.toml: major[0] (E01).category[0] (E101): invalid category code 'E101'; "
        "expected E (事件) or F (部件) and four digits, like E0101"
    ]


def test_invalid_major_code_fails() -> None:
    assert problems(ONE.replace('"E01"', '"X01"').replace('"E0101"', '"X0101"')) == [
        "categories.toml: major[0] (X01): invalid major code 'X01'; expected E (事件) or F (部件) "
        "and two digits, like E01",
        "categories.toml: major[0] (X01).category[0] (X0101): invalid category code 'X0101'; "
        "expected E (事件) or F (部件) and four digits, like E0101",
    ]


def test_category_outside_its_major_fails() -> None:
    assert problems(ONE.replace('"E0101"', '"E0201"')) == [
        "categories.toml: major[0] (E01).category[0] (E0201): category code 'E0201' does not "
        "start with its major code 'E01'"
    ]


def test_duplicate_code_fails() -> None:
    text = ONE + '[[major.category]]\ncode = "E0101"\nname = "重复"\nname_en = "Again"\n'
    assert problems(text) == [
        "categories.toml: major[0] (E01).category[1] (E0101): duplicate code 'E0101'; first at "
        "major[0] (E01).category[0] (E0101)"
    ]


def test_unknown_limit_class_fails() -> None:
    assert problems(category('limit = "urgentish"\n')) == [
        "categories.toml: major[0] (E01).category[0] (E0101): limit: unknown time-limit class "
        "'urgentish'; expected a duration like 4wh or one of the limit_classes "
        "(emergency, general)"
    ]


def test_bad_duration_fails() -> None:
    assert problems(category('limit = "4 wh"\n')) == [
        "categories.toml: major[0] (E01).category[0] (E0101): limit: invalid duration '4 wh'; "
        "expected a whole number followed by s, m, h or d (wall time), wh (working hours) or "
        "wd (working days), e.g. 90s, 30m, 2h, 7d, 4wh, 5wd"
    ]


def test_bad_limit_class_duration_fails() -> None:
    assert problems(ONE.replace('emergency = "2h"', 'emergency = "2 hours"')) == [
        "categories.toml: limit_classes: emergency: invalid duration '2 hours'; expected a whole "
        "number followed by s, m, h or d (wall time), wh (working hours) or wd (working days), "
        "e.g. 90s, 30m, 2h, 7d, 4wh, 5wd"
    ]


def test_unknown_needs_kind_fails() -> None:
    assert problems(category('needs = ["fire_brigade"]\n')) == [
        "categories.toml: major[0] (E01).category[0] (E0101): needs: unknown responder kind "
        "'fire_brigade'; expected one of grid_leader, registered_member, unposted_member, "
        "household_leader, community_police, police_station, grid_department, "
        "jurisdiction_unit, safety_patrol, duty_officer, duty_police, backstop"
    ]


def test_unknown_urgency_fails() -> None:
    assert problems(category('urgency = "high"\n')) == [
        "categories.toml: major[0] (E01).category[0] (E0101): unknown urgency 'high'; "
        "expected one of urgent, normal"
    ]


def test_wrong_type_fails() -> None:
    assert problems(category('claimable = "yes"\n')) == [
        "categories.toml: major[0] (E01).category[0] (E0101): claimable: expected true or "
        "false, got string 'yes'"
    ]


def test_missing_name_fails() -> None:
    assert problems(ONE.replace('name = "暴露垃圾"\n', "")) == [
        "categories.toml: major[0] (E01).category[0] (E0101): missing required key 'name'"
    ]


def test_major_without_categories_fails() -> None:
    assert problems(HEAD + MAJOR) == [
        "categories.toml: major[0] (E01): has no categories ([[major.category]])"
    ]


def test_category_without_limit_fails() -> None:
    assert problems(ONE.replace('limit = "general"', "")) == [
        "categories.toml: major[0] (E01).category[0] (E0101): no time limit: set limit here, "
        "in its major, or in [defaults]"
    ]


def test_empty_catalog_fails() -> None:
    assert problems(HEAD) == [
        "categories.toml: no [[major]] tables: the catalog needs at least one category"
    ]


# -- likely duplicates: radius and window per category --------------------------------------


def test_shipped_catalog_sets_the_towns_duplicate_radius_and_window(shipped: Catalog) -> None:
    rubbish, fire, noise, dispute = (
        shipped["E0101"], shipped["E0501"], shipped["E0301"], shipped["E0601"]
    )  # fmt: skip
    assert (rubbish.duplicate_radius_m, rubbish.duplicate_window) == (50.0, None)
    assert (fire.duplicate_radius_m, fire.duplicate_window) == (300.0, Duration.parse("1h"))
    assert (noise.duplicate_radius_m, noise.duplicate_window) == (200.0, Duration.parse("1d"))
    assert dispute.duplicate_radius_m == 20.0
    assert fire.to_dict(duplicates=True)["duplicate_radius_m"] == 300.0
    assert fire.to_dict(duplicates=True)["duplicate_window"] == "1h"
    assert "duplicate_radius_m" not in fire.to_dict()  # a routing decision's copy


def test_duplicate_radius_and_window_inherit_defaults_then_major_then_category() -> None:
    text = (
        HEAD.replace('limit = "general"', 'limit = "general"\nduplicate_radius = 40')
        + MAJOR
        + 'duplicate_radius = "0.2km"\nduplicate_window = "3h"\n'
        + '[[major.category]]\ncode = "E0101"\nname = "暴露垃圾"\nname_en = "Rubbish"\n'
        + '[[major.category]]\ncode = "E0102"\nname = "渣土"\nname_en = "Spoil"\n'
        + 'duplicate_radius = "75m"\n'
        + '[[major]]\ncode = "E02"\nname = "宣传广告"\nname_en = "Ads"\n'
        + '[[major.category]]\ncode = "E0201"\nname = "小广告"\nname_en = "Flyers"\n'
    )
    catalog = Catalog.from_toml(text)
    assert catalog["E0101"].duplicate_radius_m == 200.0
    assert catalog["E0101"].duplicate_window == Duration.parse("3h")
    assert catalog["E0102"].duplicate_radius_m == 75.0
    assert catalog["E0102"].duplicate_window == Duration.parse("3h")
    assert catalog["E0201"].duplicate_radius_m == 40.0
    assert catalog["E0201"].duplicate_window is None  # lifecycle.toml's


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'duplicate_radius = "50 metres"',
            "duplicate_radius: expected a distance like 50m or 0.2km (or a number of metres), "
            "got string '50 metres'",
        ),
        (
            "duplicate_radius = true",
            "duplicate_radius: expected a distance like 50m or 0.2km (or a number of metres), "
            "got boolean True",
        ),
        (
            "duplicate_radius = 0",
            "duplicate_radius: must be more than 0 and at most 5000m, got integer 0",
        ),
        (
            'duplicate_radius = "6km"',
            "duplicate_radius: must be more than 0 and at most 5000m, got string '6km'",
        ),
        (
            'duplicate_window = "2wh"',
            "duplicate_window: a look-back window is wall time (s, m, h, d), not 2wh",
        ),
        ('duplicate_window = "8d"', "duplicate_window: at most 7d, not 8d"),
        (
            'duplicate_window = "two hours"',
            "duplicate_window: invalid duration 'two hours'; expected a whole number followed "
            "by s, m, h or d (wall time), wh (working hours) or wd (working days), e.g. 90s, "
            "30m, 2h, 7d, 4wh, 5wd",
        ),
    ],
)
def test_bad_duplicate_radius_or_window_fails_with_its_place(line: str, message: str) -> None:
    assert problems(category(line + "\n")) == [
        f"categories.toml: major[0] (E01).category[0] (E0101): {message}"
    ]


def test_bad_duplicate_radius_in_defaults_names_defaults() -> None:
    text = ONE.replace('limit = "general"', 'limit = "general"\nduplicate_radius = -5')
    assert problems(text) == [
        "categories.toml: defaults: duplicate_radius: must be more than 0 and at most 5000m, "
        "got integer -5"
    ]


def test_every_problem_is_reported_at_once() -> None:
    text = category('urgency = "high"\nneeds = ["x"]\n').replace('"E0101"', '"E01X1"')
    assert len(problems(text)) == 3


# -- keywords: ordinary words for a citizen's search -----------------------------------------


def test_shipped_catalog_finds_a_stairwell_clutter_by_its_everyday_words(shipped: Catalog) -> None:
    found = [c for c in shipped if any("楼道" in word for word in c.keywords)]
    assert [c.code for c in found] == ["E0102"]
    assert "楼道堆物" in found[0].keywords
    assert found[0].to_dict(duplicates=True)["keywords"][0] == "楼道堆物"


def test_keywords_are_read_and_not_inherited() -> None:
    catalog = Catalog.from_toml(category('keywords = ["垃圾", "乱扔垃圾"]\n'))
    assert catalog["E0101"].keywords == ("垃圾", "乱扔垃圾")
    assert Catalog.from_toml(ONE)["E0101"].keywords == ()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('keywords = ["垃圾", "垃圾"]', "keywords: '垃圾' is listed twice"),
        ('keywords = [""]', "keywords: '' must be 1-20 characters without surrounding spaces"),
        (
            'keywords = [" 垃圾"]',
            "keywords: ' 垃圾' must be 1-20 characters without surrounding spaces",
        ),
        ('keywords = "垃圾"', "keywords: expected an array of strings, got string '垃圾'"),
    ],
)
def test_bad_keywords_fail_naming_the_word(line: str, reason: str) -> None:
    assert problems(category(line + "\n")) == [
        f"categories.toml: major[0] (E01).category[0] (E0101): {reason}"
    ]


def test_more_than_twenty_keywords_fail() -> None:
    words = ", ".join(f'"词{i}"' for i in range(21))
    assert problems(category(f"keywords = [{words}]\n")) == [
        "categories.toml: major[0] (E01).category[0] (E0101): keywords: at most 20, got 21"
    ]
