from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dispatch import (
    Decision,
    DispatchConfig,
    DispatchConfigError,
    Mode,
    Origin,
    Router,
    RouteRequest,
    RulesConfig,
    Source,
    StepResult,
    UnknownCategoryError,
    Urgency,
)
from grids import Hierarchy, Responder, UnknownCellError
from tests.support.dispatch_county import (
    CELLS,
    COMMUNITY,
    COMMUNITY_FAR,
    COUNTY,
    GRID,
    GRID_EMPTY,
    GRID_FAR,
    MICRO,
    ROSTER,
    TOWN,
    K,
    person,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY_4PM = datetime(2026, 1, 9, 16, 0, tzinfo=SHANGHAI)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def route(
    router: Router,
    source: Source,
    category: str,
    cell: str,
    *,
    urgency: Urgency | None = None,
    received_at: datetime = FRIDAY_4PM,
) -> Decision:
    request = RouteRequest(
        source=source, category=category, cell=cell, urgency=urgency, received_at=received_at
    )
    return router.route(request)


# -- the routing table ---------------------------------------------------------------------

NONE = StepResult.NONE_OF_KIND
CHOSEN = StepResult.CHOSEN
SKIP = StepResult.CANNOT_HANDLE
BOARD = StepResult.BOARD
BACKSTOP = StepResult.BACKSTOP


@dataclass(frozen=True)
class Want:
    """An expected assignment: who, how, where, why, and the trace (cell, result, responder)."""

    kind: K
    responder: str | None
    cell: str
    trace: tuple[tuple[str, StepResult, str | None], ...]
    mode: Mode = Mode.PUSH
    origin: Origin = Origin.RULE
    eligible: tuple[str, ...] = ()


ROUTES = [
    pytest.param(
        Source.CITIZEN,
        "E0101",
        MICRO,
        "citizen",
        [
            Want(K.REGISTERED_MEMBER, "GM01", GRID, ((GRID, CHOSEN, "GM01"),)),
            Want(K.UNPOSTED_MEMBER, "GU01", GRID, ((GRID, CHOSEN, "GU01"),)),
            Want(
                K.COMMUNITY_POLICE,
                "CP01",
                COMMUNITY,
                ((GRID, NONE, None), (COMMUNITY, CHOSEN, "CP01")),
            ),
        ],
        id="citizen: the grid's 1+1 and the community police officer",
    ),
    pytest.param(
        Source.CITIZEN,
        "E0801",
        MICRO,
        "citizen-claim",
        [
            Want(
                K.REGISTERED_MEMBER,
                None,
                COMMUNITY,
                ((COMMUNITY, BOARD, None),),
                mode=Mode.CLAIM,
                eligible=("M001", "M002"),
            )
        ],
        id="citizen, claimable: the community's claim board, M003 cannot handle E08",
    ),
    pytest.param(
        Source.COMMUNITY,
        "E0301",
        MICRO,
        "community",
        [
            Want(
                K.GRID_DEPARTMENT,
                "D003",
                TOWN,
                ((TOWN, SKIP, "D001"), (TOWN, SKIP, "D002"), (TOWN, CHOSEN, "D003")),
            )
        ],
        id="community: the town department for construction, skipping 城管 and 环卫",
    ),
    pytest.param(
        Source.TOWN_COMMITTEE,
        "E0601",
        GRID,
        "town-committee",
        [
            Want(
                K.JURISDICTION_UNIT,
                "J002",
                TOWN,
                ((TOWN, SKIP, "J001"), (TOWN, StepResult.SPREAD, None), (TOWN, CHOSEN, "J002")),
            )
        ],
        id="town committee: the jurisdiction unit whose categories fit disputes closest",
    ),
    pytest.param(
        Source.POLICE,
        "E0101",
        GRID_FAR,
        "police",
        [Want(K.POLICE_STATION, "PS01", TOWN, ((TOWN, CHOSEN, "PS01"),))],
        id="police: the town's station",
    ),
    pytest.param(
        Source.POLICE,
        "E0703",
        GRID,
        "police",
        [Want(K.POLICE_STATION, "PS01", TOWN, ((TOWN, CHOSEN, "PS01"),))],
        id="police: a category needing police_station adds nothing more",
    ),
    pytest.param(
        Source.CAMERA,
        "E0403",
        MICRO,
        "camera",
        [
            Want(
                K.SAFETY_PATROL,
                "SP01",
                COMMUNITY,
                ((GRID, NONE, None), (COMMUNITY, CHOSEN, "SP01")),
            )
        ],
        id="camera: the community's patrol, starting at the micro-grid's grid",
    ),
    pytest.param(
        Source.CAMERA,
        "E0403",
        GRID_FAR,
        "camera",
        [
            Want(
                K.SAFETY_PATROL,
                "B001",
                COUNTY,
                (
                    (GRID_FAR, NONE, None),
                    (COMMUNITY_FAR, NONE, None),
                    (TOWN, NONE, None),
                    (COUNTY, NONE, None),
                    (COUNTY, BACKSTOP, "B001"),
                ),
                origin=Origin.BACKSTOP,
            )
        ],
        id="camera: no patrol anywhere up to the county -> the backstop",
    ),
    pytest.param(
        Source.CITIZEN,
        "E0101",
        GRID_EMPTY,
        "citizen",
        [
            Want(
                K.REGISTERED_MEMBER,
                "M002",
                COMMUNITY,
                ((GRID_EMPTY, NONE, None), (COMMUNITY, SKIP, "M001"), (COMMUNITY, CHOSEN, "M002")),
            ),
            Want(
                K.UNPOSTED_MEMBER,
                "B001",
                COUNTY,
                (
                    (GRID_EMPTY, NONE, None),
                    (COMMUNITY, NONE, None),
                    (TOWN, NONE, None),
                    (COUNTY, NONE, None),
                    (COUNTY, BACKSTOP, "B001"),
                ),
                origin=Origin.BACKSTOP,
            ),
            Want(
                K.COMMUNITY_POLICE,
                "CP01",
                COMMUNITY,
                ((GRID_EMPTY, NONE, None), (COMMUNITY, CHOSEN, "CP01")),
            ),
        ],
        id="citizen in an empty grid: members from the community, else the backstop",
    ),
    pytest.param(
        Source.CITIZEN,
        "E0501",
        MICRO,
        "citizen",
        [
            Want(K.REGISTERED_MEMBER, "GM01", GRID, ((GRID, CHOSEN, "GM01"),)),
            Want(K.UNPOSTED_MEMBER, "GU01", GRID, ((GRID, CHOSEN, "GU01"),)),
            Want(
                K.COMMUNITY_POLICE,
                "CP01",
                COMMUNITY,
                ((GRID, NONE, None), (COMMUNITY, CHOSEN, "CP01")),
            ),
            Want(
                K.GRID_DEPARTMENT,
                "D005",
                TOWN,
                (
                    (MICRO, NONE, None),
                    (GRID, NONE, None),
                    (COMMUNITY, NONE, None),
                    (TOWN, SKIP, "D001"),
                    (TOWN, SKIP, "D002"),
                    (TOWN, SKIP, "D003"),
                    (TOWN, SKIP, "D004"),
                    (TOWN, CHOSEN, "D005"),
                ),
                origin=Origin.CATEGORY,
            ),
        ],
        id="citizen, fire: the category's needs add the town's emergency office",
    ),
    pytest.param(
        Source.COMMUNITY,
        "E0101",
        COUNTY,
        "community",
        [
            Want(
                K.GRID_DEPARTMENT,
                "B001",
                COUNTY,
                ((COUNTY, NONE, None), (COUNTY, BACKSTOP, "B001")),
                origin=Origin.BACKSTOP,
            )
        ],
        id="a whistle at the county starts at the county, above the rule's town level",
    ),
    pytest.param(
        Source.CITIZEN,
        "E0801",
        GRID_FAR,
        "citizen-claim",
        [
            Want(
                K.REGISTERED_MEMBER,
                "B001",
                COUNTY,
                (
                    (COMMUNITY_FAR, NONE, None),
                    (TOWN, NONE, None),
                    (COUNTY, NONE, None),
                    (COUNTY, BACKSTOP, "B001"),
                ),
                origin=Origin.BACKSTOP,
            )
        ],
        id="a claim with no members up to the county is pushed to the backstop",
    ),
]


@pytest.mark.parametrize(("source", "category", "cell", "rule_id", "wanted"), ROUTES)
def test_route(
    router: Router,
    source: Source,
    category: str,
    cell: str,
    rule_id: str,
    wanted: list[Want],
) -> None:
    decision = route(router, source, category, cell)
    assert decision.rule_id == rule_id
    assert decision.source is source
    assert decision.category.code == category
    assert decision.cell == cell
    got = [
        Want(
            kind=a.kind,
            responder=a.responder_id,
            cell=a.cell,
            trace=tuple((s.cell, s.result, s.responder_id) for s in a.trace),
            mode=a.mode,
            origin=a.origin,
            eligible=a.eligible,
        )
        for a in decision.assignments
    ]
    assert got == wanted
    assert [a.report_index for a in decision.assignments] == list(range(len(wanted)))
    for assignment in decision.assignments:
        assert assignment.rule_id == rule_id
        assert assignment.level is router.hierarchy.cell(assignment.cell).level
        for step in assignment.trace:
            assert step.level is router.hierarchy.cell(step.cell).level


# -- counts, claims, skips -----------------------------------------------------------------


def count_config(config: DispatchConfig, count: int) -> DispatchConfig:
    text = f"""
[[rule]]
id = "members"
source = "citizen"
[[rule.report]]
kind = "registered_member"
level = "community"
count = {count}
"""
    for source in Source:
        if source is not Source.CITIZEN:
            text += (
                f'[[rule]]\nid = "{source.value}"\nsource = "{source.value}"\n'
                '[[rule.report]]\nkind = "backstop"\n'
            )
    rules = RulesConfig.from_toml(text, config.catalog)
    return DispatchConfig(rules=rules, catalog=config.catalog, calendar=config.calendar)


def test_count_picks_several_at_one_cell_in_roster_order(
    hierarchy: Hierarchy, config: DispatchConfig
) -> None:
    router = Router.compile(hierarchy, count_config(config, 2))
    decision = route(router, Source.CITIZEN, "E0601", GRID)
    assert [a.responder_id for a in decision.assignments] == ["M002", "M003"]
    assert [a.report_index for a in decision.assignments] == [0, 0]
    trace = [(s.result, s.responder_id) for s in decision.assignments[0].trace]
    assert trace == [(SKIP, "M001"), (CHOSEN, "M002"), (CHOSEN, "M003")]


def test_count_takes_what_the_first_cell_with_any_has(
    hierarchy: Hierarchy, config: DispatchConfig
) -> None:
    router = Router.compile(hierarchy, count_config(config, 3))
    decision = route(router, Source.CITIZEN, "E0101", GRID)
    assert [a.responder_id for a in decision.assignments] == ["M002"]


def test_responders_that_cannot_handle_are_skipped_with_a_reason(router: Router) -> None:
    decision = route(router, Source.COMMUNITY, "E0301", GRID)
    skipped = [s for s in decision.assignments[0].trace if s.result is SKIP]
    assert [(s.responder_id, s.note) for s in skipped] == [
        ("D001", "镇城管所 handles E01, E02, E04, F04, not E0301"),
        ("D002", "镇环卫站 handles E01, F03, not E0301"),
    ]


def test_claim_board_lists_only_eligible_members(router: Router) -> None:
    [board] = route(router, Source.CITIZEN, "E0801", GRID).assignments
    assert board.mode is Mode.CLAIM
    assert board.responder is None
    assert board.eligible == ("M001", "M002")
    assert board.trace[-1].note == "2 of 3 registered_member handle E0801"


def test_claim_board_skips_a_cell_where_nobody_is_eligible(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    roster = [
        *ROSTER,
        person("TM01", "镇机关党员", K.REGISTERED_MEMBER, TOWN),
    ]
    roster = [r for r in roster if r.id not in ("M001", "M002")]
    router = Router.compile(build(roster), config)
    [board] = route(router, Source.CITIZEN, "E0801", GRID).assignments
    assert [(s.cell, s.result) for s in board.trace] == [(COMMUNITY, SKIP), (TOWN, BOARD)]
    assert board.trace[0].note == "1 registered_member, none handles E0801"
    assert (board.cell, board.eligible) == (TOWN, ("TM01",))


# -- due times -----------------------------------------------------------------------------


def test_normal_case_is_acknowledged_in_30_minutes(router: Router) -> None:
    decision = route(router, Source.CITIZEN, "E0101", GRID)
    assert decision.urgency is Urgency.NORMAL
    assert {a.acknowledge_due for a in decision.assignments} == {at("2026-01-09 16:30")}
    assert {a.claim_due for a in decision.assignments} == {None}


def test_urgent_category_is_acknowledged_in_10_minutes(router: Router) -> None:
    decision = route(router, Source.CITIZEN, "E0501", GRID)
    assert decision.urgency is Urgency.URGENT
    assert {a.acknowledge_due for a in decision.assignments} == {at("2026-01-09 16:10")}
    assert {a.resolve_due for a in decision.assignments} == {at("2026-01-09 18:00")}


def test_request_urgency_overrides_the_category_default(router: Router) -> None:
    decision = route(router, Source.CITIZEN, "E0101", GRID, urgency=Urgency.URGENT)
    assert decision.urgency is Urgency.URGENT
    assert decision.assignments[0].acknowledge_due == at("2026-01-09 16:10")


def test_resolve_in_working_hours_skips_the_weekend(router: Router) -> None:
    # E0101: 4 working hours from Friday 16:00 = 1.5 h on Friday + 2.5 h on Monday.
    decision = route(router, Source.POLICE, "E0101", GRID)
    assert decision.assignments[0].resolve_due == at("2026-01-12 11:00")


def test_resolve_in_working_days_crosses_the_weekend(router: Router) -> None:
    # E0102: 2 working days from Friday 16:00 = Tuesday 16:00.
    decision = route(router, Source.POLICE, "E0102", GRID)
    assert decision.assignments[0].resolve_due == at("2026-01-13 16:00")


def test_resolve_in_working_days_crosses_spring_festival(router: Router) -> None:
    received = at("2026-02-13 10:00")  # Friday; Saturday 14th is a make-up workday
    decision = route(router, Source.POLICE, "E0102", GRID, received_at=received)
    assert decision.assignments[0].resolve_due == at("2026-02-24 10:00")


def test_claim_has_a_claim_deadline_and_no_acknowledgement(router: Router) -> None:
    [board] = route(router, Source.CITIZEN, "E0801", GRID).assignments
    assert board.acknowledge_due is None
    assert board.claim_due == at("2026-01-10 16:00")  # 24 h
    assert board.resolve_due == at("2026-01-16 16:00")  # 5 working days


def options_config(config: DispatchConfig, options: str) -> DispatchConfig:
    text = f'[defaults]\n{options}\n[[rule]]\nid = "all"\nsource = "citizen"\n'
    text += '[[rule.report]]\nkind = "registered_member"\n'
    for source in Source:
        if source is not Source.CITIZEN:
            text += (
                f'[[rule]]\nid = "{source.value}"\nsource = "{source.value}"\n'
                '[[rule.report]]\nkind = "backstop"\n'
            )
    rules = RulesConfig.from_toml(text, config.catalog)
    return DispatchConfig(rules=rules, catalog=config.catalog, calendar=config.calendar)


def test_acknowledgement_is_capped(hierarchy: Hierarchy, config: DispatchConfig) -> None:
    custom = options_config(config, 'acknowledge = "3h"\nacknowledge_cap = "2h"')
    router = Router.compile(hierarchy, custom)
    assert route(router, Source.CITIZEN, "E0101", GRID).assignments[0].acknowledge_due == at(
        "2026-01-09 18:00"
    )


def test_working_hour_acknowledgement_is_capped_in_wall_time(
    hierarchy: Hierarchy, config: DispatchConfig
) -> None:
    # 1 working hour from Friday 17:00 would be Monday 09:00; the 2 h cap wins.
    custom = options_config(config, 'acknowledge = "1wh"\nacknowledge_cap = "2h"')
    router = Router.compile(hierarchy, custom)
    decision = route(router, Source.CITIZEN, "E0101", GRID, received_at=at("2026-01-09 17:00"))
    assert decision.assignments[0].acknowledge_due == at("2026-01-09 19:00")


def test_rule_resolve_overrides_the_category_limit(
    hierarchy: Hierarchy, config: DispatchConfig
) -> None:
    router = Router.compile(hierarchy, options_config(config, 'resolve = "1wd"'))
    decision = route(router, Source.CITIZEN, "E0101", GRID)
    assert decision.assignments[0].resolve_due == at("2026-01-12 16:00")


# -- requests, output ----------------------------------------------------------------------


def test_naive_received_at_is_refused(router: Router) -> None:
    with pytest.raises(ValueError, match="received_at must be a timezone-aware datetime"):
        route(router, Source.CITIZEN, "E0101", GRID, received_at=datetime(2026, 1, 9, 16))


def test_unknown_category_is_refused(router: Router) -> None:
    with pytest.raises(UnknownCategoryError, match="E9999"):
        route(router, Source.CITIZEN, "E9999", GRID)


def test_unknown_cell_is_refused(router: Router) -> None:
    with pytest.raises(UnknownCellError):
        route(router, Source.CITIZEN, "E0101", "999")


def test_routing_is_pure(router: Router) -> None:
    first = route(router, Source.CITIZEN, "E0501", MICRO)
    assert route(router, Source.CITIZEN, "E0501", MICRO) == first


def test_every_whistle_gets_at_least_one_assignment(router: Router) -> None:
    for source in Source:
        for category in router.catalog:
            for cell in CELLS:
                decision = route(router, source, category.code, cell.code)
                assert decision.assignments, (source, category.code, cell.code)


def test_a_roster_of_only_the_backstop_still_routes_everything(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    router = Router.compile(build([person("B001", "县综治中心", K.BACKSTOP, COUNTY)]), config)
    for source in Source:
        decision = route(router, source, "E0501", MICRO)
        assert {a.responder_id for a in decision.assignments} == {"B001"}
        assert {a.origin for a in decision.assignments} == {Origin.BACKSTOP}


def test_explain(router: Router) -> None:
    assert route(router, Source.CITIZEN, "E0101", GRID).explain() == [
        "rule citizen (群众吹哨) needs registered_member from grid 530524101001001: chose GM01 "
        "张三 at 530524101001001",
        "rule citizen (群众吹哨) needs unposted_member from grid 530524101001001: chose GU01 "
        "李四 at 530524101001001",
        "rule citizen (群众吹哨) needs community_police from grid 530524101001001: chose CP01 "
        "李警官 at 530524101001",
    ]
    [fire] = route(router, Source.POLICE, "E0501", GRID).assignments[1:]
    assert fire.explain() == (
        "category E0501 (火灾) under rule police (警情吹哨) needs grid_department from grid "
        "530524101001001: chose D005 镇应急办 at 530524101 (skipped 4 who cannot handle it)"
    )
    [board] = route(router, Source.CITIZEN, "E0801", GRID).assignments
    assert board.explain() == (
        "rule citizen-claim (群众吹哨·党员认领) needs registered_member from community "
        "530524101001: posted on the claim board at 530524101001 for 2 eligible"
    )
    [backstop] = route(router, Source.CAMERA, "E0101", GRID_FAR).assignments
    assert backstop.explain() == (
        "rule camera (天眼吹哨) needs safety_patrol from grid 530524101002001: nobody up to the "
        "county; backstop B001 县综治中心 at 530524"
    )


def test_to_dict_is_json_ready(router: Router) -> None:
    decision = route(router, Source.CITIZEN, "E0501", MICRO)
    data = json.loads(json.dumps(decision.to_dict(), ensure_ascii=False))
    assert data["rule_id"] == "citizen"
    assert data["source"] == "citizen"
    assert data["source_label"] == "群众吹哨"
    assert data["urgency"] == "urgent"
    assert data["received_at"] == "2026-01-09T16:00:00+08:00"
    assert data["category"]["code"] == "E0501"
    assert data["category"]["limit"] == "2h"
    first = data["assignments"][0]
    assert first == {
        "kind": "registered_member",
        "mode": "push",
        "responder": {"id": "GM01", "name": "张三", "kind": "registered_member"},
        "cell": GRID,
        "level": "grid",
        "origin": "rule",
        "rule_id": "citizen",
        "report_index": 0,
        "acknowledge_due": "2026-01-09T16:10:00+08:00",
        "claim_due": None,
        "resolve_due": "2026-01-09T18:00:00+08:00",
        "eligible": [],
        "trace": [
            {
                "cell": GRID,
                "level": "grid",
                "result": "chosen",
                "responder_id": "GM01",
                "note": "registered_member 张三",
            }
        ],
        "explanation": decision.assignments[0].explain(),
    }
    assert data["assignments"][3]["origin"] == "category"
    assert data["assignments"][3]["trace"][0] == {
        "cell": MICRO,
        "level": "micro_grid",
        "result": "none_of_kind",
        "responder_id": None,
        "note": "no grid_department",
    }


def test_rule_for(router: Router) -> None:
    assert router.rule_for(Source.CITIZEN, "E0801").id == "citizen-claim"
    with pytest.raises(UnknownCategoryError):
        router.rule_for(Source.CITIZEN, "X")


# -- cross-references between the grids and the config -------------------------------------


def fit_problems(
    build: Callable[[Iterable[Responder]], Hierarchy],
    config: DispatchConfig,
    roster: Iterable[Responder],
) -> list[str]:
    with pytest.raises(DispatchConfigError) as info:
        Router.compile(build(roster), config)
    return [str(p) for p in info.value.problems]


def test_responder_with_an_unknown_category_fails(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    roster = [*ROSTER, person("R000123", "张三", K.REGISTERED_MEMBER, GRID, "E01;E99", line=12)]
    assert fit_problems(build, config, roster) == [
        "responders.csv:12: R000123: unknown category 'E99'"
    ]


def test_county_without_a_backstop_fails(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    roster = [r for r in ROSTER if r.kind is not K.BACKSTOP]
    assert fit_problems(build, config, roster) == [
        "responders.csv: 530524: the county has no backstop responder (兜底); add one with kind "
        "backstop and categories *"
    ]


def test_backstop_not_handling_every_category_fails(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    roster = [r for r in ROSTER if r.kind is not K.BACKSTOP]
    roster.append(person("B001", "县综治中心", K.BACKSTOP, COUNTY, "E;F01;F02;F03"))
    assert fit_problems(build, config, roster) == [
        "responders.csv: 530524: no backstop responder at the county handles F0401, F0503; give "
        "one of them categories *"
    ]


def test_backstops_may_share_the_categories(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    roster = [r for r in ROSTER if r.kind is not K.BACKSTOP]
    roster.append(person("B001", "县综治中心", K.BACKSTOP, COUNTY, "E"))
    roster.append(person("B002", "县城管局", K.BACKSTOP, COUNTY, "F"))
    router = Router.compile(build(roster), config)
    [backstop] = route(router, Source.CAMERA, "F0103", GRID_FAR).assignments
    assert backstop.responder_id == "B002"
