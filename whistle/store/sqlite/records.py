"""The records beside the cases: silences, API tokens, logins and their sessions, the admin
audit trail, citizens' private links and who uploaded which photo.

Writes go through the group writer like every write (so a 201 means on disk here too);
reads use the shared reader.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from whistle.store.base import SessionRecord, Silence, TokenRecord, UserRecord
from whistle.store.sqlite._common import (
    Readers,
    db_time,
    fetchone,
    opt_time,
    parse_db_time,
    to_json,
)
from whistle.store.sqlite.write_thread import SqliteApply
from whistle.store.writer import GroupWriter

__all__ = ["Records"]

_TOKEN_COLUMNS = (
    "id, hash, role, scope, responder_id, source, label, created_at, expires_at, revoked_at"
)


class Records:
    """The Store's records other than cases (see Store for what each does)."""

    def __init__(self, writer: GroupWriter[SqliteApply], readers: Readers) -> None:
        self._writer = writer
        self._readers = readers

    def __repr__(self) -> str:
        return f"Records({self._readers!r})"

    @property
    def _r(self) -> aiosqlite.Connection:
        return self._readers.conn

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        await self._writer.submit([(sql, params)], (), None)

    # -- silences ------------------------------------------------------------------------

    async def save_silence(self, silence: Silence) -> None:
        await self._write(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, author, "
            "comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
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
        rows = await self._r.execute_fetchall(
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

    # -- access --------------------------------------------------------------------------

    async def save_token(self, token: TokenRecord) -> None:
        await self._write(
            "INSERT INTO tokens (id, hash, role, scope, responder_id, source, label, created_at, "
            "expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
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
        row = await fetchone(
            self._r, f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE id = ?", (token_id,)
        )
        return None if row is None else _token(row)

    async def tokens(self) -> list[TokenRecord]:
        rows = await self._r.execute_fetchall(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at DESC"
        )
        return [_token(row) for row in rows]

    async def save_user(self, user: UserRecord) -> None:
        await self._write(
            "INSERT INTO users (name, password_hash, role, scope, responder_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
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
        row = await fetchone(
            self._r,
            "SELECT name, password_hash, role, scope, responder_id, created_at FROM users "
            "WHERE name = ?",
            (name,),
        )
        if row is None:
            return None
        return UserRecord(row[0], row[1], row[2], row[3], row[4], parse_db_time(row[5]))

    async def save_session(self, session: SessionRecord) -> None:
        await self._write(
            "INSERT INTO sessions (id_hash, user, csrf, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                session.id_hash,
                session.user,
                session.csrf,
                db_time(session.created_at),
                db_time(session.expires_at),
            ),
        )

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        row = await fetchone(
            self._r,
            "SELECT id_hash, user, csrf, created_at, expires_at FROM sessions WHERE id_hash = ?",
            (id_hash,),
        )
        if row is None:
            return None
        return SessionRecord(row[0], row[1], row[2], parse_db_time(row[3]), parse_db_time(row[4]))

    async def delete_session(self, id_hash: str) -> None:
        await self._write("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    # -- the audit trail -----------------------------------------------------------------

    async def audit(
        self, at: datetime, actor: str, action: str, target: str | None, detail: dict[str, Any]
    ) -> None:
        await self._write(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (db_time(at), actor, action, target, to_json(detail)),
        )

    async def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._r.execute_fetchall(
            "SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?",
            (limit,),
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

    # -- citizens' links and photos ------------------------------------------------------

    async def save_citizen_link(self, whistle_id: str, key_hash: str) -> None:
        await self._write(
            "INSERT INTO citizen_links (whistle_id, key_hash) VALUES (?, ?)", (whistle_id, key_hash)
        )

    async def citizen_link(self, whistle_id: str) -> str | None:
        row = await fetchone(
            self._r, "SELECT key_hash FROM citizen_links WHERE whistle_id = ?", (whistle_id,)
        )
        return None if row is None else str(row[0])

    async def save_upload(self, name: str, uploader: str, scope: str | None) -> None:
        await self._write(
            "INSERT INTO media (name, uploader, scope) VALUES (?, ?, ?) "
            "ON CONFLICT (name, uploader) DO NOTHING",
            (name, uploader, scope),
        )

    async def uploads(self, name: str) -> list[tuple[str, str | None]]:
        rows = await self._r.execute_fetchall(
            "SELECT uploader, scope FROM media WHERE name = ?", (name,)
        )
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
        None if expires is None else parse_db_time(expires),
        None if revoked is None else parse_db_time(revoked),
    )
