"""The engine's side of a columnar market, built a chunk at a time next to the exchange's side.

The replay loop can coalesce book deltas to the feed interval itself, one event at a time
(`ReplayLoop`, module docstring). For a columnar source the same view is cheaper to build where
the data is loaded: the source hands each chunk's events to `CoalescedFeed.add` together with
their kinds and receive times, and the loop delivers the resulting queue (`ReplayLoop.run(...,
feed=...)`) instead of sorting every market event by receive time itself.

The result is the loop's own, event for event:
* a trade or snapshot reaches the engine at its receive time `max(local_ns, ts_ns)`;
* with `hold_deltas`, a delta received before the last snapshot (in exchange order) counts as
  received with it;
* the deltas received in `[F - interval, F)` reach the engine as one delta at `F` (a multiple of
  the interval), each level at its last size, in the order the levels were first touched, ahead
  of anything else received at `F`; a snapshot drops the window's deltas received before it;
* events received at the same time keep exchange order.

Every chunk's events must be in exchange order and at or after the previous chunk's; an event
is queued once no later chunk can precede it (its time is at most the chunk's last exchange
time), the rest when the data ends (`finish`).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from grvtmm.core.events import BookDelta, BookSnapshot, Event, LevelColumns

DELTA = 0
"""Kind of a book delta (coalesced)."""
SNAPSHOT = 1
"""Kind of a book snapshot (delivered as is; drops the window's earlier deltas)."""
OTHER = 2
"""Kind of any other market event, e.g. a trade (delivered as is)."""

FeedQueue = deque[tuple[int, Event]]
"""(delivery time, event) in delivery order: what `ReplayLoop.run(feed=...)` consumes."""

_Pending = tuple[int, int, Event]


class CoalescedFeed:
    """Turns chunks of market events into the engine's deliveries, appended to `queue`."""

    def __init__(self, interval_ns: int, *, hold_deltas: bool) -> None:
        if interval_ns <= 0:
            raise ValueError("the feed interval must be positive")
        self.queue: FeedQueue = deque()
        self._interval = interval_ns
        self._hold = hold_deltas
        self._seq = 0
        self._snapshot_ns = -(1 << 62)
        self._book_items: list[_Pending] = []
        """Deltas and snapshots not yet coalesced: (receive time, sequence, event)."""
        self._other_items: list[_Pending] = []
        """Snapshots and other events not yet queued."""
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._window_end = 0
        """End of the open window (0: none open)."""
        self._flushes: list[_Pending] = []

    def add(
        self,
        events: list[Event],
        kinds: npt.NDArray[np.int8],
        ts_ns: npt.NDArray[np.int64],
        local_ns: npt.NDArray[np.int64],
    ) -> None:
        """Take one chunk: its events in exchange order with their kinds and times."""
        n = len(events)
        if n == 0:
            return
        received = np.maximum(ts_ns, local_ns)
        if self._hold:
            received = self._held(kinds, received)
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        times = received.tolist()
        seqs = seq.tolist()
        book = np.flatnonzero(kinds != OTHER).tolist()
        self._book_items.extend((times[i], seqs[i], events[i]) for i in book)
        direct = np.flatnonzero(kinds != DELTA)
        if len(direct) == n:
            self._other_items.extend(zip(times, seqs, events, strict=True))
        else:
            self._other_items.extend((times[i], seqs[i], events[i]) for i in direct.tolist())
        self._release(int(ts_ns[-1]))

    def finish(self) -> None:
        """The data has ended: queue everything left."""
        self._release(1 << 62, final=True)

    def _held(
        self, kinds: npt.NDArray[np.int8], received: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Deltas received before the last snapshot (in exchange order) count as received
        with it."""
        is_snap = kinds == SNAPSHOT
        last = np.where(is_snap, np.arange(len(kinds)), -1)
        np.maximum.accumulate(last, out=last)
        snap_ns = np.where(last >= 0, received[np.maximum(last, 0)], self._snapshot_ns)
        if is_snap.any():
            self._snapshot_ns = int(received[np.flatnonzero(is_snap)[-1]])
        late = (kinds == DELTA) & (received < snap_ns)
        return np.where(late, snap_ns, received)

    def _release(self, horizon: int, *, final: bool = False) -> None:
        """Coalesce and queue what nothing later can precede: times up to `horizon`."""
        self._coalesce(horizon, final)
        flushes, self._flushes = self._flushes, []
        others = _take(self._other_items, horizon)
        if flushes and others:
            # A window's delta comes first among the deliveries at its end (sequence -1).
            others = list(heapq.merge(flushes, others, key=_order))
        elif flushes:
            others = flushes
        self.queue.extend([(t, e) for t, _, e in others])

    def _coalesce(self, horizon: int, final: bool) -> None:
        items = _take(self._book_items, horizon)
        interval = self._interval
        bids, asks = self._bids, self._asks
        end = self._window_end
        for t, _, event in items:
            if end and t >= end:
                self._flush(end)
                end = 0
            if isinstance(event, BookDelta):
                if not end:
                    end = (t // interval + 1) * interval
                bids.update(event.bids)
                asks.update(event.asks)
            elif isinstance(event, BookSnapshot):
                bids.clear()
                asks.clear()
        if end and (final or end <= horizon):
            self._flush(end)
            end = 0
        self._window_end = end

    def _flush(self, end: int) -> None:
        bids, asks = self._bids, self._asks
        delta = BookDelta(
            ts_ns=end,
            local_ns=end,
            symbol="",
            bids=LevelColumns(list(bids), list(bids.values())),
            asks=LevelColumns(list(asks), list(asks.values())),
        )
        bids.clear()
        asks.clear()
        self._flushes.append((end, -1, delta))


def _order(item: _Pending) -> tuple[int, int]:
    return item[0], item[1]


def _take(items: list[_Pending], horizon: int) -> list[_Pending]:
    """Remove and return, in delivery order, the items received at or before `horizon`."""
    if not items:
        return []
    if any(a[0] > b[0] for a, b in itertools.pairwise(items)):
        items.sort(key=_order)
    cut = bisect.bisect_right(items, horizon, key=_time)
    taken = items[:cut]
    del items[:cut]
    return taken


def _time(item: _Pending) -> int:
    return item[0]


def kinds_of(events: list[Event]) -> npt.NDArray[np.int8]:
    """`DELTA`/`SNAPSHOT`/`OTHER` per event (for sources that do not know them already)."""
    table: dict[type[Any], int] = {BookDelta: DELTA, BookSnapshot: SNAPSHOT}
    return np.fromiter((table.get(type(e), OTHER) for e in events), np.int8, len(events))
