"""Signed-feed tampering: the camera (天眼) and police (警情) feeds refuse, with 401 and nothing
stored, every request whose signature does not prove that this integration sent this body
just now, once.

Each tampering starts from a request that would be accepted (a control shows it is) and
changes one thing: the signature, the body after signing, a header, the key that signed, the
time, or the number of times it is sent. Nothing may reach the database: every table has the
same number of rows afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
import pytest_asyncio

from tests.support.probe import HOME, Answer, Call, Probe, Who, open_probe
from whistle.auth import Role, parse_token, sign_request, signing_key
from whistle.web.access import ACCESS, SIGNATURE_TOLERANCE

shared_loop = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Feed:
    path: str
    source: str
    line: Callable[[Probe, int], dict[str, object]]


def _detection(p: Probe, n: int) -> dict[str, object]:
    return {
        "camera_id": p.camera(HOME),
        "event_type": "garbage_exposed",
        "confidence": 0.9,
        "time": "2026-11-23T09:00:00+08:00",
        "snapshot_url": "https://cam.example/1.jpg",
        "detection_id": f"tamper-{n}",
    }


def _alert(p: Probe, n: int) -> dict[str, object]:
    return {
        "alert_id": f"110-tamper-{n}",
        "category": "E0701",
        "location": {"grid": p.micro()},
        "description": "群众报警：有人打架",
        "time": "2026-11-23T09:00:00+08:00",
    }


FEEDS = {
    "camera": Feed("/api/v1/feeds/camera", "camera", _detection),
    "police": Feed("/api/v1/feeds/police", "police", _alert),
}


@dataclass
class Signed:
    """A request as the integration signs it; a tampering changes one part."""

    token: str
    body: bytes
    stamp: int
    key: str  # the HMAC key
    token_id: str

    def headers(self) -> dict[str, str]:
        return {
            "X-Whistle-Key": self.token_id,
            "X-Whistle-Timestamp": str(self.stamp),
            "X-Whistle-Signature": sign_request(self.key, self.stamp, self.body),
        }


Tamper = Callable[[Probe, Signed, dict[str, str]], tuple[bytes, dict[str, str]]]


def body_changed(p: Probe, s: Signed, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return s.body.replace(b"0.9", b"0.8").replace(b"E0701", b"E0702"), h


def line_added(p: Probe, s: Signed, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return s.body + b"\n" + s.body.replace(b"tamper-", b"smuggled-"), h


def signature(value: Callable[[Signed], str]) -> Tamper:
    def tamper(p: Probe, s: Signed, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return s.body, {**h, "X-Whistle-Signature": value(s)}

    return tamper


def header(name: str, value: str | None) -> Tamper:
    def tamper(p: Probe, s: Signed, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        changed = {k: v for k, v in h.items() if k != name}
        if value is not None:
            changed[name] = value
        return s.body, changed

    return tamper


def signed_at(shift: timedelta) -> Tamper:
    def tamper(p: Probe, s: Signed, h: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        stamp = int((p.clock.now() + shift).timestamp())
        return s.body, {
            **h,
            "X-Whistle-Timestamp": str(stamp),
            "X-Whistle-Signature": sign_request(s.key, stamp, s.body),
        }

    return tamper


TOO_LATE = timedelta(seconds=SIGNATURE_TOLERANCE + 1)

TAMPERINGS: dict[str, Tamper] = {
    "random signature": signature(lambda s: "sha256=" + secrets.token_hex(32)),
    "signature over another body": signature(lambda s: sign_request(s.key, s.stamp, s.body + b" ")),
    "signature for another time": signature(lambda s: sign_request(s.key, s.stamp - 1, s.body)),
    "signature without sha256=": signature(
        lambda s: sign_request(s.key, s.stamp, s.body).removeprefix("sha256=")
    ),
    "signature in upper case": signature(
        lambda s: "sha256=" + sign_request(s.key, s.stamp, s.body).removeprefix("sha256=").upper()
    ),
    "empty signature": signature(lambda s: ""),
    "body changed after signing": body_changed,
    "line added after signing": line_added,
    "timestamp changed after signing": lambda p, s, h: (
        s.body,
        {**h, "X-Whistle-Timestamp": str(s.stamp + 1)},
    ),
    "signed too long ago": signed_at(-TOO_LATE),
    "signed in the future": signed_at(TOO_LATE),
    "timestamp not a number": header("X-Whistle-Timestamp", "1e9"),
    "negative timestamp": header("X-Whistle-Timestamp", "-1"),
    "no key header": header("X-Whistle-Key", None),
    "no timestamp header": header("X-Whistle-Timestamp", None),
    "no signature header": header("X-Whistle-Signature", None),
    "unknown key": header("X-Whistle-Key", "0123456789ab"),
    "no headers at all": lambda p, s, h: (s.body, {}),
}

# Keys that are not this integration's valid one: each signs the request correctly with it.
WRONG_KEYS = ("the other feed's integration", "an operator token", "a revoked integration",
              "an expired integration", "a random secret")  # fmt: skip

FEED_TAMPERING_PROBES = len(FEEDS) * (len(TAMPERINGS) + len(WRONG_KEYS) + 2)  # + replay, bearer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("feeds"), county_dir) as p:
        yield p


async def integration(p: Probe, source: str, **options: object) -> str:
    issued = await p.live.app[ACCESS].issue_token(
        role=Role.INTEGRATION, scope=p.towns[HOME], source=source, by="probe", **options
    )
    return issued.token


def prepared(p: Probe, feed: Feed, token: str, *, key: str | None = None) -> Signed:
    p.clock.advance(timedelta(seconds=1))  # a fresh second: no signature is reused by chance
    body = orjson.dumps(feed.line(p, p.serial()))
    token_id = parse_token(token)
    assert token_id is not None
    return Signed(token, body, int(p.clock.now().timestamp()), key or signing_key(token), token_id)


async def post(p: Probe, feed: Feed, body: bytes, headers: dict[str, str]) -> Answer:
    nobody = Who("tamperer", None, None, "none")
    return await p.send(nobody, Call("POST", feed.path, raw=body), headers=headers)


def refused(answer: Answer, status: int = 401) -> str | None:
    if answer.status != status or answer.content_type != "application/problem+json":
        return f"{answer.status}: {answer.text[:200]}"
    return None


@shared_loop
@pytest.mark.parametrize("feed", FEEDS, ids=str)
async def test_the_untampered_request_is_accepted(probe: Probe, feed: str) -> None:
    """The control: the requests below differ from an accepted one in one thing only."""
    f = FEEDS[feed]
    signed = prepared(probe, f, await integration(probe, f.source))
    answer = await post(probe, f, signed.body, signed.headers())
    assert answer.status == 200, answer.text
    assert answer.json()["counts"]["created"] == 1


@shared_loop
@pytest.mark.parametrize("feed", FEEDS, ids=str)
@pytest.mark.parametrize("tampering", TAMPERINGS, ids=str)
async def test_a_tampered_request_is_refused_and_stores_nothing(
    probe: Probe, feed: str, tampering: str
) -> None:
    f = FEEDS[feed]
    signed = prepared(probe, f, await integration(probe, f.source))
    body, headers = TAMPERINGS[tampering](probe, signed, signed.headers())
    before = probe.table_counts()
    wrong = refused(await post(probe, f, body, headers))
    assert wrong is None, wrong
    assert probe.table_counts() == before


@shared_loop
@pytest.mark.parametrize("feed", FEEDS, ids=str)
@pytest.mark.parametrize("signer", WRONG_KEYS, ids=str)
async def test_a_request_signed_with_another_key_is_refused(
    probe: Probe, feed: str, signer: str
) -> None:
    f = FEEDS[feed]
    token = await integration(probe, f.source)
    other = "police" if f.source == "camera" else "camera"
    if signer == "the other feed's integration":
        signed = prepared(probe, f, await integration(probe, other))
    elif signer == "an operator token":
        # Its stored hash would be its signing key: it must not act as an integration's.
        signed = prepared(probe, f, await probe.live.token("operator"))
    elif signer == "a revoked integration":
        token = await integration(probe, f.source)
        token_id = parse_token(token)
        assert token_id is not None
        await probe.live.app[ACCESS].revoke_token(token_id, by="probe")
        signed = prepared(probe, f, token)
    elif signer == "an expired integration":
        token = await integration(probe, f.source, expires=timedelta(seconds=1))
        probe.clock.advance(timedelta(seconds=2))
        signed = prepared(probe, f, token)
    else:
        signed = prepared(probe, f, token, key=secrets.token_hex(32))
    before = probe.table_counts()
    answer = await post(probe, f, signed.body, signed.headers())
    # The other feed's integration is who it says it is (so 403: not its feed); the rest
    # cannot prove who they are.
    status = 403 if signer == "the other feed's integration" else 401
    assert refused(answer, status) is None, refused(answer, status)
    assert probe.table_counts() == before


@shared_loop
@pytest.mark.parametrize("feed", FEEDS, ids=str)
async def test_a_replayed_request_is_refused_and_stores_nothing(probe: Probe, feed: str) -> None:
    f = FEEDS[feed]
    signed = prepared(probe, f, await integration(probe, f.source))
    first = await post(probe, f, signed.body, signed.headers())
    assert first.status == 200, first.text
    stored = probe.table_counts()
    probe.clock.advance(timedelta(seconds=10))  # well inside the window
    again = await post(probe, f, signed.body, signed.headers())
    assert refused(again) is None, refused(again)
    assert "replay" in again.text
    assert probe.table_counts() == stored


@shared_loop
@pytest.mark.parametrize("feed", FEEDS, ids=str)
async def test_an_integration_token_sent_as_a_bearer_is_refused(probe: Probe, feed: str) -> None:
    f = FEEDS[feed]
    signed = prepared(probe, f, await integration(probe, f.source))
    before = probe.table_counts()
    answer = await post(probe, f, signed.body, {"Authorization": f"Bearer {signed.token}"})
    assert refused(answer) is None, refused(answer)
    assert probe.table_counts() == before
