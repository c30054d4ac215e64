"""The five-whistle rules (五哨五到) as data: who must report for which whistle, and by when.

Two shapes, as in Alertmanager's config ``Route`` and dispatch ``Route``:

- :class:`RulesConfig` and friends mirror ``config/rules.toml`` key for key (unknown keys fail
  at load), with each table's options left partial: None means "inherit".
- :class:`RuleSet` is compiled from it: each :class:`Report` holds complete
  :class:`Options`, copied from ``[defaults]``, then the rule's, then the report's own, with
  ``dataclasses.replace``.

Rules are ordered and the first that matches a whistle's source and category wins; the
last rule of every source is a catch-all, so every whistle matches one.

Besides the rules, two kinds of data a town staffs by:

- ``inform`` (知会): who is told of a case without owning it (the 网格长 of the grid, the
  联户长 of the micro-grid), on ``[defaults]`` or a rule (a rule's list replaces the default);
- ``[kind.<kind>]``: per responder kind, the ``duty`` kind that covers for it when it and its
  B post are off duty (值班), and the kind a missed push ``escalate``s to after the B post.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch._toml import Issues, Table, enum_parser, parse_toml, read_toml
from dispatch.catalog import Catalog, Category
from dispatch.durations import Duration, Unit
from dispatch.model import Mode, Origin, Source, Urgency
from grids.model import Level, ResponderKind

__all__ = [
    "Inform",
    "KindConfig",
    "Options",
    "OptionsConfig",
    "Report",
    "ReportConfig",
    "Rule",
    "RuleConfig",
    "RuleSet",
    "RulesConfig",
]

_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_OPTION_KEYS = (
    "mode",
    "acknowledge",
    "acknowledge_cap",
    "claim_window",
    "resolve",
    "optional",
)
_RULE_KEYS = (
    "id",
    "source",
    "name",
    "description",
    "categories",
    "claimable",
    "report",
    "inform",
)
_REPORT_KEYS = ("kind", "level", "count")
_INFORM_KEYS = ("kind", "level")
_KIND_KEYS = ("duty", "escalate")

_parse_source = enum_parser(Source, "source", (s.value for s in Source))
_parse_kind = enum_parser(ResponderKind, "responder kind", (k.value for k in ResponderKind))
_parse_mode = enum_parser(Mode, "mode", (m.value for m in Mode))


# Shipped defaults (DOMAIN.md), used where rules.toml's [defaults] is silent.
_ACKNOWLEDGE_URGENT = Duration(10, Unit.MINUTES)
_ACKNOWLEDGE_NORMAL = Duration(30, Unit.MINUTES)
_ACKNOWLEDGE_CAP = Duration(2, Unit.HOURS)
_CLAIM_WINDOW = Duration(24, Unit.HOURS)


@dataclass(frozen=True, slots=True)
class Options:
    """Complete delivery options of one report, after inheritance.

    ``resolve`` overrides the category's time limit when set. ``optional`` makes a push a
    "may report in" (the 联户长 for small matters): it goes to the responders of the kind at the
    start cell only, with no acknowledgement deadline, so nobody climbs, covers or escalates
    for it and nothing reaches the backstop; the first to report in owns the case as usual.
    """

    mode: Mode = Mode.PUSH
    acknowledge_urgent: Duration = _ACKNOWLEDGE_URGENT
    acknowledge_normal: Duration = _ACKNOWLEDGE_NORMAL
    acknowledge_cap: Duration = _ACKNOWLEDGE_CAP
    claim_window: Duration = _CLAIM_WINDOW
    resolve: Duration | None = None
    optional: bool = False

    def acknowledge(self, urgency: Urgency) -> Duration:
        """The time to acknowledge a push assignment of ``urgency`` (before the cap)."""
        return self.acknowledge_urgent if urgency is Urgency.URGENT else self.acknowledge_normal


DEFAULT_OPTIONS = Options()


@dataclass(frozen=True, slots=True)
class OptionsConfig:
    """The options one table of rules.toml sets; None inherits the parent's value."""

    mode: Mode | None = None
    acknowledge_urgent: Duration | None = None
    acknowledge_normal: Duration | None = None
    acknowledge_cap: Duration | None = None
    claim_window: Duration | None = None
    resolve: Duration | None = None
    optional: bool | None = None

    def apply(self, parent: Options) -> Options:
        """``parent`` with the values this table sets."""
        changes = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }
        return dataclasses.replace(parent, **changes) if changes else parent


