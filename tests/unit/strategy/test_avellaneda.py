from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grvtmm.strategy.avellaneda import (
    MAX_TICKS,
    as_coefficients,
    avellaneda_stoikov,
    clamp_q,
    glft,
    glft_coefficients,
)

gammas = st.floats(1e-4, 100.0)
sigmas = st.floats(1e-3, 1e3)
ks = st.floats(1e-3, 1e3)
intensities = st.floats(1e-3, 1e4)
horizons = st.floats(1e-3, 3600.0)
qs = st.floats(-1.0, 1.0)
fairs = st.floats(1.0, 1e9)
any_float = st.floats(allow_nan=True, allow_infinity=True)


def test_as_matches_hand_computed_values() -> None:
    # γ=0.1, σ=2, τ=1, k=0.5: γσ²τ = 0.4; (2/γ)ln(1+γ/k) = 20·ln 1.2
    m = avellaneda_stoikov(1000.0, 0.5, 0.1, 2.0, 0.5, 1.0)
    assert m.skew_ticks == pytest.approx(0.4)
    assert m.half_spread_ticks == pytest.approx((0.4 + 20 * math.log(1.2)) / 2)
    assert m.reservation_ticks == pytest.approx(1000.0 - 0.5 * 0.4)


def test_glft_matches_hand_computed_values() -> None:
    # γ=0.1, k=0.5, A=1, σ=2: c1 = ln(1.2)/0.1, c2 = sqrt(0.1/(2·1·0.5)·1.2^6)
    c1 = math.log(1.2) / 0.1
    c2 = math.sqrt(0.1 / 1.0 * 1.2**6)
    m = glft(1000.0, -0.25, 0.1, 2.0, 0.5, 1.0)
    assert m.half_spread_ticks == pytest.approx(c1 + 2.0 * c2 / 2)
    assert m.skew_ticks == pytest.approx(2.0 * c2)
    assert m.reservation_ticks == pytest.approx(1000.0 + 0.25 * 2.0 * c2)


def test_small_gamma_limits_are_exact() -> None:
    # (2/γ)ln(1+γ/k) → 2/k and c1 → 1/k as γ → 0
    half, skew = as_coefficients(1e-12, 0.0, 0.5, 1.0)
    assert half == pytest.approx(2.0)
    assert skew == 0.0
    half, skew = glft_coefficients(1e-12, 0.0, 0.5, 1.0)
    assert half == pytest.approx(2.0)


@given(fairs, qs, gammas, sigmas, ks, horizons)
def test_as_bid_below_ask_and_finite(
    fair: float, q: float, g: float, s: float, k: float, tau: float
) -> None:
    m = avellaneda_stoikov(fair, q, g, s, k, tau)
    assert math.isfinite(m.reservation_ticks)
    assert 0.0 < m.half_spread_ticks <= MAX_TICKS
    assert m.reservation_ticks - m.half_spread_ticks < m.reservation_ticks + m.half_spread_ticks


@given(fairs, qs, gammas, sigmas, ks, intensities)
def test_glft_bid_below_ask_and_finite(
    fair: float, q: float, g: float, s: float, k: float, a: float
) -> None:
    m = glft(fair, q, g, s, k, a)
    assert math.isfinite(m.reservation_ticks)
    assert 0.0 < m.half_spread_ticks <= MAX_TICKS
    assert 0.0 <= m.skew_ticks <= MAX_TICKS


@given(fairs, qs, qs, gammas, sigmas, ks, horizons, intensities)
def test_reservation_falls_as_inventory_rises(
    fair: float, q1: float, q2: float, g: float, s: float, k: float, tau: float, a: float
) -> None:
    assume(q1 < q2)
    pairs = (
        (avellaneda_stoikov(fair, q1, g, s, k, tau), avellaneda_stoikov(fair, q2, g, s, k, tau)),
        (glft(fair, q1, g, s, k, a), glft(fair, q2, g, s, k, a)),
    )
    for lo, hi in pairs:
        assert hi.reservation_ticks <= lo.reservation_ticks
        if lo.skew_ticks * (q2 - q1) > 1e-9 * max(1.0, fair):
            assert hi.reservation_ticks < lo.reservation_ticks


