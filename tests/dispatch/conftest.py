"""Shared fixtures: the test county (see dispatch_county.py) and the test dispatch config."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from dispatch import DispatchConfig, Router, load_dispatch_config
from grids import Hierarchy, Responder
from tests.support.dispatch_county import CELLS, DATA, ROSTER


@pytest.fixture
def build() -> Callable[[Iterable[Responder]], Hierarchy]:
    """Build the test county with the given roster."""

    def make(responders: Iterable[Responder]) -> Hierarchy:
        return Hierarchy.build(CELLS, responders)

    return make


@pytest.fixture
def hierarchy(build: Callable[[Iterable[Responder]], Hierarchy]) -> Hierarchy:
    return build(ROSTER)


@pytest.fixture(scope="session")
def config() -> DispatchConfig:
    """The small test config in tests/data/dispatch/config (loaded once: it is immutable)."""
    return load_dispatch_config(DATA / "config")


@pytest.fixture
def router(hierarchy: Hierarchy, config: DispatchConfig) -> Router:
    return Router.compile(hierarchy, config)
