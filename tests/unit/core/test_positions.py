from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grvtmm.core.positions import PositionLedger
from grvtmm.core.types import Instrument, Side

INST = Instrument("BTC_USDT_Perp", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))


def test_round_trip_realizes_price_difference_minus_fees() -> None:
    ledger = PositionLedger(INST)
    ledger.apply_fill(Side.BUY, 600_000, 10, fee=-0.01)  # 0.01 BTC at 60000.0, rebate
    assert ledger.position_lots == 10
    assert ledger.unrealized(600_010) == pytest.approx(0.01)  # +1 USDT × 0.01 BTC
    realized = ledger.apply_fill(Side.SELL, 600_020, 10, fee=-0.01)
    assert realized == pytest.approx(0.02)
    assert ledger.net_pnl(600_020) == pytest.approx(0.04)
    assert ledger.position_lots == 0


def test_flip_sets_entry_at_flip_price() -> None:
    ledger = PositionLedger(INST)
    ledger.apply_fill(Side.BUY, 1000, 2, 0.0)
    ledger.apply_fill(Side.SELL, 1010, 5, 0.0)
    assert ledger.position_lots == -3
    assert ledger.avg_entry_ticks == 1010


fills = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(900, 1100), st.integers(1, 20)),
    max_size=60,
)


@given(fills, st.integers(900, 1100))
def test_pnl_equals_cash_flow_accounting(trades: list[tuple[Side, int, int]], mark: int) -> None:
    ledger = PositionLedger(INST)
    cash = 0.0
    for side, price, lots in trades:
        ledger.apply_fill(side, price, lots, 0.0)
        cash -= side.value * price * lots
    position = sum(side.value * lots for side, _, lots in trades)
    assert ledger.position_lots == position
    expected = (cash + position * mark) * 0.1 * 0.001
    assert ledger.net_pnl(mark) == pytest.approx(expected, abs=1e-9)
