"""Online market estimators on a fixed time grid: σ, depth-based k prior, trade-intensity (A, k).

They are fed on every book event and public trade, but only do work when the clock crosses a
grid point (every `step_ns`, 100 ms by default), so the per-event cost is a comparison and two
stores. All of them start from the configured priors and are usable from the first book: the
fitted values only take over as evidence accumulates.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from grvtmm.core.book import OrderBook
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.events import Trade
from grvtmm.core.types import Side


def ewma_alpha(dt_s: float, halflife_s: float) -> float:
    """Weight of a new sample in an EWMA whose weights halve every `halflife_s` seconds."""
    return 1.0 - math.pow(0.5, dt_s / halflife_s)


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else (hi if x > hi else x)


def scaled_gamma(gamma: float, sigma_est: float, sigma_prior: float) -> float:
    """γ_eff = γ × clamp(σ_est/σ_prior, 0.5, 3).

    Risk aversion rises with measured volatility, so a fast market widens the spread and
    strengthens the inventory skew beyond what σ alone does; the clamp keeps one noisy σ sample
    from moving γ by more than a factor of 3 up or 2 down.
    """
    if not (sigma_prior > 0.0 and math.isfinite(sigma_est)):
        return gamma
    return gamma * _clamp(sigma_est / sigma_prior, 0.5, 3.0)


class EwmaVolatility:
    """EWMA of squared mid changes on the grid → σ in ticks/√s.

    The EWMA is initialised at the prior variance, so the estimate is the exact blend
    ``w·σ²_data + (1−w)·σ²_prior`` with ``w = 1 − (1−α)^n`` after n samples: one half-life of
    data gives the data half the weight. Changes are not demeaned (a trend is risk too).
    """

    __slots__ = ("_decay", "_dt_s", "_var_step", "samples")

    def __init__(self, sigma_prior: float, halflife_s: float, step_s: float) -> None:
        self._dt_s = step_s
        self._decay = 1.0 - ewma_alpha(step_s, halflife_s)
        self._var_step = sigma_prior * sigma_prior * step_s
        self.samples = 0

    def update(self, change_ticks: float, idle_steps: int = 0) -> None:
        """One grid sample of the mid change, then `idle_steps` samples without a change."""
        d = self._decay
        self._var_step = d * self._var_step + (1.0 - d) * change_ticks * change_ticks
        if idle_steps > 0:
            self._var_step *= math.pow(d, idle_steps)
        self.samples += 1 + idle_steps

    def update_sigma(self, change_ticks: float, idle_steps: int = 0) -> float:
        """`update`, then the new σ (one call per grid step on the hot path)."""
        d = self._decay
        var = d * self._var_step + (1.0 - d) * change_ticks * change_ticks
        if idle_steps > 0:
            var *= math.pow(d, idle_steps)
        self._var_step = var
        self.samples += 1 + idle_steps
        return math.sqrt(var / self._dt_s)

    @property
    def sigma(self) -> float:
        """σ in ticks/√s."""
        return math.sqrt(self._var_step / self._dt_s)


class DepthFactor:
    """Book depth within N ticks (both sides) relative to its own slow average, in [0.5, 2].

    The current depth is lightly smoothed (fast half-life) so one flickering level does not move
    every quote; the reference is a slow EWMA started at the first sample (factor 1 at start).
    """

    __slots__ = (
        "_alpha_fast",
        "_alpha_slow",
        "_dt_s",
        "_fast",
        "_fast_h",
        "_slow",
        "_slow_h",
        "n_ticks",
    )

    def __init__(self, n_ticks: int, fast_halflife_s: float = 1.0, slow_halflife_s: float = 300.0):
        self.n_ticks = n_ticks
        self._fast_h = fast_halflife_s
        self._slow_h = slow_halflife_s
        self._fast = 0.0
        self._slow = 0.0
        self._dt_s = 0.0
        self._alpha_fast = 0.0
        self._alpha_slow = 0.0

    def update(self, depth_lots: float, dt_s: float) -> None:
        """Add a depth sample taken `dt_s` seconds after the previous one."""
        if self._slow <= 0.0:
            self._fast = self._slow = depth_lots
            return
        if dt_s != self._dt_s:  # nearly always one grid step: keep its weights
            self._dt_s = dt_s
            self._alpha_fast = ewma_alpha(dt_s, self._fast_h)
            self._alpha_slow = ewma_alpha(dt_s, self._slow_h)
        self._fast += self._alpha_fast * (depth_lots - self._fast)
        self._slow += self._alpha_slow * (depth_lots - self._slow)

    @property
    def factor(self) -> float:
        if self._slow <= 0.0:
            return 1.0
        return _clamp(self._fast / self._slow, 0.5, 2.0)


@dataclass(slots=True)
class IntensityFit:
    """Least-squares fit of ln λ(δ) = ln A − k·δ over the shallow depth levels.

    Treated as immutable (`NO_FIT` is shared); not frozen only for construction speed.
    """

    a_per_s: float
    k_per_tick: float
    r2: float
    levels: int
    crossings: int
    ok: bool


NO_FIT = IntensityFit(0.0, 0.0, 0.0, 0, 0, False)


@dataclass(frozen=True, slots=True)
class IntensitySettings:
    """Window, refit cadence and quality gate of the trade-intensity fit."""

    window_s: float = 600.0
    refit_s: float = 5.0
    levels: int = 40  # half-tick levels from the mid: 0.5 … 20 ticks
    min_level_count: int = 5
    min_levels: int = 3
    min_crossings: int = 50
    full_weight_crossings: int = 500
    min_r2: float = 0.6
    k_bounds: tuple[float, float] = (1e-3, 1e3)


class TradeIntensity:
    """Arrival depth of trades per grid step → fill intensity λ(δ) = A·e^(−kδ).

    Per step the deepest trade, measured from the previous step's mid in ticks (buy aggressors
    above it, sell aggressors below), is the step's arrival depth D. A quote at depth δ on the
    half-tick grid would have filled in that step when δ < D (a quote at the trade price itself
    is not counted). λ(δ) = steps with D > δ / observed time, over a rolling window; OLS of ln λ
    on δ over the shallow levels gives k = −slope, A = e^intercept. Depths beyond the last level
    count for every level instead of being dropped, so rare deep sweeps do not bias the shallow
    counts downwards. Only steps with D > 0.5 are stored, so each step costs O(1).
    """

    __slots__ = (
        "_events",
        "_first_step",
        "_hist",
        "_window_steps",
        "fit",
        "max_depth",
        "settings",
        "step_s",
    )

    def __init__(self, step_s: float, settings: IntensitySettings | None = None) -> None:
        self.settings = settings or IntensitySettings()
        self.step_s = step_s
        self._window_steps = max(1, round(self.settings.window_s / step_s))
        self._hist = [0] * (self.settings.levels + 1)
        self._events: deque[tuple[int, int]] = deque()
        self._first_step = -1
        self.max_depth = -math.inf  # deepest arrival in the open step (ticks)
        self.fit = NO_FIT

    def begin(self, step_no: int) -> None:
        """Start observing at grid step `step_no` (the fit's time base)."""
        if self._first_step < 0:
            self._first_step = step_no

    def on_trade(self, price_ticks: int, aggressor: Side, ref_mid_ticks: float) -> None:
        """Record one trade of the current step against the previous step's mid."""
        depth = (price_ticks - ref_mid_ticks) * aggressor
        if depth > self.max_depth:
            self.max_depth = depth

    def close_step(self, step_no: int) -> None:
        """End grid step `step_no`. Steps whose `max_depth` ≤ 0.5 add nothing and may skip this."""
        self.begin(step_no)
        depth = self.max_depth
        self.max_depth = -math.inf
        if depth > 0.5:
            # number of half-tick levels strictly inside D (depths are multiples of 0.5 ticks)
            idx = min(math.floor(depth * 2.0 + 0.5) - 1, self.settings.levels)
            self._events.append((step_no, idx))
            self._hist[idx] += 1

    def _expire(self, step_no: int) -> None:
        oldest = step_no - self._window_steps
        events, hist = self._events, self._hist
        while events and events[0][0] <= oldest:
            hist[events.popleft()[1]] -= 1

    def observed_s(self, step_no: int) -> float:
        if self._first_step < 0:
            return 0.0
        steps = min(step_no - self._first_step + 1, self._window_steps)
        return steps * self.step_s

    def refit(self, step_no: int) -> IntensityFit:
        """Refit (A, k) from the window's counts and apply the quality gate."""
        self._expire(step_no)
        s = self.settings
        duration = self.observed_s(step_no)
        hist = self._hist
        # c = steps whose arrival depth lies beyond level i (a step with histogram index j counts
        # for levels 0 … j-1), walked from the shallow end only as far as the fit uses it
        c = sum(hist) - hist[0]
        crossings = c
        ys: list[float] = []  # ln λ at depths 0.5, 1.0, 1.5, … ticks
        min_count = s.min_level_count
        for i in range(len(hist) - 1):
            if c < min_count:
                break  # counts fall with depth; the rest is too sparse to trust
            ys.append(math.log(c / duration))
            c -= hist[i + 1]
        levels = len(ys)
        a, k, r2 = _ols_exp_fit(_depth_grid(levels), ys)
        ok = (
            crossings >= s.min_crossings
            and levels >= s.min_levels
            and s.k_bounds[0] <= k <= s.k_bounds[1]
            and math.isfinite(a)
            and a > 0.0
            and r2 >= s.min_r2
        )
        self.fit = IntensityFit(a, k, r2, levels, crossings, ok)
        return self.fit

    def weight(self) -> float:
        """Blend weight of the fit: 0 until the gate passes, then grows with the crossings."""
        fit = self.fit
        if not fit.ok:
            return 0.0
        return min(1.0, fit.crossings / self.settings.full_weight_crossings)


class _Grid(NamedTuple):
    """The x side of a least-squares fit: mean, deviations from it, and their sum of squares."""

    mean: float
    dev: list[float]
    ss: float


def _grid(xs: list[float]) -> _Grid:
    n = len(xs)
    mx = sum(xs) / n
    dx = [x - mx for x in xs]
    return _Grid(mx, dx, sum([d**2 for d in dx]))


_DEPTH_GRIDS: dict[int, _Grid] = {}


def _depth_grid(levels: int) -> _Grid:
    """`_grid` of the half-tick depths 0.5, 1.0, … (levels × 0.5); computed once per size."""
    grid = _DEPTH_GRIDS.get(levels)
    if grid is None:
        xs = [0.5 * (i + 1) for i in range(levels)]
        grid = _DEPTH_GRIDS[levels] = _grid(xs) if xs else _Grid(0.0, [], 0.0)
    return grid


def _ols_exp_fit(x: _Grid, ys: list[float]) -> tuple[float, float, float]:
    """(A, k, r²) of the least-squares line ln λ = ln A − k·δ; zeros without two distinct x."""
    n = len(ys)
    if n < 2:
        return 0.0, 0.0, 0.0
    mx, dx, sxx = x
    my = sum(ys) / n
    dy = [y - my for y in ys]
    sxy = sum([a * b for a, b in zip(dx, dy, strict=True)])
    syy = sum([d**2 for d in dy])
    if sxx <= 0.0:
        return 0.0, 0.0, 0.0
    slope = sxy / sxx
    intercept = my - slope * mx
    r2 = 1.0 if syy <= 0.0 else (sxy * sxy) / (sxx * syy)
    return math.exp(min(intercept, 700.0)), -slope, r2


@dataclass(frozen=True, slots=True)
class EstimatorSettings:
    """Grid and smoothing settings shared by the estimators."""

    step_ns: int = 100_000_000
    max_idle_s: float = 10.0  # longer silences are feed gaps, not a still market
    depth_fast_halflife_s: float = 1.0
    depth_slow_halflife_s: float = 300.0
    depth_sample_s: float = 0.5
    publish_tolerance: float = 0.005  # relative move of σ, k or A that makes a new version
    intensity: IntensitySettings = IntensitySettings()


class MarketEstimator:
    """σ, k, A and γ_eff for the quoter, updated once per grid step; priors from the start.

    k = w·k_fit + (1−w)·k_prior with k_prior = base_k × depth factor and w from
    `TradeIntensity.weight`; A is blended with the same weight. σ, k and A are republished
    only when one moves by more than `publish_tolerance` (relative), and `version` increases
    with each republication, so callers can cache anything derived from them.
    """

    def __init__(
        self,
        *,
        gamma: float,
        sigma_prior: float,
        k_prior: float,
        a_prior: float,
        vol_halflife_s: float,
        depth_ticks: int,
        settings: EstimatorSettings | None = None,
    ) -> None:
        s = settings or EstimatorSettings()
        self.settings = s
        self.step_ns = s.step_ns
        self.step_s = s.step_ns / NS_PER_S
        self._gamma = gamma
        self._sigma_prior = sigma_prior
        self._k_base = k_prior
        self._a_prior = a_prior
        self._max_idle = max(0, round(s.max_idle_s / self.step_s))
        self._refit_steps = max(1, round(s.intensity.refit_s / self.step_s))
        self.vol = EwmaVolatility(sigma_prior, vol_halflife_s, self.step_s)
        self.depth = DepthFactor(depth_ticks, s.depth_fast_halflife_s, s.depth_slow_halflife_s)
        self.intensity = TradeIntensity(self.step_s, s.intensity)
        self._mid2 = 0  # best bid + best ask (twice the mid) at the last book event
        self._ref_mid2 = 0  # … at the last grid point
        self._next_ns = 0
        self._step_no = 0
        self._next_fit = 0
        self._next_slow = 0
        self._depth_step = -1
        self._depth_steps = max(1, round(s.depth_sample_s / self.step_s))
        self._tolerance = s.publish_tolerance
        self.sigma = sigma_prior
        self.k_prior = k_prior
        self.k_per_tick = k_prior
        self.a_per_s = a_prior
        self.gamma = gamma
        self.version = 0

    def on_book(self, book: OrderBook, now_ns: int) -> None:
        """Feed a ready book; O(1) unless a grid point was crossed."""
        if now_ns >= self._next_ns:
            if not book.ready:
                return
            self._roll(book, now_ns)
        self._mid2 = book.best_bid + book.best_ask

    def on_trade(self, trade: Trade) -> None:
        """Feed a public trade (timed by its local receive time, like the book)."""
        if self._mid2 == 0:
            return
        if trade.local_ns >= self._next_ns:
            self._roll(None, trade.local_ns)
        self.intensity.on_trade(trade.price_ticks, trade.aggressor, self._ref_mid2 * 0.5)

    def _roll(self, book: OrderBook | None, now_ns: int) -> None:
        step_no = now_ns // self.step_ns
        mid2 = self._mid2
        if mid2 == 0 and book is not None:
            self._ref_mid2 = self._mid2 = book.best_bid + book.best_ask
            self.intensity.begin(step_no)
            sigma = self.vol.sigma
        else:
            ti = self.intensity
            if ti.max_depth > 0.5:
                ti.close_step(self._step_no)
            else:
                ti.max_depth = -math.inf
            idle = step_no - self._step_no - 1
            if idle > self._max_idle:
                idle = self._max_idle
            sigma = self.vol.update_sigma((mid2 - self._ref_mid2) * 0.5, idle)
            self._ref_mid2 = mid2
        self._step_no = step_no
        self._next_ns = (step_no + 1) * self.step_ns
        changed = step_no >= self._next_slow and self._slow_update(book, step_no)
        if changed or abs(sigma - self.sigma) > self._tolerance * self.sigma:
            # Smaller moves cannot shift a quote by a tick; an unchanged `version` lets the
            # quoter reuse its last answer.
            self.sigma = sigma
            self.gamma = scaled_gamma(self._gamma, sigma, self._sigma_prior)
            self.version += 1

    def _slow_update(self, book: OrderBook | None, step_no: int) -> bool:
        """Depth sample, and a refit when due; True when k or A moved beyond the tolerance."""
        self._next_slow = step_no + self._depth_steps
        if book is not None:
            bid_lots, ask_lots = book.depth_lots(self.depth.n_ticks)
            dt_s = (step_no - self._depth_step) * self.step_s if self._depth_step >= 0 else 0.0
            self.depth.update(float(bid_lots + ask_lots), dt_s)
            self._depth_step = step_no
        if step_no >= self._next_fit:
            self._next_fit = step_no + self._refit_steps
            self.intensity.refit(step_no)
        self.k_prior = k_prior = self._k_base * self.depth.factor
        w = self.intensity.weight()
        fit = self.intensity.fit
        k = w * fit.k_per_tick + (1.0 - w) * k_prior
        a = w * fit.a_per_s + (1.0 - w) * self._a_prior
        tol = self._tolerance
        if abs(k - self.k_per_tick) <= tol * self.k_per_tick and (
            abs(a - self.a_per_s) <= tol * self.a_per_s
        ):
            return False
        self.k_per_tick = k
        self.a_per_s = a
        return True