@dataclass(frozen=True, slots=True)
class Inform:
    """One ``inform`` entry: the responders of ``kind`` at the located cell's ancestor at
    ``level`` are told of the case (知会). They do not own it and have no deadline; nobody is
    informed when the whistle is placed above ``level``."""

    kind: ResponderKind
    level: Level

    def __str__(self) -> str:
        return f"{self.kind.value}@{self.level.key}"


@dataclass(frozen=True, slots=True)
class KindConfig:
    """A ``[kind.<kind>]`` table: how a town staffs around one responder kind.

    ``duty`` is the kind of the duty person (值班员, 值班民警) who covers when a responder of
    this kind and its B post are off duty, found climbing from the responder's cell. None:
    nobody covers, the climb goes on. ``escalate`` is the kind a missed push goes to after
    the B post (the 报到党员 and 无职党员 to the 网格长, the 社区民警 to the 派出所); None: the
    same kind one level up.
    """

    duty: ResponderKind | None = None
    escalate: ResponderKind | None = None


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """A ``[[rule.report]]``: a responder kind that must report, and where to start looking.

    ``level`` None starts at the cell the whistle was located in. ``count`` is how many
    responders of the kind to push to at the cell where they are found (claim mode posts to
    the whole board and ignores it).
    """

    kind: ResponderKind
    level: Level | None = None
    count: int = 1
    options: OptionsConfig = OptionsConfig()


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """A ``[[rule]]``: matchers on a whistle and the reports it requires.

    ``categories`` (code prefixes) and ``claimable`` are matchers; None matches anything.
    A rule with neither is a catch-all for its source.
    """

    id: str
    source: Source
    name: str
    reports: tuple[ReportConfig, ...]
    description: str = ""
    categories: tuple[str, ...] | None = None
    claimable: bool | None = None
    options: OptionsConfig = OptionsConfig()
    inform: tuple[Inform, ...] | None = None  # None inherits [defaults]

    @property
    def is_catch_all(self) -> bool:
        """True when the rule has no matchers, so it takes every whistle of its source."""
        return self.categories is None and self.claimable is None

    def matches(self, category: Category) -> bool:
        """True when this rule applies to a case of ``category`` (the source aside)."""
        return _matches(self.categories, self.claimable, category)


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """The whole of rules.toml: default options, the ordered rules, who is informed by
    default, and the per-kind staffing (``[kind.<kind>]``)."""

    rules: tuple[RuleConfig, ...]
    defaults: OptionsConfig = OptionsConfig()
    inform: tuple[Inform, ...] = ()
    kinds: Mapping[ResponderKind, KindConfig] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, catalog: Catalog | None = None) -> RulesConfig:
        """Read and validate ``rules.toml``, against ``catalog`` when given.

        Raises DispatchConfigError listing every problem.
        """
        issues = Issues(path.name)
        data = read_toml(path, issues)
        config = None if data is None else rules_from_data(data, issues, catalog)
        issues.raise_if_any()
        assert config is not None
        return config

    @classmethod
    def from_toml(
        cls, text: str, catalog: Catalog | None = None, *, file: str = "rules.toml"
    ) -> RulesConfig:
        """Like :meth:`load`, from the text of a file called ``file`` (for messages)."""
        issues = Issues(file)
        data = parse_toml(text, issues)
        config = None if data is None else rules_from_data(data, issues, catalog)
        issues.raise_if_any()
        assert config is not None
        return config


# -- compiled ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """A compiled report: a kind to find, where to start, and complete options.

    ``index`` is its position among the decision's reports; ``origin`` says whether the rule
    or the category's ``needs`` asked for it.
    """

    kind: ResponderKind
    level: Level | None
    count: int
    options: Options
    index: int
    origin: Origin = Origin.RULE

    @property
    def mode(self) -> Mode:
        """Push or claim, after inheritance."""
        return self.options.mode


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: the config's matchers with reports carrying inherited options."""

    id: str
    source: Source
    name: str
    description: str
    categories: tuple[str, ...] | None
    claimable: bool | None
    options: Options
    reports: tuple[Report, ...]
    inform: tuple[Inform, ...] = ()

    def __repr__(self) -> str:
        return f"Rule({self.id!r}, source={self.source.value})"

    def matches(self, category: Category) -> bool:
        """True when this rule applies to a case of ``category`` (the source aside)."""
        return _matches(self.categories, self.claimable, category)


