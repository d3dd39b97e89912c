"""GRVT streams as core events: the public market feed (book.d, mini.d, trade) and the private
order feed (order, state, fill, position) of one instrument.

A book.d sequence gap is passed on as the delta that broke the chain, so the engine's book marks
itself invalid until the re-subscription's snapshot; meanwhile mini tickers keep quoting inputs
alive. If the book stream cannot be subscribed, or goes silent while the connection lives, the
feed reports `book_ok=False` (ticker-only quoting) and keeps retrying it.

Book frames are decoded from the received text straight into typed structs (`fastbook`), which
costs about half of decoding them into dicts; every other message, and any book frame the typed
decoder refuses, is decoded generically by the stream client, so malformed frames are counted and
handled the same way whichever decoder saw them first.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Final

from grvtmm.core.clock import NS_PER_S, Clock
from grvtmm.core.events import BookDelta, Event, VenueError, VenueErrorKind, VenueStatus
from grvtmm.venues.grvt import fastbook, parse
from grvtmm.venues.grvt.errors import AuthError
from grvtmm.venues.grvt.errors import VenueError as GrvtError
from grvtmm.venues.grvt.limits import RetryPolicy
from grvtmm.venues.grvt.tracker import OrderTracker
from grvtmm.venues.grvt.ws import (
    DUPLICATE,
    FIRST,
    GAP,
    NEXT,
    STALE,
    JsonRpcStream,
    Key,
    Verdict,
)

log = logging.getLogger(__name__)

Emit = Callable[[Event], None]
BOOK: Final = "v1.book.d"
MINI: Final = "v1.mini.d"
TRADE: Final = "v1.trade"
PRIVATE_STREAMS: Final = ("v1.order", "v1.state", "v1.fill", "v1.position")
_BOOK_TEXT: Final = f'"{BOOK}"'
_BOOK_BYTES: Final = _BOOK_TEXT.encode()


class MarketFeed:
    """Public market data of one instrument over one `/ws/full` connection."""

    def __init__(
        self,
        url: str,
        quantizer: parse.Quantizer,
        *,
        clock: Clock,
        rng: random.Random,
        emit: Emit,
        book_rate_ms: int = 50,
        mini_rate_ms: int = 0,
        trade_limit: int = 50,
        backoff: RetryPolicy | None = None,
    ) -> None:
        self.q = quantizer
        self._clock = clock
        self._emit = emit
        symbol = quantizer.instrument.symbol
        self.selectors = {
            BOOK: f"{symbol}@{book_rate_ms}",
            MINI: f"{symbol}@{mini_rate_ms}",
            TRADE: f"{symbol}@{trade_limit}",
        }
        self.book_ok = True
        self._book_seq = 0
        self.book_failed_ns = 0
        self.connected = False
        self.parse_errors = 0
        self.book_failures = 0
        self._books = fastbook.BookDecoder(quantizer)
        self._book_selector = ""
        self._book_key: Key = (BOOK, quantizer.instrument.symbol)
        self.stream = JsonRpcStream(
            url,
            name="market",
            clock=clock,
            rng=rng,
            on_frame=self._frame,
            on_state=self._state,
            on_error=self._error,
            backoff=backoff,
            on_raw=self._raw,
        )

    async def start(self) -> None:
        for stream, selector in self.selectors.items():
            await self.stream.subscribe(stream, selector)

    def last_book_ns(self) -> int:
        return self.stream.stats.last_frame_ns.get((BOOK, self.q.instrument.symbol), 0)

    async def retry_book(self, reason: str) -> None:
        """Mark the book stream failed (ticker-only inputs) and subscribe it again."""
        self._set_book_ok(False, reason)
        await self.stream.resubscribe((BOOK, self.q.instrument.symbol))

    # ---- callbacks --------------------------------------------------------------------------
    def _raw(self, raw: str | bytes, local_ns: int) -> bool:
        """Book frames straight from the received message (typed decoding, no dicts), with the
        stream's sequence rules. False for any other message and for anything the typed decoder
        refuses: the stream then decodes it generically, so a malformed frame is counted and
        handled exactly as on the generic path."""
        if type(raw) is str:
            if _BOOK_TEXT not in raw:
                return False
        elif _BOOK_BYTES not in raw:
            return False
        try:
            frame = fastbook.decode(raw)
            seq = int(frame.sequence_number)
        except (parse.ParseError, ValueError):
            return False
        if frame.stream != BOOK:
            return False
        stream = self.stream
        selector = frame.selector
        if selector == self._book_selector:  # cheaper than hashing the decoded text again
            key = self._book_key
        else:
            key = self._book_key = stream.key_of(BOOK, selector)
            self._book_selector = selector
        verdict = stream.judge(key, seq, frame.prev_sequence_number, local_ns)
        try:
            if verdict is NEXT:  # `_book`'s delta case, inlined
                event = self._books.delta(frame, seq, local_ns, self._book_seq)
                self._book_seq = event.sequence
                self._emit(event)
            elif verdict is not STALE and verdict is not DUPLICATE:
                self._book(frame, verdict, local_ns)
        except (parse.ParseError, KeyError, TypeError) as exc:
            self._parse_failed(BOOK, exc, local_ns)
        return True

    def _frame(self, frame: dict[str, Any], verdict: Verdict, local_ns: int) -> None:
        stream = frame.get("stream")
        try:
            if stream == BOOK:
                self._book(frame, verdict, local_ns)
            elif stream == MINI:
                ticker = parse.ticker_event(frame["feed"], self.q, local_ns)
                if ticker is not None:
                    self._emit(ticker)
            elif stream == TRADE:
                self._emit(parse.trade_event(frame["feed"], self.q, local_ns))
        except (parse.ParseError, KeyError, TypeError) as exc:
            self._parse_failed(stream, exc, local_ns)

    def _parse_failed(self, stream: object, exc: Exception, local_ns: int) -> None:
        self.parse_errors += 1
        log.warning("grvt.market.parse_error", extra={"stream": stream, "error": str(exc)})
        self._emit(
            VenueError(
                ts_ns=local_ns,
                local_ns=local_ns,
                kind=VenueErrorKind.INTERNAL,
                detail=f"unparsable {stream} frame: {exc}",
            )
        )
        if stream == BOOK:
            self._book_lost(local_ns)

    def _book_lost(self, local_ns: int) -> None:
        """A book frame could not be read: the book would silently miss its changes. Break the
        chain for the engine's book (an empty delta that cannot follow the last one, so it
        waits for a snapshot) and subscribe the book again."""
        symbol = self.q.instrument.symbol
        last = self._book_seq
        self._emit(
            BookDelta(
                ts_ns=local_ns,
                local_ns=local_ns,
                symbol=symbol,
                bids=(),
                asks=(),
                sequence=last + 1,
                prev_sequence=last - 1,
            )
        )
        self.stream.restart((BOOK, symbol))

    def _book(
        self, frame: dict[str, Any] | fastbook.BookFrame, verdict: Verdict, local_ns: int
    ) -> None:
        first = verdict is FIRST
        # The stream client has checked continuity, so deltas are chained to what was sent
        # on; a gap is sent on with a predecessor that cannot match, so the book sees it too.
        last = self._book_seq
        prev = last if verdict is NEXT else last - 1
        if isinstance(frame, fastbook.BookFrame):
            event = self._books.event(frame, snapshot=first, local_ns=local_ns, prev_sequence=prev)
        else:
            event = parse.book_event(
                frame, self.q, snapshot=first, local_ns=local_ns, prev_sequence=prev
            )
        self._book_seq = event.sequence
        self._emit(event)
        if first and not self.book_ok:
            self._set_book_ok(True, "book stream restored")

    def _state(self, up: bool, detail: str) -> None:
        self.connected = up
        now = self._clock.now_ns()
        self._emit(
            VenueStatus(
                ts_ns=now,
                local_ns=now,
                connected=up,
                detail=f"market {detail}",
                book_ok=self.book_ok,
            )
        )

    def _error(self, key: Key, err: GrvtError) -> None:
        if key[0] == BOOK:
            self.book_failures += 1
            self._set_book_ok(False, f"book stream failed: {err.describe()}")

    def _set_book_ok(self, ok: bool, detail: str) -> None:
        now = self._clock.now_ns()
        if not ok:
            self.book_failed_ns = now
        if ok == self.book_ok:
            return
        self.book_ok = ok
        self._emit(
            VenueStatus(
                ts_ns=now, local_ns=now, connected=self.connected, detail=detail, book_ok=ok
            )
        )


class PrivateFeed:
    """Our orders, fills and position over an authenticated `/ws/full` connection."""

    def __init__(
        self,
        url: str,
        quantizer: parse.Quantizer,
        tracker: OrderTracker,
        *,
        sub_account_id: str,
        clock: Clock,
        rng: random.Random,
        emit: Emit,
        headers: Callable[[], Awaitable[dict[str, str]]],
        relogin: Callable[[], Awaitable[Any]],
        backoff: RetryPolicy | None = None,
    ) -> None:
        self.q = quantizer
        self.tracker = tracker
        self._clock = clock
        self._emit = emit
        self.selector = f"{sub_account_id}-{quantizer.instrument.symbol}"
        self.connected = False
        self.needs_sync = True
        self.parse_errors = 0

        self._relogin = relogin
        self._relogging: asyncio.Task[None] | None = None

        async def relogin_once() -> None:
            await relogin()

        self.stream = JsonRpcStream(
            url,
            name="private",
            clock=clock,
            rng=rng,
            on_frame=self._frame,
            on_state=self._state,
            on_error=self._error,
            headers=headers,
            on_auth_failure=relogin_once,
            backoff=backoff,
        )

    async def start(self) -> None:
        for stream in PRIVATE_STREAMS:
            await self.stream.subscribe(stream, self.selector)

    def last_frame_ns(self) -> int:
        frames = self.stream.stats.last_frame_ns
        return max((frames.get((s, self.selector), 0) for s in PRIVATE_STREAMS), default=0)

    def quiet_for_ns(self, now_ns: int) -> int:
        last = self.last_frame_ns()
        return now_ns - last if last else now_ns

    def _frame(self, frame: dict[str, Any], verdict: Verdict, local_ns: int) -> None:
        if verdict is GAP:
            self.needs_sync = True  # a missed order update or fill: read them over REST
        stream = frame.get("stream")
        feed = frame.get("feed")
        if not isinstance(feed, dict):
            return
        try:
            for event in self._translate(stream, feed, local_ns):
                self._emit(event)
        except (parse.ParseError, KeyError, TypeError) as exc:
            self.parse_errors += 1
            self.needs_sync = True
            log.warning("grvt.private.parse_error", extra={"stream": stream, "error": str(exc)})

    def _translate(self, stream: object, feed: dict[str, Any], local_ns: int) -> list[Event]:
        symbol = self.q.instrument.symbol
        if stream == "v1.state":
            return self.tracker.on_state(parse.state_feed(feed, self.q), local_ns)
        if stream == "v1.order":
            if parse.order_instrument(feed) != symbol:
                return []
            return self.tracker.on_state(parse.parse_order(feed, self.q).state, local_ns)
        if stream == "v1.fill":
            return self.tracker.on_fill(parse.parse_fill(feed, self.q), local_ns)
        if stream == "v1.position" and feed.get("instrument") == symbol:
            lots, entry = parse.position_lots(feed, self.q)
            ts = parse.ns_field(feed, "event_time") or local_ns
            return self.tracker.on_position(lots, entry, ts, local_ns)
        return []

    def _state(self, up: bool, detail: str) -> None:
        self.connected = up
        self.needs_sync = True  # whatever happened while down is only visible over REST
        log.info("grvt.private.state", extra={"up": up, "detail": detail})

    def _error(self, key: Key, err: GrvtError) -> None:
        self.needs_sync = True
        if isinstance(err, AuthError) and self._relogging is None:
            # the session died under an open connection: log in and reconnect with it
            self._relogging = asyncio.get_running_loop().create_task(self._renew_session())
        now = self._clock.now_ns()
        self._emit(
            VenueError(
                ts_ns=now,
                local_ns=now,
                kind=err.kind,
                detail=f"subscribe {key[0]} failed: {err.describe()}",
                code=err.code,
            )
        )

    async def _renew_session(self) -> None:
        try:
            await self._relogin()
            await self.stream.reconnect()
        except GrvtError as exc:
            log.warning("grvt.private.relogin_failed", extra={"reason": exc.reason})
        finally:
            self._relogging = None


def book_needs_retry(feed: MarketFeed, now_ns: int, silence_ns: int = 10 * NS_PER_S) -> str:
    """Why the book stream should be subscribed again ('' if it is fine): silent, or failed
    at least `silence_ns` ago while the connection is up."""
    if not feed.connected:
        return ""
    if not feed.book_ok:
        return "retrying failed book stream" if now_ns - feed.book_failed_ns > silence_ns else ""
    last = feed.last_book_ns()
    return "book stream silent" if last > 0 and now_ns - last > silence_ns else ""
