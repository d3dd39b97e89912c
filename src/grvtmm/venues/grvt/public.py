"""GRVT public market data without keys: the instrument from `all_instruments` and the book,
mini ticker and trades of one instrument over `/ws/full`, as an async iterator of core events.

Only public endpoints are called, so no API key, login or sub-account is needed (paper mode).
The feed is `MarketFeed`, the same one the live venue uses: sequence gaps resubscribe, a
dropped connection reconnects with backoff, and the connection state comes out as
`VenueStatus` events (`connected`, `book_ok`) so the engine reacts to feed trouble exactly as
in live trading. A watchdog re-subscribes a book stream that has gone silent or failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from grvtmm.core.clock import NS_PER_S, Clock, perf_ns
from grvtmm.core.events import Event, HaltRequested, VenueError, VenueErrorKind, VenueStatus
from grvtmm.core.types import Instrument
from grvtmm.venues.grvt import errors as err
from grvtmm.venues.grvt.config import GrvtConfig
from grvtmm.venues.grvt.feeds import MarketFeed, book_needs_retry
from grvtmm.venues.grvt.http import GrvtHttp, Secret
from grvtmm.venues.grvt.instruments import InstrumentCache
from grvtmm.venues.grvt.limits import RateLimits
from grvtmm.venues.grvt.parse import Quantizer
from grvtmm.venues.grvt.rest import GrvtRest

__all__ = ["PublicMarket"]

log = logging.getLogger(__name__)


class PublicMarket:
    """Public market events of one GRVT perpetual; `await prepare()`, then iterate.

    Iterating starts the stream on first use; `aclose()` stops it and ends the iteration.
    Credentials in `config` are never used.
    """

    def __init__(
        self,
        config: GrvtConfig,
        symbol: str,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.symbol = symbol
        self._clock = clock
        self._rng = rng or random.Random(0)
        self.http = GrvtHttp(
            config.endpoints(),
            api_key=Secret(""),
            clock=clock,
            rng=self._rng,
            client=http_client,
            timeout_s=config.http_timeout_s,
            limits=RateLimits(now_ns=perf_ns, budgets=config.budgets()),
        )
        self.instruments = InstrumentCache(GrvtRest(self.http, ""))
        self.feed: MarketFeed | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._closed = False
        self.listing_problem = ""
        """Why trading here must stop: GRVT changed the listing since `prepare()` (plain
        language, for the status); empty while the listing is unchanged."""
        self._listing_change = ""

    @property
    def instrument(self) -> Instrument:
        """The instrument; raises `InstrumentConstraintsMissing` before `prepare()`."""
        if self.feed is not None:
            return self.feed.q.instrument
        return self.instruments.get(self.symbol)

    async def prepare(self) -> Instrument:
        """Load the public instrument list and set up the feed; returns the instrument.

        Raises `grvtmm.venues.grvt.errors.VenueError` when GRVT cannot be reached or does not
        list the symbol as a usable perpetual.
        """
        await self.instruments.refresh()
        inst = self.instruments.get(self.symbol)
        cfg = self.config
        self.feed = MarketFeed(
            cfg.endpoints().market_data_ws_url,
            Quantizer(inst),
            clock=self._clock,
            rng=self._rng,
            emit=self._emit,
            book_rate_ms=cfg.book_rate_ms,
            mini_rate_ms=cfg.mini_rate_ms,
            trade_limit=cfg.trade_limit,
        )
        return inst

    # ---- async iterator -----------------------------------------------------------------------
    def __aiter__(self) -> PublicMarket:
        return self

    async def __anext__(self) -> Event:
        if not self._started:
            await self._start()
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # every later call ends too
            raise StopAsyncIteration
        return event

    async def _start(self) -> None:
        self._started = True
        if self._closed:
            return
        feed = self.feed
        if feed is None:
            raise RuntimeError("PublicMarket.prepare() must run before iterating")
        await feed.start()
        self._tasks = [
            asyncio.create_task(self._guard(feed.stream.run, "market"), name="grvt.public"),
            asyncio.create_task(
                self._guard(lambda: self._watch_book(feed), "watchdog"), name="grvt.public.book"
            ),
            asyncio.create_task(
                self._guard(self._refresh_instruments, "instruments"), name="grvt.public.list"
            ),
        ]

    async def aclose(self) -> None:
        """Stop the stream and the watchdog, close the HTTP client, end the iteration."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self.http.aclose()
        self._queue.put_nowait(None)

    # ---- background -----------------------------------------------------------------------------
    async def _watch_book(self, feed: MarketFeed) -> None:
        """Re-subscribe a book stream that went silent or failed while the connection lives."""
        silence_ns = int(self.config.book_silence_s * NS_PER_S)
        period_s = min(self.config.rest_poll_s, self.config.book_silence_s / 2)
        while True:
            await asyncio.sleep(period_s)
            why = book_needs_retry(feed, self._clock.now_ns(), silence_ns)
            if not why:
                continue
            try:
                await feed.retry_book(why)
            except Exception as exc:  # a send on a closing socket: the reconnect redoes it
                log.warning("grvt.public.retry_book_failed", extra={"error": repr(exc)})
                now = self._clock.now_ns()
                self._emit(
                    VenueError(
                        ts_ns=now,
                        local_ns=now,
                        kind=VenueErrorKind.RETRYABLE,
                        detail=f"book resubscribe failed: {type(exc).__name__}",
                    )
                )

    async def _refresh_instruments(self) -> None:
        """Re-read the public listing now and then; a change to the instrument (each distinct
        one once) asks the engine to halt: the public prices may no longer fit the simulated
        instrument."""
        while True:
            await asyncio.sleep(self.config.instruments_refresh_s)
            try:
                await self.instruments.refresh()
            except err.VenueError as exc:
                now = self._clock.now_ns()
                self._emit(
                    VenueError(
                        ts_ns=now, local_ns=now, kind=exc.kind,
                        detail=f"instruments: {exc.describe()}", code=exc.code,
                    )
                )  # fmt: skip
                continue
            for event in self._check_listing():
                self._emit(event)

    def _check_listing(self) -> list[Event]:
        if self.feed is None:
            return []
        old = self.feed.q.instrument
        _, changes = self.instruments.changes_since(old)
        what = "; ".join(changes)
        if not changes or what == self._listing_change:
            return []
        self._listing_change = what
        self.listing_problem = (
            f"GRVT changed the {old.symbol} listing ({what}). The simulated instrument no "
            "longer matches the public market, so paper trading halts. Restart grvt-mm to "
            "paper-trade on the new listing."
        )
        log.error("grvt.public.listing_changed", extra={"symbol": old.symbol, "changes": what})
        now = self._clock.now_ns()
        return [
            VenueError(
                ts_ns=now, local_ns=now, kind=VenueErrorKind.REJECTED,
                detail=f"instruments: {self.listing_problem}",
            ),
            HaltRequested(ts_ns=now, local_ns=now, reason=self.listing_problem),
        ]  # fmt: skip

    async def _guard(self, job: Callable[[], Awaitable[None]], what: str) -> None:
        """Run a background loop; a bug there is logged and reported as a dead feed."""
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("grvt.public.task_failed", extra={"task": what})
            now = self._clock.now_ns()
            detail = f"public market {what} failed: {type(exc).__name__}"
            self._emit(
                VenueError(ts_ns=now, local_ns=now, kind=VenueErrorKind.INTERNAL, detail=detail)
            )
            self._emit(VenueStatus(ts_ns=now, local_ns=now, connected=False, detail=detail))

    def _emit(self, event: Event) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def diagnostics(self) -> dict[str, Any]:
        """Counters for the dashboard: HTTP calls, stream reconnects, gaps, book fallback."""
        out: dict[str, Any] = {"http": self.http.stats}
        if self.feed is not None:
            out["market"] = self.feed.stream.stats
            out["book_ok"] = self.feed.book_ok
            out["parse_errors"] = self.feed.parse_errors
        return out