class RuleSet:
    """The compiled rules, grouped by source in file order."""

    def __init__(self, config: RulesConfig) -> None:
        defaults = config.defaults.apply(DEFAULT_OPTIONS)
        self.defaults = defaults
        self.rules = tuple(_compile(rule, defaults, config.inform) for rule in config.rules)
        self._kinds = dict(config.kinds)
        by_source: dict[Source, list[Rule]] = {source: [] for source in Source}
        for rule in self.rules:
            by_source[rule.source].append(rule)
        self._by_source = {source: tuple(rules) for source, rules in by_source.items()}

    def __repr__(self) -> str:
        return f"RuleSet(rules={len(self.rules)})"

    def duty_kind(self, kind: ResponderKind) -> ResponderKind | None:
        """The duty kind (值班) that covers for an off-duty ``kind``; None when none does."""
        staffing = self._kinds.get(kind)
        return None if staffing is None else staffing.duty

    def escalation_kind(self, kind: ResponderKind) -> ResponderKind:
        """The kind a missed push of ``kind`` goes to after the B post (itself by default)."""
        staffing = self._kinds.get(kind)
        return kind if staffing is None or staffing.escalate is None else staffing.escalate

    def for_source(self, source: Source) -> tuple[Rule, ...]:
        """The rules of ``source`` in file order (the catch-all last)."""
        return self._by_source[source]

    def match(self, source: Source, category: Category) -> Rule:
        """The first rule of ``source`` that matches ``category``.

        Validation guarantees a catch-all per source; LookupError means the RuleSet was built
        from an unvalidated config.
        """
        for rule in self._by_source[source]:
            if rule.matches(category):
                return rule
        raise LookupError(f"no rule for source {source.value!r} matches {category.code}")


def _matches(
    categories: tuple[str, ...] | None, claimable: bool | None, category: Category
) -> bool:
    if claimable is not None and category.claimable != claimable:
        return False
    return categories is None or category.code.startswith(categories)


def _compile(config: RuleConfig, defaults: Options, inform: tuple[Inform, ...]) -> Rule:
    options = config.options.apply(defaults)
    reports = tuple(
        Report(
            kind=report.kind,
            level=report.level,
            count=report.count,
            options=report.options.apply(options),
            index=index,
        )
        for index, report in enumerate(config.reports)
    )
    return Rule(
        id=config.id,
        source=config.source,
        name=config.name,
        description=config.description,
        categories=config.categories,
        claimable=config.claimable,
        options=options,
        reports=reports,
        inform=inform if config.inform is None else config.inform,
    )


# -- rules.toml ----------------------------------------------------------------------------


def rules_from_data(
    data: Mapping[str, Any], issues: Issues, catalog: Catalog | None = None
) -> RulesConfig | None:
    """Validate parsed ``rules.toml`` in layers; record problems and return None on any.

    Each table checks its own keys, types and values; then the rule set is checked as a
    whole (duplicate ids, a catch-all last for every source, rules that can never match);
    then, given a catalog, the category prefixes and what each rule actually matches.
    """
    before = len(issues.problems)
    top = Table(data, None, issues, ("defaults", "rule", "kind"))
    defaults = OptionsConfig()
    inform: tuple[Inform, ...] = ()
    table = top.table("defaults")
    if table is not None:
        inner = Table(table, "defaults", issues, (*_OPTION_KEYS, "inform"))
        defaults = _read_options(inner)
        inform = _read_inform(inner) or ()
    kinds = _read_kinds(top)

    rules: list[tuple[str, RuleConfig]] = []
    ids: dict[str, str] = {}
    for index, entry in enumerate(top.tables("rule")):
        parsed = _read_rule(index, entry, issues, catalog, ids)
        if parsed is not None:
            rules.append(parsed)

    if len(issues.problems) == before:
        _check_rule_set(rules, issues, catalog)
    if len(issues.problems) > before:
        return None
    return RulesConfig(
        rules=tuple(rule for _, rule in rules), defaults=defaults, inform=inform, kinds=kinds
    )


