"""The engine on the simulated exchange and the synthetic market: the behaviours that matter."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from grvtmm.app import DEMO_START_NS, SimRun, SimRunSettings, build_sim_run, run_demo
from grvtmm.core.book import OrderBook
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.commands import CancelAll, CancelOrder, Command, PlaceOrder
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    Event,
    FlattenDone,
    FlattenProgress,
    HaltRequested,
    ModeChanged,
    OrderRejected,
    QuoteUpdated,
    ReconcileSnapshot,
    StartRequested,
    StopRequested,
    VenueError,
    VenueErrorKind,
    VenueStatus,
)
from grvtmm.core.orders import OrderStatus
from grvtmm.core.types import FeeSchedule, Instrument, Side, TimeInForce
from grvtmm.engine.engine import Engine, EngineSettings
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.synthetic import Regime, SyntheticMarket, SyntheticParams, default_instrument

START = DEMO_START_NS
NO_FEES = FeeSchedule(Decimal(0), Decimal(0))


def start_run(
    config: StrategyConfig,
    market: SyntheticParams,
    *,
    settings: SimRunSettings | None = None,
    instrument: Instrument | None = None,
    seed: int = 3,
) -> tuple[SimRun, SyntheticMarket]:
    inst = instrument or default_instrument()
    run = build_sim_run(inst, config, settings or SimRunSettings(fees=NO_FEES), START)
    run.loop.schedule(StartRequested(ts_ns=START + 1, local_ns=START + 1))
    source = SyntheticMarket(market, inst, seed=seed, start_ns=START)
    return run, source


def of_type(events: list[Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def stop_and_wait(run: SimRun, reason: str = "test stop") -> None:
    now = run.clock.now_ns() + 1
    run.loop.schedule(StopRequested(ts_ns=now, local_ns=now, reason=reason))
    run.loop.run(
        until_ns=now + 300 * NS_PER_S,
        stop_when=lambda: run.engine.mode in (EngineMode.STOPPED, EngineMode.HALTED),
    )


def test_trend_drives_one_sided_then_back_to_two_sided_after_reversion() -> None:
    config = StrategyConfig(
        one_sided_enter=0.15,
        one_sided_exit=0.05,
        max_inventory_ratio=0.9,
        max_drawdown=0.9,
        order_size_fraction=0.03,
    )
    market = SyntheticParams(
        regimes=(Regime(240.0, drift_ticks_per_s=-6.0), Regime(900.0, drift_ticks_per_s=3.0)),
        repeat_regimes=False,
        trade_rate_per_s=4.0,
    )
    run, source = start_run(config, market)
    run.loop.run(source, until_ns=START + 1140 * NS_PER_S)
    quotes = of_type(run.notices, QuoteUpdated)
    sided = [q.one_sided for q in quotes]
    first = next(i for i, s in enumerate(sided) if s)
    assert any(not s for s in sided[first:]), "never returned to two-sided quoting"
    entered = quotes[first]
    # while one-sided, only the reducing side is quoted
    assert (entered.bid_lots == 0) != (entered.ask_lots == 0)
    assert run.engine.mode is EngineMode.RUNNING
    assert not of_type(run.notices, BreakerTripped)


def test_drawdown_breach_halts_and_flattens_to_zero() -> None:
    config = StrategyConfig(
        max_drawdown=0.01, one_sided_enter=0.6, one_sided_exit=0.3, max_inventory_ratio=0.9
    )
    market = SyntheticParams(
        regimes=(Regime(3600.0, drift_ticks_per_s=-10.0),), trade_rate_per_s=4.0
    )
    run, source = start_run(config, market)
    run.loop.run(
        source,
        until_ns=START + 3600 * NS_PER_S,
        stop_when=lambda: run.engine.mode is EngineMode.HALTED,
    )
    trips = of_type(run.notices, BreakerTripped)
    assert [t.breaker for t in trips] == ["drawdown"]
    assert run.engine.mode is EngineMode.HALTED
    done = of_type(run.notices, FlattenDone)
    assert len(done) == 1 and not done[0].dust
    assert run.exchange.position_lots == 0 and run.engine.position_lots == 0
    assert not run.engine.orders.live_list()
    modes = [(m.old, m.new) for m in of_type(run.notices, ModeChanged)]
    assert (EngineMode.RUNNING, EngineMode.HALTING) in modes
    assert modes[-1] == (EngineMode.FLATTENING, EngineMode.HALTED)


def test_flatten_ends_as_dust_when_remainder_is_below_min_size() -> None:
    inst = Instrument(
        "BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.05"), Decimal("5")
    )
    run, source = start_run(StrategyConfig(), SyntheticParams(), instrument=inst)
    run.exchange.set_position(3, 60_000)  # 0.03 BNB left on the venue: below the 0.05 minimum
    run.loop.run(source, until_ns=START + 60 * 1_000_000)  # the reconcile answer is in
    assert run.engine.mode is EngineMode.RUNNING
    assert run.engine.position_lots == 3  # adopted at start
    stop_and_wait(run)
    done = of_type(run.notices, FlattenDone)
    assert len(done) == 1 and done[0].dust and done[0].position_lots == 3
    assert run.engine.mode is EngineMode.STOPPED
    assert run.exchange.position_lots == 3


def test_reject_storm_from_off_grid_prices_trips_the_breaker() -> None:
    # The venue's real tick is 0.05 while the engine believes 0.01: most prices are off-grid.
    engine_inst = default_instrument()
    venue_inst = replace(engine_inst, tick_size=Decimal("0.05"))
    settings = SimRunSettings(
        fees=NO_FEES,
        engine=EngineSettings(reject_storm_count=10, reject_storm_window_ns=60 * NS_PER_S),
        venue_instrument=venue_inst,
    )
    run, source = start_run(StrategyConfig(), SyntheticParams(), settings=settings)
    run.loop.run(
        source,
        until_ns=START + 600 * NS_PER_S,
        stop_when=lambda: run.engine.mode is EngineMode.HALTED,
    )
    rejects = of_type(run.notices, OrderRejected)
    assert len(rejects) >= 10 and {r.code for r in rejects} == {2064}
    assert [t.breaker for t in of_type(run.notices, BreakerTripped)] == ["reject_storm"]
    assert run.engine.mode is EngineMode.HALTED


def test_error_storm_trips_the_breaker() -> None:
    settings = SimRunSettings(fees=NO_FEES, engine=EngineSettings(error_storm_count=5))
    run, source = start_run(StrategyConfig(), SyntheticParams(), settings=settings)
    for i in range(5):
        t = START + (10 + i) * NS_PER_S
        run.loop.schedule(
            VenueError(ts_ns=t, local_ns=t, kind=VenueErrorKind.RETRYABLE, detail="HTTP 503")
        )
    run.loop.run(
        source,
        until_ns=START + 60 * NS_PER_S,
        stop_when=lambda: run.engine.mode is EngineMode.HALTED,
    )
    assert [t.breaker for t in of_type(run.notices, BreakerTripped)] == ["error_storm"]
    assert run.exchange.position_lots == 0


def test_operator_halt_flattens_and_start_begins_a_new_session() -> None:
    run, source = start_run(
        StrategyConfig(order_size_fraction=0.1), SyntheticParams(trade_rate_per_s=6.0)
    )
    run.loop.run(source, until_ns=START + 120 * NS_PER_S)
    t = run.clock.now_ns() + 1
    run.loop.schedule(HaltRequested(ts_ns=t, local_ns=t, reason="operator"))
    run.loop.run(until_ns=t + 60 * NS_PER_S, stop_when=lambda: run.engine.mode is EngineMode.HALTED)
    assert run.engine.mode is EngineMode.HALTED and run.exchange.position_lots == 0
    t = run.clock.now_ns() + 1
    run.loop.schedule(StartRequested(ts_ns=t, local_ns=t))
    run.loop.run(until_ns=t + 30 * NS_PER_S)
    assert run.engine.mode is EngineMode.RUNNING
    assert run.engine.orders.live_list(), "quotes are back on the book after a restart"


def test_same_seed_gives_identical_results() -> None:
    a = run_demo(duration_s=300, speed=None, seed=11)
    b = run_demo(duration_s=300, speed=None, seed=11)
    c = run_demo(duration_s=300, speed=None, seed=12)
    volatile = ("loop_seconds", "events_per_second")
    for summary in (a, b, c):
        for key in volatile:
            summary.pop(key)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a != c
    assert a["fills"] > 0 and a["end_position"] == 0 and a["final_mode"] == "stopped"


def test_post_only_bounces_are_not_retried_in_a_tight_loop_at_zero_latency() -> None:
    settings = SimRunSettings(fees=NO_FEES, entry_latency_ns=0, response_latency_ns=0)
    run, source = start_run(
        StrategyConfig(), SyntheticParams(trade_rate_per_s=4.0), settings=settings
    )
    run.loop.run(source, until_ns=START + 300 * NS_PER_S)
    summary = run.stats.summary(run.engine.mark_ticks())
    assert run.clock.now_ns() >= START + 299 * NS_PER_S  # the run finished its time span
    # at most one bounce per side per cooldown period
    assert summary["rejects"] <= 2 * 300 * NS_PER_S // run.engine.settings.reject_cooldown_ns
    assert summary["fills"] > 0


# ---- breakers that flatten a held position ---------------------------------------------------


class RecordingExchange:
    """The simulated exchange, recording every command the engine sends, in order.

    With `account_figure` set, reconcile answers report that figure as equity and free margin:
    a venue whose account summary cannot be read as a number.
    """

    def __init__(self, inner: SimExchange, account_figure: float | None = None) -> None:
        self.inner = inner
        self.account_figure = account_figure
        self.sent: list[Command] = []

    def submit(self, command: Command, local_ns: int) -> None:
        self.sent.append(command)
        self.inner.submit(command, local_ns)

    def advance(self, ts_ns: int) -> None:
        self.inner.advance(ts_ns)

    def on_market(self, event: Event) -> None:
        self.inner.on_market(event)

    def pop_responses(self, until_local_ns: int) -> list[Event]:
        responses = self.inner.pop_responses(until_local_ns)
        figure = self.account_figure
        if figure is None:
            return responses
        return [
            replace(r, equity=figure, free_margin=figure) if isinstance(r, ReconcileSnapshot) else r
            for r in responses
        ]

    def next_response_ns(self) -> int | None:
        return self.inner.next_response_ns()

    def next_arrival_ns(self) -> int | None:
        return self.inner.next_arrival_ns()


def record_commands(run: SimRun, account_figure: float | None = None) -> RecordingExchange:
    recorder = RecordingExchange(run.exchange, account_figure)
    run.loop.exchange = recorder
    return recorder


def without_market_data(events: Iterable[Event], start_ns: int, end_ns: int) -> Iterator[Event]:
    """The feed with nothing at all between `start_ns` and `end_ns` (exchange time)."""
    for event in events:
        if not start_ns <= event.ts_ns < end_ns:
            yield event


def halt_and_settle(run: SimRun, source: Iterable[Event] | None, until_ns: int) -> None:
    run.loop.run(source, until_ns=until_ns, stop_when=lambda: run.engine.mode is EngineMode.HALTED)
    assert run.engine.mode is EngineMode.HALTED, "the breaker never halted the engine"
    run.loop.run(until_ns=run.clock.now_ns() + 30 * NS_PER_S)  # nothing may happen after it


def assert_tripped_halted_flat(run: SimRun, recorder: RecordingExchange, breaker: str) -> int:
    """One trip of `breaker`, halted and flat, nothing quoted after the trip; the position
    (lots) the engine held when it tripped."""
    trips = of_type(run.notices, BreakerTripped)
    assert [t.breaker for t in trips] == [breaker]
    assert run.engine.mode is EngineMode.HALTED
    assert run.exchange.position_lots == 0 and run.engine.position_lots == 0
    done = of_type(run.notices, FlattenDone)
    assert len(done) == 1 and not done[0].dust and done[0].position_lots == 0
    assert not run.engine.orders.live_list() and not run.exchange.engine.open_orders()
    modes = [(m.old, m.new) for m in of_type(run.notices, ModeChanged)]
    assert (EngineMode.RUNNING, EngineMode.HALTING) in modes
    assert modes[-1][1] is EngineMode.HALTED
    # after the trip: no new quote targets, and the only orders are reduce-only IOC closes
    after = run.notices[run.notices.index(trips[0]) :]
    assert not of_type(after, QuoteUpdated)
    halt_at = next(
        i
        for i, c in enumerate(recorder.sent)
        if isinstance(c, CancelAll) and c.reason.startswith(f"breaker {breaker}")
    )
    closes = [c for c in recorder.sent[halt_at:] if isinstance(c, PlaceOrder)]
    assert closes, "the held position was never closed"
    for order in closes:
        assert order.reduce_only and order.tif is TimeInForce.IOC and not order.post_only
    held = of_type(after, FlattenProgress)[0]
    assert held.phase == "cancelling"
    return held.position_lots


def test_stale_market_data_while_holding_a_position_halts_and_flattens() -> None:
    """No market data for longer than the stale-data limit is a breach like any other: stop
    quoting, cancel all, flatten (design §6) — and the halt holds when data comes back."""
    stale_ns = 5 * NS_PER_S
    settings = SimRunSettings(fees=NO_FEES, engine=EngineSettings(stale_data_ns=stale_ns))
    run, source = start_run(
        StrategyConfig(), SyntheticParams(trade_rate_per_s=4.0), settings=settings
    )
    recorder = record_commands(run)
    run.exchange.set_position(100, 60_000)  # 100 lots (≈ 600 USDT) held on the venue
    silent_from, silent_to = START + 3 * NS_PER_S, START + 300 * NS_PER_S
    feed = without_market_data(source, silent_from, silent_to)
    halt_and_settle(run, feed, START + 120 * NS_PER_S)
    held = assert_tripped_halted_flat(run, recorder, "stale_data")
    assert held != 0  # still holding a position when the feed went quiet
    trip = of_type(run.notices, BreakerTripped)[0]
    assert trip.limit == 5.0 and trip.value > 5.0
    assert silent_from + stale_ns <= trip.local_ns <= silent_from + stale_ns + NS_PER_S
    assert of_type(run.notices, FlattenDone)[0].local_ns < silent_to  # closed without new data
    # data resumes: the engine stays halted and quotes nothing until an operator starts it
    quotes, sent = len(of_type(run.notices, QuoteUpdated)), len(recorder.sent)
    run.loop.run(until_ns=silent_to + 60 * NS_PER_S)
    assert run.engine.snapshot().last_market_ns > silent_to  # the feed is back
    assert run.engine.mode is EngineMode.HALTED and run.exchange.position_lots == 0
    assert len(of_type(run.notices, QuoteUpdated)) == quotes
    assert not [c for c in recorder.sent[sent:] if isinstance(c, PlaceOrder)]


def test_inventory_beyond_the_limit_halts_and_flattens() -> None:
    """A trade on the same account that the engine did not place (e.g. by hand on the venue)
    arrives as fills and takes inventory past max_inventory_ratio: halt and flatten to zero.
    (The quoter itself stops adding at 90 % of the limit, so our own quotes cannot get there.)"""
    config = StrategyConfig(
        max_inventory_ratio=0.2, one_sided_enter=0.1, one_sided_exit=0.05, order_size_fraction=0.02
    )
    run, source = start_run(config, SyntheticParams(trade_rate_per_s=4.0))
    recorder = record_commands(run)
    run.loop.run(source, until_ns=START + 60 * NS_PER_S)
    assert run.engine.mode is EngineMode.RUNNING and not of_type(run.notices, BreakerTripped)
    now = run.clock.now_ns()
    manual = PlaceOrder(
        ts_ns=now,
        client_order_id=2**63 + 7,
        symbol=run.instrument.symbol,
        side=Side.BUY,
        price_ticks=run.engine.book.best_ask + 50,
        size_lots=200,  # ≈ 1200 USDT against 200 × 20 = 4000 capacity: ratio ≈ 0.3 > 0.2
        post_only=False,
        tif=TimeInForce.IOC,
        reason="manual",
    )
    run.exchange.submit(manual, now)
    halt_and_settle(run, None, now + 120 * NS_PER_S)
    held = assert_tripped_halted_flat(run, recorder, "inventory")
    trip = of_type(run.notices, BreakerTripped)[0]
    assert trip.limit == 0.2 and trip.value > 0.2
    assert held >= 150


def test_inventory_limit_is_on_the_committed_capital() -> None:
    """50 USDT committed on the 200 USDT account: a manual trade of ≈ 360 USDT is 0.09 of the
    account's 200 × 20 but 0.36 of the capital's 50 × 20, past the 0.2 limit: halt, flatten."""
    config = StrategyConfig(
        max_inventory_ratio=0.2,
        one_sided_enter=0.1,
        one_sided_exit=0.05,
        order_size_fraction=0.02,
        capital_usdt=50.0,
    )
    run, source = start_run(config, SyntheticParams(trade_rate_per_s=4.0))
    recorder = record_commands(run)
    run.loop.run(source, until_ns=START + 60 * NS_PER_S)
    assert run.engine.mode is EngineMode.RUNNING and not of_type(run.notices, BreakerTripped)
    assert run.engine.equity() > 150.0  # the account is four times the commitment
    now = run.clock.now_ns()
    manual = PlaceOrder(
        ts_ns=now,
        client_order_id=2**63 + 7,
        symbol=run.instrument.symbol,
        side=Side.BUY,
        price_ticks=run.engine.book.best_ask + 50,
        size_lots=60,
        post_only=False,
        tif=TimeInForce.IOC,
        reason="manual",
    )
    run.exchange.submit(manual, now)
    halt_and_settle(run, None, now + 120 * NS_PER_S)
    assert_tripped_halted_flat(run, recorder, "inventory")
    trip = of_type(run.notices, BreakerTripped)[0]
    assert trip.limit == 0.2 and 0.3 < trip.value < 0.45


@pytest.mark.parametrize("figure", [math.nan, math.inf, -math.inf])
def test_equity_that_cannot_be_computed_fails_closed(figure: float) -> None:
    """The venue's account figure at session start is not a number: the session's equity and
    drawdown cannot be computed, so the engine never quotes; it halts and flattens the position
    it found on the venue."""
    inst = default_instrument()
    run = build_sim_run(inst, StrategyConfig(), SimRunSettings(fees=NO_FEES), START)
    begin = START + 5 * NS_PER_S  # the book is up when the session starts
    run.loop.schedule(StartRequested(ts_ns=begin, local_ns=begin))
    source = SyntheticMarket(SyntheticParams(trade_rate_per_s=4.0), inst, seed=3, start_ns=START)
    recorder = record_commands(run, account_figure=figure)
    run.exchange.set_position(50, 60_000)
    halt_and_settle(run, source, START + 60 * NS_PER_S)
    held = assert_tripped_halted_flat(run, recorder, "risk_unknown")
    assert held == 50
    assert run.engine.book.ready
    # fail closed: not a single quote while the equity was unknown
    assert not [c for c in recorder.sent if isinstance(c, PlaceOrder) and not c.reduce_only]
    assert all(q.bid_lots == 0 and q.ask_lots == 0 for q in of_type(run.notices, QuoteUpdated))


def test_flatten_close_sent_with_the_halt_survives_that_halts_reconcile() -> None:
    """A halt with a position and no resting orders sends cancel-all, a reconcile and the first
    reduce-only close in the same instant; the reconcile's answer cannot list that close, and
    it must not be taken as gone (its fill would then be an illegal cancelled → filled)."""
    inst = default_instrument()
    run = build_sim_run(inst, StrategyConfig(), SimRunSettings(fees=NO_FEES), START)
    begin = START + 5 * NS_PER_S
    run.loop.schedule(StartRequested(ts_ns=begin, local_ns=begin))
    source = SyntheticMarket(SyntheticParams(trade_rate_per_s=4.0), inst, seed=3, start_ns=START)
    record_commands(run, account_figure=math.nan)
    run.exchange.set_position(50, 60_000)
    halt_and_settle(run, source, START + 60 * NS_PER_S)
    assert run.engine.mode is EngineMode.HALTED and run.engine.position_lots == 0
    warnings = [(w.code, w.detail) for w in of_type(run.notices, EngineWarning)]
    assert warnings == []


# ---- market data breaks while quotes rest ----------------------------------------------------


class EngineTap:
    """The engine as the loop sees it, logging each event with the quotes that were working
    when it arrived (acknowledged, no cancel in flight) and the commands it produced."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.log: list[tuple[Event, set[int], list[Command]]] = []

    def on_event(self, event: Event) -> list[Command]:
        working = {
            o.client_order_id
            for o in self.engine.orders.live()
            if not o.reduce_only
            and not o.cancel_requested_ns
            and o.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
        }
        commands = self.engine.on_event(event)
        self.log.append((event, working, commands))
        return commands

    def take_notices(self) -> list[Event]:
        return self.engine.take_notices()


