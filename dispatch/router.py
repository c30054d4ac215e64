"""The router: from a whistle (source, category, cell, time) to a :class:`Decision`.

Compiled once from the grid hierarchy, the rules, the catalog and the calendar. Everything
that does not depend on the cell is worked out at compile time (which rule each source and
category gets, the reports a category's ``needs`` add, the backstop for each category), so
``route()`` is a few dict lookups and a climb of at most five cells per report.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from dispatch._routing import Dues, cannot_handle, category_fit, reports_for, spread
from dispatch.calendar import WorkCalendar
from dispatch.catalog import Catalog, Category
from dispatch.decision import Decision, Informed, PlannedAssignment, TraceStep
from dispatch.exceptions import DispatchConfigError, UnknownCategoryError
from dispatch.fit import check_fit
from dispatch.model import Mode, Origin, Source, StepResult, Urgency
from dispatch.rules import Report, Rule, RulesConfig, RuleSet
from grids.hierarchy import Hierarchy
from grids.model import Cell, Responder, ResponderKind

if TYPE_CHECKING:
    from dispatch.config import DispatchConfig

__all__ = ["OnDuty", "RouteRequest", "Router", "check_fit"]

OnDuty = Callable[[str, datetime], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRequest:
    """A whistle as the router sees it (keyword arguments only).

    ``category`` and ``cell`` must exist (the API validates them first); ``urgency`` None
    takes the category's default; ``received_at`` must be timezone-aware; ``units`` must be
    known responder ids.
    """

    source: Source
    category: str
    cell: str
    received_at: datetime
    urgency: Urgency | None = None
    # 镇党委吹哨: the responders the committee named (ids, validated by the caller); they
    # replace the rule's own reports. Empty: the rule decides.
    units: tuple[str, ...] = ()
    # Open assignments per responder, for spreading a town's jurisdiction units (辖区单位)
    # over its committee whistles; absent ids count as none.
    load: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class _Pick:
    """A responder the climb chose, where it sits, and why it is the one (the post itself,
    its B post, or the duty person covering for them)."""

    responder: Responder
    cell: Cell
    origin: Origin


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a (source, category) pair needs, settled at compile time."""

    rule: Rule
    category: Category
    reports: tuple[Report, ...]
    needed_by: tuple[str, ...]  # per report, for explanations
    backstop: Responder
    # Per report: cell code -> responders of the report's kind there (a lookup by code only).
    responders: tuple[Mapping[str, tuple[Responder, ...]], ...]


