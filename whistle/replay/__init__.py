"""What-if replay: run the recorded whistles of a period through proposed rules and report
what would have changed (``whistle replay``, the admin page /admin/replay)."""

from whistle.replay.engine import replay
from whistle.replay.recorded import Period
from whistle.replay.report import TABLES, csv_table
from whistle.replay.rules import ProposedRules, RouteCache

__all__ = ["TABLES", "Period", "ProposedRules", "RouteCache", "csv_table", "replay"]
