"""The PostgreSQL store's records beside the cases: silences, API tokens, logins and their
sessions, the admin audit trail, citizens' private links and who uploaded which photo.
Writes go through the group writer (a 201 means committed); reads use the read pool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from whistle.store.base import SessionRecord, Silence, TokenRecord, UserRecord
from whistle.store.encoding import db_time, opt_time, parse_db_time, to_json
from whistle.store.postgres._common import Readers
from whistle.store.postgres.backend import PgApply
from whistle.store.postgres.listener import SILENCES_CHANNEL
from whistle.store.writer import GroupWriter

__all__ = ["Records"]

_TOKEN_COLUMNS = (
    "id, hash, role, scope, responder_id, source, label, created_at, expires_at, revoked_at"
)


def _opt(text: str | None) -> datetime | None:
    return None if text is None else parse_db_time(text)


class Records:
    """The Store's records other than cases, on PostgreSQL."""

    def __init__(self, writer: GroupWriter[PgApply], readers: Readers) -> None:
        self._writer = writer
        self._r = readers

    def __repr__(self) -> str:
        return f"Records({self._r!r})"

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        # $n statements pass through the dialect unchanged.
        await self._writer.submit([(sql, params)], (), None)

    async def save_silence(self, silence: Silence) -> None:
        # Every process's listener hears of it at the commit (whistle/silences.py reloads).
        notify = ("SELECT pg_notify($1, $2)", (SILENCES_CHANNEL, silence.id))
        await self._writer.submit([self._silence_row(silence), notify], (), None)

    def _silence_row(self, silence: Silence) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT INTO silences (id, matchers, starts_at, ends_at, author, comment, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (id) DO UPDATE SET ends_at = excluded.ends_at",
            (
                silence.id,
                orjson.dumps(silence.matchers, option=orjson.OPT_SORT_KEYS).decode(),
                db_time(silence.starts_at),
                db_time(silence.ends_at),
                silence.author,
                silence.comment,
                db_time(silence.created_at),
            ),
        )

    async def silences(self) -> list[Silence]:
        rows = await self._r.fetch(
            "SELECT id, matchers, starts_at, ends_at, author, comment, created_at "
            "FROM silences ORDER BY created_at DESC"
        )
        return [
            Silence(
                sid,
                orjson.loads(matchers),
                parse_db_time(starts),
                parse_db_time(ends),
                author,
                comment,
                parse_db_time(created),
            )
            for sid, matchers, starts, ends, author, comment, created in rows
        ]

    async def save_token(self, token: TokenRecord) -> None:
        await self._write(
            "INSERT INTO tokens (id, hash, role, scope, responder_id, source, label, created_at, "
            "expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at, "
            "expires_at = excluded.expires_at",
            (
                token.id,
                token.hash,
                token.role,
                token.scope,
                token.responder_id,
                token.source,
                token.label,
                db_time(token.created_at),
                opt_time(token.expires_at),
                opt_time(token.revoked_at),
            ),
        )

    async def get_token(self, token_id: str) -> TokenRecord | None:
        row = await self._r.fetchrow(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE id = $1", token_id)
        return None if row is None else _token(row)

    async def tokens(self) -> list[TokenRecord]:
        rows = await self._r.fetch(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at DESC")
        return [_token(row) for row in rows]

    async def save_user(self, user: UserRecord) -> None:
        await self._write(
            "INSERT INTO users (name, password_hash, role, scope, responder_id, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET "
            "password_hash = excluded.password_hash, role = excluded.role, "
            "scope = excluded.scope, responder_id = excluded.responder_id",
            (
                user.name,
                user.password_hash,
                user.role,
                user.scope,
                user.responder_id,
                db_time(user.created_at),
            ),
        )

    async def get_user(self, name: str) -> UserRecord | None:
        row = await self._r.fetchrow(
            "SELECT name, password_hash, role, scope, responder_id, created_at FROM users "
            "WHERE name = $1",
            name,
        )
        if row is None:
            return None
        return UserRecord(row[0], row[1], row[2], row[3], row[4], parse_db_time(row[5]))

    async def save_session(self, session: SessionRecord) -> None:
        await self._write(
            'INSERT INTO sessions (id_hash, "user", csrf, created_at, expires_at) '
            "VALUES ($1, $2, $3, $4, $5)",
            (
                session.id_hash,
                session.user,
                session.csrf,
                db_time(session.created_at),
                db_time(session.expires_at),
            ),
        )

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        row = await self._r.fetchrow(
            'SELECT id_hash, "user", csrf, created_at, expires_at FROM sessions WHERE id_hash = $1',
            id_hash,
        )
        if row is None:
            return None
        return SessionRecord(row[0], row[1], row[2], parse_db_time(row[3]), parse_db_time(row[4]))

    async def delete_session(self, id_hash: str) -> None:
        await self._write("DELETE FROM sessions WHERE id_hash = $1", (id_hash,))

    async def audit(
        self, at: datetime, actor: str, action: str, target: str | None, detail: dict[str, Any]
    ) -> None:
        await self._write(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            (db_time(at), actor, action, target, to_json(detail)),
        )

    async def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._r.fetch(
            "SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT $1",
            limit,
        )
        return [
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "target": target,
                "detail": orjson.loads(detail),
            }
            for seq, at, actor, action, target, detail in rows
        ]

    async def save_citizen_link(self, whistle_id: str, key_hash: str) -> None:
        await self._write(
            "INSERT INTO citizen_links (whistle_id, key_hash) VALUES ($1, $2)",
            (whistle_id, key_hash),
        )

    async def citizen_link(self, whistle_id: str) -> str | None:
        row = await self._r.fetchrow(
            "SELECT key_hash FROM citizen_links WHERE whistle_id = $1", whistle_id
        )
        return None if row is None else str(row[0])

    async def save_upload(self, name: str, uploader: str, scope: str | None) -> None:
        await self._write(
            "INSERT INTO media (name, uploader, scope) VALUES ($1, $2, $3) "
            "ON CONFLICT (name, uploader) DO NOTHING",
            (name, uploader, scope),
        )

    async def uploads(self, name: str) -> list[tuple[str, str | None]]:
        rows = await self._r.fetch("SELECT uploader, scope FROM media WHERE name = $1", name)
        return [(str(uploader), scope) for uploader, scope in rows]


def _token(row: Any) -> TokenRecord:
    tid, hash_, role, scope, responder_id, source, label, created, expires, revoked = row
    return TokenRecord(
        tid,
        hash_,
        role,
        scope,
        responder_id,
        source,
        label,
        parse_db_time(created),
        _opt(expires),
        _opt(revoked),
    )
