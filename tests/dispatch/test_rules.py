from __future__ import annotations

from pathlib import Path

import pytest

from dispatch import (
    Catalog,
    DispatchConfigError,
    Duration,
    Mode,
    RulesConfig,
    RuleSet,
    Source,
    Urgency,
)
from grids import Level, ResponderKind

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "dispatch"

# Catch-all rules for the four sources the tests do not vary.
OTHERS = """
[[rule]]
id = "community"
source = "community"
[[rule.report]]
kind = "grid_department"
level = "town"

[[rule]]
id = "town-committee"
source = "town_committee"
[[rule.report]]
kind = "jurisdiction_unit"
level = "town"

[[rule]]
id = "police"
source = "police"
[[rule.report]]
kind = "police_station"
level = "town"

[[rule]]
id = "camera"
source = "camera"
[[rule.report]]
kind = "safety_patrol"
level = "grid"
"""

CITIZEN = """
[[rule]]
id = "citizen"
source = "citizen"
[[rule.report]]
kind = "registered_member"
level = "grid"
"""

KINDS = (
    "grid_leader, registered_member, unposted_member, household_leader, community_police, "
    "police_station, grid_department, jurisdiction_unit, safety_patrol, duty_officer, duty_police, "
    "backstop"
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA / "config" / "categories.toml")


def rules(text: str, catalog: Catalog | None = None) -> RulesConfig:
    return RulesConfig.from_toml(text, catalog)


def problems(text: str, catalog: Catalog | None = None) -> list[str]:
    with pytest.raises(DispatchConfigError) as info:
        RulesConfig.from_toml(text, catalog)
    return [str(p) for p in info.value.problems]


def file_problems(case: str, catalog: Catalog | None = None) -> list[str]:
    """Problems in the fixture tests/data/dispatch/conf.<case>.toml plus the other sources."""
    text = (DATA / f"conf.{case}.toml").read_text(encoding="utf-8") + OTHERS
    return problems(text, catalog)


# -- loading and inheritance ---------------------------------------------------------------


def test_minimal_rules_load_with_shipped_defaults() -> None:
    config = rules(CITIZEN + OTHERS)
    assert [rule.id for rule in config.rules] == [
        "citizen",
        "community",
        "town-committee",
        "police",
        "camera",
    ]
    citizen = config.rules[0]
    assert citizen.name == "群众吹哨"  # defaults to the whistle's Chinese name
    assert citizen.is_catch_all
    [report] = citizen.reports
    assert (report.kind, report.level, report.count) == (
        ResponderKind.REGISTERED_MEMBER,
        Level.GRID,
        1,
    )
    options = RuleSet(config).for_source(Source.CITIZEN)[0].reports[0].options
    assert options.mode is Mode.PUSH
    assert options.acknowledge(Urgency.URGENT) == Duration.parse("10m")
    assert options.acknowledge(Urgency.NORMAL) == Duration.parse("30m")
    assert options.acknowledge_cap == Duration.parse("2h")
    assert options.claim_window == Duration.parse("24h")
    assert options.resolve is None


def test_options_inherit_defaults_then_rule_then_report() -> None:
    text = (
        """
[defaults]
acknowledge = { urgent = "5m", normal = "1wh" }
claim_window = "2wd"

[[rule]]
id = "citizen"
source = "citizen"
acknowledge = { normal = "45m" }
resolve = "3wd"

[[rule.report]]
kind = "registered_member"
level = "grid"

[[rule.report]]
kind = "community_police"
acknowledge = "15m"
mode = "claim"
count = 2
"""
        + OTHERS
    )
    citizen = RuleSet(rules(text)).for_source(Source.CITIZEN)[0]
    member, police = citizen.reports
    assert member.options.acknowledge_urgent == Duration.parse("5m")  # [defaults]
    assert member.options.acknowledge_normal == Duration.parse("45m")  # the rule
    assert member.options.claim_window == Duration.parse("2wd")
    assert member.options.resolve == Duration.parse("3wd")
    assert member.mode is Mode.PUSH
    assert police.options.acknowledge_urgent == Duration.parse("15m")  # the report
    assert police.options.acknowledge_normal == Duration.parse("15m")
    assert police.options.resolve == Duration.parse("3wd")
    assert police.mode is Mode.CLAIM
    assert (police.level, police.count, police.index) == (None, 2, 1)
    # A report that sets nothing shares its rule's options.
    assert member.options is citizen.options