def broken_feed(
    events: Iterable[Event], break_ns: int, resume_ns: int, *, gap: bool
) -> Iterator[Event]:
    """The feed with, at `break_ns`, a delta that does not follow its predecessor (`gap`), and
    at `resume_ns` a fresh snapshot of the true book that the following deltas chain onto."""
    true_book = OrderBook("")
    broken = resumed = False
    for event in events:
        if not resumed and event.ts_ns >= resume_ns:
            resumed = True
            yield BookSnapshot(
                ts_ns=event.ts_ns,
                local_ns=event.local_ns,
                symbol=true_book.symbol,
                bids=tuple(true_book.bids.items()),
                asks=tuple(true_book.asks.items()),
                sequence=true_book.sequence,
            )
        if isinstance(event, BookSnapshot):
            true_book.apply_snapshot(event)
        elif isinstance(event, BookDelta):
            true_book.apply_delta(event)
            prev = event.prev_sequence
            if gap and not broken and event.ts_ns >= break_ns and prev is not None:
                broken = True
                yield replace(event, prev_sequence=prev - 1)
                continue
        yield event


@pytest.mark.parametrize("fault", ["book_gap", "market_disconnected"])
def test_quotes_are_pulled_while_the_book_is_broken_and_return_with_a_snapshot(
    fault: str,
) -> None:
    """A sequence gap or a market-stream disconnect while quotes rest: every working quote is
    cancelled in the same event (no waiting for the stale-data breaker), nothing is placed
    while the book is unusable, the engine keeps running, and quoting resumes on both sides
    once a fresh snapshot makes the book valid again."""
    break_ns, resume_ns = START + 30 * NS_PER_S, START + 36 * NS_PER_S
    run, source = start_run(
        StrategyConfig(),
        SyntheticParams(trade_rate_per_s=4.0),
        settings=SimRunSettings(fees=NO_FEES, feed_interval_ns=0),
    )
    tap = EngineTap(run.engine)
    run.loop.engine = tap  # type: ignore[assignment]
    if fault == "market_disconnected":
        run.loop.schedule(VenueStatus(ts_ns=break_ns, local_ns=break_ns, connected=False))
        up = resume_ns - NS_PER_S // 2
        run.loop.schedule(VenueStatus(ts_ns=up, local_ns=up, connected=True))
    feed = broken_feed(source, break_ns, resume_ns, gap=fault == "book_gap")
    run.loop.run(feed, until_ns=START + 60 * NS_PER_S)

    def broke(event: Event) -> bool:
        if fault == "book_gap":
            return isinstance(event, BookDelta) and event.ts_ns >= break_ns
        return isinstance(event, VenueStatus) and not event.connected

    at = next(i for i, (event, _, _) in enumerate(tap.log) if broke(event))
    back = next(
        i for i, (event, _, _) in enumerate(tap.log) if isinstance(event, BookSnapshot) and i > at
    )
    _, working, commands = tap.log[at]
    assert working, "no quotes were resting when the feed broke"
    assert all(isinstance(c, CancelOrder) and c.reason == fault for c in commands)
    assert {c.client_order_id for c in commands if isinstance(c, CancelOrder)} == working
    pulled = [q for q in of_type(run.notices, QuoteUpdated) if q.reason == fault]
    assert len(pulled) == 1 and pulled[0].bid_lots == 0 and pulled[0].ask_lots == 0
    # while the book is unusable: no placement; quotes acknowledged meanwhile are cancelled
    between = tap.log[at + 1 : back]
    assert all(isinstance(c, CancelOrder) for _, _, cmds in between for c in cmds)
    assert tap.log[back][1] == set(), "a quote was still working when the snapshot came"
    assert run.engine.mode is EngineMode.RUNNING and not of_type(run.notices, BreakerTripped)
    # the snapshot makes the book valid: both sides quoted again within a second
    placed = [
        c
        for event, _, cmds in tap.log[back:]
        if event.local_ns < tap.log[back][0].local_ns + NS_PER_S
        for c in cmds
        if isinstance(c, PlaceOrder)
    ]
    assert {c.side for c in placed} == {Side.BUY, Side.SELL}
    assert run.engine.book.valid and run.engine.snapshot().connected
