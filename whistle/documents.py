"""The whistle as the API answers with it: its record, case, assignments, trace and timeline.

One description of each document, for two readers. The intake builds a whistle's record as a
:class:`WhistleRecord` (mypy --strict checks every key it writes, and its type, against this
file), and ``whistle.web.openapi`` puts pydantic's JSON schemas of these same classes in the
OpenAPI document's components. At run time they are plain dicts: no validation and no copy on
the intake path. Typed dicts are read by pydantic from ``typing_extensions`` before Python 3.12.

Every key listed is always present in an answer (``NotRequired`` marks the few that are not);
answers may carry more keys than listed (clients ignore what they do not know), and
tests/whistle/test_openapi_answers.py checks that a live server's answers carry nothing
unlisted, so a key added to an answer must be added here.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from the annotations
# as it builds the class (``__required_keys__``), which string annotations would hide.

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

__all__ = [
    "Assignment",
    "Case",
    "CategoryRef",
    "CellRef",
    "FiledBy",
    "GridPlace",
    "Informed",
    "Location",
    "Placement",
    "ResponderRef",
    "RuleRef",
    "SilenceNamed",
    "SilenceWarning",
    "Time",
    "TimelineEntry",
    "TraceEntry",
    "TraceStep",
    "Whistle",
    "WhistlePage",
    "WhistleRecord",
    "WhistleWithTimeline",
]

# An RFC 3339 time with its offset, in the server's time zone, to the millisecond.
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class CategoryRef(TypedDict):
    """The whistle's category as the catalog names it."""

    code: str
    name: str
    name_en: str
    type: Annotated[str, Field(description="event (事件) or part (部件)")]


class Location(TypedDict):
    """Where the whistle was filed: a grid code, a point, an address, as sent."""

    grid: str | None
    lat: float | None
    lon: float | None
    address: NotRequired[Annotated[str | None, Field(description="the address in words")]]


class Placement(TypedDict):
    """How the whistle's place was found (absent on whistles stored before addresses)."""

    by: Annotated[
        Literal["grid", "coordinates", "gazetteer", "pending", "hand"],
        Field(
            description="grid: by its grid code; coordinates: the point's cell; gazetteer: "
            "by a place name in the address; pending: no place yet (待定位, held for an "
            "operator); hand: an operator picked the cell"
        ),
    ]
    address: str | None
    matched: Annotated[str | None, Field(description="the words of the address matched")]
    entry: Annotated[str | None, Field(description="the gazetteer entry that matched")]
    entry_kind: Annotated[
        str | None,
        Field(description="grid (the hierarchy's names) or the alias kind of places.csv"),
    ]
    reason: Annotated[str | None, Field(description="why the address placed nothing")]
    placed_by: Annotated[str | None, Field(description="who picked the cell (by hand)")]
    placed_at: Time | None


class CellRef(TypedDict):
    """A grid cell by code, name and level key (county, town, community, grid, micro_grid)."""

    code: str
    name: str
    level: str


class GridPlace(TypedDict):
    """The cell the whistle was placed in, with its chain of parents from the county."""

    code: str
    name: str
    level: str
    path: list[CellRef]


class FiledBy(TypedDict):
    """Who filed the whistle, as authenticated (beside the free-text ``reporter``)."""

    kind: Annotated[str, Field(description="token, session, signature, open311, cli or public")]
    id: Annotated[str | None, Field(description="the token's id or the login's name")]
    role: str | None
    responder_id: str | None


class RuleRef(TypedDict):
    """The five-whistles rule that routed the whistle."""

    id: str
    name: str


class TraceStep(TypedDict):
    """One thing the router saw while climbing from the start cell towards the county."""

    cell: str
    level: str
    result: str
    responder_id: str | None
    note: str


class TraceEntry(TypedDict):
    """Why an assignment went where it went."""

    assignment: str
    rule: str
    origin: Annotated[str, Field(description="how it was found: the kind asked for, or backstop")]
    chosen_at: Annotated[str, Field(description="the grid code it was found at")]
    explain: Annotated[str, Field(description="one line for people")]
    steps: list[TraceStep]


class ResponderRef(TypedDict):
    """A responder by id, name and kind (name and kind null for one no longer on the roster)."""

    id: str
    name: str | None
    kind: str | None


class Informed(TypedDict):
    """A responder told of the case (知会) without owning it: no deadline, nothing to do."""

    responder: ResponderRef
    kind: str
    kind_name: str
    cell: str
    level: str


class SilenceNamed(TypedDict):
    """A silence as a whistle names it: enough to recognise it without looking it up."""

    id: str
    matchers: Annotated[
        dict[str, str],
        Field(description="every matcher given must hold: camera, grid, category, source"),
    ]
    author: str
    comment: str
    until: Time


class SilenceWarning(SilenceNamed):
    """A silence that covered an emergency but could not mute it, and why."""

    warning: str | None


