"""The store's interface: what the rest of the system may ask of durable storage.

Kept small and free of SQL so that a PostgreSQL implementation can sit beside the SQLite one
without dispatch or the HTTP layer noticing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from whistle.events import Event, NewEvent, StreamFacts
from whistle.store.party import PartyStore
from whistle.store.readouts import CaseFacts, OverdueCase

__all__ = [
    "AssignmentRow",
    "ConfigVersionRecord",
    "Created",
    "Duplicate",
    "NewWhistle",
    "Page",
    "PendingDeadline",
    "Placed",
    "RecentWhistle",
    "Repeat",
    "SessionRecord",
    "Silence",
    "StatsQuery",
    "Store",
    "StoredWhistle",
    "TokenRecord",
    "Transition",
    "UserRecord",
    "WhistleQuery",
    "WhistleRow",
]


@dataclass(frozen=True, slots=True)
class WhistleRow:
    """A whistle's current state: indexed columns plus the JSON document."""

    id: str
    received_at: datetime
    source: str
    category: str
    urgency: str
    status: str
    grid_code: str
    grid_path: str  # "/root/.../code/": subtree queries are prefix ranges
    grid_level: int
    doc: dict[str, Any]
    external_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    camera_id: str | None = None
    near: str | None = None  # the grid (level 4) it lies in, for likely duplicates by grid


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    """One responder's (or one claim board's) part in a whistle."""

    id: str
    whistle_id: str
    responder_id: str | None
    kind: str
    mode: str
    status: str
    cell: str
    acknowledge_due: datetime | None
    claim_due: datetime | None
    resolve_due: datetime | None
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewWhistle:
    """Everything a new whistle writes, in one transaction."""

    whistle: WhistleRow
    assignments: Sequence[AssignmentRow]
    events: Sequence[NewEvent]
    deadlines: Sequence[tuple[str, datetime]] = ()
    case_doc: dict[str, Any] | None = None
    # ``case.possible_duplicate`` events on earlier cases this one may duplicate: each
    # appends ``data["whistle"]`` to that case's ``possible_duplicates``, in the same
    # transaction as the new whistle. Notes, not steps: the cases' versions stay as they are.
    linked: Sequence[NewEvent] = ()
    # 受理编号: the prefix (town letters + YYMM + "-") whose next number the writer draws for
    # this whistle in its transaction (whistle/store/case_numbers.py); None: no number.
    case_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """A held whistle's new place (待定位, placed by an operator): the row's place columns and
    its document, written with the step that routes it."""

    grid_code: str
    grid_path: str
    grid_level: int
    near: str
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of a case's lifecycle, written atomically and only if nobody else wrote the
    case since ``expected_version`` (and, for a deadline firing, only if ``fires`` is still
    pending): otherwise the store raises Conflict and nothing is written."""

    whistle_id: str
    expected_version: int
    new_version: int
    status: str
    case_doc: dict[str, Any]
    events: Sequence[NewEvent]
    new_assignments: Sequence[AssignmentRow] = ()
    # (assignment id, status, responder id, document) for assignments that changed
    assignment_status: Sequence[tuple[str, str, str | None, dict[str, Any]]] = ()
    set_deadlines: Sequence[tuple[str, datetime]] = ()
    cancel_deadlines: Sequence[str] = ()
    fires: str | None = None
    # Steps of other cases written in the same transaction, each under its own guard (a
    # merge: the duplicate is cancelled and the case it joins records it, or neither).
    also: Sequence[Transition] = ()
    # A held whistle placed by hand: its place and document change with this step.
    placed: Placed | None = None


@dataclass(frozen=True, slots=True)
class Repeat:
    """Camera detections added to the camera's open case of their category.

    Written as one ``case.repeated`` event whose ``added`` is ``len(detections)`` (the case's
    repeat count rises by that much), one row per detection key (so a resent detection is
    known), and the case's version and document, all in one guarded step: only while the case
    is still in ``statuses`` and was received at or after ``since``. A repeat is not a
    lifecycle transition: it leaves the deadlines, assignments and statistics as they are,
    which is why it needs neither a fold of the case nor its timeline.
    """

    whistle_id: str
    at: datetime
    actor: str
    detections: Sequence[dict[str, Any]]  # each has "key", the detection's idempotency key
    statuses: Sequence[str]
    since: datetime


@dataclass(frozen=True, slots=True)
class RecentWhistle:
    """What the likely-duplicate index keeps of a stored whistle: where and when it was."""

    id: str
    category: str
    received_at: datetime
    near: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Silence:
    """Whistles matching every one of ``matchers`` (``camera``, ``grid``, ``category``,
    ``source`` -> value) between ``starts_at`` and ``ends_at`` are stored and shown but not
    dispatched; whistle/silences.py says which whistles a silence never mutes."""

    id: str
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored API token: never the token itself, only its hash."""

    id: str
    hash: str
    role: str
    scope: str | None
    responder_id: str | None
    source: str | None
    label: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A browser login."""

    name: str
    password_hash: str
    role: str
    scope: str | None
    responder_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id_hash: str
    user: str
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConfigVersionRecord:
    """One stored version of the configuration (``whistle.versions``): its files' text by
    name, their content hash, who made it, when and why, and its state (``proposed``,
    ``active``, ``retired``). ``applied_at``: when it was last made active."""

    id: int
    hash: str
    files: Mapping[str, str]
    author: str
    reason: str
    created_at: datetime
    state: str
    applied_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PendingDeadline:
    whistle_id: str
    key: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Created:
    """The whistle is on disk; ``events`` are the log entries written with it."""

    whistle_id: str
    events: tuple[Event, ...]
    case_number: str | None = None  # the 受理编号 drawn for it, if it asked for one


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The idempotency key was used before: this is the whistle it made."""

    whistle_id: str
    request_hash: str | None


