"""Queue position models: the reference's rules for trades, depth changes and the half-lot fill."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grvtmm.venues.sim.matching import (
    LogProbQueue,
    PowerProbQueue,
    QueueModel,
    QueuePos,
    RiskAverseQueue,
)


def placed(model: QueueModel, level_lots: int) -> QueuePos:
    pos = QueuePos()
    model.new_order(pos, level_lots)
    return pos


# ---- risk averse ----------------------------------------------------------------------------
def test_risk_averse_starts_behind_the_whole_level() -> None:
    assert placed(RiskAverseQueue(), 12).front_lots == 12.0


def test_risk_averse_trades_advance_the_queue() -> None:
    model = RiskAverseQueue()
    pos = placed(model, 10)
    model.trade(pos, 3)
    model.trade(pos, 4)
    assert pos.front_lots == 3.0
    assert not model.is_filled(pos)


def test_risk_averse_depth_decrease_only_caps_the_queue() -> None:
    model = RiskAverseQueue()
    pos = placed(model, 10)
    model.depth(pos, 10, 7)  # a cancel of 3 lots is assumed to be behind us
    assert pos.front_lots == 7.0
    model.depth(pos, 7, 4)
    assert pos.front_lots == 4.0


def test_risk_averse_depth_increase_leaves_queue_alone() -> None:
    model = RiskAverseQueue()
    pos = placed(model, 5)
    model.depth(pos, 5, 50)
    assert pos.front_lots == 5.0


def test_risk_averse_fills_only_after_queue_overrun_by_half_a_lot() -> None:
    model = RiskAverseQueue()
    pos = placed(model, 5)
    model.trade(pos, 5)  # exactly clears the queue: still not our turn
    assert pos.front_lots == 0.0
    assert not model.is_filled(pos)
    model.trade(pos, 1)
    assert model.is_filled(pos)


@pytest.mark.parametrize(
    ("front", "filled"), [(-0.49, False), (-0.5, True), (-0.51, True), (0.0, False)]
)
def test_half_lot_threshold_rounds_half_away_from_zero(front: float, filled: bool) -> None:
    for model in (RiskAverseQueue(), PowerProbQueue(3)):
        pos = QueuePos()
        pos.front_lots = front
        assert model.is_filled(pos) is filled


# ---- probabilistic --------------------------------------------------------------------------
def test_power_prob_splits_decrease_by_relative_position() -> None:
    model = PowerProbQueue(3)
    pos = placed(model, 10)
    pos.front_lots = 6.0  # 6 ahead, 4 behind
    model.depth(pos, 10, 8)
    p_behind = 4**3 / (4**3 + 6**3)
    assert pos.front_lots == pytest.approx(6 - (1 - p_behind) * 2)


def test_power_prob_excess_decrease_spills_into_front() -> None:
    model = PowerProbQueue(3)
    pos = placed(model, 3)
    pos.front_lots = 2.0  # 2 ahead, 1 behind; the whole level disappears
    model.depth(pos, 3, 0)
    p_behind = 1 / (1 + 8)
    expected = 2 - (1 - p_behind) * 3 + min(1 - p_behind * 3, 0.0)
    assert pos.front_lots == pytest.approx(expected)
    assert pos.front_lots < 0  # may go negative; only a trade can fill it


def test_power_prob_does_not_count_a_trade_twice() -> None:
    model = PowerProbQueue(3)
    pos = placed(model, 15)
    pos.front_lots = 10.0
    model.trade(pos, 3)
    model.depth(pos, 15, 12)  # the depth update that the trade caused
    assert pos.front_lots == 7.0
    assert pos.cum_trade_lots == 0.0


def test_power_prob_depth_increase_caps_at_new_size_only() -> None:
    model = PowerProbQueue(2)
    pos = placed(model, 8)
    model.depth(pos, 8, 20)
    assert pos.front_lots == 8.0


def test_power_prob_more_decrease_behind_for_larger_n_when_front_is_small() -> None:
    fronts = []
    for n in (1, 3, 10):
        model = PowerProbQueue(n)
        pos = placed(model, 10)
        pos.front_lots = 2.0
        model.depth(pos, 10, 6)
        fronts.append(pos.front_lots)
    assert fronts[0] < fronts[1] < fronts[2] <= 2.0


def test_prob_zero_over_zero_falls_back_to_new_size() -> None:
    model = PowerProbQueue(3)
    pos = placed(model, 0)
    model.depth(pos, 0, 0)
    assert pos.front_lots == 0.0
    assert math.isnan(model.prob(0.0, 0.0))


def test_prob_infinite_counts_as_one() -> None:
    model = PowerProbQueue(3)
    assert model.prob(-0.4, 0.4) == 1.0


def test_fractional_power_of_negative_front_is_nan_and_recovers() -> None:
    model = PowerProbQueue(2.5)
    assert math.isnan(model.prob(-1.0, 2.0))
    pos = QueuePos()
    pos.front_lots = -1.0
    model.depth(pos, 1, 0)
    assert pos.front_lots == 0.0


def test_log_prob_uses_base_units() -> None:
    model = LogProbQueue(lot_size=0.001)
    assert model.prob(1000.0, 3000.0) == pytest.approx(math.log(4) / (math.log(4) + math.log(2)))


def test_log_prob_front_below_minus_one_unit_is_nan() -> None:
    model = LogProbQueue(lot_size=1.0)
    assert math.isnan(model.f(-2.0))
    assert model.f(-1.0) == -math.inf


@given(
    level=st.integers(0, 10_000),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 500)), max_size=30),
    n=st.sampled_from([1.0, 2.0, 3.0, 0.5]),
)
def test_queue_never_exceeds_level_after_a_depth_change(
    level: int, steps: list[tuple[bool, int]], n: float
) -> None:
    for model in (RiskAverseQueue(), PowerProbQueue(n)):
        pos = placed(model, level)
        size = level
        for is_trade, lots in steps:
            if is_trade:
                model.trade(pos, lots)
                assert pos.front_lots <= size
            else:
                model.depth(pos, size, lots)
                size = lots
                assert pos.front_lots <= size
            assert not math.isnan(pos.front_lots)


@given(level=st.integers(0, 1000), trades=st.lists(st.integers(1, 50), max_size=20))
def test_risk_averse_fill_iff_trades_exceed_queue(level: int, trades: list[int]) -> None:
    model = RiskAverseQueue()
    pos = placed(model, level)
    filled_at = None
    for i, lots in enumerate(trades):
        model.trade(pos, lots)
        if model.is_filled(pos):
            filled_at = i
            break
    cum = 0
    expected = None
    for i, lots in enumerate(trades):
        cum += lots
        if cum > level:
            expected = i
            break
    assert filled_at == expected
