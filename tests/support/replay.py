"""A recorded month for the replay tests: whistles of every kind filed through the real
intake into the live server's SQLite file on a fake clock, some answered in time, some late,
some never (their deadlines fire and escalate), some resolved and verified."""

from __future__ import annotations

import random
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.requests import body
from whistle.clock import FakeClock
from whistle.web.keys import INTAKE

__all__ = ["FIRST_DAY", "LAST_DAY", "MIX", "STREETLIGHT", "record_month", "rules_variant"]

FIRST_DAY, LAST_DAY = "2026-11-23", "2026-12-22"  # the fake clock starts on 2026-11-23
STREETLIGHT = "F0103"  # 路灯不亮
# (source, category): grid matters, a claimable need, street lights, departments, police,
# town committees spreading over their units.
MIX = [
    ("citizen", "E0101"),
    ("citizen", STREETLIGHT),
    ("citizen", "E0801"),
    ("community", "E0201"),
    ("police", "E0701"),
    ("town_committee", "E0601"),
    ("citizen", "E0601"),
    ("community", STREETLIGHT),
]


def _push(doc: dict[str, Any]) -> dict[str, Any] | None:
    return next((a for a in doc["assignments"] if a["mode"] == "push" and a["responder"]), None)


async def record_month(live: Live, county: Hierarchy, clock: FakeClock, n: int = 160) -> list[str]:
    """File ``n`` whistles over the month and act on them; their ids."""
    rng = random.Random(20)
    cases = Cases(live, county)
    micro = [c.code for c in county.cells(level=Level.MICRO_GRID)]
    intake = live.app[INTAKE]
    start = clock.now()
    step = timedelta(days=27) / n
    ids = []
    for i in range(n):
        clock.set(max(clock.now(), start + step * i))
        await cases.tick()
        source, category = MIX[i % len(MIX)]
        submitted = await intake.submit(
            body(county, source=source, category=category, location={"grid": rng.choice(micro)})
        )
        ids.append(submitted.whistle_id)
        doc = await cases.get(submitted.whistle_id)
        push = _push(doc)
        fate = rng.random()
        if push is None or fate < 0.15:
            continue  # never answered: the deadline fires and escalates
        clock.advance(timedelta(minutes=rng.choice((5, 12, 25, 40))))  # some late
        await cases.tick()
        status, _ = await cases.assignment(push, "acknowledge")
        if status != 200:
            continue  # escalated already
        if fate < 0.6:
            clock.advance(timedelta(hours=rng.choice((1, 2, 5))))
            await cases.tick()
            status, _ = await cases.assignment(push, "resolve", note="已处理")
            if status == 200 and fate < 0.5:
                await cases.case(submitted.whistle_id, "verify", passed=True)
    clock.advance(timedelta(days=2))
    await cases.tick()
    return ids


def rules_variant(config: Path, into: Path, *, rules: str | None = None, edit: Any = None) -> Path:
    """A copy of the config directory ``config`` at ``into`` with ``rules`` put first among
    rules.toml's rules, or ``edit(text) -> text`` applied to it."""
    shutil.copytree(config, into)
    path = into / "rules.toml"
    text = path.read_text(encoding="utf-8")
    if rules is not None:
        head, sep, tail = text.partition("\n[[rule]]\n")  # the first rule, not a comment
        text = f"{head}\n{rules.strip()}\n{sep}{tail}"
    if edit is not None:
        text = edit(text)
    path.write_text(text, encoding="utf-8")
    return into
