"""Who is asking: roles scoped to the grid tree, tokens, passwords, feed signatures.

Every role but ``admin`` is scoped to one cell of the grid tree and sees and acts only inside
its subtree. API clients carry a bearer token; camera and police feeds sign each request with
HMAC-SHA256 over a timestamp and the body; people in the browser log in and carry a session
cookie. Secrets are never stored: tokens as SHA-256 (they are long and random), passwords as
argon2id (they are not).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dispatch import Source
from grids import Cell
from whistle.exceptions import Forbidden

__all__ = [
    "FILES",
    "TOKEN_PREFIX",
    "IssuedToken",
    "Principal",
    "Role",
    "allow_cell",
    "hash_password",
    "new_token",
    "parse_token",
    "sign_request",
    "signing_key",
    "token_hash",
    "verify_password",
    "verify_signature",
]

TOKEN_PREFIX = "wst_"
_TOKEN = re.compile(r"^wst_([0-9a-f]{12})_([A-Za-z0-9_-]{40,64})$")


class Role(StrEnum):
    """What a principal may do; all but admin within its scope (a subtree of the grid)."""

    REPORTER = "reporter"  # grid workers, community organisations, the town committee
    RESPONDER = "responder"  # a party member, officer, department or unit: its own work
    OPERATOR = "operator"  # dispatch for a subtree
    COMMITTEE = "committee"  # read-only statistics and cases for a subtree
    ADMIN = "admin"  # roster, rules, tokens; everywhere
    INTEGRATION = "integration"  # a camera or police system, a hotline import: one source

    @property
    def label_zh(self) -> str:
        """The role's Chinese name, e.g. ``调度员``."""
        return _ROLE_ZH[self]


_ROLE_ZH = {
    Role.REPORTER: "上报员",
    Role.RESPONDER: "报到人员",
    Role.OPERATOR: "调度员",
    Role.COMMITTEE: "党委",
    Role.ADMIN: "管理员",
    Role.INTEGRATION: "系统接入",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``id`` names it in logs and the audit trail (a token id, a user name, or ``citizen`` for
    the public endpoint). ``scope`` is a grid code (None: everywhere, for admin).
    ``responder_id`` is who a responder acts as; ``source`` the one whistle source an
    integration may file.
    """

    id: str
    role: Role | None
    scope: str | None
    responder_id: str | None = None
    source: str | None = None
    via: str = "token"

    def __repr__(self) -> str:
        role = self.role.value if self.role else "public"
        return f"Principal({self.id!r}, {role}, scope={self.scope!r}, via={self.via})"

    @property
    def actor(self) -> str:
        """The name its actions are recorded under."""
        return self.responder_id or self.id

    def covers(self, cell: Cell) -> bool:
        """True when ``cell`` lies inside this principal's subtree."""
        return self.scope is None or cell.is_within(self.scope)


# Which whistle sources each role may file (integrations: only their own).
FILES = {
    Role.REPORTER: frozenset({Source.CITIZEN, Source.COMMUNITY, Source.TOWN_COMMITTEE}),
    Role.OPERATOR: frozenset(Source),
}


def allow_cell(principal: Principal, cell: Cell, what: str = "this") -> None:
    """Forbidden unless ``cell`` lies inside the principal's scope."""
    if not principal.covers(cell):
        raise Forbidden(f"{what} is in {cell.code} ({cell.name}), outside scope {principal.scope}")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: the string to hand out once, and what is stored of it."""

    id: str
    token: str
    hash: str


def new_token() -> IssuedToken:
    """A fresh bearer token: ``wst_<12 hex id>_<43 random characters>``."""
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    return IssuedToken(token_id, token, token_hash(token))


def token_hash(token: str) -> str:
    """What the store keeps of a token (and, for feeds, the HMAC key)."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_token(token: str) -> str | None:
    """The id of a well-formed token, or None."""
    match = _TOKEN.match(token)
    return None if match is None else match.group(1)


def signing_key(token: str) -> str:
    """The HMAC key a feed signs with: derived from its token, so the server, which keeps only
    the token's hash, can check signatures without storing a second secret."""
    return token_hash(token)


def sign_request(key: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(key, f"{timestamp}." + body)>``."""
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(key: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign_request(key, timestamp, body), signature)


# argon2id with the library's defaults (RFC 9106 low-memory profile: 64 MiB, t=3, p=4).
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and now >= expires_at
