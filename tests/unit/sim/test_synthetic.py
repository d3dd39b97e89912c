"""The synthetic market: determinism, a consistent feed, trades before depth, calibrated stats."""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Iterable, Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.events import BookDelta, BookSnapshot, Event, Trade
from grvtmm.core.types import Side
from grvtmm.venues.sim.synthetic import (
    Regime,
    SyntheticMarket,
    SyntheticParams,
    default_instrument,
)

START_NS = 1_700_000_000 * NS_PER_S


def events_for(
    duration_s: float, params: SyntheticParams | None = None, seed: int = 1
) -> list[Event]:
    market = SyntheticMarket(params or SyntheticParams(), default_instrument(), seed, START_NS)
    return list(market.iter_for(duration_s))


def replay(events: Iterable[Event]) -> Iterator[tuple[Event, OrderBook]]:
    """Apply every book event to an OrderBook, asserting no gap; yield (event, book after it)."""
    book = OrderBook("BNB_USDT_Perp")
    for ev in events:
        if isinstance(ev, BookSnapshot):
            assert book.apply_snapshot(ev) is ApplyResult.APPLIED
        elif isinstance(ev, BookDelta):
            assert book.apply_delta(ev) is ApplyResult.APPLIED, (ev.sequence, book.gap)
        yield ev, book


def mids_every_second(events: Iterable[Event]) -> list[float]:
    mids: list[float] = []
    next_ns = START_NS
    for ev, book in replay(events):
        while ev.ts_ns >= next_ns:
            mids.append(book.mid_ticks())
            next_ns += NS_PER_S
    return mids


def taker_groups(events: list[Event]) -> list[list[Trade]]:
    """Consecutive prints of one taker (same timestamp and aggressor)."""
    groups: list[list[Trade]] = []
    for _, group in itertools.groupby(
        (ev for ev in events if isinstance(ev, Trade)), key=lambda t: (t.ts_ns, t.aggressor)
    ):
        groups.append(list(group))
    return groups


# ---- instrument and parameters -------------------------------------------------------------
def test_default_instrument_is_bnb_usdt_perp_on_a_cent_tick() -> None:
    inst = default_instrument()
    assert inst.symbol == "BNB_USDT_Perp"
    assert inst.tick_size == Decimal("0.01")
    assert inst.size_step == Decimal("0.01")
    assert inst.min_size == Decimal("0.01")
    assert inst.min_notional == Decimal("5")
    assert inst.min_lots_at(60_000) == 1  # 0.01 BNB at 600 USDT is 6 USDT ≥ 5 USDT


@pytest.mark.parametrize(
    "bad",
    [
        {"start_price": 0.0},
        {"regimes": ()},
        {"regimes": (Regime(0.0),)},
        {"spread_one_tick_prob": 1.5},
        {"depth_levels": 1},
        {"book_update_hz": 0.0},
        {"trade_rate_per_s": -1.0},
        {"feed_latency_ns": -1},
    ],
)
def test_invalid_parameters_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="invalid synthetic market parameters"):
        SyntheticParams(**bad)  # type: ignore[arg-type]


# ---- determinism ----------------------------------------------------------------------------
def test_same_seed_gives_an_identical_stream() -> None:
    assert events_for(120, seed=7) == events_for(120, seed=7)


def test_different_seeds_give_different_streams() -> None:
    a, b = events_for(60, seed=7), events_for(60, seed=8)
    assert a[0] != b[0] or a[1:200] != b[1:200]


def test_iter_until_resumes_where_it_stopped() -> None:
    market = SyntheticMarket(SyntheticParams(), default_instrument(), 3, START_NS)
    first = list(market.iter_until(START_NS + 30 * NS_PER_S))
    second = list(market.iter_until(START_NS + 60 * NS_PER_S))
    assert first and second
    assert first[-1].ts_ns <= START_NS + 30 * NS_PER_S < second[0].ts_ns
    assert first + second == events_for(60, seed=3)


# ---- feed consistency -----------------------------------------------------------------------
def test_snapshot_first_then_consecutive_sequences_and_ordered_times() -> None:
    events = events_for(300)
    assert isinstance(events[0], BookSnapshot)
    assert all(not isinstance(ev, BookSnapshot) for ev in events[1:])
    deltas = [ev for ev in events if isinstance(ev, BookDelta)]
    expected_prev = events[0].sequence
    for delta in deltas:
        assert delta.prev_sequence == expected_prev
        assert delta.sequence == expected_prev + 1
        expected_prev = delta.sequence
    latency = SyntheticParams().feed_latency_ns
    assert all(b.ts_ns >= a.ts_ns for a, b in itertools.pairwise(events))
    assert all(ev.local_ns == ev.ts_ns + latency for ev in events)
    assert all(isinstance(p, int) and isinstance(q, int) for d in deltas for p, q in d.bids)


def test_book_is_never_crossed_and_mostly_one_tick_wide() -> None:
    spreads = [book.spread_ticks() for _, book in replay(events_for(600))]
    assert all(s >= 1 for s in spreads)
    one_tick = sum(s == 1 for s in spreads) / len(spreads)
    assert 0.8 < one_tick < 0.97  # configured 0.9, less the moments a trade clears the top


