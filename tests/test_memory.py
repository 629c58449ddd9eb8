"""glibc memory helpers: freed heap memory goes back to the OS, at most once per interval."""

from __future__ import annotations

import sys
import time

import pytest

from lockgate.memory import FreeMemoryReturner


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_memory_goes_back_and_calls_are_rate_limited() -> None:
    returner = FreeMemoryReturner(interval=0.2)
    # Many small blocks, every other one freed: glibc keeps the holes in the heap.
    blocks = [bytearray(2048) for _ in range(40_000)]
    del blocks[::2]
    blocks = blocks[::4]
    before = _rss_kb()
    returner()
    after = _rss_kb()
    assert after < before - 10_000, (before, after)  # tens of MB were held as free heap
    calls: list[int] = []
    returner._trim = lambda pad: calls.append(pad)  # type: ignore[assignment]
    returner()
    assert calls == []  # within the interval
    time.sleep(0.25)
    returner()
    assert calls == [0]
    del blocks
