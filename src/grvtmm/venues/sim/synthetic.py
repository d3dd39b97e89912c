"""Seeded synthetic L2 book + trades for a BNB-like GRVT perpetual; runs offline, forever.

Model
-----
A latent fair price `x` (float ticks) follows drift + mean reversion + Brownian noise,

    dx = drift dt + κ (anchor − x) dt + σ·m dW        (OU with drift; exact decay, Euler noise)

where drift, the volatility multiplier `m` and an extra κ come from a repeating (or held)
regime schedule. At `book_update_hz` the visible book is re-centred on `x`: the best bid is
`round(x − s/2)` and the best ask `bid + s`, with the spread `s` drawn from a sticky spread regime
(1 tick with `spread_one_tick_prob`, else 2…`spread_max_ticks`). Each side holds
`depth_levels` contiguous levels sized from the depth profile (top size, a thinner second level,
geometric growth outward, lognormal noise); levels that leave the window are deleted, levels that
enter get fresh sizes, and `depth_refresh_levels` levels a side (biased to the top) are redrawn
per update so queues see cancels and replenishment. Trades arrive as a Poisson process; the
aggressor leans toward the side the fair price has moved to since the last book update (adverse
selection), sizes are lognormal
with a Pareto tail, and a trade walks the book level by level — one print per level, each at a
price that was on the book — followed at the same timestamp by the delta that removes the
liquidity it took. As on GRVT's book.d, the snapshot has sequence 0 and every delta's
`prev_sequence` is the previous sequence; `local_ns` is `ts_ns + feed_latency_ns`.

Calibration of the defaults (thin altcoin perp, BNB ≈ 600 USDT, tick 0.01, lot 0.01 BNB)
---------------------------------------------------------------------------------------
* σ = 5 ticks/√s = 0.05 USDT/√s ≈ 0.83 bp/√s ≈ 2.4 % a day — a normal BNB day. The recorded
  Binance BTC window (78 ticks/√s of 0.1 on 60k) is a far more volatile market.
* Spread 1 tick 90 % of the time (the BTC book: 99.3 %; a thinner book is wider more often).
* Top of book 3 BNB (300 lots), the next level 40 % of that, then +8 % a level over 25 levels:
  like the BTC book, depth behind the top is thin.
* 10 book updates/s (GRVT book.d at 100 ms); 2 trades/s (BTC on Binance: 62/s).
* Trade size median 0.1 BNB (10 lots, ≈60 USDT), lognormal σ 1.2, 5 % of trades ×Pareto(α 1.3):
  mean ≈ 2.2×, p99 ≈ 19× and p99.9 ≈ 60× the median — heavy-tailed like the BTC tape (median
  0.016, mean 0.114, p99 1.15 BTC), if less extreme.
* Feed latency 5 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from grvtmm.core.clock import NS_PER_S
from grvtmm.core.events import BookDelta, BookSnapshot, Event, Trade
from grvtmm.core.types import Instrument, Side

_BATCH = 4096
_NEVER_NS = 1 << 62


class Regime(NamedTuple):
    """One segment of the schedule: how long it lasts, its drift, σ multiplier and extra κ."""

    duration_s: float
    drift_ticks_per_s: float = 0.0
    vol_multiplier: float = 1.0
    mean_reversion_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    """Synthetic market settings; prices in ticks, sizes in lots of the quoted instrument."""

    start_price: float = 600.0
    vol_ticks_per_sqrt_s: float = 5.0
    regimes: tuple[Regime, ...] = (Regime(3600.0),)
    repeat_regimes: bool = True
    mean_reversion_per_s: float = 0.0
    anchor_price: float | None = None
    spread_one_tick_prob: float = 0.9
    spread_max_ticks: int = 4
    spread_change_prob: float = 0.2
    depth_levels: int = 25
    depth_top_lots: float = 300.0
    depth_behind_ratio: float = 0.4
    depth_growth: float = 1.08
    depth_noise: float = 0.35
    depth_refresh_levels: int = 1
    book_update_hz: float = 10.0
    trade_rate_per_s: float = 2.0
    trade_median_lots: float = 10.0
    trade_size_sigma: float = 1.2
    trade_tail_prob: float = 0.05
    trade_tail_alpha: float = 1.3
    flow_tilt_per_tick: float = 0.1
    feed_latency_ns: int = 5_000_000

    def __post_init__(self) -> None:
        checks = {
            "start_price": self.start_price > 0,
            "vol_ticks_per_sqrt_s": self.vol_ticks_per_sqrt_s >= 0,
            "regimes": bool(self.regimes)
            and all(r.duration_s > 0 and r.vol_multiplier >= 0 for r in self.regimes),
            "mean_reversion_per_s": self.mean_reversion_per_s >= 0
            and all(r.mean_reversion_per_s >= 0 for r in self.regimes),
            "spread_one_tick_prob": 0 <= self.spread_one_tick_prob <= 1,
            "spread_max_ticks": self.spread_max_ticks >= 1,
            "spread_change_prob": 0 <= self.spread_change_prob <= 1,
            "depth_levels": self.depth_levels >= 2,
            "depth_top_lots": self.depth_top_lots >= 1,
            "depth_behind_ratio": self.depth_behind_ratio > 0,
            "depth_growth": self.depth_growth > 0,
            "depth_noise": self.depth_noise >= 0,
            "depth_refresh_levels": self.depth_refresh_levels >= 0,
            "book_update_hz": 0 < self.book_update_hz <= 1e6,
            "trade_rate_per_s": self.trade_rate_per_s >= 0,
            "trade_median_lots": self.trade_median_lots > 0,
            "trade_size_sigma": self.trade_size_sigma >= 0,
            "trade_tail_prob": 0 <= self.trade_tail_prob <= 1,
            "trade_tail_alpha": self.trade_tail_alpha > 0,
            "feed_latency_ns": self.feed_latency_ns >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid synthetic market parameters: {', '.join(bad)}")


def default_instrument() -> Instrument:
    """BNB_USDT_Perp: tick 0.01 USDT, size step = min size 0.01 BNB, min notional 5 USDT."""
    return Instrument(
        symbol="BNB_USDT_Perp",
        tick_size=Decimal("0.01"),
        size_step=Decimal("0.01"),
        min_size=Decimal("0.01"),
        min_notional=Decimal("5"),
        base_decimals=9,
    )


class _Stream:
    """A batch of seeded draws consumed front to back; refilled from numpy in bulk.

    Hot loops read `buf`/`i` into locals and write `i` back, which is several times cheaper
    than a method call per draw.
    """

    __slots__ = ("_fill", "buf", "i")

    def __init__(self, fill: Callable[[], np.ndarray[Any, Any]]) -> None:
        self._fill = fill
        self.buf: list[float] = []
        self.i = 0

    def ensure(self, count: int) -> None:
        """Make sure at least `count` draws remain in `buf` after `i`."""
        if self.i + count > len(self.buf):
            rest = self.buf[self.i :]
            while len(rest) < count:
                rest += self._fill().tolist()
            self.buf = rest
            self.i = 0

    def next(self) -> float:
        i = self.i
        if i >= len(self.buf):
            self.ensure(1)
            i = 0
        self.i = i + 1
        return self.buf[i]


def _streams(seed: int, noise: float, n_levels: int) -> tuple[_Stream, ...]:
    """Draw streams sharing one seeded generator, so the whole market is a function of the seed."""
    rng = np.random.default_rng(seed)

    def size_factors() -> np.ndarray[Any, Any]:
        # mean-one lognormal, exp(s·z − s²/2), so the profile is the expected level size
        return np.exp(noise * rng.standard_normal(_BATCH) - 0.5 * noise * noise)

    def level_indices() -> np.ndarray[Any, Any]:
        # P(index ≤ k) = √(k/n): most redraws hit the top levels, where queues churn most
        return np.floor(rng.random(_BATCH) ** 2 * n_levels)

    return (
        _Stream(lambda: rng.standard_normal(_BATCH)),
        _Stream(lambda: rng.random(_BATCH)),
        _Stream(lambda: rng.standard_exponential(_BATCH)),
        _Stream(size_factors),
        _Stream(level_indices),
    )


class SyntheticMarket:
    """Iterator of market events: one `BookSnapshot`, then `BookDelta`/`Trade` in time order."""

    def __init__(
        self,
        params: SyntheticParams | None = None,
        instrument: Instrument | None = None,
        seed: int = 0,
        start_ns: int = 0,
    ) -> None:
        self.params = p = params or SyntheticParams()
        self.instrument = instrument or default_instrument()
        self.start_ns = start_ns
        streams = _streams(seed, p.depth_noise, p.depth_levels)
        self._normal, self._uniform, self._exp, self._factors, self._indices = streams
        self._symbol = self.instrument.symbol
        self._latency_ns = p.feed_latency_ns
        start_ticks = self.instrument.nearest_ticks(p.start_price)
        anchor = p.start_price if p.anchor_price is None else p.anchor_price
        self._anchor = float(self.instrument.nearest_ticks(anchor))
        self._floor_ticks = float(2 * p.depth_levels + p.spread_max_ticks + 10)
        self.fair_ticks = max(float(start_ticks), self._floor_ticks)
        self._fair_ns = start_ns
        self._interval_ns = max(1, round(NS_PER_S / p.book_update_hz))
        self._profile = [p.depth_top_lots] + [
            p.depth_top_lots * p.depth_behind_ratio * p.depth_growth**i
            for i in range(p.depth_levels - 1)
        ]
        self._seg_bounds_ns = self._segment_bounds()
        self._seg = 0
        self._seg_origin_ns = start_ns
        self._seg_end_ns = start_ns
        self._drift = self._vol = self._kappa = 0.0
        self.sequence = 0
        self._spread = 1
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_lo = self._bid_hi = self._ask_lo = self._ask_hi = 0
        self._pending: Event | None = None
        self._gen = self._generate()

    # ---- iteration ------------------------------------------------------------------------
    def __iter__(self) -> SyntheticMarket:
        return self

    def __next__(self) -> Event:
        ev = self._pending
        if ev is not None:
            self._pending = None
            return ev
        item = next(self._gen)
        while isinstance(item, int):
            item = next(self._gen)
        return item

    def iter_until(self, end_ns: int) -> Iterator[Event]:
        """Events with `ts_ns <= end_ns`; the stream continues from there on the next call."""
        gen = self._gen
        ev = self._pending
        if ev is not None:
            if ev.ts_ns > end_ns:
                return
            self._pending = None
            yield ev
        for item in gen:
            if isinstance(item, int):
                # a quiet book tick: it carries only the time, so a still market still ends
                if item > end_ns:
                    return
            elif item.ts_ns > end_ns:
                self._pending = item
                return
            else:
                yield item

    def iter_for(self, duration_s: float) -> Iterator[Event]:
        """Events during the first `duration_s` seconds after `start_ns`."""
        return self.iter_until(self.start_ns + round(duration_s * NS_PER_S))

    def _generate(self) -> Iterator[Event | int]:
        """Events in time order; a book tick that changes nothing yields its time instead."""
        yield self._snapshot(self.start_ns)
        rate = self.params.trade_rate_per_s
        interval = self._interval_ns
        next_book = self.start_ns + interval
        next_trade = self._trade_gap_ns(self.start_ns, rate)
        while True:
            if next_trade < next_book:
                yield from self._trade(next_trade)
                next_trade = self._trade_gap_ns(next_trade, rate)
            else:
                delta = self._book_update(next_book)
                yield next_book if delta is None else delta
                next_book += interval

    def _trade_gap_ns(self, now_ns: int, rate: float) -> int:
        if rate <= 0:
            return _NEVER_NS
        return now_ns + int(self._exp.next() / rate * NS_PER_S)

    # ---- fair price and regimes -------------------------------------------------------------
    def _segment_bounds(self) -> list[int]:
        bounds, total = [], 0
        for regime in self.params.regimes:
            total += max(1, round(regime.duration_s * NS_PER_S))
            bounds.append(total)
        return bounds

    def _enter_segment(self, t_ns: int) -> None:
        """Move to the segment active at `t_ns` (times only move forward) and cache its terms."""
        p = self.params
        regimes, bounds = p.regimes, self._seg_bounds_ns
        while t_ns - self._seg_origin_ns >= bounds[self._seg]:
            if self._seg + 1 < len(regimes):
                self._seg += 1
            elif p.repeat_regimes:
                self._seg = 0
                self._seg_origin_ns += bounds[-1]
            else:
                break
        regime = regimes[self._seg]
        held = self._seg == len(regimes) - 1 and not p.repeat_regimes
        self._seg_end_ns = _NEVER_NS if held else self._seg_origin_ns + bounds[self._seg]
        self._drift = regime.drift_ticks_per_s
        self._vol = p.vol_ticks_per_sqrt_s * regime.vol_multiplier
        self._kappa = p.mean_reversion_per_s + regime.mean_reversion_per_s

    def _advance_fair(self, t_ns: int) -> None:
        dt = (t_ns - self._fair_ns) * 1e-9
        if dt <= 0:
            return
        self._fair_ns = t_ns
        if t_ns >= self._seg_end_ns:
            self._enter_segment(t_ns)
        x = self.fair_ticks
        if self._kappa > 0:
            x = self._anchor + (x - self._anchor) * math.exp(-self._kappa * dt)
        x += self._drift * dt + self._vol * math.sqrt(dt) * self._normal.next()
        self.fair_ticks = x if x > self._floor_ticks else self._floor_ticks

    # ---- book ---------------------------------------------------------------------------
    def _fresh_lots(self, depth_index: int) -> int:
        return int(self._profile[depth_index] * self._factors.next() + 0.5) or 1

    def _draw_spread(self) -> int:
        p = self.params
        if p.spread_max_ticks == 1 or self._uniform.next() < p.spread_one_tick_prob:
            return 1
        return 2 + int(self._uniform.next() * (p.spread_max_ticks - 1))

    def _snapshot(self, t_ns: int) -> BookSnapshot:
        self._spread = self._draw_spread()
        n = self.params.depth_levels
        bid = math.floor(self.fair_ticks - self._spread / 2 + 0.5)
        ask = bid + self._spread
        self._bids = {bid - i: self._fresh_lots(i) for i in range(n)}
        self._asks = {ask + i: self._fresh_lots(i) for i in range(n)}
        self._bid_lo, self._bid_hi = bid - n + 1, bid
        self._ask_lo, self._ask_hi = ask, ask + n - 1
        self.sequence = 0
        return BookSnapshot(
            ts_ns=t_ns,
            local_ns=t_ns + self._latency_ns,
            symbol=self._symbol,
            bids=tuple(self._bids.items()),
            asks=tuple(self._asks.items()),
            sequence=self.sequence,
        )

    def _book_update(self, t_ns: int) -> BookDelta | None:
        """Re-centre both sides on the fair price and redraw a few level sizes."""
        self._advance_fair(t_ns)
        p = self.params
        if p.spread_change_prob > 0 and self._uniform.next() < p.spread_change_prob:
            self._spread = self._draw_spread()
        n, refresh = p.depth_levels, p.depth_refresh_levels
        bid = math.floor(self.fair_ticks - self._spread / 2 + 0.5)
        ask = bid + self._spread
        self._factors.ensure(2 * (n + refresh))
        self._indices.ensure(2 * refresh)
        bids = self._shift_side(self._bids, self._bid_lo, self._bid_hi, bid - n + 1, bid, -1)
        asks = self._shift_side(self._asks, self._ask_lo, self._ask_hi, ask, ask + n - 1, 1)
        self._bid_lo, self._bid_hi = bid - n + 1, bid
        self._ask_lo, self._ask_hi = ask, ask + n - 1
        if not bids and not asks:
            return None
        return self._delta(t_ns, bids, asks)

    def _shift_side(
        self, levels: dict[int, int], lo: int, hi: int, new_lo: int, new_hi: int, direction: int
    ) -> dict[int, int]:
        """Move a contiguous side from [lo, hi] to [new_lo, new_hi]; return the changed levels.

        Only prices that leave or enter the window change, so the cost follows the price move,
        not the depth. The draw buffers must hold enough for a full side (see `ensure`).
        """
        profile, factors, indices = self._profile, self._factors, self._indices
        fac, fi, idx, ii = factors.buf, factors.i, indices.buf, indices.i
        best = new_hi if direction < 0 else new_lo
        changes: dict[int, int] = {}
        # the branches skip building empty ranges, the common case
        if lo < new_lo:
            for price in range(lo, min(hi + 1, new_lo)):
                del levels[price]
                changes[price] = 0
        if hi > new_hi:
            for price in range(max(lo, new_hi + 1), hi + 1):
                del levels[price]
                changes[price] = 0
        entering = []
        if new_lo < lo:
            entering.append(range(new_lo, min(new_hi + 1, lo)))
        if new_hi > hi:
            entering.append(range(max(new_lo, hi + 1), new_hi + 1))
        for prices in entering:
            for price in prices:
                lots = int(profile[(price - best) * direction] * fac[fi] + 0.5) or 1
                fi += 1
                levels[price] = changes[price] = lots
        for _ in range(self.params.depth_refresh_levels):
            index = int(idx[ii])
            lots = int(profile[index] * fac[fi] + 0.5) or 1
            ii += 1
            fi += 1
            price = best + index * direction
            if levels[price] != lots:
                levels[price] = changes[price] = lots
        factors.i, indices.i = fi, ii
        return changes

    def _delta(self, t_ns: int, bids: dict[int, int], asks: dict[int, int]) -> BookDelta:
        seq = self.sequence + 1
        self.sequence = seq
        return BookDelta(
            ts_ns=t_ns,
            local_ns=t_ns + self._latency_ns,
            symbol=self._symbol,
            bids=tuple(bids.items()),
            asks=tuple(asks.items()),
            sequence=seq,
            prev_sequence=seq - 1,
        )

    # ---- trades -------------------------------------------------------------------------
    def _trade_lots(self) -> int:
        p = self.params
        size = p.trade_median_lots * math.exp(p.trade_size_sigma * self._normal.next())
        if self._uniform.next() < p.trade_tail_prob:
            size *= (1.0 - self._uniform.next()) ** (-1.0 / p.trade_tail_alpha)
        return max(1, int(min(size, 1e12) + 0.5))

    def _trade(self, t_ns: int) -> list[Event]:
        """Prints (one per level walked), then the delta that removes the liquidity taken."""
        self._advance_fair(t_ns)
        p = self.params
        mid = (self._bid_hi + self._ask_lo) * 0.5
        tilt = max(-0.4, min(0.4, p.flow_tilt_per_tick * (self.fair_ticks - mid)))
        aggressor = Side.BUY if self._uniform.next() < 0.5 + tilt else Side.SELL
        lots = self._trade_lots()
        if aggressor is Side.BUY:
            levels, price, last, step = self._asks, self._ask_lo, self._ask_hi, 1
        else:
            levels, price, last, step = self._bids, self._bid_hi, self._bid_lo, -1
        local_ns = t_ns + self._latency_ns
        out: list[Event] = []
        changes: dict[int, int] = {}
        while lots > 0:
            resting = levels[price]
            # never empty a side: the last level keeps at least one lot
            take = min(lots, resting - 1 if price == last else resting)
            if take <= 0:
                break
            out.append(
                Trade(
                    ts_ns=t_ns,
                    local_ns=local_ns,
                    symbol=self._symbol,
                    price_ticks=price,
                    size_lots=take,
                    aggressor=aggressor,
                )
            )
            lots -= take
            if take < resting:
                levels[price] = changes[price] = resting - take
                break
            del levels[price]
            changes[price] = 0
            price += step
        if not out:
            return out
        if aggressor is Side.BUY:
            self._ask_lo = price
            out.append(self._delta(t_ns, {}, changes))
        else:
            self._bid_hi = price
            out.append(self._delta(t_ns, changes, {}))
        return out
