"""The API's other answers, as typed dicts: grids, categories, tokens, silences, statistics,
problems, and the smaller ones (health, media, inboxes, feeds, the citizens' door).

Like ``whistle.documents`` (the whistle, its case and assignments), these classes are read by
``whistle.web.openapi`` for the OpenAPI document's components, and
tests/whistle/test_openapi_answers.py checks a live server's answers against them, with
nothing unlisted. The public door's two request bodies are here too: the handler validates
them with ``WhistleIn`` after its own checks, so these models only describe them.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from the annotations
# as it builds the class (``__required_keys__``), which string annotations would hide.

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

from whistle.documents import CellRef, Rating, Time
from whistle.schema import LIMITS, Instant, LocationIn

__all__ = [
    "Audit",
    "Categories",
    "Category",
    "Cell",
    "CellPage",
    "CellSummary",
    "ConfigApplied",
    "ConfigProblem",
    "ConfigValidation",
    "ConfigVersion",
    "ConfigVersions",
    "FeedResults",
    "Health",
    "History",
    "Inbox",
    "IssuedToken",
    "Media",
    "Problem",
    "PublicFiled",
    "PublicIn",
    "PublicRateIn",
    "PublicView",
    "ReplayJob",
    "Roster",
    "Shapes",
    "Silence",
    "Silences",
    "Stats",
    "StatsCases",
    "Token",
    "Tokens",
    "User",
]

Date = Annotated[str, Field(json_schema_extra={"format": "date"})]

# -- problems and health -----------------------------------------------------------------------


class FieldProblem(TypedDict):
    """One bad field and why: ``reason`` in English; ``code`` and ``params``, where given,
    say the same for a page to put in its reader's language."""

    field: str
    reason: str
    code: NotRequired[Annotated[str, Field(description="the kind of reason, e.g. too_long")]]
    params: NotRequired[
        Annotated[dict[str, str], Field(description="the reason's values, e.g. {max: 2000}")]
    ]


class Problem(TypedDict):
    """RFC 9457 problem details; each bad field is named with its reason."""

    type: str
    title: str
    status: Annotated[int, Field(ge=400)]
    detail: NotRequired[str]
    errors: NotRequired[list[FieldProblem]]
    current: NotRequired[Annotated[str, Field(description="409: the case's status")]]
    allowed: NotRequired[Annotated[list[str], Field(description="409: what it allows")]]
    whistle_id: NotRequired[
        Annotated[
            str | None,
            Field(
                description="An Idempotency-Key reused with another body: the whistle the key "
                "made in the caller's own scope. Never given by the public citizens' door."
            ),
        ]
    ]


class Health(TypedDict):
    """Alive, or ready."""

    status: str
    cells: NotRequired[Annotated[int, Field(description="ready: the cells loaded")]]
    root: NotRequired[Annotated[str, Field(description="ready: the county's code")]]
    database: NotRequired[
        Annotated[str, Field(description="ready: the database checked (sqlite, postgresql)")]
    ]
    place_names: NotRequired[
        Annotated[
            int,
            Field(
                ge=0,
                description="ready: the place names the gazetteer knows (0 while a large "
                "county's names are still being indexed after start)",
            ),
        ]
    ]
    warnings: NotRequired[
        Annotated[
            list[str],
            Field(
                description="ready, but someone must act (the working calendar runs out "
                "within 60 days)"
            ),
        ]
    ]


# -- grids and categories ----------------------------------------------------------------------


class CellSummary(TypedDict):
    """A grid cell and how many children it has."""

    code: str
    name: str
    level: str
    level_number: Annotated[int, Field(ge=1, le=5)]
    level_name: str
    parent: str | None
    children: Annotated[int, Field(ge=0)]


class Point(TypedDict):
    """A point in WGS 84."""

    lat: float
    lon: float


class StaffedBy(TypedDict):
    """A responder of a cell."""

    id: str
    name: str
    kind: str
    kind_name: str
    categories: list[str]
    backup: Annotated[str | None, Field(description="the responder who stands in")]


class Cell(CellSummary):
    """A cell with its chain of parents, its centroid and (inside one's subtree) who staffs
    it."""

    path: list[CellRef]
    centroid: Point | None
    responders: Annotated[
        list[StaffedBy] | None, Field(description="null outside the caller's subtree")
    ]


class CellPage(TypedDict):
    """Cells of a level and/or of a parent."""

    items: list[CellSummary]
    total: Annotated[int, Field(ge=0)]
    next_offset: int | None


class Feature(TypedDict):
    """A GeoJSON feature."""

    type: Literal["Feature"]


class Shapes(TypedDict):
    """A cell's children as GeoJSON."""

    type: Literal["FeatureCollection"]
    code: str
    features: list[Feature]


