"""The engine when its market feed breaks: quotes come off at once and return with a snapshot."""

from __future__ import annotations

from decimal import Decimal

from grvtmm.core.commands import CancelAll, CancelOrder, Command, PlaceOrder
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    EngineMode,
    OrderAccepted,
    OrderCanceled,
    PauseRequested,
    QuoteUpdated,
    ReconcileSnapshot,
    StartRequested,
    StopRequested,
    Ticker,
    Timer,
    VenueStatus,
)
from grvtmm.core.types import FeeSchedule, Instrument, Side
from grvtmm.engine.engine import Engine
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig

SYMBOL = "BNB_USDT_Perp"
BNB = Instrument(SYMBOL, Decimal("0.01"), Decimal("0.01"), Decimal("0.01"), Decimal("1"))
FEES = FeeSchedule()
MS = 1_000_000


class Feed:
    """Drives an engine event by event on a shared clock; book sequences chain by default."""

    def __init__(self) -> None:
        config = StrategyConfig(min_order_age_s=0.0)
        self.engine = Engine(
            instrument=BNB,
            config=config,
            strategy_factory=lambda cfg: build_strategy(cfg, BNB, FEES),
            fees=FEES,
        )
        self.now = 1_000 * MS
        self.sequence = 0

    def tick(self) -> int:
        self.now += MS
        return self.now

    def snapshot(self, bid: int = 60_000, ask: int = 60_002) -> list[Command]:
        self.sequence += 1
        t = self.tick()
        levels = range(5)
        return self.engine.on_event(
            BookSnapshot(
                ts_ns=t,
                local_ns=t,
                symbol=SYMBOL,
                bids=tuple((bid - i, 40) for i in levels),
                asks=tuple((ask + i, 40) for i in levels),
                sequence=self.sequence,
            )
        )

    def delta(self, *, skip: bool = False, bid: int = 60_000) -> list[Command]:
        prev = self.sequence + (1 if skip else 0)
        self.sequence = prev + 1
        t = self.tick()
        return self.engine.on_event(
            BookDelta(
                ts_ns=t,
                local_ns=t,
                symbol=SYMBOL,
                bids=((bid, 41),),
                asks=(),
                sequence=self.sequence,
                prev_sequence=prev,
            )
        )

    def event(self, kind: type, **fields: object) -> list[Command]:
        t = self.tick()
        return self.engine.on_event(kind(ts_ns=t, local_ns=t, **fields))

    def running(self) -> list[PlaceOrder]:
        """Start a session on a fresh book; the opening quotes, acknowledged."""
        self.snapshot()
        self.event(StartRequested)
        cmds = self.event(
            ReconcileSnapshot,
            symbol=SYMBOL,
            open_orders=(),
            position_lots=0,
            equity=1_000.0,
            free_margin=1_000.0,
        )
        assert self.engine.mode is EngineMode.RUNNING
        places = [c for c in cmds if isinstance(c, PlaceOrder)]
        assert len(places) == 2
        for place in places:
            self.event(OrderAccepted, client_order_id=place.client_order_id)
        return places


def cancelled(cmds: list[Command]) -> set[int]:
    return {c.client_order_id for c in cmds if isinstance(c, CancelOrder)}


def test_a_gap_cancels_every_resting_quote_in_the_same_event() -> None:
    feed = Feed()
    quotes = feed.running()
    cmds = feed.delta(skip=True)
    assert all(isinstance(c, CancelOrder) and c.reason == "book_gap" for c in cmds)
    assert cancelled(cmds) == {q.client_order_id for q in quotes}
    notices = [n for n in feed.engine.take_notices() if isinstance(n, QuoteUpdated)]
    assert notices[-1].reason == "book_gap" and notices[-1].bid_lots == notices[-1].ask_lots == 0
    # deltas of the broken chain and timers neither place nor cancel again
    assert feed.delta() == [] and feed.event(Timer) == []
    assert feed.engine.mode is EngineMode.RUNNING
    # a snapshot makes the book valid again: both sides are quoted
    places = [c for c in feed.snapshot() if isinstance(c, PlaceOrder)]
    assert len(places) == 2


def test_a_quote_acknowledged_after_the_gap_is_cancelled_on_its_ack() -> None:
    feed = Feed()
    feed.running()
    moved = [c for c in feed.snapshot(60_100, 60_102) if isinstance(c, PlaceOrder)]
    assert len(moved) == 2, "the market moved up: both quotes are replaced"
    # the replacements are still in flight: the gap cannot cancel them yet
    assert cancelled(feed.delta(skip=True)) == set()
    for place in moved:
        cmds = feed.event(OrderAccepted, client_order_id=place.client_order_id)
        assert cmds == [CancelOrder(place.client_order_id, SYMBOL, "book_invalid", ts_ns=feed.now)]


