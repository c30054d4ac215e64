"""Dispatch: the five-whistle rules, the category catalog, the working calendar and the router.

Typical start-up::

    hierarchy = grids.loader.load_hierarchy(config_dir)
    config = load_dispatch_config(config_dir)
    router = Router.compile(hierarchy, config)  # cross-checks grids against the config
    decision = router.route(RouteRequest(source=Source.CITIZEN, category="E0101",
                                         cell="530524101001001", received_at=now))
"""

from __future__ import annotations

from dispatch.calendar import Holiday, WorkCalendar
from dispatch.catalog import Catalog, Category, CategoryType, Major
from dispatch.config import (
    DispatchConfig,
    calendar_outlook,
    calendar_warnings,
    load_dispatch_config,
)
from dispatch.decision import Decision, Informed, PlannedAssignment, TraceStep
from dispatch.durations import Duration, Unit
from dispatch.duty import DutyRoster, Shift
from dispatch.exceptions import CalendarEndError, DispatchConfigError, Problem, UnknownCategoryError
from dispatch.model import Mode, Origin, Source, StepResult, Urgency
from dispatch.policy import LifecyclePolicy
from dispatch.router import Router, RouteRequest, check_fit
from dispatch.rules import (
    Options,
    OptionsConfig,
    Report,
    ReportConfig,
    Rule,
    RuleConfig,
    RulesConfig,
    RuleSet,
)
from dispatch.teams import Team, Teams

__all__ = [
    "CalendarEndError",
    "Catalog",
    "Category",
    "CategoryType",
    "Decision",
    "DispatchConfig",
    "DispatchConfigError",
    "Duration",
    "DutyRoster",
    "Holiday",
    "Informed",
    "LifecyclePolicy",
    "Major",
    "Mode",
    "Options",
    "OptionsConfig",
    "Origin",
    "PlannedAssignment",
    "Problem",
    "Report",
    "ReportConfig",
    "RouteRequest",
    "Router",
    "Rule",
    "RuleConfig",
    "RuleSet",
    "RulesConfig",
    "Shift",
    "Source",
    "StepResult",
    "Team",
    "Teams",
    "TraceStep",
    "Unit",
    "UnknownCategoryError",
    "Urgency",
    "WorkCalendar",
    "calendar_outlook",
    "calendar_warnings",
    "check_fit",
    "load_dispatch_config",
]
