"""Service teams (服务队) for team claims (组团认领).

A team is a group of in-service party members registered with one community (报到党员), led
by a captain; it can claim a need from that community's board as one, and from no other
board: not another town's, nor a neighbouring community's (``dispatch.lifecycle.claim``).
``teams.csv`` in the config directory is optional: without it there are no teams and only
single members claim.

Columns ``id,name,community,captain,members``: ``community`` is a level 3 (community) cell
code, ``members`` is a ``;``-separated list of responder ids, each a ``registered_member``
attached to that community, and ``captain`` is one of them. A member may belong to more than
one team of the same community.

Validation collects every problem (file, line, team id) before failing, like the grid loader.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dispatch.exceptions import TeamsConfigError
from grids.configcsv import ConfigCsv
from grids.hierarchy import Hierarchy
from grids.model import Level, ResponderKind

__all__ = ["TEAMS_FILE", "TEAMS_HEADER", "Team", "Teams"]

TEAMS_FILE = "teams.csv"
TEAMS_HEADER = ("id", "name", "community", "captain", "members")


@dataclass(frozen=True, slots=True)
class Team:
    """A service team: its community (a level 3 cell code), captain and members' responder ids.

    ``members`` are in file order and include the captain. ``line`` is the file line the team
    came from, for messages.
    """

    id: str
    name: str
    community: str
    captain: str
    members: tuple[str, ...]
    line: int = field(default=0, compare=False)

    def __repr__(self) -> str:
        return f"Team({self.id!r}, {self.name!r}, community={self.community!r})"

    def __contains__(self, responder_id: object) -> bool:
        return responder_id in self.members


class Teams:
    """The service teams of a county, looked up by id, community or member.

    Build with :meth:`load` or :meth:`empty`. Read-only after construction. Iterating gives the
    teams in file order.
    """

    def __init__(self, teams: Iterable[Team]) -> None:
        self._teams = {team.id: team for team in teams}
        by_community: dict[str, list[Team]] = {}
        by_member: dict[str, list[Team]] = {}
        for team in self._teams.values():
            by_community.setdefault(team.community, []).append(team)
            for member in team.members:
                by_member.setdefault(member, []).append(team)
        self._by_community = {code: tuple(ts) for code, ts in by_community.items()}
        self._by_member = {rid: tuple(ts) for rid, ts in by_member.items()}

    @classmethod
    def empty(cls) -> Teams:
        """No teams (no ``teams.csv``)."""
        return cls(())

    @classmethod
    def load(cls, config_dir: Path, hierarchy: Hierarchy) -> Teams:
        """Read ``teams.csv`` from ``config_dir``; an absent file gives :meth:`empty`.

        Communities and members are checked against ``hierarchy``. Raises TeamsConfigError
        (a DispatchConfigError) listing every problem, in file order.
        """
        path = config_dir / TEAMS_FILE
        if not path.exists():
            return cls.empty()
        sheet = ConfigCsv.read(path, TEAMS_HEADER)
        teams: list[Team] = []
        for line, _, fields in sheet.keyed("id", skip_empty=False):
            team = _parse_row(sheet, line, fields, hierarchy)
            if team is not None:
                teams.append(team)
        sheet.raise_problems(TeamsConfigError)
        return cls(teams)

    # -- queries -------------------------------------------------------------------------

    def get(self, team_id: str) -> Team | None:
        """The team with ``team_id``, or None."""
        return self._teams.get(team_id)

    def for_community(self, code: str) -> tuple[Team, ...]:
        """The teams registered with community ``code``, in file order."""
        return self._by_community.get(code, ())

    def teams_of(self, responder_id: str) -> tuple[Team, ...]:
        """The teams ``responder_id`` is a member (or captain) of, in file order."""
        return self._by_member.get(responder_id, ())

    def __iter__(self) -> Iterator[Team]:
        return iter(self._teams.values())

    def __len__(self) -> int:
        return len(self._teams)

    def __contains__(self, team_id: object) -> bool:
        return team_id in self._teams

    def __repr__(self) -> str:
        return f"Teams(teams={len(self._teams)}, communities={len(self._by_community)})"


# -- teams.csv -----------------------------------------------------------------------------


def _parse_row(sheet: ConfigCsv, line: int, fields: list[str], hierarchy: Hierarchy) -> Team | None:
    """The team on one row, or None after recording every problem in it (an empty id is
    reported by ``keyed``; the row's other fields are still checked)."""
    tid, name, community, captain, members_text = fields
    ok = bool(tid)

    def report(message: str) -> None:
        nonlocal ok
        sheet.problem(line, tid or None, message)
        ok = False

    if not name:
        report("empty name")

    community_ok = False
    if not community:
        report("empty community")
    else:
        cell = hierarchy.get(community)
        if cell is None:
            report(f"unknown community {community}: no cell in grids.csv has this code")
        elif cell.level != Level.COMMUNITY:
            report(
                f"community {community} is level {int(cell.level)} ({cell.level.key}); "
                "a team registers with a level 3 (community) cell"
            )
        else:
            community_ok = True

    members: list[str] = []
    for member in (m.strip() for m in members_text.split(";")):
        if not member:
            continue
        if member in members:
            report(f"member {member} is listed twice")
            continue
        members.append(member)
        responder = hierarchy.responder(member)
        if responder is None:
            report(f"member {member} is not a known responder id")
        elif responder.kind is not ResponderKind.REGISTERED_MEMBER:
            report(
                f"member {member} is a {responder.kind.value}; "
                "team members are registered_member (报到党员)"
            )
        elif community_ok and responder.grid != community:
            report(
                f"member {member} is registered with {responder.grid}, not community {community}"
            )
    if not members:
        report("empty members")

    if not captain:
        report("empty captain")
    elif members and captain not in members:
        report(f"captain {captain} is not among the members")

    if not ok:
        return None
    return Team(tid, name, community, captain, tuple(members), line)