def _read_inform(table: Table) -> tuple[Inform, ...] | None:
    """``inform = [{ kind = "grid_leader", level = "grid" }, ...]``; None when absent."""
    if "inform" not in table:
        return None
    value = table.data["inform"]
    where = f"{table.where}.inform" if table.where else "inform"
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        table.error(
            'inform: expected a list of tables like { kind = "grid_leader", level = "grid" }'
        )
        return None
    entries: list[Inform] = []
    seen: set[ResponderKind] = set()
    for position, entry in enumerate(value):
        inner = Table(entry, f"{where}[{position}]", table.issues, _INFORM_KEYS)
        kind = inner.choice("kind", _parse_kind, required=True)
        level = inner.choice("level", Level.parse, required=True)
        if kind is None or level is None:
            continue
        if kind in seen:
            inner.error(f"responder kind {kind.value!r} is informed twice")
            continue
        seen.add(kind)
        entries.append(Inform(kind, level))
    return tuple(entries)


def _read_kinds(top: Table) -> dict[ResponderKind, KindConfig]:
    """The ``[kind.<kind>]`` tables: who covers off duty, who a missed push escalates to."""
    kinds: dict[ResponderKind, KindConfig] = {}
    table = top.table("kind")
    if table is None:
        return kinds
    for name, entry in table.items():
        where = f"kind.{name}"
        try:
            kind = ResponderKind(name)
        except ValueError:
            known = ", ".join(k.value for k in ResponderKind)
            top.issues.add(where, f"unknown responder kind {name!r}; expected one of {known}")
            continue
        if not isinstance(entry, dict):
            top.issues.add(where, "expected a table with duty and/or escalate")
            continue
        inner = Table(entry, where, top.issues, _KIND_KEYS)
        duty = inner.choice("duty", _parse_kind)
        escalate = inner.choice("escalate", _parse_kind)
        if duty is kind:
            inner.error(f"duty: {kind.value} cannot be its own duty person")
        elif duty is not None and duty is ResponderKind.BACKSTOP:
            inner.error("duty: the backstop is the end of the climb, not a duty person")
        else:
            kinds[kind] = KindConfig(duty=duty, escalate=escalate)
    return kinds


def _rule_label(index: int, data: Mapping[str, Any]) -> str:
    rule_id = data.get("id")
    return f"rule[{index}]" + (f" ({rule_id})" if isinstance(rule_id, str) else "")


def _read_options(table: Table) -> OptionsConfig:
    changes: dict[str, Any] = {}
    mode = table.choice("mode", _parse_mode)
    if mode is not None:
        changes["mode"] = mode
    if "acknowledge" in table:
        value = table.data["acknowledge"]
        if isinstance(value, str):
            duration = table.parse_duration("acknowledge", value)
            if duration is not None:
                changes.update(acknowledge_urgent=duration, acknowledge_normal=duration)
        elif isinstance(value, dict):
            where = f"{table.where}.acknowledge" if table.where else "acknowledge"
            inner = Table(value, where, table.issues, ("urgent", "normal"))
            for urgency in ("urgent", "normal"):
                duration = inner.duration(urgency)
                if duration is not None:
                    changes[f"acknowledge_{urgency}"] = duration
        else:
            table.error(
                'acknowledge: expected a duration or a table { urgent = "10m", normal = "30m" }'
            )
    for key in ("acknowledge_cap", "claim_window", "resolve"):
        duration = table.duration(key)
        if duration is not None:
            changes[key] = duration
    optional = table.flag("optional")
    if optional is not None:
        changes["optional"] = optional
    return OptionsConfig(**changes)


