from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grvtmm.core.book import OrderBook
from grvtmm.core.events import BookSnapshot, Trade
from grvtmm.core.types import Side
from grvtmm.strategy.estimators import (
    DepthFactor,
    EstimatorSettings,
    EwmaVolatility,
    IntensitySettings,
    MarketEstimator,
    TradeIntensity,
    ewma_alpha,
    scaled_gamma,
)

STEP_NS = 100_000_000
T0 = 1_700_000_000_000_000_000


def make_book(best_bid: int, best_ask: int, lots: int = 10, levels: int = 10) -> OrderBook:
    book = OrderBook("X_USDT_Perp")
    book.apply_snapshot(
        BookSnapshot(
            ts_ns=0,
            local_ns=0,
            symbol="X_USDT_Perp",
            bids=tuple((best_bid - i, lots) for i in range(levels)),
            asks=tuple((best_ask + i, lots) for i in range(levels)),
        )
    )
    return book


def estimator(**kw: float) -> MarketEstimator:
    args: dict[str, float] = {
        "gamma": 0.1,
        "sigma_prior": 3.0,
        "k_prior": 0.5,
        "a_prior": 1.0,
        "vol_halflife_s": 10.0,
        "depth_ticks": 5,
    }
    args.update(kw)
    return MarketEstimator(
        gamma=args["gamma"],
        sigma_prior=args["sigma_prior"],
        k_prior=args["k_prior"],
        a_prior=args["a_prior"],
        vol_halflife_s=args["vol_halflife_s"],
        depth_ticks=int(args["depth_ticks"]),
    )


def trade(price: int, side: Side, local_ns: int) -> Trade:
    return Trade(
        ts_ns=local_ns,
        local_ns=local_ns,
        symbol="X_USDT_Perp",
        price_ticks=price,
        size_lots=1,
        aggressor=side,
    )


# ---- volatility ------------------------------------------------------------------------------
def test_priors_are_usable_from_the_first_book() -> None:
    est = estimator()
    est.on_book(make_book(1000, 1001), T0)
    assert est.sigma == 3.0
    assert est.k_per_tick == 0.5
    assert est.a_per_s == 1.0
    assert est.gamma == 0.1


def test_ewma_blends_from_prior_by_halflife() -> None:
    vol = EwmaVolatility(sigma_prior=4.0, halflife_s=1.0, step_s=0.1)
    assert vol.sigma == pytest.approx(4.0)
    for _ in range(10):  # one half-life of still market: variance halves
        vol.update(0.0)
    assert vol.sigma == pytest.approx(4.0 / math.sqrt(2.0))
    vol.update(0.0, idle_steps=9)  # idle steps count as still samples
    assert vol.sigma == pytest.approx(2.0)


@pytest.mark.parametrize("sigma_true", [0.5, 4.0, 40.0])
def test_ewma_converges_to_known_sigma(sigma_true: float) -> None:
    rng = np.random.default_rng(7)
    vol = EwmaVolatility(sigma_prior=10.0, halflife_s=30.0, step_s=0.1)
    changes = rng.normal(0.0, sigma_true * math.sqrt(0.1), size=20_000)
    for c in changes:
        vol.update(float(c))
    assert vol.sigma == pytest.approx(sigma_true, rel=0.12)


def test_estimator_measures_sigma_of_a_tick_random_walk() -> None:
    rng = np.random.default_rng(11)
    sigma_true = 20.0  # ticks/√s; rounding the walk to ticks adds < 0.1 % of variance
    est = estimator(sigma_prior=5.0, vol_halflife_s=20.0)
    path = np.cumsum(rng.normal(0.0, sigma_true * math.sqrt(0.1), size=12_000))
    for i, x in enumerate(path):
        mid = 100_000 + round(float(x))
        book = make_book(mid, mid + 1)
        # several book events inside each grid step; only grid points are sampled
        est.on_book(book, T0 + i * STEP_NS + 1)
        est.on_book(book, T0 + i * STEP_NS + 50_000_000)
    assert est.sigma == pytest.approx(sigma_true, rel=0.12)
    assert est.gamma == pytest.approx(0.1 * 3.0)  # σ/σ_prior = 4 → clamped at 3


def test_long_gap_is_capped_not_read_as_a_still_market() -> None:
    est = estimator(sigma_prior=4.0, vol_halflife_s=10.0)
    book = make_book(1000, 1001)
    est.on_book(book, T0)
    est.on_book(book, T0 + 3_600 * 1_000_000_000)  # an hour without book events
    # the sample at the first grid point plus 10 s (100 steps) of still samples, not an hour
    assert est.sigma == pytest.approx(4.0 * math.sqrt(0.5 ** (10.1 / 10.0)), rel=1e-9)


def test_time_going_backwards_is_ignored() -> None:
    est = estimator()
    est.on_book(make_book(1000, 1001), T0 + 10 * STEP_NS)
    version = est.version
    est.on_book(make_book(900, 901), T0)
    assert est.version == version
    assert est.sigma == 3.0


