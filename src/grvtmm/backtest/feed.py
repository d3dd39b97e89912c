"""The engine's side of a columnar market, built a chunk at a time next to the exchange's side.

The replay loop can coalesce book deltas to the feed interval itself, one event at a time
(`ReplayLoop`, module docstring). For a columnar source the same view is cheaper to build where
the data is loaded: the source hands each chunk to `CoalescedFeed.add` as a `FeedChunk` (its
events' kinds and times, trades and snapshots as events, the deltas' levels as columns), the
windows are coalesced by a compiled pass, and the loop delivers the resulting queue
(`ReplayLoop.run(..., feed=...)`) instead of sorting every market event by receive time itself.

With a feed interval of 0 the engine sees every delta as it is received (held for a snapshot
like the rest). Otherwise the result is the loop's own coalescing, event for event:
* a trade or snapshot reaches the engine at its receive time `max(local_ns, ts_ns)`;
* with `hold_deltas`, a delta received before the last snapshot (in exchange order) counts as
  received with it;
* the deltas received in `[F - interval, F)` reach the engine as one delta at `F` (a multiple of
  the interval), each level at its last size, in the order the levels were first touched, ahead
  of anything else received at `F`; a snapshot drops the window's deltas received before it;
* events received at the same time keep exchange order.

Sources with sequence numbers (Binance, GRVT recordings) keep the loop's coalescing, which
carries them; the feed's deltas have none (hftbacktest arrays carry none either).

Every chunk's events must be in exchange order and at or after the previous chunk's; an event
is queued once no later chunk can precede it (its time is at most the chunk's last exchange
time), the rest when the data ends (`finish`).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

from grvtmm.core.events import BookDelta, Event, LevelColumns
from grvtmm.venues.sim.jit import load_compiled

DELTA = 0
"""Kind of a book delta (coalesced)."""
SNAPSHOT = 1
"""Kind of a book snapshot (delivered as is; drops the window's earlier deltas)."""
OTHER = 2
"""Kind of any other market event, e.g. a trade (delivered as is)."""

FeedQueue = deque[tuple[int, Event]]
"""(delivery time, event) in delivery order: what `ReplayLoop.run(feed=...)` consumes."""

IntArray = npt.NDArray[np.int64]
FAR = 1 << 62
CLEAR = 2
"""Side code of a snapshot's row in the coalescing pass (drops the window's levels)."""
OPEN = 3
"""Side code of a delta without levels (opens a window like any delta)."""
EMPTY = -1
"""An unused slot of the coalescing tables."""
_TABLE_SLOTS = 1 << 12
# Slots of the coalescing state.
C_END = 0
C_TOUCHED_BID = 1
C_TOUCHED_ASK = 2
C_FLUSHES = 3
C_OUT = 4
C_STOP = 5
C_SLOTS = 6


@dataclass(slots=True)
class FeedChunk:
    """One chunk of market events in exchange order, as the feed reads them.

    Per event: `kinds`, `ts_ns`, `local_ns`, and `events` (the event itself for snapshots and
    other events, None for deltas). The deltas' levels, in the order each applies them (its
    bids, then its asks): `level_event` (index of the delta), `level_bid` (1: bid, 0: ask),
    `level_price`, `level_size`.
    """

    kinds: npt.NDArray[np.int8]
    ts_ns: IntArray
    local_ns: IntArray
    events: npt.NDArray[np.object_]
    level_event: IntArray
    level_bid: npt.NDArray[np.int8]
    level_price: IntArray
    level_size: IntArray


_KERNELS: list[ModuleType] = []


def kernels() -> ModuleType:
    """The compiled coalescing pass (`grvtmm.backtest.feed_kernels`), loaded on first use."""
    if not _KERNELS:
        _KERNELS.append(load_compiled("grvtmm.backtest.feed_kernels"))
    return _KERNELS[0]


class CoalescedFeed:
    """Turns chunks of market events into the engine's deliveries, appended to `queue`."""

    def __init__(self, interval_ns: int, *, hold_deltas: bool, symbol: str = "") -> None:
        if interval_ns < 0:
            raise ValueError("the feed interval must be 0 (every change) or positive")
        self.queue: FeedQueue = deque()
        self._interval = interval_ns
        self._hold = hold_deltas
        self._symbol = symbol
        """Symbol of the deltas passed on one by one (interval 0); window deltas have none, as
        the loop's own."""
        self._seq = 0
        self._snapshot_ns = -FAR
        # Book rows not yet coalesced, in delivery order: time, sequence, side, price, size.
        self._rows = _rows(0)
        # Snapshots and other events not yet queued: receive times, sequences, events.
        self._times: IntArray = np.zeros(0, dtype=np.int64)
        self._seqs: IntArray = np.zeros(0, dtype=np.int64)
        self._events: npt.NDArray[np.object_] = np.zeros(0, dtype=object)
        self._keys = np.full((2, _TABLE_SLOTS), EMPTY, dtype=np.int64)
        self._vals = np.zeros((2, _TABLE_SLOTS), dtype=np.int64)
        self._touched = np.zeros((2, _TABLE_SLOTS), dtype=np.int64)
        self._state = np.zeros(C_SLOTS, dtype=np.int64)

    def add(self, chunk: FeedChunk) -> None:
        """Take one chunk (its events after those of the chunks before)."""
        n = len(chunk.kinds)
        if n == 0:
            return
        kinds = chunk.kinds
        received = np.maximum(chunk.ts_ns, chunk.local_ns)
        if self._hold:
            received = self._held(kinds, received)
        seq = np.arange(self._seq, self._seq + n, dtype=np.int64)
        self._seq += n
        if not self._interval:
            events = chunk.events.copy()
            deltas = np.flatnonzero(kinds == DELTA)
            if deltas.size:
                events[deltas] = _deltas(chunk, deltas, received, self._symbol)
            self._times = np.concatenate([self._times, received])
            self._seqs = np.concatenate([self._seqs, seq])
            self._events = np.concatenate([self._events, events])
            self._release(int(chunk.ts_ns[-1]))
            return
        at = chunk.level_event
        rows = (received[at], seq[at], chunk.level_bid, chunk.level_price, chunk.level_size)
        # Snapshots clear the window; deltas without levels still open one.
        empty = (kinds == DELTA) & (np.bincount(at, minlength=n) == 0)
        marked = np.flatnonzero((kinds == SNAPSHOT) | empty)
        if marked.size:
            code = np.where(empty[marked], OPEN, CLEAR).astype(np.int8)
            zero = np.zeros(marked.size, dtype=np.int64)
            rows = _cat(rows, (received[marked], seq[marked], code, zero, zero))
        self._rows = _merge(self._rows, rows)
        direct = kinds != DELTA
        self._times = np.concatenate([self._times, received[direct]])
        self._seqs = np.concatenate([self._seqs, seq[direct]])
        self._events = np.concatenate([self._events, chunk.events[direct]])
        self._release(int(chunk.ts_ns[-1]))

    def finish(self) -> None:
        """The data has ended: queue everything left."""
        self._release(FAR, final=True)

    def _held(self, kinds: npt.NDArray[np.int8], received: IntArray) -> IntArray:
        """Deltas received before the last snapshot (in exchange order) count as received
        with it."""
        is_snap = kinds == SNAPSHOT
        if not is_snap.any() and self._snapshot_ns == -FAR:
            return received
        last = np.where(is_snap, np.arange(len(kinds)), -1)
        np.maximum.accumulate(last, out=last)
        snap_ns = np.where(last >= 0, received[np.maximum(last, 0)], self._snapshot_ns)
        if is_snap.any():
            self._snapshot_ns = int(received[np.flatnonzero(is_snap)[-1]])
        late = (kinds == DELTA) & (received < snap_ns)
        return np.where(late, snap_ns, received)

    def _release(self, horizon: int, *, final: bool = False) -> None:
        """Coalesce and queue what nothing later can precede: times up to `horizon`."""
        flush_times, flushes = self._coalesce(horizon, final)
        times, seqs, events = self._times, self._seqs, self._events
        if len(times) and not np.all(times[1:] >= times[:-1]):
            order = np.lexsort((seqs, times))
            times, seqs, events = times[order], seqs[order], events[order]
        cut = int(np.searchsorted(times, horizon, side="right"))
        self._times, self._seqs, self._events = times[cut:], seqs[cut:], events[cut:]
        out_times: list[int] = times[:cut].tolist()
        out_events: list[Event] = events[:cut].tolist()
        # A window's delta comes first among the deliveries at its end.
        for end, delta in zip(reversed(flush_times), reversed(flushes), strict=True):
            at = bisect.bisect_left(out_times, end)
            out_times.insert(at, end)
            out_events.insert(at, delta)
        self.queue.extend(zip(out_times, out_events, strict=True))

    def _coalesce(self, horizon: int, final: bool) -> tuple[list[int], list[Event]]:
        if not self._interval:
            return [], []
        times, _, sides, prices, sizes = self._rows
        cut = int(np.searchsorted(times, horizon, side="right"))
        n = len(times) if final else cut
        out = np.zeros(
            (2, n + 2 * int(self._state[C_TOUCHED_BID] + self._state[C_TOUCHED_ASK]) + 2),
            dtype=np.int64,
        )
        flushes = np.zeros((n + 2, 4), dtype=np.int64)
        state = self._state
        state[C_FLUSHES] = 0
        state[C_OUT] = 0
        i = 0
        while True:
            i = kernels().coalesce(
                times[:n], sides[:n], prices[:n], sizes[:n], i, horizon, final,
                self._interval, self._keys, self._vals, self._touched, state, out, flushes,
            )  # fmt: skip
            if not state[C_STOP]:
                break
            self._grow()
        self._rows = _pick(self._rows, slice(n, None))
        count = int(state[C_FLUSHES])
        if not count:
            return [], []
        level_prices: list[int] = out[0, : int(state[C_OUT])].tolist()
        level_sizes: list[int] = out[1, : int(state[C_OUT])].tolist()
        flush_times: list[int] = []
        deltas: list[Event] = []
        for end, b0, a0, a1 in flushes[:count].tolist():
            flush_times.append(end)
            deltas.append(
                BookDelta(
                    ts_ns=end,
                    local_ns=end,
                    symbol="",
                    bids=LevelColumns(level_prices[b0:a0], level_sizes[b0:a0]),
                    asks=LevelColumns(level_prices[a0:a1], level_sizes[a0:a1]),
                )
            )
        return flush_times, deltas

    def _grow(self) -> None:
        """Double the coalescing tables, keeping the open window's levels in touch order."""
        old_keys, old_vals, old_touched = self._keys, self._vals, self._touched
        slots = old_keys.shape[1] * 2
        self._keys = np.full((2, slots), EMPTY, dtype=np.int64)
        self._vals = np.zeros((2, slots), dtype=np.int64)
        self._touched = np.zeros((2, slots), dtype=np.int64)
        for side, count_slot in ((0, C_TOUCHED_BID), (1, C_TOUCHED_ASK)):
            for k in range(int(self._state[count_slot])):
                j = int(old_touched[side, k])
                price = int(old_keys[side, j])
                new = kernels().slot(self._keys[side], price)
                self._keys[side, new] = price
                self._vals[side, new] = old_vals[side, j]
                self._touched[side, k] = new


def _deltas(
    chunk: FeedChunk, which: npt.NDArray[np.intp], received: IntArray, symbol: str
) -> list[Event]:
    """The chunk's deltas `which` as events (feed interval 0: the engine sees each one), each
    received at `received` (its `local_ns` when held for a snapshot)."""
    first = np.searchsorted(chunk.level_event, which, side="left")
    end = np.searchsorted(chunk.level_event, which, side="right")
    bids_before = np.concatenate([[0], np.cumsum(chunk.level_bid, dtype=np.int64)])
    split = first + bids_before[end] - bids_before[first]
    raw = np.maximum(chunk.ts_ns[which], chunk.local_ns[which])
    local = np.where(received[which] != raw, received[which], chunk.local_ns[which])
    prices: list[int] = chunk.level_price.tolist()
    sizes: list[int] = chunk.level_size.tolist()
    return [
        BookDelta(
            ts_ns=ts,
            local_ns=lt,
            symbol=symbol,
            bids=LevelColumns(prices[a:b], sizes[a:b]),
            asks=LevelColumns(prices[b:c], sizes[b:c]),
        )
        for ts, lt, a, b, c in zip(
            chunk.ts_ns[which].tolist(),
            local.tolist(),
            first.tolist(),
            split.tolist(),
            end.tolist(),
            strict=True,
        )
    ]


_Rows = tuple[IntArray, IntArray, npt.NDArray[np.int8], IntArray, IntArray]


def _rows(n: int) -> _Rows:
    return (
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int8),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
    )


def _merge(pending: _Rows, new: _Rows) -> _Rows:
    """Pending book rows followed by a chunk's, in delivery order (time, then sequence; a
    delta's levels keep their order)."""
    rows = _cat(pending, new) if len(pending[0]) else new
    times, seqs = rows[0], rows[1]
    if len(times) > 1 and not (
        np.all(times[1:] >= times[:-1])
        and np.all((times[1:] > times[:-1]) | (seqs[1:] >= seqs[:-1]))
    ):
        rows = _pick(rows, np.lexsort((np.arange(len(times)), seqs, times)))
    return rows


def _cat(a: _Rows, b: _Rows) -> _Rows:
    return (
        np.concatenate([a[0], b[0]]),
        np.concatenate([a[1], b[1]]),
        np.concatenate([a[2], b[2]]),
        np.concatenate([a[3], b[3]]),
        np.concatenate([a[4], b[4]]),
    )


def _pick(rows: _Rows, which: slice | IntArray) -> _Rows:
    return rows[0][which], rows[1][which], rows[2][which], rows[3][which], rows[4][which]
