"""The party-building side (issue 19): units and the big party committee (大党委), 双报到
registrations, needs → projects → claims, volunteer teams, service hours and pairings
(结对帮扶) with their visits as deadlines."""

from whistle.party.exceptions import PartyNotFound, PartyStateError
from whistle.party.reports import Window, summary, unit_report
from whistle.party.service import PartyService, cell_path
from whistle.party.visits import VisitPolicy, Visits

__all__ = [
    "PartyNotFound",
    "PartyService",
    "PartyStateError",
    "VisitPolicy",
    "Visits",
    "Window",
    "cell_path",
    "summary",
    "unit_report",
]
