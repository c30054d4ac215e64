"""Access control: who is asking (authentication) and what they may do (authorization).

The middleware establishes a :class:`~whistle.auth.Principal` for every request before any
handler runs: from a bearer token, a feed's HMAC signature, or a session cookie (with a CSRF
token on every unsafe method). Handlers marked :func:`public` skip it. Each principal and each
client address has a rate limit (public handlers too, by address). Password logins are checked
off the event loop and throttled per name and per address (:mod:`whistle.logins`). Handlers
then ask :func:`allow` for the roles an endpoint admits and check that the cell they act on
lies inside the principal's scope.

Every refusal is logged (``access.refused``) with who and why; admin actions also land in the
store's audit trail.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from dispatch import Source
from grids import Cell, Hierarchy, Responder
from whistle.auth import (
    IssuedToken,
    Principal,
    Role,
    allow_cell,
    is_expired,
    new_token,
    parse_token,
    token_hash,
    verify_signature,
)
from whistle.bounds import whole_number
from whistle.clock import Clock
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle, RateLimited, Unauthenticated
from whistle.logins import FailureThrottle, LoginLimits, PasswordWork
from whistle.ratelimit import Limit, RateLimiter
from whistle.store import SessionRecord, Store, TokenRecord, UserRecord

__all__ = [
    "ACCESS",
    "PRINCIPAL",
    "SIGNED_BODY",
    "Access",
    "AccessLimits",
    "access_middleware",
    "allow",
    "allow_responder",
    "body_limit",
    "public",
]

log = structlog.get_logger(__name__)

SESSION_COOKIE = "whistle_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = timedelta(hours=12)
SIGNATURE_TOLERANCE = 300  # seconds either way; older (or newer) signed requests are replays
# Token records are cached this long, so most requests need no database read. A revocation
# through this server drops the entry at once; one made by the CLI (another process) is
# seen within this time.
TOKEN_CACHE_SECONDS = 5.0
PRESENTED_TOKENS = 4096  # bearer tokens whose hash was checked, most recently used kept
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


_PER_PRINCIPAL = Limit(rate=500.0, burst=1000.0)
_PER_ADDRESS = Limit(rate=500.0, burst=1000.0)
CITIZEN_RATE = 1 / 12  # citizens: one report every 12 s after the burst
_PUBLIC = Limit(rate=CITIZEN_RATE, burst=5.0)  # 5 at once (``serve --citizen-burst``)


@dataclass(frozen=True, slots=True)
class AccessLimits:
    """Rate limits: per principal, per client address, for the public citizen endpoint, and
    on password logins."""

    principal: Limit = _PER_PRINCIPAL
    address: Limit = _PER_ADDRESS
    public: Limit = _PUBLIC
    login: LoginLimits = field(default_factory=LoginLimits)


class Access:
    """Issues and checks credentials; one per application."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        hierarchy: Hierarchy,
        limits: AccessLimits | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.hierarchy = hierarchy
        limits = limits or AccessLimits()
        self.by_principal = RateLimiter(limits.principal, clock)
        self.by_address = RateLimiter(limits.address, clock)
        self.public_limit = RateLimiter(limits.public, clock)
        self.passwords = PasswordWork(workers=limits.login.workers, queue=limits.login.queue)
        self.login_names = FailureThrottle(limits.login.per_name, clock)
        self.login_addresses = FailureThrottle(limits.login.per_address, clock)
        self._seen_signatures: dict[str, float] = {}
        self._tokens: dict[str, tuple[TokenRecord, float]] = {}
        # Presented bearer token -> (the record it was checked against, its principal): a
        # hit skips the SHA-256 and the Principal; it holds only while ``_tokens`` still has
        # that very record (a revoke, or the record's expiry from the cache, ends it).
        self._presented: OrderedDict[str, tuple[TokenRecord, Principal]] = OrderedDict()

    def __repr__(self) -> str:
        return f"Access({self.by_principal!r})"

    def close(self) -> None:
        """Stop the password threads."""
        self.passwords.close()

    # -- issuing -------------------------------------------------------------------------

    def check_grant(
        self, role: Role, scope: str | None, responder_id: str | None, source: str | None
    ) -> list[FieldError]:
        """What is wrong with granting ``role`` on ``scope`` (empty: nothing)."""
        errors: list[FieldError] = []
        if role is Role.ADMIN:
            if scope is not None:
                errors.append(FieldError("scope", "admin is not scoped: leave it out"))
        elif scope is None:
            errors.append(FieldError("scope", f"{role} needs a grid code"))
        elif scope not in self.hierarchy:
            errors.append(FieldError("scope", f"unknown grid code {scope!r}"))
        if role is Role.RESPONDER:
            responder = None if responder_id is None else self.hierarchy.responder(responder_id)
            if responder is None:
                errors.append(FieldError("responder", "a responder needs a known responder id"))
            elif scope in self.hierarchy and not self.hierarchy.cell(responder.grid).is_within(
                scope or ""
            ):
                errors.append(FieldError("responder", f"{responder_id} is outside {scope}"))
        elif responder_id is not None:
            errors.append(FieldError("responder", "only a responder token names a responder"))
        if role is Role.INTEGRATION:
            if source not in {s.value for s in Source}:
                errors.append(FieldError("source", "an integration files one source"))
        elif source is not None:
            errors.append(FieldError("source", "only an integration token names a source"))
        return errors

    async def issue_token(
        self,
        *,
        role: Role,
        scope: str | None,
        responder_id: str | None = None,
        source: str | None = None,
        expires: timedelta | None = None,
        label: str = "",
        by: str = "cli",
    ) -> IssuedToken:
        """Make and store a token; the caller shows it once. Raises InvalidWhistle."""
        errors = self.check_grant(role, scope, responder_id, source)
        if errors:
            raise InvalidWhistle(errors)
        issued = new_token()
        now = self._clock.now()
        await self._store.save_token(
            TokenRecord(
                id=issued.id,
                hash=issued.hash,
                role=role.value,
                scope=scope,
                responder_id=responder_id,
                source=source,
                label=label,
                created_at=now,
                expires_at=None if expires is None else now + expires,
            )
        )
        await self.audit(by, "token.create", issued.id, {"role": role.value, "scope": scope})
        return issued

    async def revoke_token(self, token_id: str, *, by: str) -> TokenRecord | None:
        record = await self._store.get_token(token_id)
        if record is None:
            return None
        if record.revoked_at is None:
            record = dataclasses.replace(record, revoked_at=self._clock.now())
            await self._store.save_token(record)
            self._tokens.pop(token_id, None)
            self._presented.clear()  # rare: forget every checked token rather than search
            await self.audit(by, "token.revoke", token_id, {})
        return record

    async def add_user(
        self,
        *,
        name: str,
        password: str,
        role: Role,
        scope: str | None,
        responder_id: str | None = None,
        by: str = "cli",
    ) -> None:
        errors = self.check_grant(role, scope, responder_id, None)
        if role is Role.INTEGRATION:
            errors.append(FieldError("role", "integrations use tokens, not logins"))
        if len(password) < 8:
            errors.append(FieldError("password", "at least 8 characters"))
        if errors:
            raise InvalidWhistle(errors)
        password_hash = await self.passwords.hash(password)
        await self._store.save_user(
            UserRecord(name, password_hash, role.value, scope, responder_id, self._clock.now())
        )
        await self.audit(by, "user.add", name, {"role": role.value, "scope": scope})

    async def audit(
        self, actor: str, action: str, target: str | None, detail: dict[str, object]
    ) -> None:
        await self._store.audit(self._clock.now(), actor, action, target, dict(detail))
        log.info("audit", actor=actor, action=action, target=target)

    # -- sessions ------------------------------------------------------------------------

    async def login(
        self, name: str, password: str, *, address: str = "unknown"
    ) -> tuple[str, str] | None:
        """A new session for a correct name and password: (session id, csrf token); None for a
        wrong name or password. Both outcomes go to the audit trail.

        Raises RateLimited while the name or the address has failed too often (even for the
        right password), and Overloaded when too many checks are already waiting.
        """
        wait = max(self.login_names.wait(name), self.login_addresses.wait(address))
        if wait:
            why = "name" if self.login_names.wait(name) else "address"
            raise RateLimited(wait, f"login {name!r}: too many failures for this {why}")
        self.login_names.begin(name)
        self.login_addresses.begin(address)
        decided = ok = False
        try:
            user = await self._store.get_user(name)
            # An unknown name is checked against a dummy hash: the same work, the same time.
            ok = await self.passwords.check(None if user is None else user.password_hash, password)
            decided = True
        finally:
            self.login_names.end(name, failed=decided and not ok, forget=ok)
            self.login_addresses.end(address, failed=decided and not ok)
        if not ok:
            reason = "unknown name" if user is None else "wrong password"
            await self.audit("public", "login.failed", name, {"address": address, "why": reason})
            return None
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock.now()
        await self._store.save_session(
            SessionRecord(token_hash(session_id), name, csrf, now, now + SESSION_TTL)
        )
        await self.audit(name, "login", name, {"address": address})
        return session_id, csrf

    async def logout(self, session_id: str) -> None:
        await self._store.delete_session(token_hash(session_id))

    async def session(self, session_id: str) -> tuple[Principal, str] | None:
        """The principal and CSRF token of a live session."""
        record = await self._store.get_session(token_hash(session_id))
        if record is None or is_expired(record.expires_at, self._clock.now()):
            return None
        user = await self._store.get_user(record.user)
        if user is None:
            return None
        principal = Principal(
            id=user.name,
            role=Role(user.role),
            scope=user.scope,
            responder_id=user.responder_id,
            via="session",
        )
        return principal, record.csrf

    # -- checking ------------------------------------------------------------------------

    async def _token(self, token_id: str, *, why: str) -> TokenRecord:
        now = self._clock.now().timestamp()
        cached = self._tokens.get(token_id)
        if cached is not None and now - cached[1] < TOKEN_CACHE_SECONDS:
            record: TokenRecord | None = cached[0]
        else:
            record = await self._store.get_token(token_id)
            if record is not None:
                if len(self._tokens) > 10_000:
                    self._tokens.clear()
                self._tokens[token_id] = (record, now)
        if record is None:
            raise Unauthenticated(f"{why}: unknown token")
        if record.revoked_at is not None:
            raise Unauthenticated(f"{why}: token {token_id} was revoked")
        if is_expired(record.expires_at, self._clock.now()):
            raise Unauthenticated(f"{why}: token {token_id} expired")
        return record

    async def authenticate(self, request: web.Request) -> Principal:
        """The principal behind ``request``; raises Unauthenticated."""
        header = request.headers.get("Authorization")
        if request.headers.get("X-Whistle-Signature") is not None:
            return await self._signed(request)
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthenticated("Authorization must be 'Bearer <token>'")
            token = value.strip()
            token_id = parse_token(token)
            if token_id is None:
                raise Unauthenticated("malformed token")
            record = await self._token(token_id, why="bearer token")
            return self._bearer(token, record)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = await self.session(cookie)
            if found is None:
                raise Unauthenticated("session expired or unknown; log in again")
            principal, csrf = found
            if request.method in _UNSAFE:
                sent = request.headers.get(CSRF_HEADER)
                if sent is None and request.content_type == "application/x-www-form-urlencoded":
                    sent = str((await request.post()).get("csrf_token", ""))
                if not sent or not secrets.compare_digest(sent, csrf):
                    raise Forbidden("missing or wrong CSRF token")
            return principal
        raise Unauthenticated("no credentials: send 'Authorization: Bearer <token>'")

    def _bearer(self, token: str, record: TokenRecord) -> Principal:
        """The principal of a bearer ``token`` whose record is ``record`` (live: checked by
        ``_token``); from the LRU of presented tokens when this record was checked before."""
        hit = self._presented.get(token)
        if hit is not None and hit[0] is record:
            self._presented.move_to_end(token)
            return hit[1]
        if not secrets.compare_digest(record.hash, token_hash(token)):
            raise Unauthenticated("bearer token: wrong token")
        if record.role == Role.INTEGRATION:
            raise Unauthenticated("integration requests must be signed (X-Whistle-Signature)")
        principal = _principal(record, via="token")
        self._presented[token] = (record, principal)
        if len(self._presented) > PRESENTED_TOKENS:
            self._presented.popitem(last=False)
        return principal

    async def _signed(self, request: web.Request) -> Principal:
        token_id = request.headers.get("X-Whistle-Key", "")
        stamp = request.headers.get("X-Whistle-Timestamp", "")
        signature = request.headers.get("X-Whistle-Signature", "")
        if not token_id or not stamp:
            raise Unauthenticated("a signed request needs X-Whistle-Key and X-Whistle-Timestamp")
        try:
            # ASCII digits and a bounded length: before authentication, so '²' (isdigit() but
            # not int()) or 400 digits (int() but no float) must not reach a traceback.
            at = whole_number(stamp, lo=0, hi=2**63 - 1)
        except ValueError as exc:
            raise Unauthenticated(f"X-Whistle-Timestamp: unix seconds, {exc}") from None
        now = self._clock.now().timestamp()
        if abs(now - at) > SIGNATURE_TOLERANCE:
            raise Unauthenticated(
                "X-Whistle-Timestamp: too old or in the future (replay?); "
                f"must be within {SIGNATURE_TOLERANCE} s of now"
            )
        record = await self._token(token_id, why="signed request")
        if record.role != Role.INTEGRATION:
            # The signing key is the stored hash: let no other role's hash act as a credential.
            raise Unauthenticated("only integration tokens sign requests; send a bearer token")
        body = await request.read()
        request[SIGNED_BODY] = body  # read once here; handlers that stream use this instead
        if not verify_signature(record.hash, at, body, signature):
            raise Unauthenticated("wrong signature")
        self._forget_old_signatures(now)
        if signature in self._seen_signatures:
            raise Unauthenticated("replayed request: this signature was already used")
        self._seen_signatures[signature] = now
        return _principal(record, via="signature")

    def _forget_old_signatures(self, now: float) -> None:
        horizon = now - 2 * SIGNATURE_TOLERANCE
        if len(self._seen_signatures) > 10_000 or (
            self._seen_signatures and next(iter(self._seen_signatures.values())) < horizon
        ):
            self._seen_signatures = {
                s: at for s, at in self._seen_signatures.items() if at >= horizon
            }