class RosterEntry(TypedDict):
    """A responder on a cell's roster."""

    id: str


class Roster(TypedDict):
    """A cell's responders and their shifts."""

    code: str
    responders: Annotated[
        list[RosterEntry] | None, Field(description="null outside the caller's subtree")
    ]


class Category(TypedDict):
    """A category of the catalog."""

    code: str
    name: str
    name_en: str
    type: str
    major: str
    major_name: str
    urgency: str
    limit: str
    limit_class: str | None
    needs: list[str]
    claimable: bool
    keywords: Annotated[
        list[str], Field(description="ordinary words a citizen may search it by (楼道 → 楼道堆物)")
    ]
    duplicate_radius_m: Annotated[float, Field(gt=0)]
    duplicate_window: Annotated[
        str | None, Field(description="null: lifecycle.toml's duplicate_window")
    ]


class Categories(TypedDict):
    """The category catalog."""

    items: list[Category]


# -- responders --------------------------------------------------------------------------------


class InboxResponder(TypedDict):
    """Whose inbox."""

    id: str
    name: str
    kind: str
    grid: str


class TeamRef(TypedDict):
    """A service team (服务队)."""

    id: str
    name: str


class Inbox(TypedDict):
    """A responder's open work."""

    responder: InboxResponder
    teams: list[TeamRef]
    assignments: list[dict[str, Any]]
    open_needs: list[dict[str, Any]]
    informed: Annotated[
        list[dict[str, Any]],
        Field(
            description="open cases the responder is informed of (知会) without owning them: "
            "the 网格长 of every case in the grid, the 联户长 of citizens' whistles in the "
            "micro-grid; newest first, at most 100"
        ),
    ]


class QueueCountsOf(TypedDict):
    """Cases in each of the console's queues."""

    dispatched: int
    acknowledged: int
    in_progress: int
    resolved: int
    on_hold: int
    returned: Annotated[int, Field(description="退单待定: returns awaiting a decision")]
    overdue: Annotated[int, Field(description="the next deadline has passed")]
    escalated: int


class QueueCounts(TypedDict):
    """The exact counts per queue in a subtree."""

    counts: QueueCountsOf


class MonthFigures(TypedDict):
    """This month's figures for a responder, as ``/api/v1/stats`` counts them for its board
    cell's responders table."""

    grid: str
    since: Annotated[str, Field(json_schema_extra={"format": "date"})]
    until: Annotated[str, Field(json_schema_extra={"format": "date"})]
    answered: int
    claimed: int
    completed: int
    hours: float


class History(TypedDict):
    """A responder's finished work."""

    responder: str
    items: list[dict[str, Any]]
    month: MonthFigures


# -- silences, tokens, logins ------------------------------------------------------------------


class Silence(TypedDict):
    """A silence: whistles it matches are kept and shown, never routed."""

    id: str
    matchers: Annotated[
        dict[str, str],
        Field(
            description="every matcher given must hold: camera, grid (with its subtree), "
            "category (with its subcategories), source"
        ),
    ]
    starts_at: Time
    ends_at: Time
    author: str
    comment: str
    created_at: Time
    active: bool
    inert: Annotated[
        str | None, Field(description="why a silence stored with a grid alone matches nothing")
    ]


class Silences(TypedDict):
    """Every silence."""

    items: list[Silence]


class Token(TypedDict):
    """An API token, without its secret."""

    id: str
    role: str
    scope: str | None
    responder: str | None
    source: str | None
    label: str
    created_at: Time
    expires_at: Time | None
    revoked_at: Time | None


class Tokens(TypedDict):
    """Every token."""

    items: list[Token]


class GridReload(TypedDict):
    """What a reload of the grid files did: swapped, and the cells and responders now served
    (the running ones when it was refused)."""

    swapped: bool
    cells: int
    responders: int


class IssuedToken(TypedDict):
    """A new token: its secret is shown this once."""

    id: str
    token: str


class User(TypedDict):
    """A login."""

    name: str
    role: str
    scope: str | None


class Audit(TypedDict):
    """The audit trail."""

    items: list[dict[str, Any]]


class ConfigProblem(TypedDict):
    """One problem of a proposed config version, where an editor shows it."""

    file: Annotated[str, Field(description="rules.toml, categories.toml, calendar.toml, ...")]
    line: Annotated[int | None, Field(description="1-based; null when the file has none")]
    where: Annotated[str | None, Field(description="the table or row, e.g. defaults.acknowledge")]
    message: str


