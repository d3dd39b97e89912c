"""Reservation price, half-spread and inventory skew: pure functions, everything in ticks.

Units: prices and spreads in ticks, σ in ticks/√s, γ in 1/tick, k in 1/tick, A in fills/s,
τ in seconds, q the position normalised by the maximum inventory (q ∈ [-1, 1]).

Two models:

* Avellaneda & Stoikov (2008) with a constant holding horizon τ (no terminal time):
  reservation price ``r = s − q·γ·σ²·τ`` and total spread
  ``δ = γ·σ²·τ + (2/γ)·ln(1 + γ/k)``, quoted ``δ/2`` either side of ``r``.
* Guéant (2017) "Optimal market making", asymptotic closed form, eqs. (4.6)/(4.7) with order
  unit Δ = 1 and ξ = γ: ``c1 = (1/γ)·ln(1 + γ/k)``,
  ``c2 = sqrt( γ/(2·A·k) · (1 + γ/k)^(k/γ + 1) )``, half-spread ``c1 + σ·c2/2``, skew ``σ·c2``.

Every function returns finite numbers for any input: non-finite or non-positive parameters are
clamped into a safe range and results are bounded by ``MAX_TICKS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_TICKS = 1e12
"""Upper bound on any spread or skew the models return (far beyond any sane quote)."""

_MIN_POS = 1e-12
_MAX_PARAM = 1e12
_MAX_EXP = 700.0  # exp(700) ≈ 1e304, still finite in float64


@dataclass(frozen=True, slots=True)
class ModelQuote:
    """Model output in ticks: quote ``reservation ± half_spread``; skew is the shift per unit q."""

    reservation_ticks: float
    half_spread_ticks: float
    skew_ticks: float


def _positive(x: float) -> float:
    """Clamp a parameter that must be strictly positive into [1e-12, 1e12] (NaN → 1e-12)."""
    if not x > _MIN_POS:  # also catches NaN
        return _MIN_POS
    return x if x < _MAX_PARAM else _MAX_PARAM


def _non_negative(x: float) -> float:
    if not x > 0.0:
        return 0.0
    return x if x < _MAX_PARAM else _MAX_PARAM


def _bounded(x: float) -> float:
    """Clamp a model result into [0, MAX_TICKS]; NaN becomes MAX_TICKS (the safe, wide side)."""
    if math.isnan(x):
        return MAX_TICKS
    if x < 0.0:
        return 0.0
    return x if x < MAX_TICKS else MAX_TICKS


def clamp_q(q: float) -> float:
    """Normalised inventory clamped to [-1, 1]; NaN is treated as flat."""
    if math.isnan(q):
        return 0.0
    return -1.0 if q < -1.0 else (1.0 if q > 1.0 else q)


def reservation_ticks(fair_ticks: float, q: float, skew_ticks: float) -> float:
    """Reservation price: the fair price shifted against the inventory, ``fair − q·skew``."""
    return fair_ticks - clamp_q(q) * skew_ticks


def as_coefficients(
    gamma: float, sigma_ticks: float, k_per_tick: float, horizon_s: float
) -> tuple[float, float]:
    """Constant-horizon AS (2008): (half-spread, skew per unit q) in ticks.

    skew = γ·σ²·τ (the reservation shift at q = 1);
    half-spread = δ/2 with δ = γ·σ²·τ + (2/γ)·ln(1 + γ/k).
    """
    g = _positive(gamma)
    k = _positive(k_per_tick)
    s = _non_negative(sigma_ticks)
    tau = _non_negative(horizon_s)
    skew = _bounded(g * s * s * tau)
    # (2/γ)·ln(1+γ/k) → 2/k as γ → 0; log1p keeps that limit exact for tiny γ/k.
    liquidity = _bounded(2.0 / g * math.log1p(g / k))
    return _bounded(0.5 * (skew + liquidity)), skew


def avellaneda_stoikov(
    fair_ticks: float,
    q: float,
    gamma: float,
    sigma_ticks: float,
    k_per_tick: float,
    horizon_s: float,
    skew_factor: float = 1.0,
) -> ModelQuote:
    """Constant-horizon AS: ``r = fair − q·γσ²τ``, ``half = (γσ²τ + (2/γ)ln(1+γ/k))/2``.

    `skew_factor` scales only the inventory shift, never the spread.
    """
    half, skew = as_coefficients(gamma, sigma_ticks, k_per_tick, horizon_s)
    skew = _bounded(skew * _non_negative(skew_factor))
    return ModelQuote(reservation_ticks(fair_ticks, q, skew), half, skew)


def glft_coefficients(
    gamma: float, sigma_ticks: float, k_per_tick: float, a_per_s: float
) -> tuple[float, float]:
    """Guéant (2017) eqs. (4.6)/(4.7), Δ = 1, ξ = γ: (half-spread, skew per unit q) in ticks.

    c1 = (1/γ)·ln(1 + γ/k); c2 = sqrt(γ/(2Ak)·(1 + γ/k)^(k/γ + 1));
    half-spread = c1 + σ·c2/2; skew = σ·c2.
    """
    g = _positive(gamma)
    k = _positive(k_per_tick)
    a = _positive(a_per_s)
    s = _non_negative(sigma_ticks)
    ratio = g / k
    c1 = math.log1p(ratio) / g
    # (1 + γ/k)^(k/γ + 1) computed in log space: it tends to e as γ/k → 0 and grows like γ/k
    # for large γ/k; the exponent is capped so exp() cannot overflow.
    log_c2_sq = math.log(g) - math.log(2.0 * a * k) + (1.0 / ratio + 1.0) * math.log1p(ratio)
    c2 = math.exp(min(0.5 * log_c2_sq, _MAX_EXP))
    skew = _bounded(s * c2)
    return _bounded(c1 + 0.5 * skew), skew


def glft(
    fair_ticks: float,
    q: float,
    gamma: float,
    sigma_ticks: float,
    k_per_tick: float,
    a_per_s: float,
    skew_factor: float = 1.0,
) -> ModelQuote:
    """GLFT closed form: ``bid = fair − (half + skew·q)``, ``ask = fair + (half − skew·q)``.

    `skew_factor` scales only the inventory shift, never the spread.
    """
    half, skew = glft_coefficients(gamma, sigma_ticks, k_per_tick, a_per_s)
    skew = _bounded(skew * _non_negative(skew_factor))
    return ModelQuote(reservation_ticks(fair_ticks, q, skew), half, skew)