def test_a_market_disconnect_cancels_quotes_and_a_reconnect_waits_for_the_snapshot() -> None:
    feed = Feed()
    quotes = feed.running()
    cmds = feed.event(VenueStatus, connected=False, detail="market closed")
    assert cancelled(cmds) == {q.client_order_id for q in quotes}
    assert all(c.reason == "market_disconnected" for c in cmds if isinstance(c, CancelOrder))
    assert feed.event(VenueStatus, connected=True, detail="market open") == []
    assert feed.event(Timer) == []
    assert len([c for c in feed.snapshot() if isinstance(c, PlaceOrder)]) == 2


def test_tickers_do_not_revive_a_broken_depth_book() -> None:
    """While the venue has the depth stream (book_ok) a ticker does not stand in for it; in
    ticker-only mode (book_ok false) it does."""
    feed = Feed()
    feed.running()
    feed.delta(skip=True)
    top = {"symbol": SYMBOL, "bid_ticks": 60_000, "bid_lots": 5, "ask_ticks": 60_002}
    assert feed.event(Ticker, ask_lots=5, **top) == []
    assert not feed.engine.book.valid
    feed.event(VenueStatus, connected=True, book_ok=False, detail="book stream refused")
    places = [c for c in feed.event(Ticker, ask_lots=5, **top) if isinstance(c, PlaceOrder)]
    assert len(places) == 2 and feed.engine.book.valid


def test_a_valid_but_crossed_book_holds_the_quotes() -> None:
    feed = Feed()
    feed.running()
    feed.engine.take_notices()
    # the best bid moves through the ask: the book is valid but not ready
    assert cancelled(feed.delta(bid=60_003)) == set()
    assert feed.engine.book.valid and not feed.engine.book.ready
    assert cancelled(feed.event(Timer)) == set()


def test_a_gap_while_paused_sends_nothing_more() -> None:
    feed = Feed()
    feed.running()
    assert any(isinstance(c, CancelAll) for c in feed.event(PauseRequested))
    assert feed.delta(skip=True) == []
    assert feed.event(VenueStatus, connected=False) == []


def long_and_stopped_in_an_outage(feed: Feed, rest_bid: int | None, age_ms: int = 0) -> PlaceOrder:
    """Long 1 BNB at 60_000, the market stream drops, the price falls to `rest_bid` (seen only
    over REST, `age_ms` before the close is priced), the operator stops: the close order."""
    feed.snapshot()
    feed.event(StartRequested)
    quotes = feed.event(
        ReconcileSnapshot, symbol=SYMBOL, open_orders=(), position_lots=100,
        equity=1_000.0, free_margin=1_000.0,
    )  # fmt: skip
    for quote in quotes:
        if isinstance(quote, PlaceOrder):
            feed.event(OrderAccepted, client_order_id=quote.client_order_id)
    for cancel in feed.event(VenueStatus, connected=False, detail="market closed"):
        if isinstance(cancel, CancelOrder):
            feed.event(OrderCanceled, client_order_id=cancel.client_order_id, reason="canceled")
    if rest_bid is not None:
        feed.event(
            Ticker, symbol=SYMBOL, bid_ticks=rest_bid, bid_lots=10, ask_ticks=rest_bid + 2,
            ask_lots=10, source="rest",
        )  # fmt: skip
    feed.now += age_ms * MS
    stop = feed.event(StopRequested, reason="operator")
    closes = [c for c in stop if isinstance(c, PlaceOrder) and c.reduce_only]
    assert len(closes) == 1 and closes[0].side is Side.SELL
    return closes[0]


def test_a_flatten_in_a_market_outage_prices_from_the_rest_ticker() -> None:
    """The book's last bid (60_000) is stale; the REST ticker says 59_000: the close goes out
    below 59_000, where it can fill, not below the stale price."""
    stale = long_and_stopped_in_an_outage(Feed(), rest_bid=None)
    fresh = long_and_stopped_in_an_outage(Feed(), rest_bid=59_000)
    assert 59_000 < stale.price_ticks < 60_000
    assert 58_000 < fresh.price_ticks < 59_000
    # a REST ticker older than ten seconds is not trusted: the book's last prices again
    old = long_and_stopped_in_an_outage(Feed(), rest_bid=59_000, age_ms=11_000)
    assert old.price_ticks == stale.price_ticks


def test_rest_tickers_never_make_a_quote() -> None:
    feed = Feed()
    feed.running()
    feed.event(VenueStatus, connected=False, detail="market closed")
    top = {"symbol": SYMBOL, "bid_ticks": 60_000, "bid_lots": 5, "ask_ticks": 60_002}
    assert feed.event(Ticker, ask_lots=5, source="rest", **top) == []
    assert feed.event(Timer) == [] and not feed.engine.book.valid
