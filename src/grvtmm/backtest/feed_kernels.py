"""The compiled part of the coalesced engine feed (`feed`): the window coalescing pass and its
tables. Imported through `feed.kernels()` only, so numba loads only when needed."""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from grvtmm.backtest.feed import (
    C_END,
    C_FLUSHES,
    C_OUT,
    C_STOP,
    C_TOUCHED_ASK,
    C_TOUCHED_BID,
    CLEAR,
    EMPTY,
    FAR,
    OPEN,
)

IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def slot(keys: IntArray, price: int) -> int:  # pragma: no cover - compiled
    mask = len(keys) - 1
    j = (price * 0x9E3779B1) & mask
    while keys[j] != EMPTY and keys[j] != price:
        j = (j + 1) & mask
    return j


@numba.njit(cache=True, nogil=True)
def emit(  # pragma: no cover - compiled
    keys: IntArray, vals: IntArray, touched: IntArray, count: int, out: IntArray, at: int
) -> int:
    """Write one side's window levels, in the order first touched, to `out` from `at` and
    clear them; returns the end."""
    for k in range(count):
        j = touched[k]
        out[0, at] = keys[j]
        out[1, at] = vals[j]
        keys[j] = EMPTY
        at += 1
    return at


@numba.njit(cache=True, nogil=True)
def coalesce(  # pragma: no cover - compiled
    times: IntArray,
    sides: npt.NDArray[np.int8],
    prices: IntArray,
    sizes: IntArray,
    start: int,
    horizon: int,
    final: bool,
    interval: int,
    keys: IntArray,
    vals: IntArray,
    touched: IntArray,
    st: IntArray,
    out: IntArray,
    flushes: IntArray,
) -> int:
    """Coalesce rows (in delivery order) from `start` into windows; returns the next row.

    Stops early, before a row, when a side's table is half full (the caller grows it)."""
    end = st[C_END]
    n_bid = st[C_TOUCHED_BID]
    n_ask = st[C_TOUCHED_ASK]
    n_flush = st[C_FLUSHES]
    at = st[C_OUT]
    half = keys.shape[1] // 2
    st[C_STOP] = 0
    i = start
    n = len(times)
    while True:
        t = times[i] if i < n else FAR
        if end and ((i < n and t >= end) or (i >= n and (final or end <= horizon))):
            flushes[n_flush, 0] = end
            flushes[n_flush, 1] = at
            at = emit(keys[0], vals[0], touched[0], n_bid, out, at)
            flushes[n_flush, 2] = at
            at = emit(keys[1], vals[1], touched[1], n_ask, out, at)
            flushes[n_flush, 3] = at
            n_flush += 1
            n_bid = 0
            n_ask = 0
            end = 0
        if i >= n:
            break
        side = sides[i]
        if side == CLEAR:
            for k in range(n_bid):
                keys[0, touched[0, k]] = EMPTY
            for k in range(n_ask):
                keys[1, touched[1, k]] = EMPTY
            n_bid = 0
            n_ask = 0
        elif side == OPEN:
            if not end:
                end = (t // interval + 1) * interval
        else:
            if (n_bid if side == 1 else n_ask) >= half:
                st[C_STOP] = 1
                break
            if not end:
                end = (t // interval + 1) * interval
            row = 0 if side == 1 else 1
            p = prices[i]
            j = slot(keys[row], p)
            if keys[row, j] == EMPTY:
                keys[row, j] = p
                if row == 0:
                    touched[0, n_bid] = j
                    n_bid += 1
                else:
                    touched[1, n_ask] = j
                    n_ask += 1
            vals[row, j] = sizes[i]
        i += 1
    st[C_END] = end
    st[C_TOUCHED_BID] = n_bid
    st[C_TOUCHED_ASK] = n_ask
    st[C_FLUSHES] = n_flush
    st[C_OUT] = at
    return i