def _principal(record: TokenRecord, *, via: str) -> Principal:
    return Principal(
        id=f"token:{record.id}",
        role=Role(record.role),
        scope=record.scope,
        responder_id=record.responder_id,
        source=record.source,
        via=via,
    )


# -- in the request path ---------------------------------------------------------------------

ACCESS = web.AppKey("access", Access)
PRINCIPAL = web.RequestKey("principal", Principal)
SIGNED_BODY = web.RequestKey("signed_body", bytes)
PUBLIC = Principal(id="public", role=None, scope=None, via="public")

_H = Callable[[web.Request], Awaitable[web.StreamResponse]]


def body_limit(size: int) -> Callable[[_H], _H]:
    """Let a handler accept bodies up to ``size`` bytes instead of the app-wide limit (feed
    batches). The middleware applies it before anything reads the body. Not for multipart
    forms: aiohttp cleans up spooled upload files only for the original request object."""

    def mark(handler: _H) -> _H:
        handler.__whistle_body_limit__ = size  # type: ignore[attr-defined]
        return handler

    return mark


def public(handler: _H) -> _H:
    """Mark a handler as open to everyone (health checks, login, the citizen endpoint)."""
    handler.__whistle_public__ = True  # type: ignore[attr-defined]
    return handler


_BODILESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    access = request.app[ACCESS]
    info = request.match_info
    limit = getattr(info.handler, "__whistle_body_limit__", None)
    if limit is not None:
        # Nothing has read the body yet (a signature check will): raise the limit first.
        request = request.clone(client_max_size=limit)
    length = request.content_length
    if request.method in _BODILESS and length is not None and length > request.client_max_size:
        # 18: these handlers never read a body, so nothing would refuse one of any size. (The
        # others refuse at their own limit as they read: photos up to 5 MiB, feeds 2 MiB, and
        # Open311 and the hotline page answer in their own formats.)
        raise web.HTTPRequestEntityTooLarge(max_size=request.client_max_size, actual_size=length)
    if info.http_exception is not None:
        request[PRINCIPAL] = PUBLIC
        return await handler(request)
    address = client_address(request)
    wait = access.by_address.take(address)
    if wait:
        request[PRINCIPAL] = PUBLIC
        raise RateLimited(wait, f"address {address}")
    if getattr(info.handler, "__whistle_public__", False):
        request[PRINCIPAL] = PUBLIC
        return await handler(request)
    principal = await access.authenticate(request)
    wait = access.by_principal.take(principal.id)
    if wait:
        raise RateLimited(wait, principal.id)
    request[PRINCIPAL] = principal
    return await handler(request)


def allow(request: web.Request, *roles: Role) -> Principal:
    """The request's principal, when its role is one of ``roles``; else Forbidden."""
    principal = request[PRINCIPAL]
    if principal.role not in roles:
        role = principal.role.value if principal.role else "public"
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"{role} may not {request.method} {request.path} (needs {allowed})")
    return principal


def allow_responder(request: web.Request, responder_id: str, what: str) -> tuple[Responder, Cell]:
    """A responder's own ``what`` (inbox, history): the responder itself may read it, and an
    operator or admin whose scope holds the responder's cell. Raises web.HTTPNotFound for an
    unknown responder, Forbidden otherwise."""
    principal = allow(request, Role.RESPONDER, Role.OPERATOR, Role.ADMIN)
    hierarchy = request.app[ACCESS].hierarchy
    responder = hierarchy.responder(responder_id)
    if responder is None:
        raise web.HTTPNotFound(text=f"no responder with id {responder_id!r}")
    cell = hierarchy.cell(responder.grid)
    if principal.role is Role.RESPONDER:
        if principal.responder_id != responder_id:
            raise Forbidden(f"{principal.responder_id} may read only its own {what}")
    else:
        allow_cell(principal, cell, f"responder {responder_id}")
    return responder, cell
