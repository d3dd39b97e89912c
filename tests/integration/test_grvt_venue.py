"""GrvtVenue against the fake GRVT server on loopback: the venue alone, then engine + node."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner, Result

from fakes import eventually
from fakes.grvt_helpers import (
    FAST,
    INST,
    crossing,
    grvt_config,
    quote,
    taker,
    venue_on,
)
from fakes.grvt_rest import listing
from fakes.grvt_server import API_KEY, PRIVATE_KEY, FakeGrvtServer
from fakes.serve_process import live_env
from grvtmm.__main__ import app
from grvtmm.api.state import ConfigState
from grvtmm.core.clock import LiveClock
from grvtmm.core.commands import CancelAll, CancelOrder, Reconcile
from grvtmm.core.events import (
    AccountUpdate,
    BookSnapshot,
    HaltRequested,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    ReconcileSnapshot,
    Ticker,
    VenueError,
    VenueErrorKind,
    VenueStatus,
)
from grvtmm.core.types import Side
from grvtmm.settings import Settings
from grvtmm.store.repository import Store
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.grvt.check import run_check
from grvtmm.venues.grvt.errors import InstrumentConstraintsMissing
from grvtmm.venues.grvt.venue import GrvtVenue

pytestmark = pytest.mark.anyio


async def test_connect_streams_book_and_account() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            assert venue.instrument.symbol == "BNB_USDT_Perp"
            assert venue.instrument.asset_id == "0x030b01"
            assert venue.rest.sub_account_id  # learnt from the login response
            await eventually(lambda: bool(got.of(BookSnapshot)) and bool(got.of(AccountUpdate)))
            status = got.of(VenueStatus)[0]
            assert status.connected and status.book_ok
            assert got.of(AccountUpdate)[0].equity == pytest.approx(1000.0)
            await eventually(lambda: server.exchange.cod_deadline_ns > 0)


async def test_post_only_quote_is_accepted_then_cancelled_by_client_id() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            cmd = quote(venue, server, Side.BUY, 30)
            await venue.execute(cmd)
            await eventually(lambda: bool(got.of(OrderAccepted)))
            accepted = got.of(OrderAccepted)[0]
            assert accepted.client_order_id == cmd.client_order_id
            assert accepted.venue_order_id.startswith("0x") and accepted.venue_order_id != "0x00"
            await venue.execute(
                CancelOrder(ts_ns=0, client_order_id=cmd.client_order_id, symbol=cmd.symbol)
            )
            await eventually(lambda: bool(got.of(OrderCanceled)))
            assert got.of(OrderCanceled)[0].reason == "client_cancel"


async def test_crossing_post_only_and_async_rejects_become_order_rejected() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            crossing_order = crossing(venue, server)
            await venue.execute(crossing_order)
            await eventually(lambda: len(got.of(OrderRejected)) == 1)
            server.exchange.faults.async_post_only_rejects = 1
            passive = quote(venue, server, Side.SELL, 40)
            await venue.execute(passive)
            await eventually(lambda: len(got.of(OrderRejected)) == 2)
            reasons = {e.client_order_id: e.reason for e in got.of(OrderRejected)}
            assert reasons == {
                crossing_order.client_order_id: "FAIL_POST_ONLY",
                passive.client_order_id: "FAIL_POST_ONLY",
            }
            assert not got.of(OrderAccepted)


async def test_synchronous_reject_carries_the_exchange_code() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            tiny = quote(venue, server, Side.BUY, 30)
            tiny = replace(tiny, price_ticks=100)  # 1 USDT × 0.01 BNB: below the 5 USDT minimum
            await venue.execute(tiny)
            await eventually(lambda: bool(got.of(OrderRejected)))
            rejected = got.of(OrderRejected)[0]
            assert (rejected.reason, rejected.code) == ("notional_below_min", 2066)
            assert not got.of(VenueError)  # a refusal is not a venue failure


async def test_missing_instrument_constraints_block_placement() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server:
            venue = GrvtVenue(grvt_config(server), "ODD_USDT_Perp", LiveClock())
            with pytest.raises(InstrumentConstraintsMissing) as info:
                await venue.prepare()
            assert info.value.reason == "instrument_constraints_missing"
            with pytest.raises(InstrumentConstraintsMissing):
                _ = venue.instrument
            await venue.close()


async def test_prepare_sets_the_leverage_and_survives_a_refusal() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server:
            venue = GrvtVenue(grvt_config(server, leverage=20), "BNB_USDT_Perp", LiveClock())
            assert (await venue.prepare()).symbol == "BNB_USDT_Perp"
            assert server.leverage_set == [("BNB_USDT_Perp", "20")]
            assert venue.leverage_problem == ""
            await venue.close()
            server.exchange.faults.leverage_refused = True
            refused = GrvtVenue(grvt_config(server, leverage=50), "BNB_USDT_Perp", LiveClock())
            assert (await refused.prepare()).symbol == "BNB_USDT_Perp"  # still starts
            assert "50x" in refused.leverage_problem and "BNB_USDT_Perp" in refused.leverage_problem
            await refused.close()


async def test_rate_limit_storm_backs_off_and_recovers() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            server.exchange.faults.rest_script = [(429, 1006)] * 3
            cmd = quote(venue, server, Side.SELL, 30)
            await venue.execute(cmd)
            await eventually(lambda: bool(got.of(OrderAccepted)))
            assert venue.http.stats.rate_limited == 3
            assert venue.http.stats.retries >= 3
            assert not got.of(OrderRejected)


async def test_expired_session_logs_in_again() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            logins = server.logins
            server.expire_sessions()
            await venue.execute(quote(venue, server, Side.BUY, 30))
            await eventually(lambda: bool(got.of(OrderAccepted)))
            assert server.logins == logins + 1
            assert venue.http.stats.relogins == 1


async def test_cancel_on_disconnect_firing_cancels_resting_quotes() -> None:
    with anyio.fail_after(15):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            await venue.execute(quote(venue, server, Side.BUY, 30))
            await eventually(lambda: bool(got.of(OrderAccepted)))
            server.fire_cancel_on_disconnect()
            await eventually(lambda: bool(got.of(OrderCanceled)))
            assert got.of(OrderCanceled)[0].reason == "client_cancel_on_disconnect_triggered"
            assert server.exchange.cod_fired == 1
            await eventually(lambda: server.exchange.cod_deadline_ns > 0)  # re-armed


async def test_book_stream_failure_falls_back_to_ticker_then_recovers() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server:
            server.exchange.faults.book_subscribe_error = True
            async with venue_on(server, book_silence_s=0.3) as (_venue, got):
                await eventually(lambda: any(not s.book_ok for s in got.of(VenueStatus)))
                await eventually(lambda: len(got.of(Ticker)) >= 3)
                assert not got.of(BookSnapshot)
                server.exchange.faults.book_subscribe_error = False
                await eventually(lambda: bool(got.of(BookSnapshot)))
                assert got.of(VenueStatus)[-1].book_ok


async def test_while_the_market_stream_is_down_the_top_of_book_comes_over_rest() -> None:
    """Both streams dropped and every reconnect refused: REST still answers, so the venue polls
    the mini ticker (marked `rest`, for pricing a flatten) until the stream is back."""
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            assert not [t for t in got.of(Ticker) if t.source == "rest"]
            server.exchange.faults.refuse_ws = 10**6
            await server.drop_streams()
            await eventually(lambda: any(not s.connected for s in got.of(VenueStatus)))
            await eventually(lambda: len([t for t in got.of(Ticker) if t.source == "rest"]) >= 3)
            rest = [t for t in got.of(Ticker) if t.source == "rest"][-1]
            book = server.exchange.matching.book
            assert rest.bid_ticks <= book.best_bid + 5 and rest.ask_ticks >= book.best_ask - 5
            assert 0 < rest.bid_ticks < rest.ask_ticks
            assert venue.diagnostics()["rest_tickers"] >= 3
            server.exchange.faults.refuse_ws = 0
            await eventually(lambda: got.of(VenueStatus)[-1].connected, timeout_s=10)
            await eventually(lambda: len(got.of(BookSnapshot)) >= 2)
            polled = venue.diagnostics()["rest_tickers"]
            # the account poll runs alongside: a few of its rounds with the stream up
            seen = len(got.of(AccountUpdate))
            await eventually(lambda: len(got.of(AccountUpdate)) >= seen + 4)
            assert venue.diagnostics()["rest_tickers"] <= polled + 1


async def test_reconcile_reports_orders_position_and_account() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            resting = quote(venue, server, Side.SELL, 40)
            ioc = taker(venue, server)
            await venue.execute(resting)
            await venue.execute(ioc)
            await eventually(lambda: bool(got.of(OrderFilled)) and bool(got.of(OrderAccepted)))
            await venue.execute(Reconcile(ts_ns=0, symbol=venue.instrument.symbol))
            await eventually(lambda: bool(got.of(ReconcileSnapshot)))
            snap = got.of(ReconcileSnapshot)[0]
            assert [o.client_order_id for o in snap.open_orders] == [resting.client_order_id]
            assert snap.open_orders[0].leaves_lots == 10
            filled = sum(f.size_lots for f in got.of(OrderFilled))
            assert snap.position_lots == server.exchange.matching.position_lots == filled > 0
            assert snap.equity > 0
            await venue.execute(CancelAll(ts_ns=0, symbol=venue.instrument.symbol))
            await eventually(
                lambda: (
                    resting.client_order_id in {e.client_order_id for e in got.of(OrderCanceled)}
                )
            )
            assert not server.exchange.open_orders()


async def test_listing_change_refuses_orders_off_the_new_listing_and_asks_for_a_halt() -> None:
    coarse = replace(INST, size_step=Decimal("0.1"), min_size=Decimal("0.1"))
    with anyio.fail_after(20):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            venue_on(server, instruments_refresh_s=0.05) as (venue, got),
        ):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            server.relist(INST)  # the same listing again: nothing to say
            refreshes = server.requests.count("full/v1/all_instruments")
            await eventually(lambda: server.requests.count("full/v1/all_instruments") > refreshes)
            assert not venue.listing_problem and not got.of(HaltRequested)

            server.relist(coarse)
            await eventually(lambda: bool(got.of(HaltRequested)))
            problem = venue.listing_problem
            assert "size step 0.01 -> 0.1; min size 0.01 -> 0.1" in problem
            assert got.of(HaltRequested)[0].reason == problem
            assert [e.detail for e in got.of(VenueError)] == [f"instruments: {problem}"]
            sent = len(server.exchange.creates)
            # a quote of 10 lots (0.1 BNB) fits the new step but is not reduce-only: refused
            quote_cmd = quote(venue, server, Side.BUY, 30)
            # a close of 5 lots (0.05 BNB) is off the new size step: refused
            odd_close = replace(
                taker(venue, server), side=Side.SELL, size_lots=5, reduce_only=True, price_ticks=1
            )
            await venue.execute(quote_cmd)
            await venue.execute(odd_close)

            def refusals() -> dict[int, str]:
                return {r.client_order_id: r.reason for r in got.of(OrderRejected)}

            await eventually(lambda: len(refusals()) == 2)
            assert refusals() == {
                quote_cmd.client_order_id: "instrument_changed",
                odd_close.client_order_id: "instrument_changed",
            }
            assert len(server.exchange.creates) == sent  # neither reached GRVT
            # a reduce-only close valid on the new listing still goes out (a halt can flatten)
            close = replace(odd_close, client_order_id=odd_close.client_order_id + 1, size_lots=10)
            await venue.execute(close)
            await eventually(lambda: len(server.exchange.creates) == sent + 1)
            assert server.exchange.creates[-1][1]["legs"][0]["size"] == "0.1"
            assert len(got.of(HaltRequested)) == 1  # said once per change

            server.relist(None)  # then GRVT stops listing it
            await eventually(lambda: len(got.of(HaltRequested)) == 2)
            assert "(not listed as an active perpetual)" in venue.listing_problem
            assert got.of(HaltRequested)[1].reason == venue.listing_problem
            last = replace(close, client_order_id=close.client_order_id + 1)
            await venue.execute(last)
            await eventually(lambda: last.client_order_id in refusals())
            assert refusals()[last.client_order_id] == "instrument_changed"
            assert len(server.exchange.creates) == sent + 1


async def test_an_unreadable_fill_in_the_history_does_not_hide_the_others() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server, venue_on(server) as (venue, got):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            server.exchange.faults.mute_private = True  # fills are only seen over REST
            now = str(server.clock.now_ns())
            bogus = {"trade_id": "bogus-1", "event_time": now, "price": "12x.5", "size": "0.1"}
            server.exchange.fills.append({**bogus, "instrument": INST.symbol, "is_buyer": True})
            ioc = taker(venue, server)
            await venue.execute(ioc)
            await eventually(lambda: bool(got.of(OrderFilled)), 10)
            assert {f.client_order_id for f in got.of(OrderFilled)} == {ioc.client_order_id}
            assert "bogus-1" not in {f.trade_id for f in got.of(OrderFilled)}
            assert venue.desk is not None and venue.desk.unreadable_fills >= 1


# ---- grvt-mm check ------------------------------------------------------------------------------
async def test_check_reports_login_equity_constraints_and_dead_man_switch() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server:
            lines = await run_check(
                grvt_config(server), ["bnb-usdt-perp", "ODD_USDT_Perp"], LiveClock()
            )
            text = "\n".join(lines)
            assert [line[:4] for line in lines].count("FAIL") == 1, text
            assert any(line.startswith("ok   login: trading account") for line in lines)
            assert any("equity 1000.00 USDT" in line for line in lines)
            assert any("BNB_USDT_Perp: tick 0.01, size step 0.01" in line for line in lines)
            odd = next(line for line in lines if "ODD_USDT_Perp" in line)
            assert odd.startswith("FAIL") and "min_notional" in odd and "blocked" in odd
            assert any("market stream" in line and line.startswith("ok") for line in lines)
            assert any("cancel-on-disconnect: armed (15 s) and disarmed" in line for line in lines)
            assert server.exchange.cod_deadline_ns == 0  # left disarmed
            assert API_KEY not in text and PRIVATE_KEY[2:] not in text


async def test_check_command_checks_the_stored_strategy_symbol(tmp_path: Path) -> None:
    eth = replace(INST, symbol="ETH_USDT_Perp", asset_id="0x030a01")
    stored, fresh = tmp_path / "stored", tmp_path / "fresh"
    stored.mkdir()
    store = Store(Settings(data_dir=stored, database_url=None).db_url())
    ConfigState(StrategyConfig(), repository=store).set_strategy(
        StrategyConfig(symbol="eth-usdt-perp")
    )
    store.close()

    async def check(server: FakeGrvtServer, *args: str) -> tuple[Result, str]:
        env = {**live_env(server), "GRVTMM_DATABASE_URL": "", "GRVTMM_SECRET_KEY": ""}

        def invoke() -> Result:
            return CliRunner().invoke(app, ["check", *args], env=env)

        result = await anyio.to_thread.run_sync(invoke)
        assert API_KEY not in result.output and PRIVATE_KEY[2:] not in result.output
        return result, "".join(result.output.split())  # the console wraps long lines

    with anyio.fail_after(60):
        async with FakeGrvtServer(eth, params=FAST) as server:
            server.extra_listings.append(listing(INST))
            # the strategy the server would trade, read from the data dir's store
            result, out = await check(server, "--data-dir", str(stored))
            assert result.exit_code == 0, result.output
            assert "okETH_USDT_Perp:tick0.01,sizestep0.01" in out
            assert "BNB_USDT_Perp" not in out
        async with FakeGrvtServer(INST, params=FAST) as server:
            server.extra_listings.append(listing(eth))
            # nothing stored: the default strategy's symbol
            result, out = await check(server, "--data-dir", str(fresh))
            assert result.exit_code == 0, result.output
            assert "okBNB_USDT_Perp:tick0.01,sizestep0.01" in out
            assert "ETH_USDT_Perp" not in out
            # --symbol is checked instead of the stored one
            result, out = await check(
                server, "--data-dir", str(stored), "--symbol", "bnb-usdt-perp"
            )
            assert result.exit_code == 0, result.output
            assert "okBNB_USDT_Perp:tick0.01" in out and "ETH_USDT_Perp" not in out


async def test_check_explains_a_refused_key_in_one_line() -> None:
    with anyio.fail_after(20):
        async with FakeGrvtServer(INST, params=FAST) as server:
            config = replace(grvt_config(server), api_key="not-the-key")
            lines = await run_check(config, ["BNB_USDT_Perp"], LiveClock())
            login = next(line for line in lines if "login" in line)
            assert login.startswith("FAIL login: the API key was refused")
            assert "not-the-key" not in "\n".join(lines)
            assert not any("cancel-on-disconnect" in line for line in lines)


async def test_slow_answers_time_out_are_retried_and_a_lost_create_is_cancelled() -> None:
    with anyio.fail_after(30):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            venue_on(server, http_timeout_s=0.2) as (venue, got),
        ):
            await eventually(lambda: bool(got.of(BookSnapshot)))
            server.exchange.faults.slow_rest_s = 0.4
            cmd = quote(venue, server, Side.BUY, 30)
            await venue.execute(cmd)
            await eventually(lambda: bool(got.of(OrderRejected)), 15)
            rejected = got.of(OrderRejected)[0]
            assert (rejected.client_order_id, rejected.reason) == (
                cmd.client_order_id,
                "timeout",
            )
            assert any(e.kind is VenueErrorKind.RETRYABLE for e in got.of(VenueError))
            assert venue.http.stats.timeouts >= 4 and venue.http.stats.retries >= 3
            server.exchange.faults.slow_rest_s = 0.0
            # the exchange did take the order in the end: the TTL cancel removed it
            await eventually(lambda: not server.exchange.open_orders(), 10)
            assert cmd.client_order_id in server.exchange.records


async def test_bulk_cancel_replace_and_initial_leverage() -> None:
    with anyio.fail_after(20):
        async with (
            FakeGrvtServer(INST, params=FAST) as server,
            venue_on(server, leverage=10) as (venue, got),
        ):
            assert "full/v1/set_initial_leverage" in server.requests
            await eventually(lambda: bool(got.of(BookSnapshot)))
            old = quote(venue, server, Side.BUY, 30)
            await venue.execute(old)
            await eventually(lambda: bool(got.of(OrderAccepted)))
            assert venue.desk is not None
            new = quote(venue, server, Side.BUY, 25)
            venue.desk.tracker.placed(new, 0)
            answer = await venue.rest.bulk_orders(
                [venue.desk.signed(new)], cancel_client_order_ids=[old.client_order_id]
            )
            assert [o["order_id"] for o in answer["orders"]] == ["0x00"]
            assert answer["cancel_acks"] == [{"ack": True}]
            await eventually(lambda: len(got.of(OrderAccepted)) == 2)
            assert got.of(OrderCanceled)[0].client_order_id == old.client_order_id
            live = {int(o["metadata"]["client_order_id"]) for o in server.exchange.open_orders()}
            assert live == {new.client_order_id}