def test_first_matching_rule_wins(catalog: Catalog) -> None:
    text = (
        """
[[rule]]
id = "citizen-claim"
source = "citizen"
claimable = true
[[rule.report]]
kind = "registered_member"
mode = "claim"

[[rule]]
id = "citizen-emergency"
source = "citizen"
categories = ["E05", "E0703"]
[[rule.report]]
kind = "grid_department"
"""
        + CITIZEN
        + OTHERS
    )
    ruleset = RuleSet(rules(text, catalog))
    assert ruleset.match(Source.CITIZEN, catalog["E0801"]).id == "citizen-claim"
    assert ruleset.match(Source.CITIZEN, catalog["E0501"]).id == "citizen-emergency"
    assert ruleset.match(Source.CITIZEN, catalog["E0703"]).id == "citizen-emergency"
    assert ruleset.match(Source.CITIZEN, catalog["E0101"]).id == "citizen"
    assert ruleset.match(Source.POLICE, catalog["E0801"]).id == "police"


def test_shipped_rules_are_valid_and_cover_every_source() -> None:
    catalog = Catalog.load(ROOT / "config" / "categories.toml")
    config = RulesConfig.load(ROOT / "config" / "rules.toml", catalog)
    for source in Source:
        source_rules = [rule for rule in config.rules if rule.source is source]
        assert source_rules[-1].is_catch_all, source


# -- validation: one test per rule ---------------------------------------------------------


def test_unknown_top_level_key_fails() -> None:
    assert problems("[[rules]]\n" + CITIZEN + OTHERS) == [
        "rules.toml: unknown key 'rules'; expected one of defaults, rule, kind"
    ]


def test_unknown_default_key_fails() -> None:
    assert problems('[defaults]\nack = "5m"\n' + CITIZEN + OTHERS) == [
        "rules.toml: defaults: unknown key 'ack'; expected one of mode, acknowledge, "
        "acknowledge_cap, claim_window, resolve, optional, inform"
    ]


def test_unknown_rule_key_fails() -> None:
    text = CITIZEN.replace('source = "citizen"', 'source = "citizen"\nsources = []') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen): unknown key 'sources'; expected one of id, source, name, "
        "description, categories, claimable, report, inform, mode, acknowledge, "
        "acknowledge_cap, claim_window, resolve, optional"
    ]


def test_unknown_report_key_fails() -> None:
    text = CITIZEN.replace('level = "grid"', 'level = "grid"\nwho = "x"') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[0]: unknown key 'who'; expected one of kind, "
        "level, count, mode, acknowledge, acknowledge_cap, claim_window, resolve, optional"
    ]


def test_unknown_acknowledge_key_fails() -> None:
    text = '[defaults]\nacknowledge = { high = "5m" }\n' + CITIZEN + OTHERS
    assert problems(text) == [
        "rules.toml: defaults.acknowledge: unknown key 'high'; expected one of urgent, normal"
    ]


def test_acknowledge_of_the_wrong_type_fails() -> None:
    assert problems("[defaults]\nacknowledge = 10\n" + CITIZEN + OTHERS) == [
        'rules.toml: defaults: acknowledge: expected a duration or a table { urgent = "10m", '
        'normal = "30m" }'
    ]


def test_bad_type_fails() -> None:
    text = CITIZEN.replace('level = "grid"', 'level = "grid"\ncount = "two"') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[0]: count: expected an integer, got string 'two'"
    ]


def test_count_below_one_fails() -> None:
    text = CITIZEN.replace('level = "grid"', 'level = "grid"\ncount = 0') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[0]: count: must be at least 1, got 0"
    ]


def test_bad_duration_fails() -> None:
    assert problems('[defaults]\nacknowledge_cap = "2 hours"\n' + CITIZEN + OTHERS) == [
        "rules.toml: defaults: acknowledge_cap: invalid duration '2 hours'; expected a whole "
        "number followed by s, m, h or d (wall time), wh (working hours) or wd (working days), "
        "e.g. 90s, 30m, 2h, 7d, 4wh, 5wd"
    ]


def test_unknown_source_fails() -> None:
    text = CITIZEN.replace('source = "citizen"', 'source = "citizens"') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen): unknown source 'citizens'; expected one of citizen, "
        "community, town_committee, police, camera"
    ]


