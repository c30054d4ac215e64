"""The words of the pages, in Simplified Chinese (``zh``, the default) and English (``en``).

One catalogue, one table per concern, each keyed by language, in a module per part of the
site: ``admin`` (``CONFIG_PAGE``), ``frame`` (``PAGES``, the shared frame; ``HOTLINE``),
``console`` (``CONSOLE``, ``ACTIONS``, ``QUEUE``, ``SILENCES_PAGE``), ``field`` (``FIELD``,
``TASKS``), ``citizen`` (``CITIZEN``), ``wall`` (``WALL``), ``party`` (``PARTY``), and ``names``
(``STATUSES``, ``ROLES``, ``SOURCES``, ``OPEN311_NOTES``). Import them from here. What several
tables name (case statuses, roles, whistle sources) is named once: the Chinese labels live on
the enums
(``CaseStatus.label_zh``, ``Role.label_zh``, ``Source.label_zh``, like ``Level`` and
``ResponderKind`` in grids), and ``STATUSES``, ``ROLES`` and ``SOURCES`` here are built from
them. The statistics' words stay in whistle/stats.py, which writes them into its CSV and
report itself; ``STATS`` re-exports them. The Jinja templates still carry their own small
inline ``L`` dicts for words only they use.
"""

from __future__ import annotations

from aiohttp import web

from whistle.stats import LABELS as STATS
from whistle.web.i18n.admin import CONFIG_PAGE
from whistle.web.i18n.citizen import CITIZEN
from whistle.web.i18n.console import ACTIONS, CONSOLE, QUEUE, SILENCES_PAGE
from whistle.web.i18n.field import FIELD, TASKS
from whistle.web.i18n.frame import HOTLINE, PAGES, REASONS
from whistle.web.i18n.names import OPEN311_NOTES, ROLES, SOURCES, STATUSES
from whistle.web.i18n.party import PARTY
from whistle.web.i18n.wall import WALL

__all__ = [
    "ACTIONS",
    "CITIZEN",
    "CONFIG_PAGE",
    "CONSOLE",
    "DEFAULT_LANG",
    "FIELD",
    "HOTLINE",
    "LANGS",
    "LANG_COOKIE",
    "OPEN311_NOTES",
    "PAGES",
    "PARTY",
    "QUEUE",
    "REASONS",
    "ROLES",
    "SILENCES_PAGE",
    "SOURCES",
    "STATS",
    "STATUSES",
    "TASKS",
    "WALL",
    "lang",
]

LANG_COOKIE = "whistle_lang"
LANGS = ("zh", "en")
DEFAULT_LANG = "zh"


def lang(request: web.Request) -> str:
    """The language of the answer: ``?lang=`` first, then the cookie, else Chinese.

    An empty ``?lang=`` falls through to the cookie; anything but ``zh`` or ``en`` is Chinese.
    """
    chosen = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or DEFAULT_LANG
    return chosen if chosen in LANGS else DEFAULT_LANG
