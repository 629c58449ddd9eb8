"""Fixed log-spaced histograms for latency and TTFT, as the stats rollup stores them.

Bin 0 holds [0, 1 ms); bin i (1..168) holds [2^((i-1)/8), 2^(i/8)) ms, eight bins per
octave up to 2^21 ms (35 min); larger values go to the last bin. A percentile is the
geometric middle of the bin that holds its rank, so between 1 ms and 35 min it is within
2^(1/16) - 1 = 4.4 % of the exact (nearest-rank) value; below 1 ms it is 0.5 ms (off by at
most 0.5 ms). The bin of a value is computed in SQL as a balanced tree of comparisons
(8 per value, no math functions needed, same on SQLite and PostgreSQL).

Two bins share one integer column (`lo + hi * 2^32`): summing the packed column sums both
bins at once, which halves the work of every stats query. A bin total stays exact while it
is below 2^31 per group (SQLite's 64-bit SUM would raise otherwise, never wrap).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence

import sqlalchemy as sa

__all__ = ["BINS", "COLUMNS", "EDGES", "MAX_RELATIVE_ERROR", "bin_of", "bin_sql", "pack", "percentile",
           "unpack"]

PER_OCTAVE = 8
OCTAVES = 21
LOW_MS = 1.0
BINS = PER_OCTAVE * OCTAVES + 1  # 169
COLUMNS = (BINS + 1) // 2  # 85 packed columns per metric
SHIFT = 1 << 32
# EDGES[i] is the lower bound of bin i + 1.
EDGES: tuple[float, ...] = tuple(LOW_MS * 2.0 ** (i / PER_OCTAVE) for i in range(BINS - 1))
MAX_RELATIVE_ERROR = 2.0 ** (1 / (2 * PER_OCTAVE)) - 1


def bin_of(value: float) -> int:
    """The bin of one value (Python twin of `bin_sql`, for tests and generators)."""
    return bisect.bisect_right(EDGES, value)


@functools.lru_cache(maxsize=16)
def bin_sql(column: str) -> sa.ColumnElement[int]:
    """SQL for the bin of the value in `column` (a qualified column name; NULL stays NULL): a
    balanced tree of CASE comparisons, written out once as text (SQLAlchemy would otherwise
    walk a few hundred nodes on every statement)."""

    def node(lo: int, hi: int) -> str:
        # Bins lo..hi; bin i starts at EDGES[i - 1].
        if lo == hi:
            return str(lo)
        mid = (lo + hi + 1) // 2
        return f"CASE WHEN {column} < {EDGES[mid - 1]!r} THEN {node(lo, mid - 1)} ELSE {node(mid, hi)} END"

    return sa.literal_column(f"CASE WHEN {column} IS NULL THEN NULL ELSE {node(0, BINS - 1)} END", sa.Integer)


def pack(counts: Sequence[int]) -> list[int]:
    """BINS counts → COLUMNS packed integers."""
    out = []
    for j in range(COLUMNS):
        lo = counts[2 * j]
        hi = counts[2 * j + 1] if 2 * j + 1 < len(counts) else 0
        out.append(lo + hi * SHIFT)
    return out


def unpack(packed: Sequence[int | None]) -> list[int]:
    """COLUMNS packed integers (summed or not) → BINS counts."""
    out: list[int] = []
    for v in packed:
        hi, lo = divmod(int(v or 0), SHIFT)
        out += (lo, hi)
    return out[:BINS]


def representative(i: int) -> float:
    """The value reported for bin i: its geometric middle (0.5 ms for bin 0)."""
    if i <= 0:
        return LOW_MS / 2
    return float(LOW_MS * 2.0 ** ((i - 0.5) / PER_OCTAVE))


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) by nearest rank, from bin counts; None when empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= rank:
            return representative(i)
    return representative(len(counts) - 1)
