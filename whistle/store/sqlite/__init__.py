"""The Store on SQLite, through aiosqlite for reads and a thread of its own for the writer.

``store`` puts the parts together (``SqliteStore``); ``write_thread`` is the write connection
behind the group writer (whistle/store/writer.py); ``writes`` and ``reads`` are what cases
write and read; ``statistics`` the committee's figures; ``records`` the silences, tokens,
logins, audit trail, citizens' links and photos; ``versions`` the config versions;
``_common`` what they share.
"""

from whistle.store.sqlite._common import db_time, parse_db_time
from whistle.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore", "db_time", "parse_db_time"]