def test_every_level_keeps_positive_size_and_both_sides_keep_depth() -> None:
    levels = SyntheticParams().depth_levels
    for _, book in replay(events_for(300)):
        assert book.ready
        assert all(q > 0 for q in book.bids.values()) and all(q > 0 for q in book.asks.values())
        assert 1 <= len(book.bids) <= levels and 1 <= len(book.asks) <= levels


def test_trades_print_on_the_book_before_the_delta_that_removes_them() -> None:
    params = SyntheticParams(trade_median_lots=150.0, trade_rate_per_s=5.0)
    events = events_for(300, params)
    book = OrderBook()
    walks = 0
    i = 0
    while i < len(events):
        ev = events[i]
        if not isinstance(ev, Trade):
            if isinstance(ev, BookSnapshot):
                book.apply_snapshot(ev)
            else:
                assert isinstance(ev, BookDelta)
                assert book.apply_delta(ev) is ApplyResult.APPLIED
            i += 1
            continue
        group = [ev]
        while isinstance(events[i + len(group)], Trade):
            group.append(events[i + len(group)])  # type: ignore[arg-type]
        delta = events[i + len(group)]
        assert isinstance(delta, BookDelta) and delta.ts_ns == ev.ts_ns
        side_levels = book.asks if ev.aggressor is Side.BUY else book.bids
        best = book.best_ask if ev.aggressor is Side.BUY else book.best_bid
        step = 1 if ev.aggressor is Side.BUY else -1
        expected: dict[int, int] = {}
        for k, trade in enumerate(group):
            assert trade.price_ticks == best + k * step  # walks level by level from the top
            assert 0 < trade.size_lots <= side_levels[trade.price_ticks]
            expected[trade.price_ticks] = side_levels[trade.price_ticks] - trade.size_lots
        changed = dict(delta.asks if ev.aggressor is Side.BUY else delta.bids)
        assert changed == expected
        assert not (delta.bids if ev.aggressor is Side.BUY else delta.asks)
        walks += len(group) > 1
        i += len(group)
    assert walks > 10


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    one_tick=st.floats(0.0, 1.0),
    max_spread=st.integers(1, 6),
    levels=st.integers(2, 40),
    vol=st.floats(0.0, 40.0),
    median_lots=st.floats(1.0, 2000.0),
    hz=st.sampled_from([1.0, 10.0, 20.0]),
)
def test_any_parameters_give_a_consistent_uncrossed_feed(
    seed: int,
    one_tick: float,
    max_spread: int,
    levels: int,
    vol: float,
    median_lots: float,
    hz: float,
) -> None:
    params = SyntheticParams(
        spread_one_tick_prob=one_tick,
        spread_max_ticks=max_spread,
        depth_levels=levels,
        vol_ticks_per_sqrt_s=vol,
        trade_median_lots=median_lots,
        book_update_hz=hz,
        trade_rate_per_s=5.0,
    )
    for ev, book in replay(events_for(20, params, seed)):
        assert book.ready
        if isinstance(ev, Trade):
            side = book.asks if ev.aggressor is Side.BUY else book.bids
            assert side.get(ev.price_ticks, 0) >= ev.size_lots  # on the book, delta still to come


STILL = {"vol_ticks_per_sqrt_s": 0.0, "trade_rate_per_s": 0.0, "spread_change_prob": 0.0}


def test_levels_are_redrawn_toward_the_depth_profile_when_the_price_stands_still() -> None:
    params = SyntheticParams(**STILL, depth_refresh_levels=3)  # type: ignore[arg-type]
    sums = [0.0, 0.0, 0.0]
    samples = 0
    for ev, book in replay(events_for(600, params)):
        if isinstance(ev, BookDelta):
            asks = [book.asks[book.best_ask + i] for i in (0, 1, 10)]
            sums = [total + lots for total, lots in zip(sums, asks, strict=True)]
            samples += 1
    assert samples > 0.9 * 600 * params.book_update_hz
    top, behind, deep = (total / samples for total in sums)
    assert top == pytest.approx(params.depth_top_lots, rel=0.1)
    assert behind == pytest.approx(params.depth_top_lots * params.depth_behind_ratio, rel=0.1)
    ratio = deep / behind
    assert ratio == pytest.approx(params.depth_growth**9, rel=0.15)


def test_a_still_market_without_redraws_sends_nothing_after_the_snapshot() -> None:
    params = SyntheticParams(**STILL, depth_refresh_levels=0)  # type: ignore[arg-type]
    events = events_for(60, params)
    assert len(events) == 1 and isinstance(events[0], BookSnapshot)


# ---- statistics -----------------------------------------------------------------------------
def test_trade_rate_matches_the_poisson_rate() -> None:
    events = events_for(3600)
    takers = len(taker_groups(events))
    assert takers / 3600 == pytest.approx(SyntheticParams().trade_rate_per_s, rel=0.08)


