"""Time limits of the closed loop (DOMAIN.md defaults), from the optional ``lifecycle.toml``.

::

    return_window   = "2wd"   # a wrongly assigned responder may return (退单) within this
    return_decision = "4wh"   # the dispatcher decides on a return (reassign or refuse) in this
    extension_max   = "10wd"  # one extension (延期) of at most this
    urge_at         = 0.8     # urge (催办) once this share of the resolution time has passed
    rectify_within  = "15wd"  # a bad rating (差评) opens a rectification (整改) due in this
    escalate_after  = "1wd"   # after supervision (督办) at the deadline, escalate this much later
    camera_repeat_window = "30m"  # a camera's repeat of a category joins its open case
    duplicate_window = "2h"   # likely duplicates, for categories without a window of their own
    retention       = "1095d" # personal fields are blanked this long after closure (3 years)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch._toml import Issues, Table, read_toml
from dispatch.durations import Duration

__all__ = ["LIFECYCLE_FILE", "LifecyclePolicy", "load_policy", "policy_from_data"]

LIFECYCLE_FILE = "lifecycle.toml"


_RETURN_WINDOW = Duration.parse("2wd")
_RETURN_DECISION = Duration.parse("4wh")
_RECTIFY_WITHIN = Duration.parse("15wd")
_EXTENSION_MAX = Duration.parse("10wd")
_ESCALATE_AFTER = Duration.parse("1wd")
_CAMERA_REPEAT_WINDOW = Duration.parse("30m")
_DUPLICATE_WINDOW = Duration.parse("2h")
# Three years after closure (结案), as GB/T 30428 deployments keep case files.
_RETENTION = Duration.parse("1095d")


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """How long each step of a case may take, beyond the per-category limits."""

    return_window: Duration = _RETURN_WINDOW
    return_decision: Duration = _RETURN_DECISION
    rectify_within: Duration = _RECTIFY_WITHIN
    extension_max: Duration = _EXTENSION_MAX
    urge_at: float = 0.8
    escalate_after: Duration = _ESCALATE_AFTER
    camera_repeat_window: Duration = _CAMERA_REPEAT_WINDOW
    duplicate_window: Duration = _DUPLICATE_WINDOW
    retention: Duration = _RETENTION


_KEYS = (
    "return_window",
    "return_decision",
    "rectify_within",
    "extension_max",
    "urge_at",
    "escalate_after",
    "camera_repeat_window",
    "duplicate_window",
    "retention",
)


def policy_from_data(data: dict[str, Any], issues: Issues) -> LifecyclePolicy:
    """Build a policy from parsed TOML, reporting bad keys and values into ``issues``."""
    table = Table(data, None, issues, _KEYS)
    defaults = LifecyclePolicy()
    urge_at = defaults.urge_at
    if "urge_at" in data:
        value = data["urge_at"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            table.error(f"urge_at: expected a number between 0 and 1, got {value!r}")
        else:
            urge_at = float(value)
    for key in ("camera_repeat_window", "duplicate_window", "retention"):
        window = table.duration(key) if key in data else None
        if window is not None and window.is_working:
            table.error(f"{key}: a look-back window is wall time (s, m, h, d), not {window}")
    return LifecyclePolicy(
        return_window=table.duration("return_window") or defaults.return_window,
        return_decision=table.duration("return_decision") or defaults.return_decision,
        rectify_within=table.duration("rectify_within") or defaults.rectify_within,
        extension_max=table.duration("extension_max") or defaults.extension_max,
        urge_at=urge_at,
        escalate_after=table.duration("escalate_after") or defaults.escalate_after,
        camera_repeat_window=_wall(table, "camera_repeat_window", defaults.camera_repeat_window),
        duplicate_window=_wall(table, "duplicate_window", defaults.duplicate_window),
        retention=_wall(table, "retention", defaults.retention),
    )


def _wall(table: Table, key: str, default: Duration) -> Duration:
    if key not in table:
        return default
    value = table.parse_duration(key, str(table.data[key]))
    return default if value is None or value.is_working else value


def load_policy(config_dir: Path, issues: Issues) -> LifecyclePolicy:
    """The policy in ``config_dir/lifecycle.toml``; the defaults when there is no such file."""
    path = config_dir / LIFECYCLE_FILE
    if not path.exists():
        return LifecyclePolicy()
    data = read_toml(path, issues)
    return LifecyclePolicy() if data is None else policy_from_data(data, issues)
