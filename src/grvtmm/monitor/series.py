"""Fixed-cadence time series in ring buffers, with time-bucketed downsampling for long ranges.

A point is taken at most once per `interval_ns` of event time (our receive clock), stamped with
the cadence boundary it falls on; quiet stretches leave gaps rather than repeated points. Memory
is fixed: an int64 time array and a float64 matrix of `capacity` rows × one column per field
(86 400 rows × (1 + 8) columns ≈ 6 MB for 24 h at 1 s).

Downsampling (`query` with more points in range than `max_points`) groups the points into at
most `max_points` equal time buckets (a round number of cadence steps wide, aligned on
multiples of the width) and keeps, per non-empty bucket, the last point's time and values
(the state at the end of the bucket). For the fields in `extremes` (mid and equity by default) it
also reports each bucket's minimum and maximum as `<field>_min` / `<field>_max`, so a spike
inside a bucket is still visible on the chart.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from grvtmm.core.clock import NS_PER_S

SERIES_FIELDS: tuple[str, ...] = (
    "equity",
    "position",
    "inventory_notional",
    "mid",
    "bid",
    "ask",
    "volume",
    "pnl",
)
"""Monitor series: equity, position (base units), inventory notional, mid price, our bid/ask
targets (prices; missing when that side is off), cumulative session volume and session PnL
(quote currency)."""

RECENT_WINDOW_NS = 60 * NS_PER_S
RECENT_MAX = 65_536
"""Cap on the timestamps a `RecentCount` keeps (its count saturates there)."""
DEFAULT_CAPACITY = 86_400
MAX_QUERY_POINTS = 10_000
"""Upper bound on the points one query returns (keeps a query to a few ms of the loop)."""
DEFAULT_EXTREMES: tuple[str, ...] = ("mid", "equity")
NICE_STEPS: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200,
                               1800, 3600, 7200, 10800, 21600, 43200, 86400)  # fmt: skip
"""Bucket widths in cadence steps (seconds at the default 1 s cadence)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SeriesBuffer:
    """Ring buffers of points taken at a fixed cadence; oldest points are overwritten."""

    __slots__ = (
        "_count",
        "_head",
        "_index",
        "_last_slot_ns",
        "_ts",
        "_values",
        "capacity",
        "extremes",
        "fields",
        "interval_ns",
        "next_due_ns",
    )

    def __init__(
        self,
        fields: Sequence[str] = SERIES_FIELDS,
        *,
        capacity: int = DEFAULT_CAPACITY,
        interval_ns: int = NS_PER_S,
        extremes: Sequence[str] | None = None,
    ) -> None:
        if capacity < 1 or interval_ns < 1:
            raise ValueError("capacity and interval_ns must be positive")
        if extremes is None:
            extremes = [name for name in DEFAULT_EXTREMES if name in fields]
        unknown = set(extremes) - set(fields)
        if unknown:
            raise ValueError(f"extremes name unknown fields: {sorted(unknown)}")
        self.fields = tuple(fields)
        self.extremes = tuple(extremes)
        self.capacity = capacity
        self.interval_ns = interval_ns
        self.next_due_ns = 0
        """Event time at or after which the next point is due (read on the hot path)."""
        self._index = {name: i for i, name in enumerate(self.fields)}
        self._ts: IntArray = np.zeros(capacity, dtype=np.int64)
        self._values: FloatArray = np.full((capacity, len(self.fields)), np.nan)  # row = point
        self._head = 0  # next row to write
        self._count = 0
        self._last_slot_ns = 0

    def __len__(self) -> int:
        return self._count

    def due(self, now_ns: int) -> bool:
        """True when a point should be taken at `now_ns`."""
        return now_ns >= self.next_due_ns

    def record(self, now_ns: int, values: Sequence[float]) -> bool:
        """Store `values` (one per field) at the cadence boundary of `now_ns`.

        Returns False (nothing stored) when that boundary is not newer than the last point.
        """
        if len(values) != len(self.fields):
            raise ValueError(f"expected {len(self.fields)} values, got {len(values)}")
        interval = self.interval_ns
        slot_ns = now_ns - now_ns % interval
        if self._count and slot_ns <= self._last_slot_ns:
            return False
        self._last_slot_ns = slot_ns
        row = self._head
        self._ts[row] = slot_ns
        self._values[row] = values
        self._head = (row + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)
        self.next_due_ns = slot_ns + interval
        return True

    def _physical(self, logical: int) -> int:
        """Row of the `logical`-th oldest point."""
        first = self._head if self._count == self.capacity else 0
        return (first + logical) % self.capacity

    def _search(self, ts_ns: int, side: Literal["left", "right"]) -> int:
        """Logical index where `ts_ns` would go among the points (oldest first)."""
        n = self._count
        first = self._head if n == self.capacity else 0
        if first == 0:
            return int(np.searchsorted(self._ts[:n], ts_ns, side=side))
        # wrapped: rows first.. hold the older points, rows ..first the newer ones
        older = self._ts[first:]
        i = int(np.searchsorted(older, ts_ns, side=side))
        if i < len(older):
            return i
        return len(older) + int(np.searchsorted(self._ts[:first], ts_ns, side=side))

    def _range(self, lo: int, hi: int) -> tuple[IntArray, FloatArray]:
        """Points with logical index lo..hi-1, oldest first (copies only that range)."""
        if hi <= lo:
            return self._ts[:0], self._values[:0]
        a, b = self._physical(lo), self._physical(hi - 1) + 1
        if a < b:
            return self._ts[a:b], self._values[a:b]
        ts = np.concatenate((self._ts[a:], self._ts[:b]))
        return ts, np.concatenate((self._values[a:], self._values[:b]))

    def query(
        self, start_ns: int | None = None, end_ns: int | None = None, max_points: int = 1000
    ) -> dict[str, Any]:
        """Points with `start_ns <= ts_ns <= end_ns`, at most `max_points` (≤ MAX_QUERY_POINTS).

        Returns JSON-ready columns: `ts_ns`, one list per field, `<field>_min`/`<field>_max`
        for the extreme fields, and `interval_ns`, `bucket_ns` (0 when not downsampled),
        `downsampled`. Missing values are None.
        """
        if max_points < 1:
            raise ValueError("max_points must be positive")
        max_points = min(max_points, MAX_QUERY_POINTS)
        lo = 0 if start_ns is None else self._search(start_ns, "left")
        hi = self._count if end_ns is None else self._search(end_ns, "right")
        ts, values = self._range(lo, hi)
        if len(ts) <= max_points:
            return self._columns(ts, values, values, values, 0)
        bucket_ns = self._bucket_ns(int(ts[0]), int(ts[-1]), max_points)
        bucket = ts // bucket_ns
        # ts is sorted, so each bucket is a contiguous run: its rows start where the id changes.
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        ends = np.r_[starts[1:], len(ts)] - 1
        lows = np.fmin.reduceat(values, starts, axis=0)
        highs = np.fmax.reduceat(values, starts, axis=0)
        return self._columns(ts[ends], values[ends], lows, highs, bucket_ns)

    def _bucket_ns(self, first_ns: int, last_ns: int, max_points: int) -> int:
        """Bucket width: the smallest step of `NICE_STEPS` (× the cadence) that gives at most
        `max_points` buckets aligned on multiples of the width. Aligned, rarely changing widths
        keep a live chart's points in place between refreshes."""
        interval = self.interval_ns
        span_steps = (last_ns - first_ns) // interval
        # (last - first) < (max_points - 1) × width guarantees at most max_points aligned buckets
        need = span_steps // (max_points - 1) + 1 if max_points > 1 else span_steps + 1
        top = NICE_STEPS[-1]
        steps = next((n for n in NICE_STEPS if n >= need), math.ceil(need / top) * top)
        width = steps * interval
        while last_ns // width - first_ns // width + 1 > max_points:  # only max_points == 1
            width *= 2
        return width

    def _columns(
        self,
        ts: IntArray,
        last: FloatArray,
        lows: FloatArray,
        highs: FloatArray,
        bucket_ns: int,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "interval_ns": self.interval_ns,
            "bucket_ns": bucket_ns,
            "downsampled": bucket_ns > 0,
            "ts_ns": ts.tolist(),
        }
        for name, i in self._index.items():
            out[name] = _json_floats(last[:, i])
        for name in self.extremes:
            i = self._index[name]
            out[f"{name}_min"] = _json_floats(lows[:, i])
            out[f"{name}_max"] = _json_floats(highs[:, i])
        return out


def _json_floats(column: FloatArray) -> list[float | None]:
    out: list[float | None] = column.tolist()
    for i in np.flatnonzero(~np.isfinite(column)).tolist():
        out[i] = None
    return out


class RecentCount:
    """Number of events within the last `window_ns` (exact up to `maxlen` events)."""

    __slots__ = ("_times", "window_ns")

    def __init__(self, window_ns: int = RECENT_WINDOW_NS, maxlen: int = RECENT_MAX) -> None:
        self._times: deque[int] = deque(maxlen=maxlen)
        self.window_ns = window_ns

    def add(self, now_ns: int) -> None:
        times = self._times
        times.append(now_ns)
        cutoff = now_ns - self.window_ns
        while times[0] <= cutoff:
            times.popleft()

    def count(self, now_ns: int) -> int:
        times = self._times
        cutoff = now_ns - self.window_ns
        while times and times[0] <= cutoff:
            times.popleft()
        return len(times)
