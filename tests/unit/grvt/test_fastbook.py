"""Typed book.d decoding: the same events and the same book as the dict path, exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.types import Instrument
from grvtmm.venues.grvt import fastbook, parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "grvt"
INST = Instrument(
    symbol="BNB_USDT_Perp",
    tick_size=Decimal("0.01"),
    size_step=Decimal("0.01"),
    min_size=Decimal("0.01"),
    min_notional=Decimal("5"),
    base_decimals=9,
    asset_id="0x030b01",
)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def frame(
    seq: int, prev: int | None, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> bytes:
    def level(p: int, q: int) -> dict[str, Any]:
        return {"price": INST.price_str(p), "size": INST.size_str(q), "num_orders": 1}

    msg: dict[str, Any] = {
        "stream": "v1.book.d",
        "selector": "BNB_USDT_Perp@50",
        "sequence_number": str(seq),
        "feed": {
            "event_time": str(1_732_400_000_000_000_000 + seq),
            "instrument": INST.symbol,
            "bids": [level(p, q) for p, q in bids],
            "asks": [level(p, q) for p, q in asks],
        },
    }
    if prev is not None:
        msg["prev_sequence_number"] = str(prev)
    return orjson.dumps(msg)


def test_fixture_frames_give_the_same_events_as_the_dict_parser() -> None:
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    q = parse.Quantizer(INST)
    for name, snapshot in (("book_d_snapshot.json", True), ("book_d_delta.json", False)):
        typed = dec.event(fastbook.decode(raw(name)), snapshot=snapshot, local_ns=7)
        plain = parse.book_event(json.loads(raw(name)), q, snapshot=snapshot, local_ns=7)
        assert typed == plain
    delta = dec.event(fastbook.decode(raw("book_d_delta.json")), snapshot=False, local_ns=0)
    assert delta.bids == ((60001, 0), (59999, 50))
    assert (delta.sequence, delta.prev_sequence) == (2814, 2813)  # type: ignore[union-attr]


def test_numbers_may_arrive_as_json_numbers() -> None:
    text = (
        b'{"stream":"v1.book.d","sequence_number":12,"prev_sequence_number":11,'
        b'"feed":{"event_time":99,"bids":[{"price":600,"size":"1.5"}],"asks":[]}}'
    )
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    ev = dec.event(fastbook.decode(text), snapshot=False, local_ns=0)
    assert (ev.sequence, ev.ts_ns, ev.bids) == (12, 99, ((60000, 150),))
    assert ev.prev_sequence == 11  # type: ignore[union-attr]
    assert dec.delta(fastbook.decode(text), 12, 0, 11) == ev


def test_delta_with_unreadable_event_time_is_a_parse_error() -> None:
    text = b'{"sequence_number":"3","feed":{"event_time":"soon","bids":[],"asks":[]}}'
    with pytest.raises(parse.ParseError):
        fastbook.BookDecoder(parse.Quantizer(INST)).delta(fastbook.decode(text), 3, 0, 2)


@pytest.mark.parametrize(
    "text",
    [
        b"not json",
        b'{"stream":"v1.book.d","sequence_number":"1"}',  # no feed
        b'{"sequence_number":"1","feed":{"bids":[{"price":600.01,"size":"1"}]}}',  # float
        b'{"sequence_number":"1","feed":{"bids":[{"size":"1"}]}}',  # no price
        b'{"sequence_number":"1","feed":{"bids":{"price":"1","size":"1"}}}',  # not a list
    ],
)
def test_malformed_frames_are_parse_errors(text: bytes) -> None:
    with pytest.raises(parse.ParseError):
        fastbook.decode(text)


def test_non_integer_sequence_is_a_parse_error() -> None:
    frame_ = fastbook.decode(b'{"sequence_number":"1.5","feed":{}}')
    with pytest.raises(parse.ParseError):
        fastbook.sequence(frame_)


def test_off_grid_level_is_refused_and_leaves_the_book_invalid() -> None:
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    book = OrderBook(INST.symbol)
    dec.apply(fastbook.decode(frame(0, None, [(60000, 5)], [(60002, 5)])), book, snapshot=True)
    # a new best bid is applied, then the off-grid one arrives: nothing half-applied is usable
    bad = frame(1, 0, [(60001, 4), (59991, 3)], []).replace(b'"599.91"', b'"599.915"')
    assert b"599.915" in bad
    with pytest.raises(parse.ParseError, match="not a multiple"):
        dec.apply(fastbook.decode(bad), book, snapshot=False)
    assert not book.valid
    assert dec.apply(fastbook.decode(frame(2, 1, [], [])), book, snapshot=False) is (
        ApplyResult.NO_SNAPSHOT
    )
    # the failed value was not remembered as anything
    assert "599.915" not in dec.q.tick_cache
    dec.apply(fastbook.decode(frame(0, None, [(60000, 5)], [(60001, 5)])), book, snapshot=True)
    assert book.ready and (book.best_bid, book.best_ask) == (60000, 60001)


# ---- the typed path against the dict path on random streams --------------------------------
PRICES = st.integers(min_value=59_990, max_value=60_010)
LOTS = st.sampled_from([0, 0, 1, 7, 250, 100_000])
SIDE = st.lists(st.tuples(PRICES, LOTS), max_size=8)


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    """A snapshot, then deltas that mostly continue the sequence, with some duplicates, gaps,
    missing predecessors and re-snapshots (sequence 0)."""
    out = [frame(0, None, draw(SIDE), draw(SIDE))]
    seq = 100
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        kind = draw(st.sampled_from(["next"] * 6 + ["dup", "gap", "noprev", "back", "snap"]))
        bids, asks = draw(SIDE), draw(SIDE)
        if kind == "next":
            out.append(frame(seq + 1, seq, bids, asks))
            seq += 1
        elif kind == "dup":
            out.append(frame(seq, seq - 1, bids, asks))
        elif kind == "gap":
            out.append(frame(seq + 3, seq + 2, bids, asks))
        elif kind == "noprev":
            out.append(frame(seq + 1, None, bids, asks))
            seq += 1
        elif kind == "back":
            out.append(frame(seq - 5, None, bids, asks))
        else:
            out.append(frame(0, None, bids, asks))
            seq = 100
    return out


def book_state(book: OrderBook) -> tuple[Any, ...]:
    return (book.bids, book.asks, book.best_bid, book.best_ask, book.sequence, book.valid, book.gap)


@settings(max_examples=300, deadline=None)
@given(stream=streams())
def test_apply_builds_the_same_book_as_events(stream: list[bytes]) -> None:
    """Every frame: `BookDecoder.apply` (fresh caches, so misses and replays happen mid-frame)
    returns the same result and leaves the same book as `parse.book_event` + `OrderBook`."""
    q = parse.Quantizer(INST)
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    by_event, direct = OrderBook(INST.symbol), OrderBook(INST.symbol)
    for text in stream:
        msg = orjson.loads(text)
        snapshot = msg["sequence_number"] == "0"
        ev = parse.book_event(msg, q, snapshot=snapshot, local_ns=0)
        expected = by_event.apply_snapshot(ev) if snapshot else by_event.apply_delta(ev)  # type: ignore[arg-type]
        got = dec.apply(fastbook.decode(text), direct, snapshot=snapshot)
        assert got == expected
        assert book_state(direct) == book_state(by_event)
        typed = dec.event(fastbook.decode(text), snapshot=snapshot, local_ns=0)
        assert typed == ev


@given(stream=streams())
def test_caller_checked_predecessor_overrides_the_frame(stream: list[bytes]) -> None:
    """With `prev_sequence` given (the stream client has checked continuity) the frame's own
    predecessor is not consulted, as in `parse.book_event`; `delta` (the stream's hot path,
    its own caches filled as it goes) builds the same event."""
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    hot = fastbook.BookDecoder(parse.Quantizer(INST))
    q = parse.Quantizer(INST)
    for text in stream[1:]:
        decoded = fastbook.decode(text)
        typed = dec.event(decoded, snapshot=False, local_ns=1, prev_sequence=42)
        plain = parse.book_event(
            orjson.loads(text), q, snapshot=False, local_ns=1, prev_sequence=42
        )
        assert typed == plain
        assert typed.prev_sequence == 42  # type: ignore[union-attr]
        assert hot.delta(decoded, fastbook.sequence(decoded), 1, 42) == plain


@pytest.mark.parametrize("side", ["bids", "asks"])
def test_best_level_deleted_before_a_new_price_in_the_same_frame(side: str) -> None:
    """A never-seen price after the best level's deletion: the conversion of the new price
    happens mid-frame, and the best price must still be the next remaining level."""
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    book = OrderBook(INST.symbol)
    # size 0 is seen (and cached) in the snapshot, so the deletion itself converts nothing
    snap = frame(0, None, [(60000, 5), (59999, 0), (59998, 5)], [(60005, 5), (60007, 5)])
    dec.apply(fastbook.decode(snap), book, snapshot=True)
    if side == "bids":
        delta = frame(1, 0, [(60000, 0), (59990, 1)], [])
    else:
        delta = frame(1, 0, [], [(60005, 0), (60020, 1)])
    assert dec.apply(fastbook.decode(delta), book, snapshot=False) is ApplyResult.APPLIED
    assert (book.best_bid, book.best_ask) == ((59998, 60005) if side == "bids" else (60000, 60007))
    assert book.bids == ({59998: 5, 59990: 1} if side == "bids" else {60000: 5, 59998: 5})