@given(fairs, gammas, sigmas, ks, horizons, intensities)
def test_symmetric_at_zero_inventory(
    fair: float, g: float, s: float, k: float, tau: float, a: float
) -> None:
    assert avellaneda_stoikov(fair, 0.0, g, s, k, tau).reservation_ticks == fair
    assert glft(fair, 0.0, g, s, k, a).reservation_ticks == fair


@given(gammas, sigmas, sigmas, ks, horizons, intensities)
def test_spread_and_skew_grow_with_sigma(
    g: float, s1: float, s2: float, k: float, tau: float, a: float
) -> None:
    assume(s1 < s2)
    h1, k1 = as_coefficients(g, s1, k, tau)
    h2, k2 = as_coefficients(g, s2, k, tau)
    assert h2 >= h1 and k2 >= k1
    h1, k1 = glft_coefficients(g, s1, k, a)
    h2, k2 = glft_coefficients(g, s2, k, a)
    assert h2 >= h1 and k2 >= k1


@given(gammas, gammas, sigmas, ks, horizons, intensities)
def test_skew_grows_with_gamma(
    g1: float, g2: float, s: float, k: float, tau: float, a: float
) -> None:
    assume(g1 < g2)
    assert as_coefficients(g2, s, k, tau)[1] >= as_coefficients(g1, s, k, tau)[1]
    # c2 grows with γ: d/dx[(1/x + 1)·ln(1+x)] = (x − ln(1+x))/x² > 0 and γ/(2Ak) grows too
    assert glft_coefficients(g2, s, k, a)[1] >= glft_coefficients(g1, s, k, a)[1] * (1 - 1e-12)


@given(gammas, gammas, sigmas, ks, horizons)
def test_as_spread_grows_with_gamma_when_risk_term_dominates(
    g1: float, g2: float, s: float, k: float, tau: float
) -> None:
    # δ(γ) = γσ²τ + (2/γ)ln(1+γ/k); the second term's slope is in [−1/k², 0), so δ rises
    # with γ whenever σ²τ ≥ 1/k².
    assume(g1 < g2)
    assume(s * s * tau >= 1.0 / (k * k))
    assert as_coefficients(g2, s, k, tau)[0] >= as_coefficients(g1, s, k, tau)[0] * (1 - 1e-12)


@given(any_float, any_float, any_float, any_float, any_float, any_float, any_float)
def test_no_nan_or_inf_for_any_input(
    fair: float, q: float, g: float, s: float, k: float, tau: float, a: float
) -> None:
    assume(math.isfinite(fair))
    for m in (avellaneda_stoikov(fair, q, g, s, k, tau, a), glft(fair, q, g, s, k, a, tau)):
        assert math.isfinite(m.reservation_ticks)
        assert math.isfinite(m.half_spread_ticks) and m.half_spread_ticks >= 0.0
        assert math.isfinite(m.skew_ticks) and m.skew_ticks >= 0.0


def test_extreme_parameters_are_clamped_not_overflowed() -> None:
    half, skew = glft_coefficients(100.0, 1e6, 1e-300, 1e-300)
    assert skew == MAX_TICKS
    assert half == pytest.approx(MAX_TICKS / 2, rel=1e-9)
    half, skew = as_coefficients(100.0, 1e6, 1e-3, 86_400.0)
    assert skew == MAX_TICKS
    assert half == pytest.approx(MAX_TICKS / 2, rel=1e-9)


def test_clamp_q() -> None:
    assert clamp_q(3.0) == 1.0
    assert clamp_q(-3.0) == -1.0
    assert clamp_q(0.25) == 0.25
    assert clamp_q(math.nan) == 0.0


def test_skew_factor_scales_shift_not_spread() -> None:
    base = glft(100.0, 1.0, 0.1, 2.0, 0.5, 1.0)
    double = glft(100.0, 1.0, 0.1, 2.0, 0.5, 1.0, skew_factor=2.0)
    assert double.half_spread_ticks == base.half_spread_ticks
    assert 100.0 - double.reservation_ticks == pytest.approx(2 * (100.0 - base.reservation_ticks))
    off = avellaneda_stoikov(100.0, 1.0, 0.1, 2.0, 0.5, 1.0, skew_factor=0.0)
    assert off.reservation_ticks == 100.0