@dataclass(frozen=True, slots=True)
class StoredWhistle:
    """A whistle as read back: its document and its assignments' documents."""

    row_doc: dict[str, Any]
    status: str
    assignments: tuple[dict[str, Any], ...]
    case: dict[str, Any] | None = None

    @classmethod
    def of(cls, new: NewWhistle) -> StoredWhistle:
        """What reading ``new`` back after its write would give."""
        assignments = tuple({**a.doc, "status": a.status} for a in new.assignments)
        return cls(new.whistle.doc, new.whistle.status, assignments, new.case_doc)

    def document(self) -> dict[str, Any]:
        """The whistle as the API shows it: its document, current status and assignments."""
        doc = dict(self.row_doc)
        doc.setdefault("case_number", None)  # 受理编号; None for cases stored before numbers
        doc["status"] = self.status
        doc["assignments"] = list(self.assignments)
        if self.case is not None:
            doc["case"] = self.case
        return doc


@dataclass(frozen=True, slots=True)
class WhistleQuery:
    """Filters for listing whistles, newest first. ``before`` is the paging cursor (an id)."""

    status: str | None = None
    source: str | None = None
    category: str | None = None  # a code or a prefix (大类)
    grid_path: str | None = None  # subtree: the path of its top cell
    level: int | None = None  # the level (1-5) of the cell it was placed in
    returns_pending: bool = False  # only cases with a return (退单) awaiting the dispatcher
    case_number: str | None = None  # the one case with this 受理编号
    since: datetime | None = None
    until: datetime | None = None
    before: str | None = None
    limit: int = 50
    # Search (issue 17): whistles whose 受理编号, description, reporter, place or category
    # name contain every word of ``text`` (whistle/store/search.py).
    text: str | None = None
    # The open queues: not merged (cancelled), closed, rated or verified.
    open_only: bool = False
    # "id": newest first (cursor ``before``); "due": the next deadline first, cases with none
    # last (cursor ``after_due``: the (deadline key, id) of the last row of the page before).
    order: str = "id"
    after_due: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """The committee's statistics for the subtree under ``grid_path`` (the stored path of its
    top cell, ``/root/.../code/``) and the cases received in [``since``, ``until``). ``now``
    decides what has fallen due; ``top`` bounds the responders listed (None: all)."""

    grid_path: str
    since: datetime
    until: datetime
    now: datetime
    top: int | None = 100


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[StoredWhistle, ...]
    next_before: str | None = field(default=None)
    # With ``order="due"``: the (deadline key, id) to pass as ``after_due`` for the next page.
    next_after_due: tuple[str, str] | None = field(default=None)


