"""Agg: the stats of a group of requests (sums and two sparse histograms), mergeable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lockgate.store import histogram
from lockgate.store.schema import ROLLUP_SUMS

__all__ = ["NSUMS", "Agg"]

NSUMS = len(ROLLUP_SUMS)
_INT_AT = tuple(i for i, n in enumerate(ROLLUP_SUMS) if n not in ("cost_usd", "latency_sum", "ttft_sum"))


class Agg:
    """ROLLUP_SUMS in order, and latency/TTFT bin counts (bin → count, non-zero only)."""

    __slots__ = ("lat", "sums", "ttft")

    def __init__(self, sums: Sequence[Any] | None = None) -> None:
        self.sums: list[Any] = [v or 0 for v in sums] if sums is not None else [0] * NSUMS
        self.lat: dict[int, int] = {}
        self.ttft: dict[int, int] = {}

    @property
    def n(self) -> int:
        return int(self.sums[0])

    def add(self, other: Agg) -> None:
        s = self.sums
        for i, v in enumerate(other.sums):
            if v:
                s[i] += v
        for mine, theirs in ((self.lat, other.lat), (self.ttft, other.ttft)):
            for b, c in theirs.items():
                mine[b] = mine.get(b, 0) + c

    def copy(self) -> Agg:
        out = Agg(self.sums)
        out.lat, out.ttft = dict(self.lat), dict(self.ttft)
        return out

    def row_values(self) -> list[Any]:
        """Sums, then the packed latency and TTFT columns, as the rollup table stores them."""
        sums = list(self.sums)
        for i in _INT_AT:
            sums[i] = int(sums[i])
        return [*sums, *_pack(self.lat), *_pack(self.ttft)]

    def add_packed(self, lat: Sequence[int | None], ttft: Sequence[int | None]) -> None:
        for bins, packed in ((self.lat, lat), (self.ttft, ttft)):
            for j, v in enumerate(packed):
                if v:
                    hi, lo = divmod(int(v), histogram.SHIFT)
                    if lo:
                        bins[2 * j] = bins.get(2 * j, 0) + lo
                    if hi:
                        bins[2 * j + 1] = bins.get(2 * j + 1, 0) + hi

    @staticmethod
    def counts(bins: dict[int, int]) -> list[int]:
        out = [0] * histogram.BINS
        for b, c in bins.items():
            out[b] = c
        return out


def _pack(bins: dict[int, int]) -> list[int]:
    out = [0] * histogram.COLUMNS
    for b, c in bins.items():
        out[b >> 1] += c << 32 if b & 1 else c
    return out
