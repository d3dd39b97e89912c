"""Received book.d messages (text or bytes) → the feed's events, whichever decoder runs."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.clock import SimClock
from grvtmm.core.events import BookDelta, BookSnapshot, Event, VenueError
from grvtmm.core.types import Instrument
from grvtmm.venues.grvt import parse
from grvtmm.venues.grvt.feeds import BOOK, MarketFeed

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
KEY = (BOOK, INST.symbol)
FIRST = 1000


def frame(seq: int, prev: int, bids: Any, asks: Any, price: str | None = None) -> bytes:
    def level(p: int, q: int) -> dict[str, Any]:
        return {"price": price or INST.price_str(p), "size": INST.size_str(q), "num_orders": 2}

    return orjson.dumps(
        {
            "stream": BOOK,
            "selector": f"{INST.symbol}@50",
            "sequence_number": str(seq),
            "feed": {
                "event_time": str(1_732_400_000_000_000_000 + seq),
                "instrument": INST.symbol,
                "bids": [level(p, q) for p, q in bids],
                "asks": [level(p, q) for p, q in asks],
            },
            "prev_sequence_number": str(prev),
        }
    )


def subscribed_feed() -> tuple[MarketFeed, list[Event], SimClock]:
    events: list[Event] = []
    clock = SimClock(5)
    feed = MarketFeed(
        "ws://127.0.0.1:9", parse.Quantizer(INST), clock=clock, rng=random.Random(1),
        emit=events.append,
    )  # fmt: skip
    feed.stream._tracker.expect(KEY)
    feed.stream._tracker.acked(KEY, FIRST)
    return feed, events, clock


STREAM = [
    frame(0, 0, [(60000, 5), (59999, 7)], [(60001, 3), (60003, 9)]),
    frame(FIRST, FIRST - 1, [(60000, 0), (59998, 2)], [(60001, 4)]),
    frame(FIRST + 1, FIRST, [], [(60001, 0), (60002, 1)]),
    frame(FIRST + 1, FIRST, [(50000, 1)], []),  # duplicate: dropped
    frame(FIRST + 2, FIRST + 1, [(59999, 0)], [(60002, 0)]),
]


@pytest.mark.parametrize("as_text", [True, False], ids=["text", "bytes"])
def test_book_messages_become_the_dict_parsers_events(as_text: bool) -> None:
    feed, events, clock = subscribed_feed()
    for raw in STREAM:
        clock.advance(10)
        feed.stream._receive(raw.decode() if as_text else raw)
    q = parse.Quantizer(INST)
    snap = parse.book_event(orjson.loads(STREAM[0]), q, snapshot=True, local_ns=15)
    expected: list[Event] = [snap]
    prev = 0
    for i in (1, 2, 4):
        delta = parse.book_event(
            orjson.loads(STREAM[i]),
            q,
            snapshot=False,
            local_ns=5 + 10 * (i + 1),
            prev_sequence=prev,
        )
        prev = delta.sequence
        expected.append(delta)
    assert events == expected
    book = OrderBook(INST.symbol)
    for ev in events:
        book.apply_snapshot(ev) if isinstance(ev, BookSnapshot) else book.apply_delta(ev)  # type: ignore[arg-type]
    assert book.bids == {59998: 2} and book.asks == {60003: 9}
    assert (book.best_bid, book.best_ask, book.sequence) == (59998, 60003, FIRST + 2)
    assert feed.stream.stats.duplicates == 1
    assert feed.stream.stats.last_frame_ns[KEY] == 55


@pytest.mark.anyio
async def test_off_grid_book_message_is_reported_and_the_book_restarts() -> None:
    feed, events, _ = subscribed_feed()
    feed.stream._receive(STREAM[0])
    snapshot = events[-1]
    assert isinstance(snapshot, BookSnapshot)
    feed.stream._receive(frame(FIRST, FIRST - 1, [(1, 1)], [], price="600.005"))
    assert feed.parse_errors == 1
    error, broken = events[-2:]
    assert isinstance(error, VenueError) and "600.005" in error.detail
    # the engine's book is told that the chain broke, so it waits for a fresh snapshot
    book = OrderBook(INST.symbol)
    book.apply_snapshot(snapshot)
    assert isinstance(broken, BookDelta) and book.apply_delta(broken) is ApplyResult.GAP
    # the deltas after the unreadable one are dropped until the book is subscribed again
    feed.stream._receive(frame(FIRST + 1, FIRST, [(59990, 1)], []))
    assert events[-1] is broken and feed.stream.stats.stale == 1


def test_subscribe_answer_naming_the_book_stream_is_an_answer() -> None:
    feed, events, _ = subscribed_feed()
    stream = feed.stream
    stream._tracker.expect(KEY)  # a re-subscription in flight: frames are stale until acked
    stream._pending[7] = ("subscribe", KEY)
    answer = orjson.loads((FIXTURES / "subscribe_book_d.json").read_bytes())
    answer["id"] = 7
    stream._receive(frame(FIRST + 5, FIRST + 4, [(60000, 1)], []))
    assert events == [] and stream.stats.stale == 1
    stream._receive(orjson.dumps(answer).decode())
    assert 7 not in stream._pending
    stream._receive(STREAM[0].decode())
    assert len(events) == 1 and isinstance(events[0], BookSnapshot)
    stream._receive(frame(2813, 2812, [(60000, 1)], []))  # the answer's first_sequence_number
    assert isinstance(events[-1], BookDelta) and events[-1].sequence == 2813
