"""`GrvtVenue`: the `Venue` protocol on GRVT — REST for commands and state, `/ws/full` for
market data and order updates, a dead-man-switch watchdog and REST polling as fallbacks.

`execute` never raises for venue failures: refusals become `OrderRejected` / `CancelRejected`
and transport or auth failures also a `VenueError` event (counted by the error-storm breaker).

The listing of the traded instrument is re-read every `instruments_refresh_s`. Prices, sizes and
signatures are built from the constraints read at start, so if GRVT changes them (tick size,
size step, min size, min notional, base decimals, instrument hash) or stops listing the symbol,
the venue says so in a `VenueError`, asks the engine to halt (`HaltRequested`, with the same
plain-words reason) and refuses every new order from then on — except reduce-only closes that
are valid on the new listing, so a halt can still flatten. Restarting picks up the new listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx

from grvtmm.core.clock import NS_PER_S, Clock, perf_ns, secure_rng
from grvtmm.core.commands import CancelAll, CancelOrder, Command, PlaceOrder, Reconcile
from grvtmm.core.events import Event, HaltRequested, VenueError, VenueErrorKind
from grvtmm.core.types import FeeSchedule, Instrument, Side
from grvtmm.venues.grvt import errors as err
from grvtmm.venues.grvt import parse
from grvtmm.venues.grvt.config import GrvtConfig
from grvtmm.venues.grvt.feeds import MarketFeed, PrivateFeed, book_needs_retry
from grvtmm.venues.grvt.http import GrvtHttp
from grvtmm.venues.grvt.instruments import InstrumentCache, fits
from grvtmm.venues.grvt.limits import RateLimits
from grvtmm.venues.grvt.orders import OrderDesk
from grvtmm.venues.grvt.parse import ParseError, Quantizer
from grvtmm.venues.grvt.rest import GrvtRest
from grvtmm.venues.grvt.tracker import KnownOrder, OrderTracker

__all__ = ["GrvtConfig", "GrvtVenue"]

log = logging.getLogger(__name__)

CLOSE_FLUSH_S = 5.0
"""`close` waits this long at most for the cancels still queued to go out."""


class GrvtVenue:
    """One GRVT perpetual for one trading sub-account."""

    name = "grvt"

    def __init__(
        self,
        config: GrvtConfig,
        symbol: str,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        nonce_rng: random.Random | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.symbol = symbol
        self._clock = clock
        self._rng = rng or random.Random(0)
        self._nonce_rng = nonce_rng or secure_rng()
        self.http = GrvtHttp(
            config.endpoints(),
            api_key=config.key(),
            clock=clock,
            rng=self._rng,
            client=http_client,
            timeout_s=config.http_timeout_s,
            limits=RateLimits(now_ns=perf_ns, budgets=config.budgets()),
        )
        self.rest = GrvtRest(self.http, config.trading_account_id)
        self.instruments = InstrumentCache(self.rest)
        self._instrument: Instrument | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._outbox: asyncio.Queue[Command] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.rest_tickers = 0
        """Top-of-book answers polled over REST while the market stream was down."""
        self.rest_ticker_failures = 0
        self._connected = False
        self._closing = False
        self._closed = False
        self.leverage_problem = ""
        """Set when GRVT refused the leverage the strategy sizes for (shown as a notice)."""
        self.listing_problem = ""
        """Set when GRVT changed the traded instrument's listing after start (orders refused)."""
        self._listing_change = ""
        self._new_listing: Instrument | None = None
        self.market: MarketFeed | None = None
        self.private: PrivateFeed | None = None
        self.desk: OrderDesk | None = None
        self._resume_since_ns = 0
        self._stored_fills: list[tuple[str, int, Side]] = []
        self._known_orders: list[KnownOrder] = []

    # ---- Venue protocol ----------------------------------------------------------------------
    @property
    def instrument(self) -> Instrument:
        """The traded instrument; raises `InstrumentConstraintsMissing` until it is usable."""
        if self._instrument is None:
            return self.instruments.get(self.symbol)
        return self._instrument

    @property
    def fees(self) -> FeeSchedule:
        return FeeSchedule(self.config.maker_fee_rate, self.config.taker_fee_rate)

    async def prepare(self) -> Instrument:
        """Log in, learn the sub-account, load instruments, set leverage; returns the instrument."""
        session = await self.http.login()
        if not self.rest.sub_account_id:
            if not session.sub_account_id:
                raise err.AuthError(
                    "trading_account_unknown",
                    "set the trading account id: the API key's login did not name one",
                )
            self.rest.sub_account_id = session.sub_account_id
        await self.instruments.refresh()
        self._instrument = self.instruments.get(self.symbol)
        if self.config.leverage:
            symbol, leverage = self._instrument.symbol, self.config.leverage
            try:
                await self.rest.set_initial_leverage(symbol, leverage)
            except err.VenueError as exc:
                # Not fatal: the account keeps its current leverage; orders beyond its margin
                # are rejected (and counted) rather than the server refusing to start.
                self.leverage_problem = (
                    f"GRVT did not set {leverage}x leverage on {symbol} ({exc.describe()}): "
                    "orders are sized for it, so check the account's leverage on GRVT."
                )
                log.warning("grvt.leverage_not_set", extra={"detail": self.leverage_problem})
        return self._instrument

    def resume(
        self,
        *,
        fills_since_ns: int,
        stored_fills: list[tuple[str, int, Side]],
        unfinished: list[KnownOrder],
    ) -> None:
        """Before `connect`: continue where an earlier process stopped. The first reconcile then
        reports the fills from `fills_since_ns` that are not among `stored_fills` (trade id,
        client order id, side), and the outcome of the orders it left `unfinished`."""
        self._resume_since_ns = fills_since_ns
        self._stored_fills = list(stored_fills)
        self._known_orders = list(unfinished)

    async def connect(self) -> None:
        """Prepare if needed and start the streams, the watchdog and the pollers (idempotent)."""
        if self._connected or self._closed:
            return
        self._connected = True
        try:
            inst = self._instrument or await self.prepare()
        except err.VenueError as exc:
            self._emit(self._error(exc, "connect"))
            self._connected = False
            raise
        self._wire(inst)
        assert self.market is not None and self.private is not None and self.desk is not None
        await self.market.start()
        await self.private.start()
        loop = asyncio.get_running_loop()
        jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("sender", self._send_commands),
            ("market", self.market.stream.run),
            ("private", self.private.stream.run),
            ("account", self._poll_account),
            ("housekeeping", self._housekeeping),
            ("instruments", self._refresh_instruments),
        ]
        if self.config.cancel_on_disconnect:
            jobs.append(("dead_man", self._dead_man_switch))
        self._tasks = [loop.create_task(_guard(fn, name), name=f"grvt.{name}") for name, fn in jobs]

    def _wire(self, inst: Instrument) -> None:
        q = Quantizer(inst)
        tracker = OrderTracker(inst.symbol)
        cfg = self.config
        self.market = MarketFeed(
            cfg.endpoints().market_data_ws_url,
            q,
            clock=self._clock,
            rng=self._rng,
            emit=self._emit,
            book_rate_ms=cfg.book_rate_ms,
            mini_rate_ms=cfg.mini_rate_ms,
            trade_limit=cfg.trade_limit,
        )
        self.private = PrivateFeed(
            cfg.endpoints().trades_ws_url,
            q,
            tracker,
            sub_account_id=self.rest.sub_account_id,
            clock=self._clock,
            rng=self._rng,
            emit=self._emit,
            headers=self.http.ensure_auth_headers,
            relogin=self.http.login,
        )
        self.desk = OrderDesk(
            cfg, self.rest, q, tracker, clock=self._clock, nonce_rng=self._nonce_rng
        )
        now = self._clock.now_ns()
        self.desk.since_ns = min(now, self._resume_since_ns) if self._resume_since_ns else now
        tracker.remember_fills(self._stored_fills)
        for known in self._known_orders:
            tracker.adopt_known(known)

    def events(self) -> AsyncIterator[Event]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def execute(self, command: Command) -> None:
        """Queue one command for the sender; outcomes arrive as events. Never raises.

        Commands go out one at a time in order, so a slow or rate-limited REST call delays the
        commands behind it but never the market data or the engine.
        """
        self._outbox.put_nowait(command)

    async def _send_commands(self) -> None:
        while True:
            command = await self._outbox.get()
            try:
                if self._closing and isinstance(command, PlaceOrder):
                    continue  # closing: nothing new goes out, cancels still do
                for event in await self._perform(command):
                    self._emit(event)
            finally:
                self._outbox.task_done()

    async def _perform(self, command: Command) -> list[Event]:
        desk = self.desk
        try:
            if desk is None:
                raise err.Disconnected("not_connected", "the venue is not connected")
            if isinstance(command, PlaceOrder):
                if self.listing_problem:
                    self._check_placement(command)
                return await desk.place(command)
            if isinstance(command, CancelOrder):
                return await desk.cancel(command)
            if isinstance(command, CancelAll):
                return await desk.cancel_all(command)
            if isinstance(command, Reconcile):
                return await desk.reconcile()
            return []
        except err.VenueError as exc:
            return self._failed(command, exc)
        except Exception as exc:  # a bug here must not take the node down
            log.exception("grvt.execute_failed", extra={"command": type(command).__name__})
            now = self._clock.now_ns()
            return [
                VenueError(ts_ns=now, local_ns=now, kind=VenueErrorKind.INTERNAL, detail=repr(exc))
            ]

    def _failed(self, command: Command, exc: err.VenueError) -> list[Event]:
        if isinstance(command, PlaceOrder | CancelOrder) and self.desk is not None:
            return self.desk.failed(command, exc)
        return [self._error(exc, type(command).__name__)]

    async def close(self) -> None:
        """Stop every task, disarm the dead-man switch and end `events()` (idempotent). With
        orders of ours still open the switch stays armed, so the exchange cancels them when its
        countdown runs out. Cancels already queued are sent first (up to `CLOSE_FLUSH_S`);
        queued placements are dropped."""
        if self._closed or self._closing:
            return
        self._closing = True
        if any(t.get_name() == "grvt.sender" and not t.done() for t in self._tasks):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_FLUSH_S):
                    await self._outbox.join()
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        left = len(self.desk.tracker.live()) if self.desk is not None else 0
        if self._connected and self.config.cancel_on_disconnect and not left:
            with contextlib.suppress(err.VenueError, ValueError):
                await self.rest.cancel_on_disconnect(0)
        elif left:
            # left armed: when the countdown runs out the exchange cancels what is still open
            log.warning("grvt.closed_with_open_orders", extra={"open": left})
        await self.http.aclose()
        self._queue.put_nowait(None)

    # ---- background ----------------------------------------------------------------------
    async def _dead_man_switch(self) -> None:
        """Keep `cancel_on_disconnect` armed, independently of the quoting loop."""
        while True:
            try:
                await self.rest.cancel_on_disconnect(self.config.cod_countdown_ms)
            except err.VenueError as exc:
                self._emit(self._error(exc, "cancel_on_disconnect"))
            await asyncio.sleep(self.config.cod_heartbeat_s)

    async def _poll_account(self) -> None:
        while True:
            assert self.desk is not None
            try:
                self._emit(await self.desk.account_update())
            except err.VenueError as exc:
                self._emit(self._error(exc, "account_summary"))
            await asyncio.sleep(self.config.account_poll_s)

    async def _housekeeping(self) -> None:
        """REST fallback for quiet or broken private streams; book-stream silence check."""
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.rest_poll_s)
            market, private, desk = self.market, self.private, self.desk
            assert market is not None and private is not None and desk is not None
            now = self._clock.now_ns()
            quiet = private.quiet_for_ns(now) > cfg.private_quiet_s * NS_PER_S
            if private.needs_sync or not private.connected or (quiet and desk.tracker.live()):
                private.needs_sync = False
                await self._run(desk.sync(), "sync")
            else:
                await self._run(desk.check_stuck(), "check_stuck")
            why = book_needs_retry(market, now, int(cfg.book_silence_s * NS_PER_S))
            if why:
                await market.retry_book(why)
            if not market.connected:
                await self._rest_ticker(market)

    async def _rest_ticker(self, market: MarketFeed) -> None:
        """While the market stream is down, the top of book over REST: it prices a flatten's
        closes (the engine never quotes on it). A failed poll is counted, not raised: the
        outage itself is already the stale-data breaker's to judge."""
        try:
            body = await self.rest.mini(market.q.instrument.symbol)
            ticker = parse.ticker_event(body, market.q, self._clock.now_ns())
        except (err.VenueError, ParseError) as exc:
            self.rest_ticker_failures += 1
            log.info("grvt.rest_ticker_failed", extra={"error": str(exc)})
            return
        if ticker is not None:
            self.rest_tickers += 1
            self._emit(replace(ticker, source="rest"))

    async def _refresh_instruments(self) -> None:
        while True:
            await asyncio.sleep(self.config.instruments_refresh_s)
            try:
                await self.instruments.refresh()
            except err.VenueError as exc:
                self._emit(self._error(exc, "instruments"))
                continue
            for event in self._check_listing():
                self._emit(event)

    def _check_listing(self) -> list[Event]:
        """Compare the refreshed listing with the one trading started on; a change (each
        distinct one once) blocks new orders and asks the engine to halt."""
        old = self._instrument
        if old is None:
            return []
        new, changes = self.instruments.changes_since(old)
        what = "; ".join(changes)
        if not changes or what == self._listing_change:
            return []
        self._listing_change, self._new_listing = what, new
        self.listing_problem = (
            f"GRVT changed the {old.symbol} listing ({what}). Orders built on the old "
            "constraints would be refused, so no new orders are sent and trading halts "
            "(closing orders go out only if they fit the new listing). Restart grvt-mm to "
            "trade on the new listing."
        )
        log.error("grvt.listing_changed", extra={"symbol": old.symbol, "changes": what})
        now = self._clock.now_ns()
        return [
            VenueError(
                ts_ns=now,
                local_ns=now,
                kind=VenueErrorKind.REJECTED,
                detail=f"instruments: {self.listing_problem}",
            ),
            HaltRequested(ts_ns=now, local_ns=now, reason=self.listing_problem),
        ]

    def _check_placement(self, cmd: PlaceOrder) -> None:
        """After a listing change only reduce-only orders valid on the new listing go out."""
        old, new = self._instrument, self._new_listing
        if (
            cmd.reduce_only
            and old is not None
            and new is not None
            and (new.asset_id, new.base_decimals) == (old.asset_id, old.base_decimals)
            and fits(new, old.price_str(cmd.price_ticks), old.size_str(cmd.size_lots))
        ):
            return
        raise err.InvalidOrder("instrument_changed", self.listing_problem)

    async def _run(self, job: Awaitable[list[Event]], what: str) -> None:
        try:
            for event in await job:
                self._emit(event)
        except err.VenueError as exc:
            self._emit(self._error(exc, what))
        except ParseError as exc:  # an unreadable answer: reported, and the loop carries on
            log.warning("grvt.unreadable_answer", extra={"what": what, "error": str(exc)})
            now = self._clock.now_ns()
            self._emit(
                VenueError(
                    ts_ns=now,
                    local_ns=now,
                    kind=VenueErrorKind.INTERNAL,
                    detail=f"{what}: unreadable answer from GRVT: {exc}",
                )
            )

    # ---- helpers -------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def _error(self, exc: err.VenueError, what: str) -> VenueError:
        now = self._clock.now_ns()
        return VenueError(
            ts_ns=now,
            local_ns=now,
            kind=exc.kind,
            detail=f"{what}: {exc.describe()}",
            code=exc.code,
        )

    def diagnostics(self) -> dict[str, Any]:
        """Counters for the dashboard: retries, gaps, resubscribes, duplicates, fallbacks."""
        out: dict[str, Any] = {"http": self.http.stats}
        if self.market is not None:
            out["market"] = self.market.stream.stats
            out["book_ok"] = self.market.book_ok
        if self.private is not None:
            out["private"] = self.private.stream.stats
        if self.desk is not None:
            out["duplicate_fills"] = self.desk.tracker.duplicate_fills
            out["unreadable_fills"] = self.desk.unreadable_fills
        out["rest_tickers"] = self.rest_tickers
        out["rest_ticker_failures"] = self.rest_ticker_failures
        return out


async def _guard(fn: Callable[[], Awaitable[None]], name: str) -> None:
    """Run a background loop; a bug is logged (loudly) instead of silently killing the task."""
    try:
        await fn()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("grvt.task_failed", extra={"task": name})
