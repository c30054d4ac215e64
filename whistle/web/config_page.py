"""规则版本, the config versions page: ``GET /admin/config`` (admin only).

The admin edits the active version's files in text areas, each checked as they type: the
page's script (``/static/config.js``) calls ``POST /api/v1/config/validate`` after a pause in
typing and lists ``check-config``'s problems by file and line. A version that validates is
proposed, and applied, through the config versions API (whistle/web/config_versions.py);
the table lists every version with its author, reason and state, and applies (or rolls back
to) any of them.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from whistle.auth import Role
from whistle.store import ConfigVersionRecord
from whistle.versions import OPTIONAL_FILES, START_AUTHOR, START_REASON, VERSIONED_FILES
from whistle.web.access import public
from whistle.web.i18n import CONFIG_PAGE
from whistle.web.i18n import lang as _lang
from whistle.web.keys import LIVE, STORE, TZ
from whistle.web.pages import page_session, render

__all__ = ["routes"]

routes = web.RouteTableDef()


def _row(record: ConfigVersionRecord, tz: Any, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "id": record.id,
        "state": record.state,
        "state_name": labels[f"{record.state}_state"],
        # The version read from --config at start: named in words, not by its stored tokens.
        "author": labels["from_dir"] if record.author == START_AUTHOR else record.author,
        "reason": labels["start_reason"] if record.reason == START_REASON else record.reason,
        "when": record.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "hash": record.hash[:12],
    }


@routes.get("/admin/config")
@public
async def config_page(request: web.Request) -> web.Response:
    """The active version's files in editors, and every version."""
    principal, csrf = await page_session(request, Role.ADMIN)
    labels = CONFIG_PAGE[_lang(request)]
    live = request.app[LIVE].current
    records = await request.app[STORE].config_versions()
    files = [
        {
            "name": name,
            "text": live.files.get(name, ""),
            "optional": name in OPTIONAL_FILES,
            "rows": 24 if name != "duty.csv" else 12,
        }
        for name in VERSIONED_FILES
    ]
    config = {
        "labels": labels,
        "active": live.version_id,
        "start": {"author": START_AUTHOR, "reason": START_REASON},
    }
    return render(
        request,
        "config.html",
        title=labels["title"],
        principal=principal,
        csrf=csrf,
        c=labels,
        active=live.version_id,
        active_hash=live.hash[:12],
        files=files,
        versions=[_row(r, request.app[TZ], labels) for r in records],
        config=orjson.dumps(config).decode(),
    )