class ConfigVersion(TypedDict):
    """A stored version of the rules, catalog, calendar, lifecycle and duty rota."""

    id: int
    hash: Annotated[str, Field(description="SHA-256 over the canonical files")]
    author: str
    reason: str
    created_at: Time
    state: Literal["proposed", "active", "retired"]
    applied_at: Annotated[Time | None, Field(description="when it was last made active")]
    files: NotRequired[Annotated[dict[str, str], Field(description="file name -> its text")]]


class ConfigVersions(TypedDict):
    """Every config version, newest first, and the one this process runs."""

    active: int | None
    files: Annotated[list[str], Field(description="the files a version holds")]
    items: list[ConfigVersion]


class ConfigValidation(TypedDict):
    """The problems of files as a version (``ok``: none; nothing is stored)."""

    ok: bool
    problems: list[ConfigProblem]


class ConfigApplied(TypedDict):
    """The version now active in every process (each picks it up within a second)."""

    active: int | None
    hash: str
    action: Literal["apply", "rollback"]


class Media(TypedDict):
    """An uploaded photo."""

    url: Annotated[str, Field(pattern=r"^/media/[0-9a-f]{64}\.(jpg|png|webp)$")]
    type: Literal["image/jpeg", "image/png", "image/webp"]
    bytes: Annotated[int, Field(ge=1)]


class FeedCounts(TypedDict):
    """How many lines of a feed had each outcome."""

    created: int
    grouped: int
    low_confidence: int
    duplicate: int
    error: int


class FeedLine(TypedDict):
    """One line's outcome."""

    line: int
    status: str
    errors: list[dict[str, Any]]


class FeedResults(TypedDict):
    """Each line's result, the bad ones with their errors; the others are stored."""

    results: list[FeedLine]
    counts: FeedCounts


# -- statistics --------------------------------------------------------------------------------


class Rate(TypedDict):
    """One of the rates (三率 and the others): numerator over denominator."""

    key: str
    name: str
    numerator: int
    denominator: int
    numerator_metric: str
    denominator_metric: str
    rate: Annotated[float | None, Field(description="null: nothing to divide by")]


class Durations(TypedDict):
    """How long it took, in seconds."""

    count: int
    median: float | None
    p90: float | None


class Timeliness(TypedDict):
    """Time to acknowledge and time to resolve."""

    acknowledge: Durations
    resolve: Durations


# A row of a breakdown: its key, its name, and one count per metric.
@with_config(ConfigDict(json_schema_extra={"additionalProperties": {"type": "integer"}}))
class Breakdown(TypedDict):
    """One row of a breakdown (by source, place, category or day): a count per metric."""

    key: str
    name: NotRequired[Annotated[str, Field(description="not on days")]]


class ResponderFigures(TypedDict):
    """What one responder or unit did."""

    responder_id: str
    kind: str
    answered: int
    claimed: int
    completed: int
    hours: float
    name: str | None
    kind_name: str


class Stats(TypedDict):
    """Every figure of a window."""

    grid: CellRef
    since: Date
    until: Date
    timezone: str
    counts: dict[str, int]
    rates: list[Rate]
    durations: Timeliness
    sources: list[Breakdown]
    places: list[Breakdown]
    categories: list[Breakdown]
    days: list[Breakdown]
    responders: list[ResponderFigures]


class StatsCases(TypedDict):
    """The ids behind one figure."""

    metric: str
    bucket: str | None
    grid: str
    since: Date
    until: Date
    kind: Literal["case", "assignment"]
    count: Annotated[int, Field(ge=0)]
    truncated: bool
    ids: list[str]
    cases: list[str]


# -- the citizens' door ------------------------------------------------------------------------


class PublicIn(BaseModel):
    """A citizen's whistle: the fields of WhistleIn a citizen may send."""

    model_config = ConfigDict(extra="forbid")

    category: Annotated[str, Field(max_length=LIMITS["category"])]
    description: Annotated[str, Field(max_length=LIMITS["description"])]
    location: LocationIn
    occurred_at: Instant | None = None
    media_urls: list[str] = Field(default_factory=list)
    reporter: Annotated[str, Field(max_length=LIMITS["reporter"])] | None = None
    source: Literal["citizen"] = "citizen"
    phone: Annotated[
        str | None,
        Field(
            description="a number to call back (11 digits 1…, or 0 + area code); kept for "
            "the operators, never shown to the public"
        ),
    ] = None
    website: Annotated[
        str | None, Field(description="a honeypot the page hides: filled, it is a 400")
    ] = None


class PublicRateIn(BaseModel):
    """A citizen's rating of a closed case."""

    grade: str
    comment: Annotated[str, Field(max_length=2000)] | None = None


class PublicFiled(TypedDict):
    """A citizen's filed whistle: the case number, and (the first time) the private link."""

    case_number: Annotated[str, Field(description="受理编号 (the whistle id before numbers)")]
    whistle_id: str
    follow_url: str | None
    key: str | None