class WhistleRecord(TypedDict):
    """A whistle's own document, as the intake stores it."""

    id: str
    case_number: Annotated[
        str | None,
        Field(
            max_length=12,
            description="受理编号: town letters, YYMM, '-' and a sequence drawn by the database "
            "(e.g. DX2612-0042); null for cases stored before numbers",
        ),
    ]
    source: Annotated[str, Field(description="citizen, community, town_committee, police, camera")]
    source_name: Annotated[str, Field(description="the source's name in Chinese (五哨)")]
    category: CategoryRef
    urgency: str
    description: str
    location: Location
    grid: GridPlace
    placement: NotRequired[Placement]
    reporter: Annotated[str | None, Field(description="who reported it, as written")]
    filed_by: FiledBy
    occurred_at: Time | None
    received_at: Time
    media_urls: list[str]
    camera_id: str | None
    external_id: str | None
    rule: Annotated[RuleRef | None, Field(description="null: muted, never routed")]
    config_version: NotRequired[
        Annotated[
            int | None,
            Field(
                description="the config version (GET /api/v1/config/versions/{id}) that "
                "routed it; absent on whistles stored before versions, null for files not "
                "stored as a version"
            ),
        ]
    ]
    trace: list[TraceEntry]
    informed: Annotated[list[Informed], Field(description="told of the case, not owners (知会)")]
    possible_duplicates: Annotated[
        list[str],
        Field(
            description="likely duplicates (疑似重复): open whistles of the same category "
            "within the category's duplicate_radius and duplicate_window (by grid when either "
            "has no point); a case also gains the later ones"
        ),
    ]
    muted_by: Annotated[
        SilenceNamed | None, Field(description="the silence that muted it (status muted)")
    ]
    silence_warning: Annotated[
        SilenceWarning | None,
        Field(
            description="an emergency (police, town committee, urgent) that a silence naming "
            "its source covered: dispatched anyway"
        ),
    ]


class Assignment(TypedDict):
    """One responder (push) or one claim board that must report for the whistle."""

    id: str
    status: str
    responder: Annotated[ResponderRef | None, Field(description="null: a claim board")]
    kind: str
    kind_name: str
    mode: Literal["push", "claim"]
    cell: str
    cell_name: str
    level: str
    origin: str
    eligible: Annotated[int | None, Field(description="a claim board: how many may claim")]
    eligible_ids: list[str] | None
    acknowledge_due: Time | None
    claim_due: Time | None
    resolve_due: Time | None
    team: NotRequired[Annotated[str | None, Field(description="a team claim: the team")]]
    members: NotRequired[list[str]]


class Owner(TypedDict):
    """The assignment that owns the case, and its responder."""

    assignment: str
    responder_id: str | None


class ReturnPending(TypedDict):
    """A return (退单) waiting for the dispatcher's decision."""

    assignment: str
    responder_id: str | None
    reason: str | None
    returned_at: Time | None
    decide_by: Time | None
    escalated: bool


class Rating(TypedDict):
    """The citizen's or operator's rating (好差评)."""

    grade: str
    label: str


class Rectification(TypedDict):
    """The latest rectification after a bad rating (差评整改), with how many were opened."""

    grade: str | None
    opened_at: Time | None
    due: Time | None
    done_at: Time | None
    on_time: bool | None
    count: int
    case_resolved_at: Time | None
    case_due: Time | None


class Merged(TypedDict):
    """A duplicate merged into this case."""

    id: str | None
    at: Time | None
    by: str | None
    source: str | None
    category: str | None
    description: str | None
    reporter: str | None
    received_at: Time | None


class NextDue(TypedDict):
    """The case's next open deadline: the one the console counts down to; overdue once past."""

    kind: Literal["acknowledge", "claim", "return_decision", "resolve"]
    at: Time
    assignment: str | None


class ExtensionRequest(TypedDict):
    """申请延期 waiting for an operator's decision."""

    assignment: str
    responder_id: str
    reason: str
    duration: Annotated[str, Field(description="working-time duration asked for, e.g. 3wd")]
    at: Time


class Case(TypedDict):
    """The case's state, as the lifecycle folds it from the whistle's events."""

    owner: Owner | None
    resolve_due: Time | None
    next_due: Annotated[NextDue | None, Field(description="the next open deadline, if any")]
    round: int
    rework: int
    returns: int
    extended: bool
    extension_request: Annotated[
        ExtensionRequest | None, Field(description="申请延期 awaiting a decision, if any")
    ]
    on_hold_since: Time | None
    urged: bool
    supervised: bool
    overdue: bool
    returns_pending: Annotated[
        list[ReturnPending], Field(description="退单待定: returns awaiting a decision")
    ]
    resolution: dict[str, Any] | None
    rating: Rating | None
    rectification: Rectification | None
    merged_into: Annotated[str | None, Field(description="the case this one was merged into")]
    merged: Annotated[list[Merged], Field(description="the duplicates merged in, oldest first")]
    repeats: Annotated[int, Field(description="camera repeats that joined the case")]
    notification_failures: int
    allowed: Annotated[list[str], Field(description="the case actions its status allows")]
    assignment_actions: Annotated[
        dict[str, list[str]], Field(description="assignment id: what its responder may do")
    ]
    version: int


class Whistle(WhistleRecord):
    """A whistle as stored now: its document, status, assignments and case."""

    status: str
    assignments: list[Assignment]
    case: NotRequired[Case]


class TimelineEntry(TypedDict):
    """One event of the whistle's history."""

    seq: int
    type: str
    at: Time
    actor: str | None
    data: dict[str, Any]


class WhistleWithTimeline(Whistle):
    """A whistle and its timeline, oldest event first."""

    timeline: list[TimelineEntry]


class WhistlePage(TypedDict):
    """One page of whistles, newest first."""

    items: list[Whistle]
    next_cursor: Annotated[str | None, Field(description="the next page's cursor; null: last")]
    limit: Annotated[int, Field(ge=1, le=200)]