@given(st.floats(1e-6, 1e6), st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_scaled_gamma_is_clamped(gamma: float, sigma: float, prior: float) -> None:
    g = scaled_gamma(gamma, sigma, prior)
    assert gamma * 0.5 * (1 - 1e-12) <= g <= gamma * 3.0 * (1 + 1e-12)
    if 0.5 <= sigma / prior <= 3.0:
        assert g == pytest.approx(gamma * sigma / prior)


def test_scaled_gamma_ignores_bad_sigma() -> None:
    assert scaled_gamma(0.2, math.nan, 3.0) == 0.2
    assert scaled_gamma(0.2, 1.0, 0.0) == 0.2


# ---- depth factor ----------------------------------------------------------------------------
def test_depth_factor_tracks_relative_depth_and_clamps() -> None:
    d = DepthFactor(5, fast_halflife_s=0.1, slow_halflife_s=1e9)
    d.update(100.0, 0.0)
    assert d.factor == 1.0
    for _ in range(50):
        d.update(150.0, 0.1)
    assert d.factor == pytest.approx(1.5, rel=1e-3)
    for _ in range(50):
        d.update(1000.0, 0.1)
    assert d.factor == 2.0
    for _ in range(50):
        d.update(1.0, 0.1)
    assert d.factor == 0.5


def test_k_prior_follows_book_depth() -> None:
    est = estimator(k_prior=0.4)
    est.on_book(make_book(1000, 1001, lots=10), T0)
    for i in range(1, 200):  # 20 s of a book three times deeper
        est.on_book(make_book(1000, 1001, lots=30), T0 + i * STEP_NS)
    assert est.k_prior == pytest.approx(0.4 * 2.0)  # clamped at 2×
    # no trades: no fit, the prior is used (published once it moves by more than 0.5 %)
    assert est.k_per_tick == pytest.approx(est.k_prior, rel=0.005)


# ---- trade intensity -------------------------------------------------------------------------
def feed_crossings(
    est: MarketEstimator, k_true: float, p_trade: float, steps: int, seed: int
) -> None:
    """Book fixed at 999/1001 (mid 1000); per step, with probability p a trade at depth
    1 + floor(X), X ~ Exp(k), alternating buy/sell aggressors."""
    rng = np.random.default_rng(seed)
    book = make_book(999, 1001)
    for i in range(steps):
        t = T0 + i * STEP_NS
        est.on_book(book, t)
        if rng.random() < p_trade:
            depth = 1 + math.floor(rng.exponential(1.0 / k_true))
            side = Side.BUY if i % 2 else Side.SELL
            est.on_trade(trade(1000 + depth * side, side, t + 10_000_000))


@pytest.mark.parametrize("k_true", [0.3, 0.8])
def test_intensity_fit_recovers_known_k(k_true: float) -> None:
    est = estimator(k_prior=3.0)
    feed_crossings(est, k_true, p_trade=0.6, steps=6_000, seed=3)
    fit = est.intensity.fit
    assert fit.ok
    assert fit.k_per_tick == pytest.approx(k_true, rel=0.15)
    # on the integer-depth staircase the fitted line passes a quarter tick in: A = (p/dt)·e^(k/4)
    assert fit.a_per_s == pytest.approx(0.6 / 0.1 * math.exp(k_true / 4), rel=0.2)
    assert fit.r2 > 0.9
    # > 500 crossings: full weight (outputs are republished on moves beyond 0.5 %)
    assert est.k_per_tick == pytest.approx(fit.k_per_tick, rel=0.005)
    assert est.a_per_s == pytest.approx(fit.a_per_s, rel=0.005)


def test_intensity_blend_weight_grows_with_crossings() -> None:
    est = estimator(k_prior=3.0)
    feed_crossings(est, 0.5, p_trade=0.3, steps=1_500, seed=5)
    fit = est.intensity.fit
    assert fit.ok
    w = est.intensity.weight()
    assert 0.0 < w < 1.0
    assert w == pytest.approx(fit.crossings / 500)
    expected = w * fit.k_per_tick + (1 - w) * est.k_prior
    assert est.k_per_tick == pytest.approx(expected, rel=0.01)


def test_too_few_crossings_keep_the_prior() -> None:
    est = estimator(k_prior=0.7)
    feed_crossings(est, 0.5, p_trade=0.02, steps=1_000, seed=9)
    assert not est.intensity.fit.ok
    assert est.intensity.weight() == 0.0
    assert est.k_per_tick == est.k_prior
    assert est.a_per_s == 1.0


def test_trades_at_the_touch_are_not_crossings() -> None:
    ti = TradeIntensity(0.1)
    for step in range(100):
        ti.on_trade(1001, Side.BUY, 1000.5)  # 0.5 tick from the mid: at the best ask
        ti.close_step(step)
    assert ti.refit(99).crossings == 0


def test_intensity_window_forgets_old_crossings() -> None:
    ti = TradeIntensity(0.1, IntensitySettings(window_s=10.0))
    for step in range(50):
        ti.on_trade(1005, Side.BUY, 1000.0)
        ti.close_step(step)
    assert ti.refit(49).crossings == 50
    for step in range(50, 200):
        ti.close_step(step)
    assert ti.refit(199).crossings == 0


def test_deep_sweeps_count_for_every_level() -> None:
    ti = TradeIntensity(0.1, IntensitySettings(levels=4, min_level_count=1, min_crossings=1))
    ti.on_trade(900, Side.SELL, 1000.0)  # 100 ticks deep, far beyond the last level
    ti.close_step(0)
    fit = ti.refit(0)
    assert fit.crossings == 1
    assert fit.levels == 4


def test_default_settings_are_consistent() -> None:
    s = EstimatorSettings()
    assert s.step_ns == STEP_NS
    assert s.intensity.min_crossings < s.intensity.full_weight_crossings
    assert ewma_alpha(1.0, 1.0) == pytest.approx(0.5)


def test_small_moves_do_not_make_a_new_version() -> None:
    est = estimator(vol_halflife_s=100.0)
    book = make_book(1000, 1001)
    for i in range(200):  # still market: σ decays by ~0.035 % a step
        est.on_book(book, T0 + i * STEP_NS)
    assert 5 <= est.version <= 30
    assert est.sigma == pytest.approx(est.vol.sigma, rel=0.005)