class PublicStep(TypedDict):
    """One step of a case, as a sentence naming units and roles, never people."""

    at: Time
    text: str


class PublicView(TypedDict):
    """A case as a citizen sees it: nobody's personal data."""

    case_number: str
    whistle_id: str
    status: str
    status_text: Annotated[str, Field(description="the status in plain words")]
    source: str
    category: str
    description: str
    place: str
    received_at: Time
    resolve_due: Time | None
    handled_by: list[str]
    resolution: str | None
    rating: Rating | None
    can_rate: bool
    timeline: NotRequired[list[PublicStep]]


class PublicPlaceStep(TypedDict):
    """A cell on the way from the county down to a place."""

    code: str
    name: str
    level: str


class PublicPlace(TypedDict):
    """The deepest cell holding a point, by name."""

    code: str
    name: str
    level: str
    path: list[PublicPlaceStep]
    place: Annotated[str, Field(description="the place as a citizen reads it, town down")]


# -- the command-centre wall (whistle/web/wall.py) --------------------------------------------


class Keyed(TypedDict):
    """A code and its name in the page's language."""

    key: str
    name: str


class WallGrid(TypedDict):
    """The subtree the wall shows."""

    code: str
    name: str
    level: str


class WallMap(TypedDict):
    """Which level's polygons the map draws, and the cells whose ``/shapes`` to fetch."""

    level: str
    level_name: str
    shapes: list[str]


class WallPlace(TypedDict):
    """A cell by name, with the names of the cells between it and the wall's top."""

    code: str
    name: str
    path: str


class WallCell(WallPlace):
    """A map cell and its open cases."""

    open: int


class WallSource(Keyed):
    """Today's whistles of one of the five sources."""

    count: int


class WallRate(Keyed):
    """One of the 三率 over the last seven days."""

    numerator: int
    denominator: int
    rate: float | None


class WallRates(TypedDict):
    """The 三率 and their window (Shanghai days, both included)."""

    since: Annotated[str, Field(json_schema_extra={"format": "date"})]
    until: Annotated[str, Field(json_schema_extra={"format": "date"})]
    items: list[WallRate]


class WallCategory(TypedDict):
    """A category by code and name."""

    code: str
    name: str


class WallOverdueCase(TypedDict):
    """An overdue case, by name."""

    id: str
    case_number: str
    source: Keyed
    category: WallCategory
    place: WallPlace
    status: Keyed
    resolve_due: Time | None
    overdue_since: Time | None
    overdue_seconds: int | None


class WallOverdue(TypedDict):
    """How many cases are overdue, and the first of them."""

    count: int
    items: list[WallOverdueCase]


class Wall(TypedDict):
    """The command-centre wall's figures: open cases per map cell, today's whistles by
    source, the overdue cases, the 三率 of the last seven days."""

    grid: WallGrid
    now: Time
    timezone: str
    map: WallMap
    cells: list[WallCell]
    open_total: int
    open_elsewhere: Annotated[int, Field(description="open cases filed above the map's cells")]
    today: Annotated[str, Field(json_schema_extra={"format": "date"})]
    sources: list[WallSource]
    today_total: int
    rates: WallRates
    overdue: WallOverdue


# -- the assignee picker (whistle/web/picker.py) ----------------------------------------------


class Candidate(TypedDict):
    """A responder a case may be reassigned to."""

    id: str
    name: str
    cell: str
    cell_name: str
    on_duty: Annotated[bool, Field(description="on the duty roster now")]
    open_tasks: Annotated[int, Field(description="assignments the responder has open")]
    on_case: Annotated[bool, Field(description="already holds a live assignment of the case")]


class CandidateGroup(TypedDict):
    """The candidates of one responder kind, by name."""

    kind: str
    kind_name: str
    items: list[Candidate]


class Candidates(TypedDict):
    """Who a case may be reassigned to: its cell's responders and those above, by kind."""

    whistle_id: str
    q: str
    groups: list[CandidateGroup]


# -- what-if replay ------------------------------------------------------------------------------


class ReplayJob(TypedDict):
    """A replay (POST /api/v1/replays) and, once ``status`` is ``done``, its report: ``cases``
    replayed, ``changed`` (routed differently), ``retimed``, ``rates`` before and after
    (响应率, 按期结案率, the backstop's share), the ``kinds``/``levels``/``units`` diff tables,
    the ``busiest`` ten before and after, and ``changed_cases`` with both traces (see
    ``whistle.replay.report``)."""

    id: str
    status: Literal["running", "done", "failed"]
    since: Date
    until: Date
    config: str | None
    version: str | None
    by: str
    seconds: float | None
    report: dict[str, Any] | None
    error: str | None
