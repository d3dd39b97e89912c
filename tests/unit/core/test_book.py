from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.events import BookDelta, BookSnapshot, Ticker


def snap(bids: list[tuple[int, int]], asks: list[tuple[int, int]], seq: int = 1) -> BookSnapshot:
    return BookSnapshot(
        ts_ns=0, local_ns=0, symbol="X", bids=tuple(bids), asks=tuple(asks), sequence=seq
    )


def delta(bids=(), asks=(), seq: int = 0, prev: int | None = None) -> BookDelta:  # type: ignore[no-untyped-def]
    return BookDelta(
        ts_ns=0,
        local_ns=0,
        symbol="X",
        bids=tuple(bids),
        asks=tuple(asks),
        sequence=seq,
        prev_sequence=prev,
    )


def test_snapshot_then_deltas_track_best_prices_and_mid() -> None:
    book = OrderBook()
    book.apply_snapshot(snap([(100, 5), (99, 3)], [(101, 4), (103, 1)]))
    assert (book.best_bid, book.best_ask, book.mid_ticks()) == (100, 101, 100.5)
    assert (
        book.apply_delta(delta(bids=[(100, 0)], asks=[(101, 0), (102, 7)], seq=2, prev=1))
        is ApplyResult.APPLIED
    )
    assert (book.best_bid, book.best_ask) == (99, 102)
    assert book.depth_lots(2) == (3, 8)


def test_gap_is_reported_and_book_invalid_until_snapshot() -> None:
    book = OrderBook()
    book.apply_snapshot(snap([(100, 5)], [(101, 4)], seq=10))
    assert book.apply_delta(delta(bids=[(100, 1)], seq=12, prev=11)) is ApplyResult.GAP
    assert not book.valid and not book.ready and book.gap == (10, 11)
    assert book.bid_lots_at(100) == 5  # the gapped delta was not applied
    assert book.apply_delta(delta(bids=[(100, 2)], seq=13, prev=12)) is ApplyResult.NO_SNAPSHOT
    book.apply_snapshot(snap([(100, 9)], [(101, 4)], seq=20))
    assert book.ready and book.gap is None


def test_duplicate_and_decreasing_sequences() -> None:
    book = OrderBook()
    book.apply_snapshot(snap([(100, 5)], [(101, 4)], seq=10))
    assert book.apply_delta(delta(bids=[(100, 1)], seq=11)) is ApplyResult.APPLIED
    assert book.apply_delta(delta(bids=[(100, 7)], seq=11)) is ApplyResult.DUPLICATE
    assert book.bid_lots_at(100) == 1
    assert book.apply_delta(delta(bids=[(100, 7)], seq=9)) is ApplyResult.GAP


def test_ticker_replaces_book_with_top_of_book() -> None:
    book = OrderBook()
    book.apply_snapshot(snap([(100, 5), (99, 1)], [(101, 4)]))
    book.apply_ticker(
        Ticker(ts_ns=0, local_ns=0, symbol="X", bid_ticks=98, bid_lots=2, ask_ticks=99, ask_lots=3)
    )
    assert (book.best_bid, book.best_ask, len(book.bids)) == (98, 99, 1)


levels = st.dictionaries(st.integers(1, 400), st.integers(0, 50), max_size=60)


@given(
    levels,
    levels,
    st.lists(st.tuples(st.booleans(), st.integers(1, 400), st.integers(0, 50)), max_size=200),
)
def test_best_prices_always_match_a_full_scan(
    bids: dict[int, int], asks: dict[int, int], updates: list[tuple[bool, int, int]]
) -> None:
    book = OrderBook()
    book.apply_snapshot(snap(list(bids.items()), list(asks.items())))
    for is_bid, price, lots in updates:
        book.apply_delta(
            delta(bids=[(price, lots)] if is_bid else [], asks=[] if is_bid else [(price, lots)])
        )
        assert book.best_bid == max((p for p, q in book.bids.items() if q > 0), default=0)
        assert book.best_ask == min((p for p, q in book.asks.items() if q > 0), default=0)
        assert all(q > 0 for q in book.bids.values()) and all(q > 0 for q in book.asks.values())
