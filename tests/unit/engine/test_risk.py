from __future__ import annotations

import math

from grvtmm.engine.risk import Breaker, RiskLimits, RiskMonitor

S = 1_000_000_000


def test_drawdown_measured_from_session_peak() -> None:
    risk = RiskMonitor(RiskLimits(max_drawdown=0.05))
    risk.reset_session(100.0)
    assert risk.check_account(110.0, 0.0, 20) is None
    assert risk.check_account(104.6, 0.0, 20) is None
    verdict = risk.check_account(104.4, 0.0, 20)
    assert verdict is not None and verdict.breaker is Breaker.DRAWDOWN
    assert math.isclose(verdict.value, (110 - 104.4) / 110)


def test_inventory_ratio_breaker() -> None:
    risk = RiskMonitor(RiskLimits(max_inventory_ratio=0.8))
    risk.reset_session(10.0)
    assert risk.check_account(10.0, 160.0, 20) is None
    verdict = risk.check_account(10.0, 161.0, 20)
    assert verdict is not None and verdict.breaker is Breaker.INVENTORY


def test_unknown_figures_fail_closed() -> None:
    risk = RiskMonitor(RiskLimits())
    risk.reset_session(10.0)
    verdict = risk.check_account(math.nan, 0.0, 20)
    assert verdict is not None and verdict.breaker is Breaker.RISK_UNKNOWN
    verdict = risk.check_account(0.0, 5.0, 20)
    assert verdict is not None and verdict.breaker in (Breaker.DRAWDOWN, Breaker.INVENTORY)


def test_stale_data_and_storms() -> None:
    risk = RiskMonitor(
        RiskLimits(stale_data_ns=5 * S, reject_storm_count=3, reject_storm_window_ns=10 * S)
    )
    assert risk.check_activity(4 * S, 0, True) is None
    stale = risk.check_activity(6 * S, 0, False)
    assert (
        stale is not None and stale.breaker is Breaker.STALE_DATA and "disconnected" in stale.detail
    )
    for t in (1, 2):
        risk.record_reject(t * S)
    assert risk.check_activity(3 * S, 3 * S, True) is None
    risk.record_reject(3 * S)
    storm = risk.check_activity(3 * S, 3 * S, True)
    assert storm is not None and storm.breaker is Breaker.REJECT_STORM
    assert risk.check_activity(12 * S, 12 * S, True) is None  # the window slid past them


def test_post_only_rejects_trip_only_when_nearly_every_order_bounces() -> None:
    risk = RiskMonitor(
        RiskLimits(
            post_only_storm_count=10, post_only_storm_ratio=0.9, reject_storm_window_ns=60 * S
        )
    )
    for i in range(30):
        risk.record_placement(i * S)
        if i % 2 == 0:
            risk.record_reject(i * S, post_only=True)
    assert (
        risk.check_activity(30 * S, 30 * S, True) is None
    )  # half bounce: a fast market, not a storm
    risk = RiskMonitor(
        RiskLimits(
            post_only_storm_count=10, post_only_storm_ratio=0.9, reject_storm_window_ns=60 * S
        )
    )
    for i in range(12):
        risk.record_placement(i * S)
        risk.record_reject(i * S, post_only=True)
    storm = risk.check_activity(12 * S, 12 * S, True)
    assert (
        storm is not None and storm.breaker is Breaker.REJECT_STORM and "post-only" in storm.detail
    )


def test_committed_capital_is_the_inventory_capacity() -> None:
    """100 committed on a 5,000 account at 20x: 0.8 × 100 × 20 = 1,600 of inventory at most."""
    risk = RiskMonitor(RiskLimits(max_inventory_ratio=0.8, capital=100.0))
    risk.reset_session(5_000.0)
    assert risk.check_account(5_000.0, 1_600.0, 20) is None
    verdict = risk.check_account(5_000.0, 1_601.0, 20)
    assert verdict is not None and verdict.breaker is Breaker.INVENTORY
    assert "capital" in verdict.detail
    whole = RiskMonitor(RiskLimits(max_inventory_ratio=0.8))
    whole.reset_session(5_000.0)
    assert whole.check_account(5_000.0, 1_601.0, 20) is None
    # equity below the capital: the equity is the capacity
    poor = RiskMonitor(RiskLimits(max_inventory_ratio=0.8, capital=100.0))
    poor.reset_session(50.0)
    verdict = poor.check_account(50.0, 801.0, 20)
    assert verdict is not None and verdict.breaker is Breaker.INVENTORY


def test_drawdown_is_a_fraction_of_committed_capital() -> None:
    """5 % of a 100 commitment is 5, whatever the account holds; peak tracking is unchanged."""
    risk = RiskMonitor(RiskLimits(max_drawdown=0.05, capital=100.0))
    risk.reset_session(5_000.0)
    assert risk.check_account(5_002.0, 0.0, 20) is None  # new peak 5,002
    assert risk.check_account(4_997.0, 0.0, 20) is None  # 5.0 below the peak: 5 %
    verdict = risk.check_account(4_996.9, 0.0, 20)
    assert verdict is not None and verdict.breaker is Breaker.DRAWDOWN
    assert math.isclose(verdict.value, 5.1 / 100.0)
    # the same loss on the whole account is 0.1 %
    whole = RiskMonitor(RiskLimits(max_drawdown=0.05))
    whole.reset_session(5_002.0)
    assert whole.check_account(4_996.9, 0.0, 20) is None
    # a capital above the peak changes nothing: the peak is the base
    big = RiskMonitor(RiskLimits(max_drawdown=0.05, capital=1e9))
    big.reset_session(110.0)
    assert big.check_account(104.6, 0.0, 20) is None
    verdict = big.check_account(104.4, 0.0, 20)
    assert verdict is not None and math.isclose(verdict.value, (110 - 104.4) / 110)
