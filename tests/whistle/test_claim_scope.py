"""A team claims only on its own community's board (issue 24, item 2).

The probe: a member of a town-A service team claimed town B's need "with" the town-A team,
then started and resolved it. The claim checked that the actor was in the team, never that
the team belonged to the community whose board held the need.
"""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.teams import Team
from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from whistle.web.keys import CASES


def micro_in(county: Hierarchy, community: str) -> str:
    return next(c.code for c in county.cells(level=Level.MICRO_GRID) if c.is_within(community))


def town_of(county: Hierarchy, code: str) -> str:
    return county.at_level(code, Level.TOWN).code


async def need_in(cases: Cases, county: Hierarchy, community: str) -> dict[str, Any]:
    """A need (帮扶残疾人家庭) placed in ``community``, open on that community's board."""
    doc = await cases.new(
        category="E0803",
        description="残疾人家庭需要帮扶",
        location={"grid": micro_in(county, community)},
    )
    board = doc["assignments"][0]
    assert (board["mode"], board["status"], board["cell"]) == ("claim", "open", community)
    return doc


def teams(live: Live) -> list[Team]:
    return list(live.app[CASES].teams)


def a_foreign_team(live: Live, county: Hierarchy, community: str, *, same_town: bool) -> Team:
    """A team of another community: in the same town as ``community``, or in another town."""
    town = town_of(county, community)
    return next(
        t
        for t in teams(live)
        if t.community != community and (town_of(county, t.community) == town) == same_town
    )


@pytest.mark.parametrize("same_town", [False, True], ids=["other-town", "neighbour-community"])
async def test_a_team_may_not_claim_another_communitys_need(
    live: Live, county: Hierarchy, same_town: bool
) -> None:
    cases = Cases(live, county)
    home = teams(live)[0]
    target = a_foreign_team(live, county, home.community, same_town=same_town).community
    doc = await need_in(cases, county, target)

    code, problem = await cases.case(doc["id"], "claim", actor=home.captain, team=home.id)
    assert code == 403, problem
    assert problem["detail"] == (
        f"team {home.id} is registered with community {home.community}, "
        f"not {target}, whose board holds this need"
    )
    after = await cases.get(doc["id"])
    board = after["assignments"][0]
    assert (after["status"], board["status"], board.get("team")) == ("dispatched", "open", None)
    assert not [e for e in after["timeline"] if e["type"] == "assignment.claimed"]
    # Nor can the team's members then act on the board as if they had claimed it.
    code, _ = await cases.assignment(board, "start", actor=home.captain)
    assert code == 403
    code, _ = await cases.assignment(board, "resolve", actor=home.captain, note="已帮扶")
    assert code == 403


async def test_a_team_claims_on_its_own_communitys_board_and_carries_it_through(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    team = teams(live)[-1]
    doc = await need_in(cases, county, team.community)
    code, answer = await cases.case(doc["id"], "claim", actor=team.members[-1], team=team.id)
    assert code == 200, answer
    claimed = answer["assignments"][0]
    assert (claimed["team"], claimed["members"]) == (team.id, list(team.members))
    code, answer = await cases.assignment(claimed, "start", actor=team.captain)
    assert code == 200, answer
    code, answer = await cases.assignment(claimed, "resolve", actor=team.captain, note="已帮扶")
    assert (code, answer["status"]) == (200, "resolved")


async def test_a_member_of_the_board_may_not_claim_with_another_communitys_team(
    live: Live, county: Hierarchy
) -> None:
    """Being on the board oneself does not lend the board to a team of elsewhere."""
    cases = Cases(live, county)
    foreign = teams(live)[0]
    target = a_foreign_team(live, county, foreign.community, same_town=False).community
    doc = await need_in(cases, county, target)
    local = doc["assignments"][0]["eligible_ids"][0]
    code, problem = await cases.case(doc["id"], "claim", actor=local, team=foreign.id)
    assert code == 403, problem
    assert problem["detail"].startswith(f"team {foreign.id} is registered with community")
    assert (await cases.get(doc["id"]))["status"] == "dispatched"
    # Alone, the same member claims it: the board is theirs.
    code, answer = await cases.case(doc["id"], "claim", actor=local)
    assert (code, answer["assignments"][0]["team"]) == (200, None)