def test_mid_volatility_over_one_second_matches_sigma() -> None:
    sigma = SyntheticParams().vol_ticks_per_sqrt_s
    assert one_second_sd(events_for(3600)) == pytest.approx(sigma, rel=0.1)


def one_second_sd(events: list[Event]) -> float:
    return statistics.pstdev(b - a for a, b in itertools.pairwise(mids_every_second(events)))


def test_volatility_multiplier_scales_the_moves() -> None:
    calm = SyntheticParams(regimes=(Regime(3600.0, vol_multiplier=0.5),))
    wild = SyntheticParams(regimes=(Regime(3600.0, vol_multiplier=3.0),))
    ratio = one_second_sd(events_for(1200, wild)) / one_second_sd(events_for(1200, calm))
    assert ratio == pytest.approx(6.0, rel=0.15)


def test_trend_segment_drifts_at_its_rate_then_mean_reverts_to_the_anchor() -> None:
    params = SyntheticParams(
        vol_ticks_per_sqrt_s=2.0,
        regimes=(Regime(300.0, drift_ticks_per_s=4.0), Regime(600.0, mean_reversion_per_s=0.03)),
        repeat_regimes=False,
    )
    mids = mids_every_second(events_for(900, params))
    anchor = default_instrument().nearest_ticks(params.start_price)
    # 300 s at 4 ticks/s is 1200 ticks; the noise over 300 s is 2·√300 ≈ 35 ticks
    assert mids[300] - mids[0] == pytest.approx(1200, abs=150)
    # e^(−0.03·600) leaves nothing of the excursion; the OU noise is 2/√0.06 ≈ 8 ticks
    assert abs(mids[-1] - anchor) < 50


def test_schedule_repeats_by_default_and_holds_when_asked() -> None:
    up_down = (Regime(60.0, drift_ticks_per_s=10.0), Regime(60.0, drift_ticks_per_s=-10.0))
    quiet = {"vol_ticks_per_sqrt_s": 0.5, "regimes": up_down}
    repeat = mids_every_second(events_for(240, SyntheticParams(**quiet)))  # type: ignore[arg-type]
    hold = mids_every_second(
        events_for(240, SyntheticParams(**quiet, repeat_regimes=False))  # type: ignore[arg-type]
    )
    assert repeat[180] - repeat[120] == pytest.approx(600, abs=60)  # up again: repeated
    assert hold[180] - hold[120] == pytest.approx(-600, abs=60)  # still down: held


def taker_sizes(events: list[Event]) -> list[int]:
    return sorted(sum(t.size_lots for t in group) for group in taker_groups(events))


def test_trade_sizes_are_heavy_tailed() -> None:
    sizes = taker_sizes(events_for(3600))
    median = sizes[len(sizes) // 2]
    assert median == pytest.approx(SyntheticParams().trade_median_lots, rel=0.15)
    assert sum(sizes) / len(sizes) > 2.0 * median
    assert sizes[int(0.99 * len(sizes))] > 15 * median


def test_tail_trades_follow_the_pareto_law() -> None:
    # σ 0 makes every non-tail taker exactly the median, isolating the Pareto multiplier
    params = SyntheticParams(trade_size_sigma=0.0, trade_tail_prob=0.2, trade_tail_alpha=1.5)
    sizes = taker_sizes(events_for(3600, params))
    assert sizes[len(sizes) // 2] == 10
    tail = [s for s in sizes if s > 10]
    assert len(tail) / len(sizes) == pytest.approx(0.2 * 1.05**-1.5, rel=0.1)
    above_4x = sum(s > 40 for s in sizes) / len(sizes)
    assert above_4x == pytest.approx(0.2 * 4**-1.5, rel=0.2)


def test_takers_lean_toward_the_move_the_next_book_update_shows() -> None:
    params = SyntheticParams(flow_tilt_per_tick=0.3, trade_rate_per_s=20.0)
    events = events_for(1200, params)
    samples = [(ev.ts_ns, book.mid_ticks()) for ev, book in replay(events)]
    times = [t for t, _ in samples]
    interval_ns = round(NS_PER_S / params.book_update_hz)
    buys = {1: 0, -1: 0}
    takers = {1: 0, -1: 0}
    for group in taker_groups(events):
        t = group[0].ts_ns
        before = bisect.bisect_left(times, t) - 1
        after = bisect.bisect_right(times, t + interval_ns) - 1
        move = samples[after][1] - samples[before][1]
        if move:
            direction = 1 if move > 0 else -1
            takers[direction] += 1
            buys[direction] += group[0].aggressor is Side.BUY
    assert min(takers.values()) > 1000
    assert buys[1] / takers[1] > buys[-1] / takers[-1] + 0.1


def test_half_an_hour_of_market_is_dense_enough_to_trade() -> None:
    market = SyntheticMarket(SyntheticParams(), default_instrument(), 1, START_NS)
    count = sum(1 for _ in market.iter_for(1800))
    assert count > 20_000  # 10 book updates/s + trades; the generator's speed is in bench/
