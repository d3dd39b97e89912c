"""Typed decoding of GRVT `v1.book.d` frames, straight from the received text to book levels.

`msgspec` decodes a frame into the structs below (prices and sizes stay decimal strings;
`num_orders` and unknown fields are skipped), which costs about half of decoding the same frame
into dicts. `BookDecoder` then turns the strings into exact integer ticks and lots through the
instrument's `Quantizer` caches and either builds the core event (`event`) or applies the levels
to an `OrderBook` directly (`apply`), without an intermediate tuple per level.
"""

from __future__ import annotations

from typing import Final

import msgspec

from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.events import BookDelta, BookSnapshot, Level
from grvtmm.venues.grvt.parse import ParseError, Quantizer, int_field

_SCAN_LIMIT: Final = 64


class BookLevel(msgspec.Struct, gc=False):
    """One `{price, size, num_orders}` entry (`num_orders` is not needed and not decoded)."""

    price: str | int
    size: str | int


class BookFeed(msgspec.Struct, gc=False):
    """The `feed` of a book frame."""

    event_time: str | int = 0
    instrument: str = ""
    bids: tuple[BookLevel, ...] = ()
    asks: tuple[BookLevel, ...] = ()


class BookFrame(msgspec.Struct, gc=False):
    """A `v1.book.d` / `v1.book.s` JSON-RPC feed frame; numbers arrive as strings or numbers."""

    stream: str = ""
    selector: str = ""
    sequence_number: str | int = 0
    prev_sequence_number: str | int | None = None
    feed: BookFeed | None = None


_DECODER: Final = msgspec.json.Decoder(BookFrame)


def decode(raw: bytes | str) -> BookFrame:
    """A received book frame (text or bytes) as a `BookFrame`; `ParseError` when malformed."""
    try:
        frame = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise ParseError(f"bad book frame: {exc}") from None
    if frame.feed is None:
        raise ParseError("book frame without feed")
    return frame


def sequence(frame: BookFrame) -> int:
    """The frame's `sequence_number` (0 when absent)."""
    return _int(frame.sequence_number, "sequence_number")


def _int(value: str | int, field: str) -> int:
    if type(value) is int:
        return value
    try:
        return int(value)
    except ValueError:
        return int_field(value, field)  # raises ParseError