def _read_rule(
    index: int,
    data: Mapping[str, Any],
    issues: Issues,
    catalog: Catalog | None,
    ids: dict[str, str],
) -> tuple[str, RuleConfig] | None:
    where = _rule_label(index, data)
    table = Table(data, where, issues, (*_RULE_KEYS, *_OPTION_KEYS))
    before = len(issues.problems)
    rule_id = table.text("id", required=True)
    if rule_id is not None:
        if not _ID.fullmatch(rule_id):
            table.error(f"invalid rule id {rule_id!r}; use lower-case letters, digits, '-' and '_'")
        elif rule_id in ids:
            table.error(f"duplicate rule id {rule_id!r}; first at {ids[rule_id]}")
        else:
            ids[rule_id] = where
    source = table.choice("source", _parse_source, required=True)
    name = table.text("name")
    description = table.text("description") or ""
    categories = table.texts("categories")
    if categories is not None:
        if not categories:
            table.error(
                "categories: must list at least one code prefix; leave the key out to match "
                "every category"
            )
        for position, prefix in enumerate(categories):
            if catalog is not None and not catalog.has_prefix(prefix):
                table.error(f"categories[{position}]: unknown category or prefix {prefix!r}")
    claimable = table.flag("claimable")
    options = _read_options(table)
    inform = _read_inform(table)

    reports: list[ReportConfig] = []
    kinds: dict[ResponderKind, int] = {}
    entries = table.tables("report")
    if not entries:
        table.error("has no reports ([[rule.report]]): a rule must name who reports")
    for position, entry in enumerate(entries):
        report = _read_report(f"{where}.report[{position}]", entry, issues)
        if report is None:
            continue
        if report.kind in kinds:
            issues.add(
                f"{where}.report[{position}]",
                f"responder kind {report.kind.value!r} is already reported by "
                f"report[{kinds[report.kind]}]",
            )
            continue
        kinds[report.kind] = position
        reports.append(report)

    if len(issues.problems) > before or rule_id is None or source is None:
        return None
    rule = RuleConfig(
        id=rule_id,
        source=source,
        name=name if name is not None else source.label_zh,
        description=description,
        categories=categories,
        claimable=claimable,
        options=options,
        reports=tuple(reports),
        inform=inform,
    )
    return where, rule


def _read_report(where: str, data: Mapping[str, Any], issues: Issues) -> ReportConfig | None:
    table = Table(data, where, issues, (*_REPORT_KEYS, *_OPTION_KEYS))
    before = len(issues.problems)
    kind = table.choice("kind", _parse_kind, required=True)
    level = table.choice("level", Level.parse)
    count = table.integer("count")
    if count is not None and count < 1:
        table.error(f"count: must be at least 1, got {count}")
    options = _read_options(table)
    if options.optional and options.mode is Mode.CLAIM:
        table.error("optional: only a push may be optional; a claim board has no deadline")
    if len(issues.problems) > before or kind is None:
        return None
    return ReportConfig(kind=kind, level=level, count=count or 1, options=options)


def _check_rule_set(
    rules: list[tuple[str, RuleConfig]], issues: Issues, catalog: Catalog | None
) -> None:
    """Whole-file checks: every source ends in a catch-all, and no rule is dead."""
    catch_all: dict[Source, str] = {}
    shadowed: set[str] = set()
    for where, rule in rules:
        if rule.source in catch_all:
            issues.add(
                where,
                f"never matches: {catch_all[rule.source]} before it catches every "
                f"{rule.source.value} whistle",
            )
            shadowed.add(where)
        elif rule.is_catch_all:
            catch_all[rule.source] = where
    for source in Source:
        if source not in catch_all:
            issues.add(
                None,
                f"source {source.value!r} has no catch-all rule (one without categories or "
                f"claimable) as its last rule; every {source.value} whistle must match a rule",
            )
    if catalog is not None:
        _check_against_catalog([r for r in rules if r[0] not in shadowed], issues, catalog)


def _check_against_catalog(
    rules: Iterable[tuple[str, RuleConfig]], issues: Issues, catalog: Catalog
) -> None:
    """A rule that matches no category, or only categories earlier rules take, is dead."""
    taken: dict[Source, set[str]] = {source: set() for source in Source}
    for where, rule in rules:
        matched = [c.code for c in catalog if rule.matches(c)]
        if not matched:
            issues.add(where, "matches no category in the catalog")
            continue
        fresh = [code for code in matched if code not in taken[rule.source]]
        if not fresh:
            issues.add(
                where,
                f"never matches: earlier {rule.source.value} rules take every category it matches",
            )
        taken[rule.source].update(fresh)
