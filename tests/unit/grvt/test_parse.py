"""Parsers on fixture files shaped like GRVT's documented payloads."""

from __future__ import annotations

import decimal
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grvtmm.core.events import BookDelta, BookSnapshot
from grvtmm.core.types import Side
from grvtmm.venues.grvt import parse
from grvtmm.venues.grvt.errors import InstrumentConstraintsMissing

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "grvt"
CID = 9223372036854775813


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def bnb() -> parse.Quantizer:
    return parse.Quantizer(parse.parse_instrument(load("all_instruments.json")["result"][0]))


def test_instrument_constraints_come_from_the_listing() -> None:
    items = load("all_instruments.json")["result"]
    inst = parse.parse_instrument(items[0])
    assert inst.symbol == "BNB_USDT_Perp"
    assert inst.tick_size == Decimal("0.01")
    assert inst.size_step == inst.min_size == Decimal("0.01")
    assert inst.min_notional == Decimal("5.0")
    assert inst.base_decimals == 9
    assert inst.asset_id == "0x030b01"
    xrp = parse.parse_instrument(items[1])
    assert xrp.base_decimals == 9  # sent as a string in REST
    assert xrp.size_step == Decimal("1.0")


def test_missing_constraint_is_a_clear_error() -> None:
    item = load("all_instruments.json")["result"][2]
    with pytest.raises(InstrumentConstraintsMissing) as info:
        parse.parse_instrument(item)
    assert info.value.reason == "instrument_constraints_missing"
    assert "min_notional" in str(info.value)
    assert info.value.symbol == "ODD_USDT_Perp"


def test_nonpositive_tick_is_reported_as_missing_constraint() -> None:
    item = dict(load("all_instruments.json")["result"][0], tick_size="0")
    with pytest.raises(InstrumentConstraintsMissing):
        parse.parse_instrument(item)


def test_book_snapshot_and_delta_in_ticks_and_lots() -> None:
    q = bnb()
    snap = parse.book_event(load("book_d_snapshot.json"), q, snapshot=True, local_ns=7)
    assert isinstance(snap, BookSnapshot)
    assert snap.bids == ((60001, 350), (60000, 120))
    assert snap.asks == ((60002, 225), (60005, 1000))
    assert snap.sequence == 2813
    assert snap.ts_ns == 1732400000000000000
    assert snap.local_ns == 7
    delta = parse.book_event(load("book_d_delta.json"), q, snapshot=False, local_ns=8)
    assert isinstance(delta, BookDelta)
    assert delta.bids == ((60001, 0), (59999, 50))
    assert delta.asks == ((60002, 100),)
    assert (delta.sequence, delta.prev_sequence) == (2814, 2813)


def test_off_grid_price_is_refused_not_rounded() -> None:
    q = bnb()
    frame = load("book_d_delta.json")
    frame["feed"]["bids"][0]["price"] = "600.015"
    with pytest.raises(parse.ParseError):
        parse.book_event(frame, q, snapshot=False, local_ns=0)


def test_mini_ticker_and_trade() -> None:
    q = bnb()
    ticker = parse.ticker_event(load("mini_d.json")["feed"], q, 5)
    assert ticker is not None
    assert (ticker.bid_ticks, ticker.bid_lots, ticker.ask_ticks, ticker.ask_lots) == (
        60001,
        350,
        60002,
        225,
    )
    empty = dict(load("mini_d.json")["feed"], best_ask_price="")
    assert parse.ticker_event(empty, q, 5) is None
    trade = parse.trade_event(load("trade.json")["feed"], q, 5)
    assert (trade.price_ticks, trade.size_lots, trade.aggressor) == (60001, 30, Side.SELL)


def test_create_ack_carries_placeholder_order_id() -> None:
    info = parse.parse_order(load("create_order_response.json")["result"], bnb())
    assert info.state.order_id == "0x00"
    assert info.state.client_order_id == CID
    assert info.state.status == "PENDING"
    assert (info.side, info.price_ticks, info.size_lots) == (Side.BUY, 59950, 50)
    assert info.post_only


def test_state_feed_async_reject() -> None:
    state = parse.state_feed(load("state_feed_rejected.json")["feed"], bnb())
    assert state.status == "REJECTED"
    assert state.reject_reason == "FAIL_POST_ONLY"
    assert state.client_order_id == CID + 1


def test_fill_feed_and_history() -> None:
    q = bnb()
    fill = parse.parse_fill(load("fill_feed.json")["feed"], q)
    assert fill.trade_id == "74150425-2"
    assert (fill.side, fill.price_ticks, fill.size_lots) == (Side.BUY, 59950, 30)
    assert fill.fee == Decimal("-0.000899")
    assert fill.is_maker
    assert fill.client_order_id == CID
    history = load("fill_history.json")
    taker = parse.parse_fill(history["result"][1], q)
    assert not taker.is_maker
    assert taker.side is Side.SELL


