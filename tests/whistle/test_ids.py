"""Whistle ids: time-ordered ULIDs whose random part comes from the kernel, 4 KiB at a time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from whistle.clock import FakeClock
from whistle.ids import Entropy, IdFactory, _ulid, is_ulid

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_ids_are_ulids_in_order_within_one_millisecond_and_across_them() -> None:
    clock = FakeClock(AT)
    ids = IdFactory(clock)
    made = [ids.new() for _ in range(1_000)]
    clock.advance(timedelta(milliseconds=3))
    made += [ids.new() for _ in range(1_000)]
    assert all(is_ulid(i) for i in made)
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_the_time_part_reads_back_as_the_clock_and_a_given_source_is_used() -> None:
    ids = IdFactory(FakeClock(AT), random.Random(7).getrandbits)
    again = IdFactory(FakeClock(AT), random.Random(7).getrandbits)
    first = ids.new()
    assert first == again.new()  # the same source, the same id: the source is the one given
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    millis = 0
    for char in first[:10]:
        millis = millis * 32 + alphabet.index(char)
    assert millis == int(AT.timestamp() * 1000)


def test_entropy_gives_the_bits_asked_for_and_new_bytes_after_a_fork() -> None:
    pool = Entropy(chunk=64)
    draws = [pool.randbits(80) for _ in range(200)]  # several refills of 64 bytes
    assert all(0 <= d < 1 << 80 for d in draws)
    assert len(set(draws)) == len(draws)
    assert max(d.bit_length() for d in draws) > 70  # the high bits are used too
    assert 0 <= pool.randbits(3) < 8
    before = pool._buffer
    pool.forget()  # what a forked child does: never the parent's unread bytes
    pool.randbits(80)
    assert pool._buffer != before


def test_the_unrolled_encoding_is_crockford_base32_of_the_time_and_the_random_part() -> None:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    rng = random.Random(21)
    cases = [(0, 0), ((1 << 48) - 1, (1 << 80) - 1)]
    cases += [(rng.getrandbits(48), rng.getrandbits(80)) for _ in range(2_000)]
    for ms, rand in cases:
        value, chars = (ms << 80) | rand, []
        for _ in range(26):
            value, rem = divmod(value, 32)
            chars.append(alphabet[rem])
        assert _ulid(ms, rand) == "".join(reversed(chars))