def test_unknown_responder_kind_fails() -> None:
    assert file_problems("unknown-kind") == [
        "rules.toml: rule[2] (citizen-needs).report[0]: unknown responder kind 'party'; "
        f"expected one of {KINDS}"
    ]


def test_unknown_level_fails() -> None:
    text = CITIZEN.replace('level = "grid"', 'level = "gird"') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[0]: unknown level 'gird'; expected 1-5 or one of "
        "county, town, community, grid, micro_grid"
    ]


def test_unknown_mode_fails() -> None:
    text = CITIZEN.replace('level = "grid"', 'level = "grid"\nmode = "pull"') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[0]: unknown mode 'pull'; expected one of push, claim"
    ]


def test_missing_id_fails_without_cascading_set_problems() -> None:
    # The whole-file checks run only on tables that passed their own: the missing catch-all
    # for citizen is a consequence, not a second problem.
    text = CITIZEN.replace('id = "citizen"\n', "") + OTHERS
    assert problems(text) == ["rules.toml: rule[0]: missing required key 'id'"]


def test_missing_kind_fails() -> None:
    text = CITIZEN.replace('kind = "registered_member"\n', "") + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[0]: missing required key 'kind'"
    ]


def test_invalid_rule_id_fails() -> None:
    text = CITIZEN.replace('id = "citizen"', 'id = "Citizen Rule"') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (Citizen Rule): invalid rule id 'Citizen Rule'; use lower-case "
        "letters, digits, '-' and '_'"
    ]


def test_duplicate_rule_id_fails() -> None:
    text = CITIZEN + OTHERS.replace('id = "camera"', 'id = "citizen"')
    assert problems(text) == [
        "rules.toml: rule[4] (citizen): duplicate rule id 'citizen'; first at rule[0] (citizen)"
    ]


def test_rule_without_reports_fails() -> None:
    text = '[[rule]]\nid = "citizen"\nsource = "citizen"\n' + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen): has no reports ([[rule.report]]): a rule must name who "
        "reports"
    ]


def test_same_kind_twice_in_a_rule_fails() -> None:
    text = CITIZEN + '[[rule.report]]\nkind = "registered_member"\nlevel = "community"\n' + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[1]: responder kind 'registered_member' is already "
        "reported by report[0]"
    ]


def test_source_without_catch_all_fails() -> None:
    text = CITIZEN + OTHERS.replace('source = "police"', 'source = "police"\ncategories = ["E07"]')
    assert problems(text) == [
        "rules.toml: source 'police' has no catch-all rule (one without categories or "
        "claimable) as its last rule; every police whistle must match a rule"
    ]


def test_rule_after_a_catch_all_fails() -> None:
    assert file_problems("shadowed") == [
        "rules.toml: rule[1] (citizen-fire): never matches: rule[0] (citizen) before it catches "
        "every citizen whistle"
    ]


def test_empty_categories_fail() -> None:
    text = '[[rule]]\nid = "none"\nsource = "citizen"\ncategories = []\n' + (
        '[[rule.report]]\nkind = "grid_leader"\n' + CITIZEN + OTHERS
    )
    assert problems(text) == [
        "rules.toml: rule[0] (none): categories: must list at least one code prefix; leave the "
        "key out to match every category"
    ]


def test_unknown_category_prefix_fails(catalog: Catalog) -> None:
    text = '[[rule]]\nid = "fire"\nsource = "citizen"\ncategories = ["E05", "E99"]\n' + (
        '[[rule.report]]\nkind = "grid_department"\n' + CITIZEN + OTHERS
    )
    assert problems(text, catalog) == [
        "rules.toml: rule[0] (fire): categories[1]: unknown category or prefix 'E99'"
    ]


def test_rule_matching_no_category_fails(catalog: Catalog) -> None:
    text = '[[rule]]\nid = "odd"\nsource = "citizen"\ncategories = ["E05"]\nclaimable = true\n' + (
        '[[rule.report]]\nkind = "grid_department"\n' + CITIZEN + OTHERS
    )
    assert problems(text, catalog) == [
        "rules.toml: rule[0] (odd): matches no category in the catalog"
    ]


