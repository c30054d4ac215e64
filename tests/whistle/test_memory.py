"""What keeps a long-running server's memory flat: the allocator threshold and the string cache.

Each test runs in a child interpreter, so that what it measures (glibc's threshold, pydantic's
process-wide string table) starts from a fresh process and does not depend on test order.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")

# Frees a 4 MiB block (which, left to glibc, raises its mmap threshold to 4 MiB), then
# allocates 1 MiB and reports whether that block was mapped by itself (mallinfo2's hblkhd).
_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from whistle.allocator import pin_mmap_threshold
    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Info
    pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else False
    big = bytearray(4 << 20)
    del big
    before = libc.mallinfo2().hblkhd
    block = bytearray(1 << 20)
    print(pinned, libc.mallinfo2().hblkhd - before >= len(block))
    """
)


def _probe(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@glibc_only
def test_pinned_threshold_maps_big_buffers_after_a_bigger_one_was_freed() -> None:
    assert _probe("pin") == "True True"


@glibc_only
def test_without_the_pin_glibc_raises_its_threshold_and_keeps_big_buffers_in_the_heap() -> None:
    # The behaviour the pin exists to turn off: if this stopped holding (a glibc without the
    # moving threshold), the pin would be harmless but no longer needed.
    assert _probe("none") == "False False"


def test_an_operator_threshold_in_the_environment_is_left_alone() -> None:
    code = "from whistle.allocator import pin_mmap_threshold; print(pin_mmap_threshold())"
    env = {"MALLOC_MMAP_THRESHOLD_": "262144", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == "False"


def test_request_text_is_not_kept_by_validation() -> None:
    # 20,000 whistles with distinct descriptions: with pydantic's default string cache about
    # 15,000 of their strings stayed alive afterwards; with the request models' config none do.
    code = textwrap.dedent(
        """
        import gc, sys
        from whistle.schema import WhistleIn
        def body(n):
            return {"source": "citizen", "category": "E0101",
                    "description": f"楼道堆放杂物，影响通行 #{n}", "reporter": f"网格员{n}",
                    "location": {"grid": "530524101001003001"}}
        WhistleIn.model_validate(body(-1))
        gc.collect()
        before = sys.getallocatedblocks()
        for n in range(20_000):
            WhistleIn.model_validate(body(n))
        gc.collect()
        print(sys.getallocatedblocks() - before)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) < 500


@glibc_only
def test_trim_gives_back_the_free_pages_between_live_blocks() -> None:
    # 100 MB of 1 KB blocks (malloc, not Python's small-object allocator), every 64th kept:
    # the heap cannot shrink from the top, so only a trim returns the pages in between.
    code = textwrap.dedent(
        """
        from whistle.allocator import trim
        def anon():
            for line in open("/proc/self/status"):
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        blocks = [bytes(1000) + bytes([i % 256]) for i in range(100_000)]
        kept = blocks[::64]
        del blocks
        before = anon()
        released = trim()
        print(released, before - anon(), len(kept))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    released, freed_kib, _ = done.stdout.split()
    assert released == "True"
    assert int(freed_kib) > 50_000