class BookDecoder:
    """Book frames of one instrument → exact events, or levels applied to an `OrderBook`."""

    __slots__ = ("q", "symbol")

    def __init__(self, quantizer: Quantizer) -> None:
        self.q = quantizer
        self.symbol = quantizer.instrument.symbol

    def levels(self, raw: tuple[BookLevel, ...]) -> tuple[Level, ...]:
        """Decoded levels → ((ticks, lots), ...) in the order sent."""
        q = self.q
        tc, lc = q.tick_cache, q.lot_cache
        try:
            return tuple([(tc[lv.price], lc[lv.size]) for lv in raw])
        except KeyError:  # a price or size not seen yet: convert (exactly) and remember it
            return tuple([(q.ticks(lv.price), q.lots(lv.size)) for lv in raw])

    def event(
        self,
        frame: BookFrame,
        *,
        snapshot: bool,
        local_ns: int,
        prev_sequence: int | None = None,
    ) -> BookSnapshot | BookDelta:
        """The core event of a decoded frame, as `parse.book_event` builds it from a dict."""
        feed = frame.feed
        if feed is None:
            raise ParseError("book frame without feed")
        tc, lc = self.q.tick_cache, self.q.lot_cache
        try:  # the hot path, inlined: every price and size seen before
            bids = tuple([(tc[lv.price], lc[lv.size]) for lv in feed.bids])
            asks = tuple([(tc[lv.price], lc[lv.size]) for lv in feed.asks])
        except KeyError:
            bids = self.levels(feed.bids)
            asks = self.levels(feed.asks)
        try:
            seq = int(frame.sequence_number)
            ts_ns = int(feed.event_time or 0)
        except ValueError:
            seq = sequence(frame)
            ts_ns = _int(feed.event_time or 0, "event_time")
        if snapshot:
            return BookSnapshot(
                ts_ns=ts_ns, local_ns=local_ns, symbol=self.symbol, bids=bids, asks=asks,
                sequence=seq,
            )  # fmt: skip
        if prev_sequence is None:
            prev = frame.prev_sequence_number
            if prev is not None and prev != "":
                prev_sequence = int_field(prev, "prev_sequence_number")
        return BookDelta(
            ts_ns=ts_ns,
            local_ns=local_ns,
            symbol=self.symbol,
            bids=bids,
            asks=asks,
            sequence=seq,
            prev_sequence=prev_sequence,
        )

    def delta(self, frame: BookFrame, seq: int, local_ns: int, prev_sequence: int) -> BookDelta:
        """`event(frame, snapshot=False, local_ns=local_ns, prev_sequence=prev_sequence)` for a
        frame whose sequence number `seq` the caller has already read and checked against its
        predecessor (the stream's hot path)."""
        feed = frame.feed
        if feed is None:
            raise ParseError("book frame without feed")
        tc, lc = self.q.tick_cache, self.q.lot_cache
        try:
            bids = tuple([(tc[lv.price], lc[lv.size]) for lv in feed.bids])
            asks = tuple([(tc[lv.price], lc[lv.size]) for lv in feed.asks])
        except KeyError:
            bids = self.levels(feed.bids)
            asks = self.levels(feed.asks)
        try:
            ts_ns = int(feed.event_time or 0)
        except ValueError:
            ts_ns = _int(feed.event_time or 0, "event_time")
        return BookDelta(
            ts_ns=ts_ns,
            local_ns=local_ns,
            symbol=self.symbol,
            bids=bids,
            asks=asks,
            sequence=seq,
            prev_sequence=prev_sequence,
        )

    def apply(
        self,
        frame: BookFrame,
        book: OrderBook,
        *,
        snapshot: bool,
        prev_sequence: int | None = None,
    ) -> ApplyResult:
        """Apply a decoded frame to `book` with `OrderBook.apply_snapshot` / `apply_delta`'s
        rules (sequence continuity, size 0 deletes, best prices kept), without building an
        event. A level off the instrument's grid raises `ParseError` and leaves the book
        invalid until the next snapshot."""
        feed = frame.feed
        if feed is None:
            raise ParseError("book frame without feed")
        seq = sequence(frame)
        if snapshot:
            try:
                bids = {t: n for t, n in self.levels(feed.bids) if n > 0}
                asks = {t: n for t, n in self.levels(feed.asks) if n > 0}
            except ParseError:
                book.invalidate()
                raise
            book.bids = bids
            book.asks = asks
            book.best_bid = max(bids) if bids else 0
            book.best_ask = min(asks) if asks else 0
            book.sequence = seq
            book.valid = True
            book.gap = None
            return ApplyResult.APPLIED
        if not book.valid:
            return ApplyResult.NO_SNAPSHOT
        raw_prev: object = frame.prev_sequence_number if prev_sequence is None else prev_sequence
        last = book.sequence
        if raw_prev is not None and raw_prev != "":
            prev = (
                raw_prev if type(raw_prev) is int else int_field(raw_prev, "prev_sequence_number")
            )
            if seq and seq == last:
                return ApplyResult.DUPLICATE
            if prev != last:
                book.valid = False
                book.gap = (last, prev)
                return ApplyResult.GAP
        elif seq:
            if seq == last:
                return ApplyResult.DUPLICATE
            if seq < last:
                book.valid = False
                book.gap = (last, seq)
                return ApplyResult.GAP
        try:
            self._apply_levels(feed, book)
        except ParseError:
            book.invalidate()
            raise
        if seq:
            book.sequence = seq
        return ApplyResult.APPLIED

    def _apply_levels(self, feed: BookFeed, book: OrderBook) -> None:
        if feed.bids:
            self._apply_bids(feed.bids, book)
        if feed.asks:
            self._apply_asks(feed.asks, book)

    # The two loops below index the quantizer's caches directly. On a miss they store the best
    # price reached so far, convert the frame's levels (which fills the caches or raises
    # ParseError) and run again from the start: replaying levels already applied leaves the
    # same book, because each level sets or deletes one price.
    def _apply_bids(self, raw: tuple[BookLevel, ...], book: OrderBook) -> None:
        q = self.q
        tc, lc = q.tick_cache, q.lot_cache
        levels = book.bids
        best = book.best_bid
        try:
            for lv in raw:
                t = tc[lv.price]
                n = lc[lv.size]
                if n > 0:
                    levels[t] = n
                    if t > best:
                        best = t
                elif levels.pop(t, None) is not None and t == best:
                    best = _next_best(levels, t, -1)
        except KeyError:
            book.best_bid = best
            self.levels(raw)
            self._apply_bids(raw, book)
            return
        book.best_bid = best

    def _apply_asks(self, raw: tuple[BookLevel, ...], book: OrderBook) -> None:
        q = self.q
        tc, lc = q.tick_cache, q.lot_cache
        levels = book.asks
        best = book.best_ask
        try:
            for lv in raw:
                t = tc[lv.price]
                n = lc[lv.size]
                if n > 0:
                    levels[t] = n
                    if best == 0 or t < best:
                        best = t
                elif levels.pop(t, None) is not None and t == best:
                    best = _next_best(levels, t, +1)
        except KeyError:
            book.best_ask = best
            self.levels(raw)
            self._apply_asks(raw, book)
            return
        book.best_ask = best


def _next_best(levels: dict[int, int], removed: int, direction: int) -> int:
    """Best remaining price after removing the best level, scanning nearby ticks first."""
    if not levels:
        return 0
    p = removed
    for _ in range(_SCAN_LIMIT):
        p += direction
        if p in levels:
            return p
    return max(levels) if direction < 0 else min(levels)
