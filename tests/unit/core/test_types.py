from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grvtmm.core.types import Instrument, InstrumentError, Side, normalize_symbol

TICKS = ["0.1", "0.01", "0.001", "0.05", "0.25", "0.0001", "1", "5", "0.000001"]
STEPS = ["0.001", "0.01", "0.1", "1", "10", "0.0001"]


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    tick = Decimal(draw(st.sampled_from(TICKS)))
    step = Decimal(draw(st.sampled_from(STEPS)))
    min_mult = draw(st.integers(1, 20))
    min_notional = Decimal(draw(st.sampled_from(["0", "1", "5", "10", "100"])))
    return Instrument("X_USDT_Perp", tick, step, step * min_mult, min_notional, 9)


@given(instruments(), st.floats(1e-3, 1e6, allow_nan=False))
def test_bid_rounds_down_and_ask_rounds_up(inst: Instrument, price: float) -> None:
    bid = inst.price_to_ticks(price, Side.BUY)
    ask = inst.price_to_ticks(price, Side.SELL)
    tick = float(inst.tick_size)
    assert bid * tick <= price * (1 + 1e-12) + 1e-12
    assert ask * tick >= price * (1 - 1e-12) - 1e-12
    assert 0 <= ask - bid <= 1


@given(instruments(), st.integers(1, 10**8))
def test_exact_tick_prices_round_trip(inst: Instrument, ticks: int) -> None:
    price = float(inst.ticks_to_price(ticks))
    assume(math.isfinite(price))
    assert inst.price_to_ticks(price, Side.BUY) == ticks
    assert inst.price_to_ticks(price, Side.SELL) == ticks
    text = inst.price_str(ticks)
    assert "e" not in text.lower()
    assert Decimal(text) == inst.tick_size * ticks
    assert inst.parse_price_ticks(text) == ticks


@given(instruments(), st.floats(1e-6, 1e4), st.integers(1, 10**7))
def test_opening_lots_meet_venue_minimums(inst: Instrument, size: float, price_ticks: int) -> None:
    result = inst.opening_lots(size, price_ticks)
    assert result.ok
    assert result.lots >= inst.min_lots
    notional = inst.tick_size * price_ticks * inst.size_step * result.lots
    assert notional >= inst.min_notional
    assert Decimal(inst.size_str(result.lots)) % inst.size_step == 0


@given(instruments(), st.floats(1e-6, 1e4), st.integers(1, 10**7), st.integers(1, 50))
def test_opening_lots_refused_when_minimum_exceeds_limit(
    inst: Instrument, size: float, price_ticks: int, max_lots: int
) -> None:
    result = inst.opening_lots(size, price_ticks, max_lots=max_lots)
    if result.ok:
        assert inst.min_lots_at(price_ticks) <= result.lots <= max_lots
    else:
        assert result.reason == "venue_minimum_exceeds_limit"
        assert inst.min_lots_at(price_ticks) > max_lots


@given(instruments(), st.floats(0, 1e5))
def test_reduce_only_sizes_round_down(inst: Instrument, size: float) -> None:
    lots = inst.floor_lots(size)
    assert lots * float(inst.size_step) <= size * (1 + 1e-12) + 1e-12
    assert (lots + 1) * float(inst.size_step) > size * (1 - 1e-9)


def test_closing_lots_reports_dust_below_min_size() -> None:
    inst = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.05"))
    assert inst.closing_lots(0).reason == "flat"
    assert inst.closing_lots(3).reason == "dust"
    assert inst.closing_lots(-4).reason == "dust"
    assert inst.closing_lots(-5).lots == 5
    assert inst.is_dust(4) and not inst.is_dust(5) and not inst.is_dust(0)


def test_price_off_grid_is_refused() -> None:
    inst = Instrument("BNB_USDT_Perp", Decimal("0.05"), Decimal("0.01"), Decimal("0.01"))
    with pytest.raises(InstrumentError, match="not a multiple of tick"):
        inst.parse_price_ticks("600.02")
    assert inst.parse_price_ticks("600.05") == 12001


def test_invalid_constraints_are_refused() -> None:
    with pytest.raises(InstrumentError, match="tick_size"):
        Instrument("X", Decimal(0), Decimal("0.1"), Decimal("0.1"))
    with pytest.raises(InstrumentError, match="size_step"):
        Instrument("X", Decimal("0.1"), Decimal("-1"), Decimal("0.1"))


def test_scaled_size_is_exact() -> None:
    inst = Instrument(
        "BTC_USDT_Perp", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), base_decimals=9
    )
    assert inst.scaled_size(2) == 2_000_000
    assert inst.size_str(1234) == "1.234"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BNB-PERP", "BNB_USDT_Perp"),
        ("bnb_usdt_perp", "BNB_USDT_Perp"),
        ("BNB_USDT_Perp", "BNB_USDT_Perp"),
        ("xrp-usdt-PERP", "XRP_USDT_Perp"),
        ("SUI_USDT_PERP", "SUI_USDT_Perp"),
        ("HYPE_USDT", "HYPE_USDT_Perp"),
    ],
)
def test_symbols_normalise_to_grvt_form(raw: str, expected: str) -> None:
    assert normalize_symbol(raw) == expected