def test_position_short_and_entry() -> None:
    lots, entry = parse.position_lots(load("position_feed.json")["feed"], bnb())
    assert lots == -30
    assert entry == pytest.approx(59950.5)


def test_account_summary_fields_and_source() -> None:
    acct = parse.parse_account(load("account_summary.json")["result"])
    assert acct.equity == pytest.approx(512.75)
    assert acct.free_margin == pytest.approx(494.7935)
    assert acct.used_margin == pytest.approx(17.985)
    assert "total_equity" in acct.source and "available_balance" in acct.source


def test_integers_arrive_as_strings_or_numbers() -> None:
    assert parse.int_field("9") == parse.int_field(9) == 9
    with pytest.raises(parse.ParseError):
        parse.int_field(True)
    with pytest.raises(parse.ParseError):
        parse.int_field("1.5")


@given(
    ticks=st.integers(min_value=0, max_value=10**9),
    lots=st.integers(min_value=0, max_value=10**9),
)
def test_quantizer_round_trips_the_instruments_own_strings(ticks: int, lots: int) -> None:
    q = bnb()
    inst = q.instrument
    assert q.ticks(inst.price_str(ticks)) == ticks
    assert q.lots(inst.size_str(lots)) == lots
    assert q.ticks(str(inst.ticks_to_price(ticks))) == ticks


# ---- exact decimal text → units (the integer fast path against Decimal) ---------------------
UNITS = ["0.01", "0.05", "0.5", "1", "1.0", "10", "25", "0.0001", "0.000001", "0.25", "1E+1"]


def reference_units(text: str, unit: Decimal) -> int:
    """What the conversion must give: exact division in a context wide enough for any test."""
    with decimal.localcontext() as ctx:
        ctx.prec = 200
        value = Decimal(text)
        q, r = divmod(value, unit)
        assert r == 0
        return int(q)


@given(
    unit=st.sampled_from(UNITS),
    units=st.integers(min_value=0, max_value=10**15),
    pad=st.integers(min_value=0, max_value=4),
    dot=st.booleans(),
)
def test_on_grid_text_converts_to_exact_units(unit: str, units: int, pad: int, dot: bool) -> None:
    """Plain decimal text on the grid, with or without trailing zeros, gives exactly the count
    of units (no float anywhere: 10^15 units of 0.000001 would not survive a float)."""
    step = Decimal(unit)
    value = step * units
    text = format(value, "f")
    if pad and (dot or "." in text):
        text += ("" if "." in text else ".") + "0" * pad
    grid = parse.Grid(step, "price")
    assert grid.units(text) == units == reference_units(text, step)


@given(
    unit=st.sampled_from(UNITS),
    units=st.integers(min_value=0, max_value=10**12),
    off=st.integers(min_value=1, max_value=99),
)
def test_off_grid_text_raises_the_same_error_as_decimal(unit: str, units: int, off: int) -> None:
    step = Decimal(unit)
    # a value strictly between two grid points, written plainly
    value = step * units + step * off / 100
    text = format(value, "f")
    with pytest.raises(parse.ParseError) as fast:
        parse.Grid(step, "price").units(text)
    assert str(fast.value) == f"price {text} is not a multiple of {step}"


@given(
    text=st.from_regex(r"\A[-+ ]?[0-9]{0,20}(\.[0-9]{0,12})?([eE][-+]?[0-9]{1,2})?[ ]?\Z"),
    unit=st.sampled_from(UNITS),
)
def test_any_text_converts_like_decimal_or_fails_like_it(text: str, unit: str) -> None:
    """Whatever the text, the grid answers what the Decimal conversion answers: the same
    number of units, or a ParseError with the same message."""
    step = Decimal(unit)
    grid = parse.Grid(step, "size")
    try:
        with decimal.localcontext() as ctx:
            ctx.prec = 200
            expected: int | str = parse._exact_units(text, step, "size")
    except parse.ParseError as exc:
        expected = str(exc)
    try:
        got: int | str = grid.units(text)
    except parse.ParseError as exc:
        got = str(exc)
    assert got == expected


def test_grid_refuses_a_unit_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        parse.Grid(Decimal("0"), "price")
    with pytest.raises(ValueError):
        parse.Grid(Decimal("-0.01"), "price")


def test_book_levels_of_the_wrong_shape_are_parse_errors() -> None:
    q = bnb()
    with pytest.raises(parse.ParseError, match="bad book level"):
        q.levels([{"price": "600.01"}])
    with pytest.raises(parse.ParseError):
        q.levels([{"price": 600.01, "size": "1"}])  # a float is not a decimal string
    # a miss after hits converts and remembers the new values
    assert q.levels([{"price": "600.01", "size": "1"}]) == ((60001, 100),)
    assert q.levels([{"price": "600.01", "size": "1"}, {"price": "1", "size": "0"}]) == (
        (60001, 100),
        (100, 0),
    )
    assert q.tick_cache["1"] == 100
