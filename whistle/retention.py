"""Retention (个人信息保护法; GB/T 30428 practice): personal fields are kept for a while after a
case is closed, then blanked, and the case's statistics stay.

``lifecycle.toml``'s ``retention`` (default ``1095d``, three years after closure, 结案) says how
long. :func:`apply_retention` finds the cases closed before ``now - retention`` that still
carry personal fields and has the store blank them in every copy it keeps, the event log
included (whistle/store/sqlite/redaction.py, with the one list of what is personal in
whistle/privacy.py); photos no kept case names are deleted from disk. It is run by
``whistle retention --db ... [--now ...] [--dry-run]`` (from cron, say daily), with the time
injected so that tests need not wait three years.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from dispatch.durations import Duration
from whistle.store import Store

__all__ = ["RetentionReport", "apply_retention"]

log = structlog.get_logger("whistle.retention")

# Cases redacted per transaction: enough to be quick, few enough not to hold the writer long.
_BATCH = 200


@dataclass
class RetentionReport:
    """What one run found (and, unless ``dry_run``, blanked)."""

    cutoff: datetime
    dry_run: bool
    cases: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the command line."""
        verb = "would blank" if self.dry_run else "blanked"
        return (
            f"{verb} the personal fields of {len(self.cases)} cases closed before "
            f"{self.cutoff.isoformat()}; {len(self.photos)} photos deleted"
        )


async def apply_retention(
    store: Store,
    *,
    now: datetime,
    retention: Duration,
    media_dir: Path | None,
    dry_run: bool = False,
    actor: str = "retention",
) -> RetentionReport:
    """Blank the personal fields of every case closed more than ``retention`` before ``now``
    (see the module docstring); with ``dry_run``, only list them."""
    report = RetentionReport(cutoff=now - retention.as_timedelta(), dry_run=dry_run)
    if dry_run:
        report.cases = await store.expired_cases(report.cutoff, limit=1_000_000)
        return report
    while batch := await store.expired_cases(report.cutoff, limit=_BATCH):
        report.photos += await store.redact_cases(batch, now)
        report.cases += batch
    for name in report.photos:
        if media_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (media_dir / name).unlink()
    if report.cases:
        detail = {"cases": len(report.cases), "photos": len(report.photos)}
        await store.audit(now, actor, "retention", report.cutoff.isoformat(), detail)
    log.info("retention.done", cutoff=report.cutoff.isoformat(), **_counts(report))
    return report


def _counts(report: RetentionReport) -> dict[str, int]:
    return {"cases": len(report.cases), "photos": len(report.photos)}
