"""SessionStats: the shared summary keeps its shape; a session may open with a position."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grvtmm.core.events import OrderFilled
from grvtmm.core.types import Instrument, Side
from grvtmm.monitor.summary import LiveSession, SessionStats, percentile

INST = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"))

SHARED_KEYS = [
    "fills", "buy_fills", "sell_fills", "maker_fills", "taker_fills", "volume_notional", "fees",
    "rebates", "fee_costs", "pnl_gross", "pnl_net", "wear_bps", "end_position",
    "max_abs_position", "max_abs_inventory_notional", "orders_placed", "cancels", "requotes",
    "requote_reasons", "rejects", "reject_reasons", "warnings", "mode_changes",
    "flatten_results",
]  # fmt: skip


def _fill(side: Side, price: int, lots: int) -> OrderFilled:
    return OrderFilled(ts_ns=0, local_ns=0, client_order_id=1, trade_id="t", symbol=INST.symbol,
                       side=side, price_ticks=price, size_lots=lots, fee=Decimal(0),
                       is_maker=True)  # fmt: skip


def test_the_shared_summary_keys_are_unchanged() -> None:
    assert list(SessionStats(INST).summary(10_000)) == SHARED_KEYS


def test_a_flat_start_behaves_as_before() -> None:
    stats = SessionStats(INST)
    stats.observe(_fill(Side.BUY, 10_000, 5))
    s = stats.summary(10_010)
    assert s["pnl_gross"] == pytest.approx(10 * 0.01 * 0.05)
    assert s["max_abs_position"] == 0.05


def test_an_opening_position_is_valued_from_its_entry() -> None:
    stats = SessionStats(INST, position_lots=-4, entry_ticks=10_000.0)
    assert stats.summary(10_000)["pnl_net"] == 0.0
    assert stats.summary(9_990)["pnl_net"] == pytest.approx(10 * 0.01 * 0.04)
    stats.observe(_fill(Side.BUY, 9_995, 4))
    s = stats.summary(9_900)
    assert s["pnl_net"] == pytest.approx(5 * 0.01 * 0.04)
    assert s["end_position"] == 0.0
    assert s["max_abs_position"] == 0.04
    assert s["max_abs_inventory_notional"] == pytest.approx(4.0)
    assert s["fills"] == 1 and s["volume_notional"] == pytest.approx(99.95 * 0.04)


def test_nearest_rank_percentiles() -> None:
    values = list(range(1, 101))
    assert [percentile(values, q) for q in (0.5, 0.9, 0.99, 1.0)] == [50, 90, 99, 100]
    assert percentile([7], 0.99) == 7
    assert percentile([], 0.5) is None


def test_a_live_session_before_any_start() -> None:
    session = LiveSession(INST)
    assert session.info() == {"id": 0, "start_ns": None, "end_ns": None, "start_reason": ""}
    assert session.runtime_ns(10**18) == 0
    assert session.flatten_info()["active"] is False
