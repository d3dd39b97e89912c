"""Engine + node + GrvtVenue against the fake GRVT server: the trading scenarios end to end."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

import anyio
import pytest

from fakes import eventually
from fakes.grvt_helpers import (
    FAST,
    INST,
    fills_once,
    mode,
    node_on,
    quote,
    quoting_both_sides,
    start,
    stop_and_check_flat,
    taker,
    venue_on,
)
from fakes.grvt_server import API_KEY, PRIVATE_KEY, FakeGrvtServer
from grvtmm.core.commands import CancelOrder, PlaceOrder
from grvtmm.core.events import (
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    HaltRequested,
    ModeChanged,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    ReconcileSnapshot,
    StartRequested,
    VenueError,
    VenueErrorKind,
    VenueStatus,
)
from grvtmm.core.types import Side, TimeInForce
from grvtmm.engine.engine import EngineSettings
from grvtmm.venues.grvt.instruments import fits

pytestmark = pytest.mark.anyio


async def test_quotes_fill_requote_and_stop_flattens_to_zero() -> None:
    with anyio.fail_after(40):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (
                node,
                _venue,
                rec,
            ),
        ):
            await start(node)
            await eventually(lambda: len(rec.of(OrderFilled)) >= 2, 20)
            placed_before = len(rec.of(PlaceOrder))
            await eventually(lambda: len(rec.of(PlaceOrder)) > placed_before + 2, 10)
            await eventually(lambda: quoting_both_sides(node), 10)
            assert all(p.post_only and p.tif is TimeInForce.GTT for p in rec.of(PlaceOrder))
            await stop_and_check_flat(node, server)
            flatten = [p for p in rec.of(PlaceOrder) if p.reduce_only]
            if server.exchange.fills and any(not f["is_taker"] for f in server.exchange.fills):
                assert all(p.tif is TimeInForce.IOC for p in flatten)
            fills_once(rec, server)


async def test_stream_drop_reconnects_without_duplicate_fills_and_relogs_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(40):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (
                node,
                venue,
                rec,
            ),
        ):
            await start(node)
            await eventually(lambda: len(rec.of(OrderFilled)) >= 1, 20)
            assert venue.market is not None and venue.private is not None
            server.expire_sessions()  # the private stream must log in again to reconnect
            await server.drop_streams()
            await eventually(lambda: venue.market.stream.stats.connects >= 2, 10)  # type: ignore[union-attr]
            await eventually(lambda: venue.private.stream.stats.connects >= 2, 10)  # type: ignore[union-attr]
            assert any(not s.connected for s in rec.of(VenueStatus))
            fills = len(rec.of(OrderFilled))
            await eventually(lambda: len(rec.of(OrderFilled)) > fills, 20)
            await eventually(lambda: quoting_both_sides(node), 10)
            await stop_and_check_flat(node, server)
            fills_once(rec, server)
            assert venue.http.stats.relogins + venue.http.stats.logins >= 2
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert logged  # the run did log (at DEBUG, including the libraries)
    for secret in (API_KEY, PRIVATE_KEY[2:], "gravity=session", *server.sessions):
        assert secret not in logged


async def test_book_gap_resubscribes_while_quoting_continues() -> None:
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (
                node,
                venue,
                rec,
            ),
        ):
            await start(node)
            server.exchange.faults.gap_next_book = 1
            assert venue.market is not None
            await eventually(lambda: venue.market.stream.stats.gaps == 1)  # type: ignore[union-attr]
            await eventually(lambda: len(rec.of(BookSnapshot)) >= 2)
            warnings = [w.code for w in rec.of(EngineWarning)]
            assert "book_gap" in warnings
            assert node.engine.book.valid
            await eventually(lambda: quoting_both_sides(node), 10)
            await stop_and_check_flat(node, server)


async def test_post_only_rejects_are_counted_by_the_storm_breaker() -> None:
    settings = EngineSettings(post_only_storm_count=4, post_only_storm_ratio=0.5)
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server, settings) as (
                node,
                _venue,
                rec,
            ),
        ):
            await start(node)
            server.exchange.faults.async_post_only_rejects = 1000
            await eventually(lambda: bool(rec.of(BreakerTripped)), 20)
            assert rec.of(BreakerTripped)[0].breaker == "reject_storm"
            rejects = [r.reason for r in rec.of(OrderRejected)]
            assert len(rejects) >= 4 and set(rejects) == {"FAIL_POST_ONLY"}
            await eventually(lambda: mode(node) is EngineMode.HALTED, 15)
            assert server.exchange.matching.position_lots == 0


async def test_restart_cancels_unknown_orders_and_adopts_the_position() -> None:
    with anyio.fail_after(40):
        async with FakeGrvtServer(INST, params=FAST) as server:
            async with venue_on(server) as (venue, got):
                await eventually(lambda: bool(got.of(BookSnapshot)))
                left = quote(venue, server, Side.SELL, 40)
                ioc = taker(venue, server)
                await venue.execute(left)
                await venue.execute(ioc)
                await eventually(lambda: bool(got.of(OrderFilled)) and bool(got.of(OrderAccepted)))
            position = server.exchange.matching.position_lots
            assert position > 0 and server.exchange.open_orders()
            async with node_on(server) as (node, _venue, rec):
                now = node.clock.now_ns()
                await node.submit(StartRequested(ts_ns=now, local_ns=now))
                await eventually(lambda: mode(node) is EngineMode.RUNNING, 10)
                cancels = [c.client_order_id for c in rec.of(CancelOrder)]
                assert left.client_order_id in cancels
                await eventually(
                    lambda: (
                        left.client_order_id
                        not in {
                            int(o["metadata"]["client_order_id"])
                            for o in server.exchange.open_orders()
                        }
                    )
                )
                snap = rec.of(ReconcileSnapshot)[0]
                assert snap.position_lots == position
                assert node.engine.position_lots == server.exchange.matching.position_lots
                assert not [
                    f
                    for f in rec.of(OrderFilled)
                    if f.trade_id in {e.trade_id for e in got.of(OrderFilled)}
                ]
                await stop_and_check_flat(node, server)


async def test_silent_private_streams_fall_back_to_rest_without_doubling_fills() -> None:
    with anyio.fail_after(60):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server) as (node, venue, rec),
        ):
            await start(node)
            assert venue.private is not None
            private = venue.private
            await eventually(lambda: bool(rec.of(OrderFilled)) and not private.needs_sync, 20)
            server.exchange.faults.mute_private = True  # connected, but nothing is published
            # Fills made once the streams have been quiet for `private_quiet_s` (1 s) cannot
            # come from a REST read already under way when they fell silent.
            later_ns = server.clock.now_ns() + 1_200_000_000
            accepted = len(rec.of(OrderAccepted))

            def unheard() -> set[str]:
                return {
                    f["trade_id"] for f in server.exchange.fills if int(f["event_time"]) > later_ns
                }

            # the market trades through our quotes while the private streams say nothing
            await eventually(lambda: len(unheard()) >= 3, 30)
            assert server.private_muted > 0 and private.connected

            def reported() -> set[str]:
                return {f.trade_id for f in rec.of(OrderFilled)}

            # learnt over REST: these fills were never sent on any stream
            missed = unheard()
            await eventually(lambda: missed <= reported(), 15)
            await eventually(
                lambda: node.engine.position_lots == server.exchange.matching.position_lots, 10
            )
            assert "full/v1/fill_history" in server.requests
            # requotes go on: new quotes' states (open, cancelled) are read over REST too
            await eventually(lambda: len(rec.of(OrderAccepted)) > accepted, 15)
            ids = [f.trade_id for f in rec.of(OrderFilled)]
            assert len(ids) == len(set(ids)), "a fill was reported twice"

            # the streams speak again: what they say now is new or recognised, never doubled
            heard_before = private.last_frame_ns()
            server.exchange.faults.mute_private = False
            fills = len(server.exchange.fills)
            await eventually(lambda: len(server.exchange.fills) > fills + 1, 30)
            await eventually(lambda: private.last_frame_ns() > heard_before, 10)
            await eventually(lambda: quoting_both_sides(node), 10)
            await stop_and_check_flat(node, server)
            fills_once(rec, server)
            assert node.engine.position_lots == server.exchange.matching.position_lots == 0


async def test_a_changed_listing_halts_and_no_order_goes_out_on_the_old_grid() -> None:
    coarse = replace(INST, tick_size=Decimal("0.05"), min_notional=Decimal("10"))
    with anyio.fail_after(40):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            node_on(server, instruments_refresh_s=0.1) as (node, venue, rec),
        ):
            await start(node)
            await eventually(lambda: node.engine.position_lots != 0, 20)
            server.relist(coarse)  # GRVT changes the tick size and the minimum notional
            await eventually(lambda: bool(rec.of(HaltRequested)), 10)
            halt = rec.of(HaltRequested)[0]
            problem = venue.listing_problem
            assert halt.reason == problem
            assert "BNB_USDT_Perp listing (tick size 0.01 -> 0.05; min notional 5 -> 10)" in problem
            assert "Restart grvt-mm" in problem
            [error] = [e for e in rec.of(VenueError) if "listing" in e.detail]
            assert error.kind is VenueErrorKind.REJECTED and problem in error.detail
            await eventually(lambda: mode(node) in (EngineMode.HALTING, EngineMode.HALTED), 10)
            assert any(
                m.new is EngineMode.HALTING and m.reason == problem for m in rec.of(ModeChanged)
            )

            def placed_since_halt() -> dict[int, PlaceOrder]:
                after = rec.items[rec.items.index(halt) :]
                return {p.client_order_id: p for p in after if isinstance(p, PlaceOrder)}

            # the halt flattens the position (if a fill has not closed it already)
            await eventually(
                lambda: bool(placed_since_halt()) or mode(node) is EngineMode.HALTED, 20
            )
            await eventually(lambda: not server.exchange.open_orders(), 10)
            # Everything the engine asked to place from the halt on was refused by the venue,
            # or is a reduce-only close valid on the new listing: nothing reached GRVT on the
            # old grid.
            placed = placed_since_halt()

            def sent() -> set[int]:
                return {int(o["metadata"]["client_order_id"]) for _, o in server.exchange.creates}

            def refused() -> set[int]:
                return {
                    r.client_order_id
                    for r in rec.of(OrderRejected)
                    if r.reason == "instrument_changed"
                }

            await eventually(lambda: set(placed) <= sent() | refused(), 10)
            refused_ids = refused()
            for cid, cmd in placed.items():
                size, price = INST.size_str(cmd.size_lots), INST.price_str(cmd.price_ticks)
                assert cid in refused_ids or (cmd.reduce_only and fits(coarse, price, size)), cmd
            for _, order in server.exchange.creates:
                if int(order["metadata"]["client_order_id"]) in placed:
                    leg = order["legs"][0]
                    assert fits(coarse, leg["limit_price"], leg["size"]), order
            await eventually(
                lambda: node.engine.position_lots == server.exchange.matching.position_lots, 10
            )
