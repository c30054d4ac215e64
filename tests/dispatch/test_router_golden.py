"""The router takes exactly the decisions it took before the speed-ups (recorded digests)."""

from __future__ import annotations

import json

from tests.support.routing_golden import COUNT, GOLDEN, SEED, outcomes


def test_seeded_whistles_route_exactly_as_recorded() -> None:
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert (recorded["seed"], recorded["count"]) == (SEED, COUNT)

    replayed = outcomes(COUNT, SEED)

    differing = [
        (index, want, got)
        for index, (want, got) in enumerate(zip(recorded["decisions"], replayed, strict=True))
        if want != got
    ]
    assert not differing, f"{len(differing)} decisions differ; first: {differing[:3]}"


def test_the_recording_covers_every_level_and_points_outside_the_county() -> None:
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))["decisions"]
    located = [decision[0] for decision in recorded]

    assert None in located
    # Codes grow by 3 digits a level: county (6) to micro-grid (18).
    assert {len(code) for code in located if code is not None} == {6, 9, 12, 15, 18}
