"""Chaos: transport and session faults between the bot and GRVT — stream drops, sequence gaps,
429 storms, 5xx bursts, slow answers, cookie expiry, the dead-man switch firing.

Each scenario runs the real node (engine + GrvtVenue + StoreWriter on a temp SQLite file) against
the fake GRVT server, injects one fault while quoting, and records outcome, lost fills, orphan
orders and time to recover in the chaos results."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from chaos.chaos_kit import Row, rig
from fakes import eventually
from fakes.grvt_helpers import mode, quoting_both_sides
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    OrderCanceled,
    StopRequested,
    VenueError,
)
from grvtmm.engine.engine import EngineSettings

pytestmark = pytest.mark.anyio


@pytest.mark.chaos(
    "ws_drop",
    "WS drop: every stream connection closed by the server and handshakes refused until a "
    "quote left resting has filled (or none rests) and a reconnect has been refused",
    "both streams reconnect and resubscribe; fills made while disconnected arrive (REST "
    "sync); quoting on both sides again; no fill lost or doubled; no orphan order",
)
async def test_ws_drop(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(60):
        async with rig(tmp_path) as r:
            await r.start()
            await r.fills_happen(1)
            market, private = r.venue.market, r.venue.private
            assert market is not None and private is not None
            await eventually(lambda: len(r.fake_open()) >= 2, 10)  # quotes resting
            r.exchange.faults.refuse_ws = 10**6
            fills_down = len(r.exchange.fills)
            r.watch.start()
            await r.server.drop_streams()
            await eventually(lambda: not market.connected and not private.connected, 5)
            # stay down until a quote left resting has filled, or none of ours rests any more
            # (the engine pulls its quotes when the market stream drops)
            try:
                await eventually(
                    lambda: len(r.exchange.fills) > fills_down or not r.fake_open(), 20
                )
            except TimeoutError:
                engine = r.node.engine
                live = [(o.client_order_id, o.status.value) for o in engine.orders.live()]
                raise AssertionError(
                    f"quotes still resting on the exchange while down: {r.fake_open()}; "
                    f"engine live orders {live}; book valid {engine.book.valid}; "
                    f"connected {engine.connected}; book_ok {engine.book_ok}"
                ) from None
            assert not private.connected
            # and until a reconnect has been refused (the venue keeps trying)
            await eventually(lambda: r.server.refused_ws >= 1, 15)
            while_down = len(r.exchange.fills) - fills_down
            r.exchange.faults.refuse_ws = 0
            chaos_row.recover_s = await r.recover(
                lambda: (
                    market.stream.stats.connects >= 2
                    and private.stream.stats.connects >= 2
                    and quoting_both_sides(r.node)
                    and r.node.engine.book.valid
                ),
                20,
            )
            missed = {f["trade_id"] for f in r.exchange.fills[fills_down:]}
            await eventually(lambda: missed <= set(r.engine_trade_ids()), 10)
            chaos_row.notes.update(
                refused_handshakes=r.server.refused_ws,
                fills_while_down=while_down,
            )
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0
    assert chaos_row.notes["duplicate_fills"] == 0


@pytest.mark.chaos(
    "ws_outage_stop",
    "market and private streams down (handshakes refused) while holding a position; the "
    "market jumps 2 % against it (4x the flatten slippage); the operator stops",
    "the venue polls the top of book over REST; the flatten's closes are priced from it and "
    "fill over REST while the streams are still down; stopped and flat before they return",
)
async def test_ws_outage_stop_flattens_over_rest(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(60):
        async with rig(tmp_path) as r:
            await r.start()
            engine = r.node.engine
            market = r.venue.market
            assert market is not None
            await eventually(lambda: r.exchange.matching.position_lots != 0, 20)
            r.exchange.faults.refuse_ws = 10**6
            r.watch.start()
            await r.server.drop_streams()
            await eventually(lambda: not market.connected, 5)
            # while blind the market jumps 2 % against the position, four times the flatten's
            # slippage: a close priced from the book's last prices could not fill
            long = r.exchange.matching.position_lots > 0
            jump = r.exchange.matching.book.best_bid // 50
            r.server.shift_market(-jump if long else jump)
            rest_before = r.venue.diagnostics()["rest_tickers"]
            await eventually(lambda: r.venue.diagnostics()["rest_tickers"] > rest_before, 5)
            closes_before = len([f for f in r.exchange.fills if f["is_taker"]])
            now = r.node.clock.now_ns()
            await r.node.submit(StopRequested(ts_ns=now, local_ns=now, reason="chaos stop"))
            chaos_row.recover_s = await r.recover(
                lambda: (
                    mode(r.node) is EngineMode.STOPPED
                    and r.exchange.matching.position_lots == 0
                    and not r.fake_open()
                ),
                20,
            )
            assert not market.connected, "flat before the market stream came back"
            closes = [f for f in r.exchange.fills if f["is_taker"]][closes_before:]
            chaos_row.notes.update(
                refused_handshakes=r.server.refused_ws,
                rest_tickers=r.venue.diagnostics()["rest_tickers"],
                closes_while_down=len(closes),
            )
            r.exchange.faults.refuse_ws = 0
            await eventually(lambda: market.connected and engine.book.valid, 20)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0
    assert chaos_row.notes["closes_while_down"] >= 1


@pytest.mark.chaos(
    "ws_outage_halt",
    "market and private streams down (handshakes refused) longer than the stale-data limit "
    "(set to 1 s), then back",
    "the stale-data breaker halts; cancel-all goes out over REST while the streams are down "
    "(nothing rests while blind); the flatten completes, priced from the REST top of book "
    "while blind; halted, flat",
)
async def test_ws_outage_halts(tmp_path: Path, chaos_row: Row) -> None:
    settings = EngineSettings(stale_data_ns=NS_PER_S)
    with anyio.fail_after(60):
        async with rig(tmp_path, settings=settings) as r:
            await r.start()
            r.exchange.faults.refuse_ws = 10**6
            r.watch.start()
            await r.server.drop_streams()
            await eventually(lambda: bool(r.recorder.of(BreakerTripped)), 10)
            assert r.recorder.of(BreakerTripped)[0].breaker == "stale_data"
            await eventually(lambda: not r.fake_open(), 10)  # cancelled while blind
            chaos_row.notes["blind_to_no_orders_s"] = round(r.watch.elapsed_s(), 2)
            r.exchange.faults.refuse_ws = 0
            chaos_row.recover_s = await r.recover(
                lambda: (
                    mode(r.node) is EngineMode.HALTED
                    and r.exchange.matching.position_lots == 0
                    and not r.fake_open()
                ),
                20,
            )
            chaos_row.notes["refused_handshakes"] = r.server.refused_ws
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "sequence_gap",
    "book.d sequence gap (one delta skipped)",
    "gap detected, book marked invalid and re-subscribed (fresh snapshot); quoting continues",
)
async def test_sequence_gap(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            market = r.venue.market
            assert market is not None
            snapshots = len(r.recorder.of(BookSnapshot))
            r.watch.start()
            r.exchange.faults.gap_next_book = 1
            chaos_row.recover_s = await r.recover(
                lambda: (
                    market.stream.stats.gaps == 1
                    and len(r.recorder.of(BookSnapshot)) > snapshots
                    and r.node.engine.book.valid
                    and quoting_both_sides(r.node)
                ),
                15,
            )
            assert "book_gap" in {w.code for w in r.recorder.of(EngineWarning)}
            chaos_row.notes["resubscribes"] = market.stream.stats.resubscribes
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "duplicate_frames",
    "book.d frames delivered twice (5 duplicates)",
    "duplicates dropped by sequence number, no gap, no resubscribe; book stays valid",
)
async def test_duplicate_frames(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            market = r.venue.market
            assert market is not None
            r.watch.start()
            r.exchange.faults.duplicate_next_book = 5
            chaos_row.recover_s = await r.recover(
                lambda: market.stream.stats.duplicates >= 5 and quoting_both_sides(r.node), 15
            )
            assert market.stream.stats.gaps == 0 and market.stream.stats.resubscribes == 0
            assert "book_gap" not in {w.code for w in r.recorder.of(EngineWarning)}
            assert r.node.engine.book.valid
            chaos_row.notes["duplicates_dropped"] = market.stream.stats.duplicates
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "book_stream_refused",
    "book.d subscription refused (JSON-RPC error 1002) after a resubscribe, for ~1 s",
    "the venue reports book_ok=false and the engine quotes from the mini ticker; the book "
    "stream is retried and restored; no orphan order",
)
async def test_book_stream_refused(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path, book_silence_s=0.3) as r:
            await r.start()
            market = r.venue.market
            assert market is not None
            r.exchange.faults.book_subscribe_error = True
            r.exchange.faults.gap_next_book = 1  # the gap's resubscribe is refused
            await eventually(lambda: not market.book_ok, 10)
            placed = len(r.recorder.of(PlaceOrder))
            await eventually(lambda: len(r.recorder.of(PlaceOrder)) > placed, 10)
            assert not market.book_ok  # quoting went on from the ticker
            assert r.node.engine.mode is EngineMode.RUNNING
            r.exchange.faults.book_subscribe_error = False
            r.watch.start()
            chaos_row.recover_s = await r.recover(
                lambda: market.book_ok and r.node.engine.book.valid and quoting_both_sides(r.node),
                15,
            )
            chaos_row.notes["book_failures"] = market.book_failures
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "malformed_frames",
    "a frame that is not JSON on both stream connections, then a book.d delta with an "
    "unparsable price",
    "the bad JSON costs a reconnect (fresh subscriptions and snapshots), the bad delta a "
    "book re-subscription; both streams stay alive; quoting on both sides again",
)
async def test_malformed_frames(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            market, private = r.venue.market, r.venue.private
            assert market is not None and private is not None
            r.watch.start()
            r.server.send_raw("<html>502 Bad Gateway</html>")
            await eventually(
                lambda: market.stream.stats.connects >= 2 and private.stream.stats.connects >= 2,
                10,
            )
            await eventually(lambda: quoting_both_sides(r.node) and r.node.engine.book.valid, 10)
            resubscribes = market.stream.stats.resubscribes
            r.exchange.faults.corrupt_next_book = 1
            await eventually(lambda: market.stream.stats.resubscribes > resubscribes, 10)
            chaos_row.recover_s = await r.recover(
                lambda: market.book_ok and r.node.engine.book.valid and quoting_both_sides(r.node),
                15,
            )
            chaos_row.notes.update(
                bad_frames=market.stream.stats.bad_frames + private.stream.stats.bad_frames,
                book_parse_errors=market.parse_errors,
            )
            await r.fills_happen(1)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "rate_limit_storm",
    "429 storm: the next 12 private REST calls answered 429 / code 1006",
    "calls back off (exponential, jittered) and are retried; the engine keeps or regains "
    "both quotes without halting; no orphan order",
)
async def test_429_storm(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(60):
        async with rig(tmp_path) as r:
            await r.start()
            http = r.venue.http.stats
            r.watch.start()
            r.exchange.faults.rest_script = [(429, 1006)] * 12
            await eventually(lambda: not r.exchange.faults.rest_script, 20)
            chaos_row.recover_s = await r.recover(lambda: quoting_both_sides(r.node), 20)
            chaos_row.notes.update(
                rate_limited=http.rate_limited, retries=http.retries, failures=http.failures
            )
            assert http.rate_limited == 12 and http.retries >= 9
            assert not r.recorder.of(BreakerTripped)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "server_error_burst",
    "5xx burst: the next 8 private REST calls answered 503 / code 1002",
    "retried with backoff; failed calls surface as venue errors (counted by the error-storm "
    "breaker); quoting resumes; no orphan order",
)
async def test_5xx_burst(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(60):
        async with rig(tmp_path) as r:
            await r.start()
            http = r.venue.http.stats
            r.watch.start()
            r.exchange.faults.rest_script = [(503, 1002)] * 8
            await eventually(lambda: not r.exchange.faults.rest_script, 20)
            chaos_row.recover_s = await r.recover(lambda: quoting_both_sides(r.node), 20)
            chaos_row.notes.update(
                server_errors=http.server_errors, retries=http.retries, failures=http.failures
            )
            assert http.server_errors == 8
            assert mode(r.node) is EngineMode.RUNNING
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "error_after_execution",
    "the next 6 order actions (create / cancel) executed by the exchange but answered 503 "
    "(a gateway error on the way back)",
    "the retried create is recognised as landed (2012 duplicate id), retried cancels are "
    "harmless; the engine tracks every order the exchange holds; no orphan, no lost fill",
)
async def test_error_after_execution(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(60):
        async with rig(tmp_path) as r:
            await r.start()
            r.watch.start()
            r.exchange.faults.rest_script_after = [(503, 1002)] * 6
            await eventually(lambda: not r.exchange.faults.rest_script_after, 20)
            chaos_row.recover_s = await r.recover(
                lambda: quoting_both_sides(r.node) and not r.orphans_now(), 20
            )
            desk = r.venue.desk
            assert desk is not None
            chaos_row.notes.update(
                creates_found_landed=desk.create_retries_landed,
                retries=r.venue.http.stats.retries,
            )
            await r.fills_happen(1)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "slow_responses",
    "slow REST: every private call answered after 0.6 s (client timeout 0.4 s) for 2 s",
    "market data and the engine keep running; timed-out creates that land later are killed "
    "by their TTL cancel; afterwards no orphan order and quoting on both sides",
)
async def test_slow_responses(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(60):
        async with rig(tmp_path, http_timeout_s=0.4) as r:
            await r.start()
            http = r.venue.http.stats
            processed = r.node.events_processed
            r.exchange.faults.slow_rest_s = 0.6
            await eventually(lambda: http.timeouts >= 2, 10)
            # the engine is not held up by the slow venue: events keep flowing through it
            await eventually(lambda: r.node.events_processed > processed + 100, 10)
            r.exchange.faults.slow_rest_s = 0.0
            r.watch.start()
            chaos_row.recover_s = await r.recover(
                lambda: quoting_both_sides(r.node) and not r.orphans_now(), 25
            )
            chaos_row.notes.update(timeouts=http.timeouts, retries=http.retries)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "cookie_expiry",
    "session cookie invalidated by the exchange mid-run (REST answers 401 / code 1000)",
    "one re-login, the failed call retried with the new cookie; quoting continues; no halt",
)
async def test_cookie_expiry(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            logins = r.server.logins
            r.watch.start()
            r.server.expire_sessions()
            chaos_row.recover_s = await r.recover(
                lambda: r.server.logins > logins and quoting_both_sides(r.node), 15
            )
            await r.fills_happen(1)
            http = r.venue.http.stats
            chaos_row.notes.update(relogins=http.relogins, unauthenticated=http.codes.get(1000, 0))
            assert http.relogins >= 1
            assert not r.recorder.of(BreakerTripped)
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "cookie_expiry_login_fails",
    "session cookie invalidated while the login endpoint answers 503 twice",
    "the re-login is retried with backoff like any failed call, so no call fails; quoting "
    "continues; no halt; no orphan order",
)
async def test_cookie_expiry_while_login_fails(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            logins = r.server.logins
            r.watch.start()
            r.exchange.faults.login_script = [(503, 1002)] * 2
            r.server.expire_sessions()
            chaos_row.recover_s = await r.recover(
                lambda: r.server.logins > logins and quoting_both_sides(r.node), 15
            )
            await r.fills_happen(1)
            http = r.venue.http.stats
            chaos_row.notes.update(
                relogins=http.relogins,
                failed_calls=http.failures,
                venue_errors=len(r.recorder.of(VenueError)),
            )
            assert not r.recorder.of(BreakerTripped)
            assert http.failures == 0 and not r.recorder.of(VenueError)  # every call retried
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "cookie_short_lifetime",
    "session cookie lifetime of 2 s (the exchange's Expires header)",
    "the session is renewed before expiry (no 401 at all); trading unaffected",
)
async def test_cookie_short_lifetime(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            r.server.cookie_lifetime_s = 2
            await r.venue.http.login()  # a session under the short lifetime
            logins = r.venue.http.stats.logins
            await r.start()
            r.watch.start()
            await eventually(lambda: r.venue.http.stats.logins >= logins + 3, 15)
            http = r.venue.http.stats
            chaos_row.notes.update(logins=http.logins, unauthenticated=http.codes.get(1000, 0))
            assert http.codes.get(1000, 0) == 0
            assert mode(r.node) is EngineMode.RUNNING
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0


@pytest.mark.chaos(
    "cancel_on_disconnect",
    "the exchange's dead-man switch fires: every resting order cancelled by GRVT",
    "cancels arrive on the order stream; the engine requotes both sides; the switch is "
    "re-armed; no orphan order",
)
async def test_cancel_on_disconnect(tmp_path: Path, chaos_row: Row) -> None:
    with anyio.fail_after(40):
        async with rig(tmp_path) as r:
            await r.start()
            before = set(r.engine_live())
            r.watch.start()
            r.server.fire_cancel_on_disconnect()
            chaos_row.recover_s = await r.recover(
                lambda: quoting_both_sides(r.node) and not (r.engine_live() & before), 15
            )
            reasons = {c.reason for c in r.recorder.of(OrderCanceled)}
            assert "client_cancel_on_disconnect_triggered" in reasons
            await eventually(lambda: r.exchange.cod_deadline_ns > 0, 10)
            chaos_row.notes["cod_fired"] = r.exchange.cod_fired
            await r.finish(chaos_row)
    assert chaos_row.lost_fills == 0 and chaos_row.orphan_orders == 0