class Router:
    """Decides who must report for a whistle. Immutable after construction; thread-safe.

    Construction runs the cross-reference checks between the grids and the dispatch config
    (see :func:`check_fit`) and raises DispatchConfigError listing every problem.
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        rules: RulesConfig | RuleSet,
        catalog: Catalog,
        calendar: WorkCalendar,
    ) -> None:
        problems = check_fit(hierarchy, catalog)
        if problems:
            raise DispatchConfigError(problems)
        self.hierarchy = hierarchy
        self.rules = rules if isinstance(rules, RuleSet) else RuleSet(rules)
        self.catalog = catalog
        self.calendar = calendar
        self._plans = self._compile_plans()

    def rebind(self) -> None:
        """Plan again over what ``self.hierarchy`` holds now (after ``Hierarchy.adopt``).

        The caller has checked the new hierarchy against this catalog (``check_fit``)."""
        self._plans = self._compile_plans()

    def _compile_plans(self) -> dict[tuple[Source, str], _Plan]:
        hierarchy, catalog = self.hierarchy, self.catalog
        root = hierarchy.root
        backstops = hierarchy.responders_at(root, ResponderKind.BACKSTOP)
        plans: dict[tuple[Source, str], _Plan] = {}
        for category in catalog:
            # check_fit guarantees one; the first in roster order that handles it.
            backstop = next(b for b in backstops if b.handles(category.code))
            for source in Source:
                rule = self.rules.match(source, category)
                reports, needed_by = reports_for(rule, category)
                responders = tuple(hierarchy.responders_of_kind(r.kind) for r in reports)
                plans[source, category.code] = _Plan(
                    rule, category, reports, needed_by, backstop, responders
                )
        return plans

    @classmethod
    def compile(cls, hierarchy: Hierarchy, config: DispatchConfig) -> Router:
        """The router for ``hierarchy`` under a loaded :class:`~dispatch.DispatchConfig`."""
        return cls(hierarchy, config.rules, config.catalog, config.calendar)

    def __repr__(self) -> str:
        return f"Router({self.hierarchy!r}, {self.rules!r}, {self.catalog!r})"

    def rule_for(self, source: Source, category: str) -> Rule:
        """The rule a whistle of ``source`` and ``category`` gets."""
        plan = self._plans.get((source, category))
        if plan is None:
            raise UnknownCategoryError(category)
        return plan.rule

    def deadlines(
        self, decision: Decision, received_at: datetime, *, calendar: WorkCalendar | None = None
    ) -> tuple[tuple[datetime | None, datetime | None, datetime], ...]:
        """Per assignment of ``decision``, its (acknowledge, claim, resolve) deadlines for a
        whistle received at ``received_at`` whose climb found the same responders, as
        :meth:`route` would work them out. What-if replay caches a decision per set of inputs
        and times each whistle sharing them with this (see ``whistle.replay``). Raises
        CalendarEndError like :meth:`route`."""
        plan = self._plans[decision.source, decision.category.code]
        dues = Dues(calendar or self.calendar, received_at, decision.urgency, plan.category)
        by_index = {report.index: report.options for report in plan.reports}
        named = plan.reports[0].options if plan.reports else self.rules.defaults
        out = []
        for a in decision.assignments:
            options = named if a.origin is Origin.NAMED else by_index[a.report_index]
            out.append(
                (
                    None if a.acknowledge_due is None else dues.acknowledge(options),
                    None if a.claim_due is None else dues.claim(options),
                    dues.resolve(options),
                )
            )
        return tuple(out)

    def retime(
        self, decision: Decision, received_at: datetime, *, calendar: WorkCalendar | None = None
    ) -> Decision:
        """``decision`` with the deadlines of :meth:`deadlines` for ``received_at``."""
        assignments = tuple(
            replace(a, acknowledge_due=ack, claim_due=claim, resolve_due=resolve)
            for a, (ack, claim, resolve) in zip(
                decision.assignments,
                self.deadlines(decision, received_at, calendar=calendar),
                strict=True,
            )
        )
        return replace(decision, received_at=received_at, assignments=assignments)

    def route(
        self,
        request: RouteRequest,
        *,
        on_duty: OnDuty | None = None,
        calendar: WorkCalendar | None = None,
    ) -> Decision:
        """Decide who must report, where they were found, and every deadline.

        Pure: the same request always gives the same decision. Raises UnknownCategoryError
        or grids' UnknownCellError for codes that do not exist, ValueError for a naive
        ``received_at``, and CalendarEndError for a working-time deadline past the
        calendar's end (``calendar`` overrides the router's, e.g. with its extrapolation).
        """
        received = request.received_at
        if received.tzinfo is None or received.utcoffset() is None:
            raise ValueError("received_at must be a timezone-aware datetime")
        plan = self._plans.get((request.source, request.category))
        if plan is None:
            raise UnknownCategoryError(request.category)
        category = plan.category
        urgency = request.urgency or category.urgency
        # The located cell first, then its parent, up to the county: the climb's order.
        chain = self.hierarchy.ancestors(request.cell)
        cell = chain[0]
        dues = Dues(calendar or self.calendar, received, urgency, category)

        assignments: list[PlannedAssignment] = []
        named_kinds: set[ResponderKind] = set()
        if request.units:
            assignments.extend(self._named(plan, request.units, dues))
            named_kinds = {a.kind for a in assignments}
        for report, needed_by, here in zip(
            plan.reports, plan.needed_by, plan.responders, strict=True
        ):
            if request.units and (report.origin is Origin.RULE or report.kind in named_kinds):
                continue  # the committee named whom it summons; a category's needs remain
            level = report.level
            # Start at the ancestor at the report's level; at the cell itself when it is at or
            # above that level (levels are contiguous, so the distance is the difference).
            start = cell.level - level if level is not None and cell.level > level else 0
            if report.options.mode is Mode.CLAIM:
                assignments.append(self._claim(plan, report, needed_by, chain, start, dues, here))
            elif report.options.optional:
                # "May report in": only where the report starts, never climbing or covering.
                if level is None or cell.level >= level:
                    assignments.extend(self._optional(plan, report, needed_by, chain[start], dues))
            else:
                assignments.extend(
                    self._push(
                        plan, report, needed_by, chain, start, dues, on_duty, here, request.load
                    )
                )
        return Decision(
            rule_id=plan.rule.id,
            rule_name=plan.rule.name,
            source=request.source,
            category=category,
            urgency=urgency,
            cell=cell.code,
            received_at=received,
            assignments=tuple(assignments),
            informed=self._informed(plan, chain, assignments),
        )

    def _informed(
        self, plan: _Plan, chain: list[Cell], assignments: list[PlannedAssignment]
    ) -> tuple[Informed, ...]:
        """The rule's ``inform`` kinds at the located cell's ancestor at their level (知会);
        nobody when the whistle is placed above that level, and nobody who already has an
        assignment of the case."""
        if not plan.rule.inform:
            return ()
        cell = chain[0]
        holding = {a.responder_id for a in assignments}
        informed: list[Informed] = []
        for entry in plan.rule.inform:
            if cell.level < entry.level:
                continue
            at = chain[cell.level - entry.level]
            for responder in self.hierarchy.responders_at(at.code, entry.kind):
                if responder.id in holding or not responder.handles(plan.category.code):
                    continue
                informed.append(Informed(responder, entry.kind, at.code, at.level, plan.rule.id))
        return tuple(informed)

    # -- re-assignment (escalation, AB post, return, unclaimed) ---------------------------

    def reassign(
        self,
        *,
        kind: ResponderKind,
        start: str,
        category: str,
        urgency: Urgency,
        at: datetime,
        resolve_due: datetime,
        exclude: Collection[str],
        origin: Origin,
        why: str,
        tried: Collection[str] = (),
    ) -> PlannedAssignment | None:
        """A new push assignment of ``kind`` for a case already under way.

        Climbs from cell ``start`` to the county for a responder of ``kind`` who handles
        ``category`` and is not in ``exclude`` (those on the case, or who failed it); at the
        county the backstop takes it, unless it already had this very slot (``tried``): then
        None, and the case stays with the backstop, which nothing can escalate past. The
        backstop may hold several slots of one case at once.
        """
        plan = self._plans.get((Source.CITIZEN, category))
        if plan is None:
            raise UnknownCategoryError(category)
        steps: list[TraceStep] = []
        for cell in self.hierarchy.ancestors(start):
            for responder in self.hierarchy.responders_at(cell.code, kind):
                if responder.id in exclude:
                    steps.append(
                        TraceStep(cell.code, cell.level, StepResult.EXCLUDED, responder.id, why)
                    )
                elif not responder.handles(category):
                    steps.append(cannot_handle(cell, responder, category))
                else:
                    steps.append(
                        TraceStep(
                            cell.code,
                            cell.level,
                            StepResult.CHOSEN,
                            responder.id,
                            f"{kind} {responder.name}",
                        )
                    )
                    return self._replacement(
                        kind, responder, cell, origin, urgency, at, resolve_due, steps, why
                    )
            if not self.hierarchy.responders_at(cell.code, kind):
                steps.append(TraceStep(cell.code, cell.level, StepResult.NONE_OF_KIND, None, ""))
        backstop = plan.backstop
        if backstop.id in tried:
            return None
        root = self.hierarchy.cell(self.hierarchy.root)
        steps.append(
            TraceStep(root.code, root.level, StepResult.BACKSTOP, backstop.id, f"no other {kind}")
        )
        return self._replacement(
            kind, backstop, root, Origin.BACKSTOP, urgency, at, resolve_due, steps, why
        )

    def backup_of(
        self,
        responder_id: str,
        *,
        category: str,
        urgency: Urgency,
        at: datetime,
        resolve_due: datetime,
        exclude: Collection[str],
        why: str,
    ) -> PlannedAssignment | None:
        """The B post of ``responder_id`` (its roster ``backup``), when it has one that may
        take the case: known, not in ``exclude``, and able to handle ``category``."""
        responder = self.hierarchy.responder(responder_id)
        if responder is None or responder.backup is None:
            return None
        backup = self.hierarchy.responder(responder.backup)
        if backup is None or backup.id in exclude or not backup.handles(category):
            return None
        cell = self.hierarchy.cell(backup.grid)
        step = TraceStep(
            cell.code, cell.level, StepResult.CHOSEN, backup.id, f"B post of {responder.id}"
        )
        return self._replacement(
            responder.kind, backup, cell, Origin.BACKUP, urgency, at, resolve_due, [step], why
        )

    def duty_cover(
        self,
        responder_id: str,
        *,
        category: str,
        urgency: Urgency,
        at: datetime,
        resolve_due: datetime,
        exclude: Collection[str],
        on_duty: OnDuty,
        why: str,
    ) -> PlannedAssignment | None:
        """The duty person (值班) who covers for ``responder_id`` at ``at``: the first on duty
        of the kind's ``duty`` kind (rules.toml ``[kind.<kind>]``), climbing from the
        responder's cell, who handles ``category`` and is not in ``exclude``. None when the
        kind has no duty kind or nobody of it is on duty."""
        responder = self.hierarchy.responder(responder_id)
        if responder is None:
            return None
        steps: list[TraceStep] = []
        found = self._duty_person(responder, category, at, on_duty, exclude, steps)
        if found is None:
            return None
        duty, cell = found
        return self._replacement(
            responder.kind, duty, cell, Origin.DUTY, urgency, at, resolve_due, steps, why
        )

    def _duty_person(
        self,
        responder: Responder,
        code: str,
        at: datetime,
        on_duty: OnDuty,
        exclude: Collection[str],
        steps: list[TraceStep],
    ) -> tuple[Responder, Cell] | None:
        kind = self.rules.duty_kind(responder.kind)
        if kind is None:
            return None
        for cell in self.hierarchy.ancestors(responder.grid):
            for duty in self.hierarchy.responders_at(cell.code, kind):
                if duty.id in exclude or not duty.handles(code):
                    continue
                if on_duty(duty.id, at):
                    steps.append(
                        TraceStep(
                            cell.code, cell.level, StepResult.CHOSEN, duty.id,
                            f"值班 {kind} {duty.name} covers for {responder.id}",
                        )
                    )  # fmt: skip
                    return duty, cell
        return None

    def _replacement(
        self,
        kind: ResponderKind,
        responder: Responder,
        cell: Cell,
        origin: Origin,
        urgency: Urgency,
        at: datetime,
        resolve_due: datetime,
        steps: list[TraceStep],
        why: str,
    ) -> PlannedAssignment:
        options = self.rules.defaults
        add = self.calendar.add
        acknowledge_due = min(
            add(at, options.acknowledge(urgency)), add(at, options.acknowledge_cap)
        )
        return PlannedAssignment(
            kind=kind,
            mode=Mode.PUSH,
            responder=responder,
            cell=cell.code,
            level=cell.level,
            origin=origin,
            rule_id=origin.value,
            report_index=0,
            acknowledge_due=acknowledge_due,
            claim_due=None,
            resolve_due=resolve_due,
            eligible=(),
            trace=tuple(steps),
            needed_by=why,
        )

    def _named(self, plan: _Plan, units: tuple[str, ...], dues: Dues) -> list[PlannedAssignment]:
        """A push to each responder the town committee named, where it works."""
        options = plan.reports[0].options if plan.reports else self.rules.defaults
        out: list[PlannedAssignment] = []
        for index, unit_id in enumerate(units):
            responder = self.hierarchy.responder(unit_id)
            if responder is None:
                raise ValueError(f"unknown responder {unit_id!r}")
            cell = self.hierarchy.cell(responder.grid)
            why = f"named by the town committee: {responder.kind} {responder.name}"
            out.append(
                PlannedAssignment(
                    kind=responder.kind,
                    mode=Mode.PUSH,
                    responder=responder,
                    cell=cell.code,
                    level=cell.level,
                    origin=Origin.NAMED,
                    rule_id=plan.rule.id,
                    report_index=index,
                    acknowledge_due=dues.acknowledge(options),
                    claim_due=None,
                    resolve_due=dues.resolve(options),
                    eligible=(),
                    trace=(TraceStep(cell.code, cell.level, StepResult.CHOSEN, unit_id, why),),
                    needed_by=f"rule {plan.rule.id} ({plan.rule.name}), {why}",
                )
            )
        return out

    # -- the climb -----------------------------------------------------------------------

    def _push(
        self,
        plan: _Plan,
        report: Report,
        needed_by: str,
        chain: list[Cell],
        start: int,
        dues: Dues,
        on_duty: OnDuty | None,
        here: Mapping[str, tuple[Responder, ...]],
        load: Mapping[str, int] | None = None,
    ) -> list[PlannedAssignment]:
        code = plan.category.code
        kind = report.kind
        steps: list[TraceStep] = []
        for found in chain[start:]:
            candidates = here.get(found.code, ())
            if not candidates:
                steps.append(
                    TraceStep(found.code, found.level, StepResult.NONE_OF_KIND, None, f"no {kind}")
                )
                continue
            if kind is ResponderKind.JURISDICTION_UNIT:
                candidates = self._spread_units(candidates, found, code, report.count, load, steps)
            chosen: list[_Pick] = []
            for responder in candidates:
                if not responder.handles(code):
                    steps.append(cannot_handle(found, responder, code))
                    continue
                picked = self._on_duty_post(
                    responder, found, code, dues.received, steps, on_duty, report.origin
                )
                if picked is None or any(p.responder == picked.responder for p in chosen):
                    continue
                chosen.append(picked)
                if len(chosen) == report.count:
                    break
            if not chosen:
                continue  # all here are for other categories: keep climbing
            # Fewer than ``count`` here still stops the climb: the nearest cell owns the case.
            trace = tuple(steps)
            acknowledge_due = dues.acknowledge(report.options)
            resolve_due = dues.resolve(report.options)
            return [
                PlannedAssignment(
                    kind=kind,
                    mode=Mode.PUSH,
                    responder=pick.responder,
                    cell=pick.cell.code,
                    level=pick.cell.level,
                    origin=pick.origin,
                    rule_id=plan.rule.id,
                    report_index=report.index,
                    acknowledge_due=acknowledge_due,
                    claim_due=None,
                    resolve_due=resolve_due,
                    eligible=(),
                    trace=trace,
                    needed_by=needed_by,
                )
                for pick in chosen
            ]
        return [self._backstop(plan, report, needed_by, steps, dues)]

    def _spread_units(
        self,
        candidates: tuple[Responder, ...],
        found: Cell,
        code: str,
        count: int,
        load: Mapping[str, int] | None,
        steps: list[TraceStep],
    ) -> tuple[Responder, ...]:
        """When more of a town's jurisdiction units handle the case than the report needs,
        the order to try them in (see :func:`spread`), with a trace step that says why."""
        fit = [r for r in candidates if r.handles(code)]
        if len(fit) <= count:
            return candidates
        for responder in candidates:
            if not responder.handles(code):
                steps.append(cannot_handle(found, responder, code))
        ordered = spread(tuple(fit), code, load or {})
        shown = ", ".join(
            f"{r.id} (fit {category_fit(r, code)}, open {(load or {}).get(r.id, 0)})"
            for r in ordered
        )
        steps.append(
            TraceStep(
                found.code,
                found.level,
                StepResult.SPREAD,
                None,
                f"closest category fit, then fewest open cases: {shown}",
            )
        )
        return ordered

    def _optional(
        self, plan: _Plan, report: Report, needed_by: str, cell: Cell, dues: Dues
    ) -> list[PlannedAssignment]:
        """An optional push: the responders of the kind at ``cell`` who handle the category,
        up to ``count``, with no acknowledgement deadline; nobody, when none is there."""
        code = plan.category.code
        found = [
            r for r in self.hierarchy.responders_at(cell.code, report.kind) if r.handles(code)
        ][: report.count]
        return [
            PlannedAssignment(
                kind=report.kind,
                mode=Mode.PUSH,
                responder=responder,
                cell=cell.code,
                level=cell.level,
                origin=report.origin,
                rule_id=plan.rule.id,
                report_index=report.index,
                acknowledge_due=None,
                claim_due=None,
                resolve_due=dues.resolve(report.options),
                eligible=(),
                trace=(
                    TraceStep(
                        cell.code,
                        cell.level,
                        StepResult.CHOSEN,
                        responder.id,
                        f"{report.kind} {responder.name} may report in",
                    ),
                ),
                needed_by=needed_by,
            )
            for responder in found
        ]

    def _on_duty_post(
        self,
        responder: Responder,
        cell: Cell,
        code: str,
        at: datetime,
        steps: list[TraceStep],
        on_duty: OnDuty | None,
        origin: Origin,
    ) -> _Pick | None:
        """``responder`` when on duty; else its B post (AB岗) when that one is; else the duty
        person of the level (值班, found climbing from the responder's cell); else None, and
        the climb goes on."""
        if on_duty is None or on_duty(responder.id, at):
            steps.append(
                TraceStep(
                    cell.code, cell.level, StepResult.CHOSEN, responder.id,
                    f"{responder.kind} {responder.name}",
                )
            )  # fmt: skip
            return _Pick(responder, cell, origin)
        steps.append(
            TraceStep(cell.code, cell.level, StepResult.OFF_DUTY, responder.id, "A post off duty")
        )
        backup = None if responder.backup is None else self.hierarchy.responder(responder.backup)
        if backup is not None and backup.handles(code):
            if on_duty(backup.id, at):
                steps.append(
                    TraceStep(
                        cell.code, cell.level, StepResult.CHOSEN, backup.id,
                        f"B post {backup.name} of {responder.id}",
                    )
                )  # fmt: skip
                return _Pick(backup, cell, Origin.BACKUP)
            steps.append(
                TraceStep(cell.code, cell.level, StepResult.OFF_DUTY, backup.id, "B post off duty")
            )
        found = self._duty_person(responder, code, at, on_duty, (), steps)
        if found is not None:
            return _Pick(found[0], found[1], Origin.DUTY)
        return None

    def _claim(
        self,
        plan: _Plan,
        report: Report,
        needed_by: str,
        chain: list[Cell],
        start: int,
        dues: Dues,
        here: Mapping[str, tuple[Responder, ...]],
    ) -> PlannedAssignment:
        code = plan.category.code
        kind = report.kind
        steps: list[TraceStep] = []
        for found in chain[start:]:
            candidates = here.get(found.code, ())
            if not candidates:
                steps.append(
                    TraceStep(found.code, found.level, StepResult.NONE_OF_KIND, None, f"no {kind}")
                )
                continue
            eligible = tuple(r.id for r in candidates if r.handles(code))
            if not eligible:
                steps.append(
                    TraceStep(
                        found.code,
                        found.level,
                        StepResult.CANNOT_HANDLE,
                        None,
                        f"{len(candidates)} {kind}, none handles {code}",
                    )
                )
                continue
            steps.append(
                TraceStep(
                    found.code,
                    found.level,
                    StepResult.BOARD,
                    None,
                    f"{len(eligible)} of {len(candidates)} {kind} handle {code}",
                )
            )
            return PlannedAssignment(
                kind=kind,
                mode=Mode.CLAIM,
                responder=None,
                cell=found.code,
                level=found.level,
                origin=report.origin,
                rule_id=plan.rule.id,
                report_index=report.index,
                acknowledge_due=None,
                claim_due=dues.claim(report.options),
                resolve_due=dues.resolve(report.options),
                eligible=eligible,
                trace=tuple(steps),
                needed_by=needed_by,
            )
        return self._backstop(plan, report, needed_by, steps, dues)

    def _backstop(
        self,
        plan: _Plan,
        report: Report,
        needed_by: str,
        steps: list[TraceStep],
        dues: Dues,
    ) -> PlannedAssignment:
        """Nobody of the kind up to the county: the county backstop (兜底) takes it, as a push
        (a board nobody reads would drop the case)."""
        backstop = plan.backstop
        root = self.hierarchy.cell(self.hierarchy.root)
        steps.append(
            TraceStep(
                root.code,
                root.level,
                StepResult.BACKSTOP,
                backstop.id,
                f"no {report.kind} up to the county; backstop {backstop.name}",
            )
        )
        return PlannedAssignment(
            kind=report.kind,
            mode=Mode.PUSH,
            responder=backstop,
            cell=root.code,
            level=root.level,
            origin=Origin.BACKSTOP,
            rule_id=plan.rule.id,
            report_index=report.index,
            acknowledge_due=dues.acknowledge(report.options),
            claim_due=None,
            resolve_due=dues.resolve(report.options),
            eligible=(),
            trace=tuple(steps),
            needed_by=needed_by,
        )
