"""The compiled parts of the columnar market replay (`columnar`): the array book's scan and its
far-level table. Imported through `columnar.kernels()` only, so numba loads only when needed."""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from grvtmm.venues.sim.columnar import (
    D_KIND,
    D_LOTS,
    D_TICKS,
    D_TS,
    HASH,
    KIND_ASK,
    KIND_BID,
    KIND_SNAPSHOT,
    KIND_TRADE_BUY,
    KIND_TRADE_SELL,
    RECENTER_TICKS,
    S_BASE,
    S_BEST_ASK,
    S_BEST_BID,
    S_FAR_USED,
    STOP_CROSS,
    STOP_FULL,
    STOP_GROW,
    STOP_RECENTER,
    STOP_SNAPSHOT,
    STOP_TRADE,
)

IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def _far_slot(keys: IntArray, p: int) -> int:  # pragma: no cover - compiled
    mask = len(keys) - 1
    j = (p * HASH) & mask
    while keys[j] != 0 and keys[j] != p:
        j = (j + 1) & mask
    return j


@numba.njit(cache=True, nogil=True)
def far_get(keys: IntArray, vals: IntArray, p: int) -> int:  # pragma: no cover - compiled
    """Size at price `p` in one side's far table (0: none)."""
    j = _far_slot(keys, p)
    return int(vals[j]) if keys[j] == p else 0


@numba.njit(cache=True, nogil=True)
def far_set(  # pragma: no cover - compiled
    keys: IntArray, vals: IntArray, st: IntArray, row: int, p: int, q: int
) -> int:
    """Set price `p` to size `q` (0 removes) in one side's far table (`st[S_FAR_USED + row]`
    counts its taken slots); returns the size before, or -1 when the table is half full and
    `p` is new (grow it first)."""
    j = _far_slot(keys, p)
    if keys[j] == p:
        prev = vals[j]
        vals[j] = q
        return int(prev)
    if q > 0:
        used = st[S_FAR_USED + row]
        if 2 * (used + 1) > len(keys):
            return -1
        st[S_FAR_USED + row] = used + 1
        keys[j] = p
        vals[j] = q
    return 0


@numba.njit(cache=True, nogil=True)
def _below(  # pragma: no cover - compiled
    near: IntArray, keys: IntArray, vals: IntArray, base: int, start: int, far_used: int
) -> int:
    """Highest bid strictly below `start` with size, or 0."""
    n = len(near)
    j = min(start - base, n) - 1
    while j >= 0:
        if near[j] > 0:
            break
        j -= 1
    best = j + base if j >= 0 else 0
    if far_used and (j < 0 or start - base > n):
        for k in range(len(keys)):
            p = keys[k]
            if p != 0 and vals[k] > 0 and best < p < start:
                best = p
    return best


@numba.njit(cache=True, nogil=True)
def _above(  # pragma: no cover - compiled
    near: IntArray, keys: IntArray, vals: IntArray, base: int, start: int, far_used: int
) -> int:
    """Lowest ask strictly above `start` with size, or 0."""
    n = len(near)
    j = max(start - base + 1, 0)
    while j < n:
        if near[j] > 0:
            break
        j += 1
    best = j + base if j < n else 0
    if far_used and (j >= n or start < base):
        for k in range(len(keys)):
            p = keys[k]
            if p != 0 and vals[k] > 0 and p > start and (best == 0 or p < best):
                best = p
    return best


@numba.njit(cache=True, nogil=True)
def scan(  # pragma: no cover - compiled
    data: IntArray,
    i: int,
    until: int,
    near: IntArray,
    far_keys: IntArray,
    far_vals: IntArray,
    st: IntArray,
    watch: IntArray,
    n_watch_bid: int,
    out: IntArray,
    min_sell: int,
    max_buy: int,
) -> tuple[int, int, int]:
    ts = data[D_TS]
    kind = data[D_KIND]
    ticks = data[D_TICKS]
    lots = data[D_LOTS]
    end = len(ts)
    bid = near[0]
    ask = near[1]
    base = st[S_BASE]
    best_bid = st[S_BEST_BID]
    best_ask = st[S_BEST_ASK]
    n_near = len(bid)
    cap = out.shape[1]
    watched = 0
    stop = 0
    prev = 0
    while i < end:
        if ts[i] > until:
            break
        k = kind[i]
        p = ticks[i]
        q = lots[i]
        if k == KIND_BID:
            j = p - base
            if 0 <= j < n_near:
                prev = bid[j]
                bid[j] = q
            else:
                prev = far_set(far_keys[0], far_vals[0], st, 0, p, q)
                if prev < 0:
                    stop = STOP_GROW
                    break
            if q > 0:
                if p > best_bid:
                    best_bid = p
                    if 0 < best_ask <= p:
                        best_ask = _above(
                            ask, far_keys[1], far_vals[1], base, p, st[S_FAR_USED + 1]
                        )
                    if p >= min_sell:
                        stop = STOP_CROSS
            elif p == best_bid:
                best_bid = _below(bid, far_keys[0], far_vals[0], base, p, st[S_FAR_USED])
            for w in range(n_watch_bid):
                if watch[w] == p:
                    out[0, watched] = i
                    out[1, watched] = prev
                    watched += 1
                    if watched == cap and stop == 0:
                        stop = STOP_FULL
                    break
        elif k == KIND_ASK:
            j = p - base
            if 0 <= j < n_near:
                prev = ask[j]
                ask[j] = q
            else:
                prev = far_set(far_keys[1], far_vals[1], st, 1, p, q)
                if prev < 0:
                    stop = STOP_GROW
                    break
            if q > 0:
                if best_ask == 0 or p < best_ask:
                    best_ask = p
                    if best_bid >= p:
                        best_bid = _below(bid, far_keys[0], far_vals[0], base, p, st[S_FAR_USED])
                    if p <= max_buy:
                        stop = STOP_CROSS
            elif p == best_ask:
                best_ask = _above(ask, far_keys[1], far_vals[1], base, p, st[S_FAR_USED + 1])
            for w in range(n_watch_bid, len(watch)):
                if watch[w] == p:
                    out[0, watched] = i
                    out[1, watched] = prev
                    watched += 1
                    if watched == cap and stop == 0:
                        stop = STOP_FULL
                    break
        elif k == KIND_TRADE_BUY:
            if p >= min_sell:
                stop = STOP_TRADE
        elif k == KIND_TRADE_SELL:
            if p <= max_buy:
                stop = STOP_TRADE
        elif k == KIND_SNAPSHOT:
            stop = STOP_SNAPSHOT
            break
        i += 1
        if stop != 0:
            break
    st[S_BEST_BID] = best_bid
    st[S_BEST_ASK] = best_ask
    if stop == 0 and n_near:
        mid = (best_bid + best_ask) // 2 if best_bid and best_ask else best_bid or best_ask
        if mid and not base + RECENTER_TICKS <= mid < base + n_near - RECENTER_TICKS:
            stop = STOP_RECENTER
    return i, stop, watched
