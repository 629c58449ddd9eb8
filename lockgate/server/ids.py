"""Request ids: time-ordered UUIDs (v7 layout), so ids sort by creation time."""

from __future__ import annotations

import random
import time

__all__ = ["new_request_id"]


def new_request_id() -> str:
    ms = time.time_ns() // 1_000_000
    # Ids are labels, not secrets: the Mersenne Twister is ~20x cheaper than os.urandom here.
    rand = random.getrandbits(80)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
