"""Camera repeats (天眼重复识别): detections that join the camera's open case.

A camera that keeps seeing the same thing (a stall on the pavement, rubbish not cleared)
reports it again and again. Within the policy's ``camera_repeat_window`` a detection of the
same camera and category joins the case the first one opened, and the case's repeat count
rises, instead of dispatching the same responders once more.

A repeat is not a lifecycle step: it changes no assignment, deadline or statistic. So it is
written without reading and folding the case's timeline (which grows with every repeat); the
store adds the detections under a guard that the case is still open and in the window. This
keeps a burst of detections from thousands of cameras cheap: one guarded write per case per
batch, all sharing one commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dispatch import LifecyclePolicy
from dispatch.case import ACTIVE
from whistle.clock import Clock
from whistle.store import Repeat, Store

__all__ = ["CameraRepeats", "Detection"]

_ACTIVE = tuple(sorted(status.value for status in ACTIVE))


@dataclass(frozen=True, slots=True)
class Detection:
    """One detection to add to an open case: its key (None when the sender gave none, and it
    then cannot be recognised if sent again) and what the case keeps of it."""

    key: str | None
    record: Mapping[str, Any] = field(default_factory=dict)


class CameraRepeats:
    """Finds cameras' open cases and adds detections to them."""

    def __init__(self, store: Store, clock: Clock, policy: LifecyclePolicy) -> None:
        self._store = store
        self._clock = clock
        self._window = policy.camera_repeat_window.as_timedelta()

    def __repr__(self) -> str:
        return f"CameraRepeats(window={self._window})"

    def use(self, policy: LifecyclePolicy) -> None:
        """Group within ``policy``'s window from now on (a config version was applied)."""
        self._window = policy.camera_repeat_window.as_timedelta()

    async def open_cases(
        self, pairs: Sequence[tuple[str, str]], within: Mapping[str, str]
    ) -> dict[tuple[str, str], str]:
        """The open case of each (camera id, category) that has one inside the window, in the
        subtree ``within[camera id]`` (a grid path: the camera's own cell, which the caller's
        scope holds). A case elsewhere that merely names the camera is never joined."""
        if not pairs:
            return {}
        since = self._clock.now() - self._window
        return await self._store.open_camera_cases(pairs, since, _ACTIVE, within=within)

    async def known(self, keys: Sequence[str]) -> dict[str, str]:
        """Detection keys already stored, with the case each went to."""
        return await self._store.known_detections(keys) if keys else {}

    async def add(
        self, cases: Mapping[str, Sequence[Detection]], actors: Mapping[str, str]
    ) -> dict[str, bool]:
        """Add each case's detections to it, in the name of ``actors[case]`` (its camera);
        say per case whether it was still open (when not, nothing of it was written and the
        caller opens a new case instead)."""
        now = self._clock.now()
        since = now - self._window
        repeats = [
            Repeat(
                whistle_id=case_id,
                at=now,
                actor=actors[case_id],
                detections=[{"key": d.key, **d.record} for d in detections],
                statuses=_ACTIVE,
                since=since,
            )
            for case_id, detections in cases.items()
            if detections
        ]
        written = await self._store.add_repeats(repeats)
        return {repeat.whistle_id: ok for repeat, ok in zip(repeats, written, strict=True)}