def test_rule_covered_by_earlier_rules_fails(catalog: Catalog) -> None:
    text = (
        '[[rule]]\nid = "emergency"\nsource = "citizen"\ncategories = ["E05"]\n'
        '[[rule.report]]\nkind = "grid_department"\n'
        '[[rule]]\nid = "fire"\nsource = "citizen"\ncategories = ["E0501"]\n'
        '[[rule.report]]\nkind = "grid_department"\n' + CITIZEN + OTHERS
    )
    assert problems(text, catalog) == [
        "rules.toml: rule[1] (fire): never matches: earlier citizen rules take every category "
        "it matches"
    ]


def test_invalid_toml_fails_with_the_parser_message() -> None:
    [message] = problems("[[rule]\n")
    assert message.startswith("rules.toml: invalid TOML: ")


def test_every_problem_is_reported_at_once() -> None:
    text = CITIZEN.replace('level = "grid"', 'level = "gird"\nmode = "pull"') + OTHERS.replace(
        'source = "camera"', 'source = "cctv"'
    )
    assert len(problems(text)) == 3


# -- staffing: inform (知会), [kind.<kind>] duty and escalate --------------------------------


def citizen_with(line: str) -> str:
    """The citizen catch-all with ``line`` among the rule's own keys (before its report)."""
    head, report = CITIZEN.split("[[rule.report]]")
    return f"{head}{line}\n[[rule.report]]{report}"


def test_inform_on_defaults_is_inherited_and_a_rules_list_replaces_it() -> None:
    text = (
        '[defaults]\ninform = [{ kind = "grid_leader", level = "grid" }]\n'
        + citizen_with('inform = [{ kind = "household_leader", level = "micro_grid" }]')
        + OTHERS
    )
    compiled = RuleSet(rules(text))
    citizen = compiled.for_source(Source.CITIZEN)[0]
    police = compiled.for_source(Source.POLICE)[0]
    assert [str(i) for i in citizen.inform] == ["household_leader@micro_grid"]
    assert [str(i) for i in police.inform] == ["grid_leader@grid"]


def test_kind_tables_name_the_duty_person_and_the_next_step() -> None:
    text = (
        CITIZEN
        + OTHERS
        + '[kind.community_police]\nduty = "duty_police"\nescalate = "police_station"\n'
    )
    compiled = RuleSet(rules(text))
    assert compiled.duty_kind(ResponderKind.COMMUNITY_POLICE) is ResponderKind.DUTY_POLICE
    assert compiled.escalation_kind(ResponderKind.COMMUNITY_POLICE) is (
        ResponderKind.POLICE_STATION
    )
    # Kinds without a table: nobody covers, and a miss climbs as the same kind.
    assert compiled.duty_kind(ResponderKind.SAFETY_PATROL) is None
    assert compiled.escalation_kind(ResponderKind.SAFETY_PATROL) is ResponderKind.SAFETY_PATROL


def test_unknown_kind_table_fails() -> None:
    assert problems(CITIZEN + OTHERS + '[kind.fire_brigade]\nduty = "duty_officer"\n') == [
        f"rules.toml: kind.fire_brigade: unknown responder kind 'fire_brigade'; expected one "
        f"of {KINDS}"
    ]


def test_unknown_key_in_a_kind_table_fails() -> None:
    assert problems(CITIZEN + OTHERS + '[kind.safety_patrol]\ncover = "duty_officer"\n') == [
        "rules.toml: kind.safety_patrol: unknown key 'cover'; expected one of duty, escalate"
    ]


def test_a_kind_cannot_be_its_own_duty_person() -> None:
    assert problems(CITIZEN + OTHERS + '[kind.duty_officer]\nduty = "duty_officer"\n') == [
        "rules.toml: kind.duty_officer: duty: duty_officer cannot be its own duty person"
    ]


def test_inform_needs_a_kind_and_a_level() -> None:
    text = citizen_with('inform = [{ kind = "grid_leader" }]') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).inform[0]: missing required key 'level'"
    ]


def test_inform_must_be_a_list_of_tables() -> None:
    text = citizen_with('inform = ["grid_leader"]') + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen): inform: expected a list of tables like "
        '{ kind = "grid_leader", level = "grid" }'
    ]


def test_a_claim_cannot_be_optional() -> None:
    text = CITIZEN + 'mode = "claim"\noptional = true\n' + OTHERS
    assert problems(text) == [
        "rules.toml: rule[0] (citizen).report[0]: optional: only a push may be optional; a "
        "claim board has no deadline"
    ]
