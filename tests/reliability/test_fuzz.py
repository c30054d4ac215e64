"""Fuzzing the HTTP API with schemathesis against a live server: no 5xx, and every answer keeps
to the OpenAPI document (status, media type, body schema, required headers).

Every operation is fuzzed with data that fits the document and with data that breaks it, once
with random path parameters and once with ids that exist (a filed whistle, its assignment, a
micro-grid, a responder), each with the token of a role the handler admits, so that requests
reach the handlers rather than stop at access control; then once without credentials.
Derandomized: the same examples every run, so CI is stable. ``WHISTLE_FULL=1`` (``make soak``)
runs many more examples per operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    FailureGroup,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from grids import Hierarchy, Level
from tests.support.harness import StartServer
from tests.support.reliability import FULL, body
from whistle.ratelimit import Limit
from whistle.web.access import AccessLimits
from whistle.web.openapi import document

pytestmark = pytest.mark.reliability

EXAMPLES = 100 if FULL else 6  # per operation, per mode, per kind of path parameters
ANONYMOUS_EXAMPLES = 20 if FULL else 2
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# The stream never ends by itself: a request to it would hang the fuzzer (test_stream.py).
SKIP = {"GET /api/v1/stream"}
ADMIN_PATHS = ("/api/v1/tokens", "/api/v1/users", "/api/v1/audit")
RESPONDER_ACTIONS = ("acknowledge", "start", "resolve", "return", "claim")

# The feeds take JSON Lines: objects, one a line, or any bytes at all.
_JSON_LINE = st.dictionaries(
    st.text(max_size=12), st.text(max_size=20) | st.integers(-(2**53), 2**53), max_size=5
)
schemathesis.openapi.media_type(
    "application/x-ndjson",
    st.lists(_JSON_LINE, max_size=4).map(lambda lines: b"\n".join(map(orjson.dumps, lines)))
    | st.binary(max_size=200),
)


@dataclass
class Run:
    """What the fuzzer sent and what broke."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: dict[str, set[int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # one per operation and title

    def record(self, label: str, exc: FailureGroup) -> None:
        for failure in exc.exceptions:
            self.failures.setdefault(f"{label}: {failure.title}", str(exc)[:2000])


def fuzz(
    base_url: str,
    token_for: Callable[[str], str | None],
    ids_for: Callable[[str], dict[str, str]],
    examples: int,
) -> Run:
    """Fuzz every operation (blocking: run it in a thread, the server is on the loop)."""
    schema = schemathesis.openapi.from_dict(document())
    run = Run()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIP:
            continue
        token = token_for(operation.path)
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        fixed = {k: v for k, v in ids_for(operation.path).items() if f"{{{k}}}" in operation.path}
        choices: list[dict[str, str] | None] = [None, fixed] if fixed else [None]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in choices:
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters=path_parameters
                )
                _examples(strategy, examples, run, label, base_url, session, headers)
    session.close()
    return run


def _examples(
    strategy: st.SearchStrategy[Any],
    examples: int,
    run: Run,
    label: str,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not minimise
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def one(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        run.requests += 1
        run.statuses[response.status_code] += 1
        run.by_operation.setdefault(label, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as exc:
            run.record(label, exc)

    # An operation with nothing to break (no parameters, no body) has no negative cases.
    with contextlib.suppress(Unsatisfiable):
        one()


async def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_document(
    start_server: StartServer, county: Hierarchy
) -> None:
    # Lift the citizens' rate limit, or nearly every public request would be a (correct) 429.
    unlimited = Limit(rate=1e6, burst=1e6)
    live = await start_server(limits=AccessLimits(unlimited, unlimited, unlimited))
    status, _, doc = await live.post(body(county, 0))
    assert status == 201
    assignment = doc["assignments"][0]
    micro = next(c.code for c in county.cells(level=Level.MICRO_GRID))
    responder = assignment["responder"]["id"]
    tokens = {
        "operator": await live.token("operator"),
        "admin": await live.token("admin", scope=None),
        "responder": await live.token("responder", responder=responder),
    }

    def token_for(path: str) -> str:
        if path.startswith(ADMIN_PATHS):
            return tokens["admin"]
        if path.rsplit("/", 1)[-1] in RESPONDER_ACTIONS:
            return tokens["responder"]
        return tokens["operator"]

    def ids_for(path: str) -> dict[str, str]:
        """Ids that exist, for the path's parameters."""
        if "/assignments/" in path:
            return {"id": assignment["id"]}
        if "/responders/" in path:
            return {"id": responder}
        return {"id": doc["id"], "code": micro}

    base = str(live.client.make_url("")).rstrip("/")
    started = time.monotonic()
    authorised = await asyncio.to_thread(fuzz, base, token_for, ids_for, EXAMPLES)
    anonymous = await asyncio.to_thread(
        fuzz, base, lambda path: None, lambda path: {}, ANONYMOUS_EXAMPLES
    )
    elapsed = time.monotonic() - started
    print(
        f"schemathesis: {authorised.requests} authorised and {anonymous.requests} anonymous "
        f"requests in {elapsed:.1f} s; statuses {sorted(authorised.statuses.items())}"
    )
    failures = {**authorised.failures, **anonymous.failures}
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(failures.items()))
    # The fuzzer reached the handlers (some requests succeeded, some were refused as bad
    # input), and without credentials every operation but the public ones answered 401 (or
    # 404 from the router, for a path no route matches).
    assert sum(n for status, n in authorised.statuses.items() if status < 300) > 0
    assert authorised.statuses[422] + authorised.statuses[400] > 0
    public = {
        f"{method.upper()} {path}"
        for path, item in document()["paths"].items()
        for method, op in item.items()
        if op.get("security") == []
    }
    assert public <= set(anonymous.by_operation)
    for label, statuses in anonymous.by_operation.items():
        if label not in public:
            assert statuses <= {401, 404}, (label, statuses)