class Store(Protocol):
    """Durable storage: an append-only event log plus current-state tables."""

    async def open(self) -> None:
        """Connect, migrate, and publish any events stored but not yet published."""

    async def close(self) -> None:
        """Finish queued writes, then disconnect."""

    @property
    def backend(self) -> str:
        """Which database this is: ``sqlite`` or ``postgresql`` (for readyz and the logs)."""

    @property
    def queue_depth(self) -> int:
        """Writes queued and not yet taken by the writer (for the metrics)."""

    def written_elsewhere(self, seq: int) -> bool:
        """Whether event ``seq`` was written by another process and reached this one's bus
        through the listener (PostgreSQL): what must happen once per event, such as a webhook
        delivery, is left to the process that wrote it. Always False on SQLite."""

    @property
    def party(self) -> PartyStore:
        """The party-building records (units, 双报到, needs, projects, claims, hours...)."""

    async def create_whistle(self, new: NewWhistle) -> Created | Duplicate:
        """Write a whistle, its assignments and events; return once they are on disk.

        The write is queued before the call first yields: whistles that wait for one another
        to be queued (``whistle.nearby``) are written in the order they were queued."""

    async def find_idempotent(self, key: str) -> Duplicate | None:
        """The whistle an idempotency key already made, if any."""

    async def find_external(
        self, source: str, external_id: str, *, within: str | None = None
    ) -> str | None:
        """The id of the newest whistle of ``source`` carrying ``external_id`` (inside the
        subtree ``within``, a grid path, when given), or None."""

    async def get_whistle(self, whistle_id: str) -> StoredWhistle | None: ...

    async def find_case_number(self, case_number: str) -> str | None:
        """The id of the whistle with this 受理编号, or None."""

    async def list_whistles(self, query: WhistleQuery) -> Page: ...

    async def timeline(self, whistle_id: str) -> list[Event]:
        """The whistle's events in log order."""

    async def count_whistles(self) -> int: ...

    async def open_camera_cases(
        self,
        pairs: Sequence[tuple[str, str]],
        since: datetime,
        statuses: Sequence[str],
        *,
        within: Mapping[str, str],
    ) -> dict[tuple[str, str], str]:
        """For each (camera id, category): the newest camera case received since ``since``,
        still in one of ``statuses`` and inside the subtree ``within[camera id]`` (a grid
        path); pairs with none are left out."""

    async def known_detections(self, keys: Sequence[str]) -> dict[str, str]:
        """Detection keys already stored (as a repeat or as the key of the whistle a detection
        opened), each with its whistle's id."""

    async def add_repeats(self, repeats: Sequence[Repeat]) -> list[bool]:
        """Write each repeat (see Repeat) and say, in order, which were written: False when
        the case had closed or aged out of the window meanwhile, and nothing of it was
        written. Raises StoreBusy or StoreUnavailable like every write."""

    async def recent_whistles(
        self, since: datetime, sources: Sequence[str], statuses: Sequence[str]
    ) -> list[RecentWhistle]:
        """Whistles of ``sources`` received since ``since`` and now in ``statuses``, oldest
        first (to rebuild the likely-duplicate index on start)."""

    async def open_among(self, ids: Sequence[str], statuses: Sequence[str]) -> set[str]:
        """Those of ``ids`` that are stored and now in ``statuses``."""

    async def stream_facts(self, ids: Sequence[str]) -> dict[str, StreamFacts]:
        """The cell, status and 受理编号 of those of ``ids`` that are stored, in one read:
        for the live stream's events that carry no facts (read back from the log)."""

    async def save_silence(self, silence: Silence) -> None: ...

    async def save_token(self, token: TokenRecord) -> None: ...

    async def get_token(self, token_id: str) -> TokenRecord | None: ...

    async def tokens(self) -> list[TokenRecord]: ...

    async def save_user(self, user: UserRecord) -> None: ...

    async def get_user(self, name: str) -> UserRecord | None: ...

    async def save_session(self, session: SessionRecord) -> None: ...

    async def get_session(self, id_hash: str) -> SessionRecord | None: ...

    async def delete_session(self, id_hash: str) -> None: ...

    async def audit(
        self, at: datetime, actor: str, action: str, target: str | None, detail: dict[str, Any]
    ) -> None:
        """Append to the admin audit trail."""

    async def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]: ...

    async def add_config_version(
        self, *, hash: str, files: Mapping[str, str], author: str, reason: str, at: datetime
    ) -> tuple[ConfigVersionRecord, bool]:
        """Store a proposed version (the next id); the one already stored with the same
        ``hash`` instead, if any. True when it is new."""

    async def config_version(self, version_id: int) -> ConfigVersionRecord | None:
        """One version with its files."""

    async def config_versions(self) -> list[ConfigVersionRecord]:
        """Every version, newest first, without their files (``files`` is empty)."""

    async def active_config_version(self) -> int | None:
        """The id of the active version (cheap: processes poll it every second)."""

    async def activate_config_version(self, version_id: int, at: datetime) -> None:
        """Make ``version_id`` the one active version and retire the one before, in one
        transaction."""

    async def save_citizen_link(self, whistle_id: str, key_hash: str) -> None: ...

    async def save_upload(self, name: str, uploader: str, scope: str | None) -> None:
        """Record that ``uploader`` (a principal id, with its scope) uploaded photo ``name``."""

    async def uploads(self, name: str) -> list[tuple[str, str | None]]:
        """Who uploaded photo ``name``: (principal id, scope) pairs."""

    async def expired_cases(self, closed_before: datetime, limit: int = 500) -> list[str]:
        """Up to ``limit`` cases closed (结案) before ``closed_before`` whose personal fields
        are not blanked yet, oldest first (retention)."""

    async def redact_cases(self, ids: Sequence[str], at: datetime) -> list[str]:
        """Blank the personal fields of cases ``ids`` in every copy the store keeps (documents,
        the event log, the search text; whistle.privacy.redact), in one transaction, leaving
        the statistics as they were. Returns the photos no kept case names any more (their
        records are gone; the caller deletes the files)."""

    async def citizen_link(self, whistle_id: str) -> str | None:
        """The key hash of a citizen's private link to a case."""

    async def silences(self) -> list[Silence]:
        """Every silence, newest first (expired ones too, for the record)."""

    async def transition(self, step: Transition) -> tuple[Event, ...]:
        """Apply one lifecycle step; raise Conflict when the case moved on meanwhile."""

    async def pending_deadlines(self) -> list[PendingDeadline]:
        """Every pending deadline, earliest first (to re-arm the scheduler on start)."""

    async def cancel_deadline(self, whistle_id: str, key: str) -> None:
        """Drop a pending deadline that no longer means anything (a stale timer)."""

    async def claim_deadlines(
        self, due: Sequence[tuple[str, str]], now: datetime, lease: timedelta
    ) -> set[tuple[str, str]]:
        """Those of the ``due`` (case, key) deadlines this process may fire now: still
        pending, and claimed by nobody else whose lease (``lease`` from ``now``) still runs.
        One process per SQLite file claims them all; PostgreSQL claims with FOR UPDATE SKIP
        LOCKED, so two processes never hold one deadline, and one that dies lets its claims
        go when their lease ends. Firing stays guarded in the database (Transition.fires):
        the claim spares the other processes the work, the guard makes it exactly once."""

    def camera_group_lock(
        self, camera_id: str, category: str
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while one camera's detection of one category finds or opens its case, across
        every process on the database (PostgreSQL: an advisory lock, held until the case the
        detection opened is committed), so that a camera's burst spread over processes opens
        one case. SQLite: nothing to hold (one server per file; the intake's own lock)."""

    def watch_silences(self, wake: Callable[[], None]) -> bool:
        """Have ``wake`` called when another process changed the silences (PostgreSQL: a
        notification at its commit); True when they can change elsewhere at all, and the
        caller should also read them again now and then (a notification is lost while the
        listening connection is down). SQLite: False, and ``wake`` is never called."""

    @property
    def webhook_outbox(self) -> bool:
        """True when webhook deliveries come from the database's outbox (PostgreSQL: any
        process may deliver a notice, one at a time, whoever wrote its event); False when
        they come from this process's bus (SQLite: one server per file)."""

    async def claim_deliveries(
        self, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[Event, int]]:
        """Up to ``limit`` outbox rows (an event and the index of a notice in its notify
        list) nobody else holds a running lease on, now held by this process until ``lease``
        from ``now``. Always empty without an outbox."""

    async def renew_deliveries(
        self, held: Sequence[tuple[int, int]], now: datetime, lease: timedelta
    ) -> None:
        """Extend this process's lease on the (seq, index) rows it is still delivering."""

    async def finish_deliveries(self, done: Sequence[tuple[int, int]]) -> None:
        """Drop the (seq, index) rows this process settled: delivered, given up on, or with
        no endpoint to deliver to."""

    async def inbox(
        self, responder_id: str, board_cells: Sequence[str], teams: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Active assignments of the responder or of its ``teams`` (team claims), and open
        claim boards on ``board_cells``."""

    async def informed_of(
        self, responder_id: str, statuses: Sequence[str], limit: int = 100
    ) -> list[dict[str, Any]]:
        """The cases in ``statuses`` the responder was informed of (知会), newest first."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers and takes writes."""

    async def statistics(self, query: StatsQuery) -> dict[str, Any]:
        """The committee's figures for ``query``, aggregated by the database: ``counts`` of
        each case and assignment metric, ``durations`` (acknowledge, resolve: count, median
        and p90 in seconds), the breakdowns ``sources``, ``places``, ``categories`` and
        ``days`` (one row per bucket with a count per metric), and ``responders``."""

    async def cases_for(
        self, metric: str, bucket: str | None, query: StatsQuery, limit: int = 500
    ) -> list[str]:
        """The ids behind one figure: case ids for a case metric, assignment ids for an
        assignment metric; ``bucket`` narrows to one row of a breakdown. Raises ValueError
        for an unknown metric or bucket."""

    async def open_by_path(self, grid_path: str | None) -> dict[str, int]:
        """Open cases (not closed, merged or muted) per stored grid path under ``grid_path``
        (all when None): the command-centre wall's map."""

    async def overdue(self, grid_path: str | None, now: datetime) -> list[OverdueCase]:
        """The active cases under ``grid_path`` marked overdue or past their resolve
        deadline at ``now``, longest overdue first."""

    async def case_facts(self, ids: Sequence[str]) -> dict[str, CaseFacts]:
        """A drill-down row's facts for each of ``ids`` that exists."""

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """Up to ``limit`` events after ``seq``, in log order (event streams catching up)."""

    async def open_load(self, responder_ids: Sequence[str]) -> dict[str, int]:
        """Live assignments (dispatched, acknowledged, in progress) per responder, for those
        of ``responder_ids`` that have any."""

    async def queue_counts(self, grid_path: str | None, now: datetime) -> dict[str, int]:
        """Cases per status in a subtree (all when None), plus ``overdue`` and ``escalated``."""
