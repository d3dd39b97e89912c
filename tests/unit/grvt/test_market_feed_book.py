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
from grvtmm.venues.grvt.feeds import BOOK, MINI, MarketFeed

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


def _book_text(**fields: Any) -> bytes:
    body: dict[str, Any] = {
        "stream": BOOK,
        "selector": f"{INST.symbol}@50",
        "sequence_number": str(FIRST + 1),
        "prev_sequence_number": str(FIRST),
        "feed": {"event_time": "1", "bids": [], "asks": [{"price": "600.02", "size": "1"}]},
    }
    body.update(fields)
    return orjson.dumps(body)


# Messages naming the book stream that the typed decoder must refuse or handle exactly as the
# generic decoder does: after a snapshot and one good delta, each is followed by a good delta so
# that the recovery is compared too.
ODD_MESSAGES: dict[str, bytes] = {
    "float price": _book_text(
        feed={"event_time": "1", "bids": [{"price": 600.0, "size": "1"}], "asks": []}
    ),
    "level without size": _book_text(feed={"bids": [{"price": "600.00"}], "asks": []}),
    "no feed": _book_text(feed=None),
    "feed not an object": _book_text(feed=[1, 2]),
    "null sequence": _book_text(sequence_number=None),
    "empty sequence": _book_text(sequence_number=""),
    "word sequence": _book_text(sequence_number="ten"),
    "sequence as number": _book_text(sequence_number=FIRST + 1, prev_sequence_number=FIRST),
    "bad prev": _book_text(sequence_number=str(FIRST + 3), prev_sequence_number="x"),
    "off-grid price": _book_text(
        feed={"event_time": "1", "bids": [{"price": "600.005", "size": "1"}], "asks": []}
    ),
    "bad event time": _book_text(feed={"event_time": "soon", "bids": [], "asks": []}),
    "gap": _book_text(sequence_number=str(FIRST + 9), prev_sequence_number=str(FIRST + 8)),
    "duplicate": STREAM[1],
    "other stream, book selector": _book_text(stream=MINI, selector=BOOK),
    "array": orjson.dumps([BOOK, 1]),
    "subscribe answer": orjson.dumps({"jsonrpc": "2.0", "id": 99, "result": {"stream": BOOK}}),
    "not json": b'{"stream": "v1.book.d", "sequence_number": "10',
}


def _run(feed: MarketFeed, messages: list[bytes], as_text: bool) -> list[str]:
    outcomes = []
    for raw in messages:
        try:
            feed.stream._receive(raw.decode() if as_text else raw)
            outcomes.append("ok")
        except Exception as exc:  # the connection loop counts it and reconnects
            outcomes.append(type(exc).__name__)
    return outcomes


@pytest.mark.anyio
@pytest.mark.parametrize("as_text", [True, False], ids=["text", "bytes"])
@pytest.mark.parametrize("name", list(ODD_MESSAGES))
async def test_typed_book_path_matches_the_generic_path(name: str, as_text: bool) -> None:
    messages = [STREAM[0], STREAM[1], ODD_MESSAGES[name], STREAM[2]]
    typed, typed_events, _ = subscribed_feed()
    generic, generic_events, _ = subscribed_feed()
    generic.stream._on_raw = None  # every message decoded into dicts
    assert _run(typed, messages, as_text) == _run(generic, messages, as_text)
    assert typed_events == generic_events
    assert typed.stream.stats == generic.stream.stats
    assert (typed.parse_errors, typed._book_seq) == (generic.parse_errors, generic._book_seq)
    assert typed.stream._tracker.check(KEY, FIRST + 3) is generic.stream._tracker.check(
        KEY, FIRST + 3
    )


def test_book_frames_take_the_typed_path_and_others_do_not() -> None:
    feed, events, _ = subscribed_feed()
    assert feed._raw(STREAM[0].decode(), 1) and feed._raw(STREAM[1], 2)
    assert [type(e) for e in events] == [BookSnapshot, BookDelta]
    mini = {"stream": MINI, "selector": f"{INST.symbol}@0", "sequence_number": "1", "feed": {}}
    assert not feed._raw(orjson.dumps(mini).decode(), 3)
    for refused in ("float price", "no feed", "word sequence", "array", "not json"):
        assert not feed._raw(ODD_MESSAGES[refused], 4), refused
    assert len(events) == 2 and feed.stream.stats.frames == 2
