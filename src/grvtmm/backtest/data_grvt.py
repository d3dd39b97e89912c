"""Recorded GRVT public WebSocket feeds → market events.

One frame per line, `<local receive time> <raw json>` (gzip or plain), as received from the
market-data host: `{"stream", "selector", "sequence_number", "prev_sequence_number", "feed"}`.
Used: `v1.book.d` (the first frame of a subscription, `sequence_number` 0, is a full snapshot;
later frames change levels, size 0 deletes), `v1.book.s` (every frame a snapshot) and `v1.trade`
(`is_taker_buyer` is the aggressor side). Frames for other instruments or streams, subscription
acknowledgements and RPC replies are skipped.

Exchange time is the feed's `event_time` (ns). As for Binance files, events come out sorted by
exchange time (receive order on ties) and local time is shifted by one constant so that feed
latency is never negative. A delta is never placed before the snapshot it continues: its
exchange time is raised to the snapshot's when the snapshot's is later.

Book sequence: a snapshot starts the book; the next delta anchors the sequence (its
`prev_sequence` is left unset, as GRVT numbers deltas per connection); every later delta must have
`prev_sequence_number` equal to the previous delta's `sequence_number` (a repeated number is a
duplicate and skipped). A break is yielded as that delta with its own `prev_sequence`, so an
`OrderBook` fed from it goes invalid until the next snapshot (after a resubscription); with no later
snapshot in the files it raises DataFormatError with the line number. Trades seen before (same
`trade_id`, e.g. replayed on resubscription) or older than events already released are skipped.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from grvtmm.backtest.data_common import (
    DEPTH,
    SNAPSHOT,
    DataFormatError,
    LoadOptions,
    LoadStats,
    Quantizer,
    Reorderer,
    Scan,
    int_field,
    offset_from,
    replay_lines,
    scan_lines,
)
from grvtmm.core.events import BookDelta, BookSnapshot, Event, Trade
from grvtmm.core.types import Instrument, Side

EXPECTED = (
    "a GRVT feed frame: {stream, selector, sequence_number, feed} with a v1.book.d / v1.book.s "
    "feed (event_time, instrument, bids/asks of {price, size}) or a v1.trade feed (event_time, "
    "instrument, is_taker_buyer, price, size, trade_id)"
)

BOOK_STREAMS = frozenset({"v1.book.d", "v1.book.s"})
TRADE_STREAM = "v1.trade"
_EVENT_TIME = int_field(b"event_time")
_SEEN_TRADES = 8192
_HEAD = 200


_STREAM = re.compile(rb'"stream"\s*:\s*"(v1\.[\w.]+)"')
_SNAPSHOT_SEQ = re.compile(rb'"sequence_number"\s*:\s*"?0"?\s*[,}]')


def _probe(payload: bytes) -> tuple[int, list[int]]:
    """First-pass classifier: snapshot frames, delta frames and their event times."""
    m = _STREAM.search(payload, 0, _HEAD)
    stream = m[1] if m else b""
    if stream == b"v1.book.s":
        return SNAPSHOT, _EVENT_TIME(payload)
    if stream == b"v1.book.d":
        kind = SNAPSHOT if _SNAPSHOT_SEQ.search(payload) else DEPTH
        return kind, _EVENT_TIME(payload)
    if stream == b"v1.trade":
        return 0, _EVENT_TIME(payload)
    return 0, []


class _Parser:
    """Per-line state: the book sequence and recently seen trade ids."""

    def __init__(
        self,
        instrument: Instrument,
        stats: LoadStats,
        scan: Scan,
        reorder: Reorderer,
    ) -> None:
        self.symbol = instrument.symbol
        self.q = Quantizer(instrument)
        self.stats = stats
        self.scan = scan
        self.reorder = reorder
        self.synced = False
        self.last: int | None = None
        self.snapshot_ts = 0
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.others: set[str] = set()

    def line(self, path: Path, pos: int, line: int, local_ns: int, payload: bytes) -> None:
        msg = orjson.loads(payload)
        if not isinstance(msg, dict):
            raise TypeError("the frame is not a JSON object")
        feed = msg.get("feed")
        stream = msg.get("stream")
        if feed is None or (stream not in BOOK_STREAMS and stream != TRADE_STREAM):
            self.stats.skipped += 1  # acknowledgements, RPC replies, other streams
            return
        if stream == TRADE_STREAM:
            for item in feed if isinstance(feed, list) else [feed]:
                self._trade(item, path, pos, line, local_ns)
            return
        if feed["instrument"] != self.symbol:
            self.others.add(str(feed["instrument"]))
            self.stats.skipped += 1
            return
        seq = int(msg["sequence_number"])
        if stream == "v1.book.s" or seq <= 0:
            self._snapshot(feed, seq, path, pos, line, local_ns)
        else:
            prev = msg.get("prev_sequence_number")
            self._delta(feed, seq, None if prev is None else int(prev), path, pos, line, local_ns)

    def _snapshot(
        self, feed: dict[str, Any], seq: int, path: Path, pos: int, line: int, local_ns: int
    ) -> None:
        snap = BookSnapshot(
            ts_ns=int(feed["event_time"]),
            local_ns=local_ns,
            symbol=self.symbol,
            bids=self.q.objects(feed["bids"]),
            asks=self.q.objects(feed["asks"]),
            sequence=seq,
        )
        self.stats.snapshots += 1
        self.reorder.push(snap, pos, path, line)
        self.snapshot_ts = snap.ts_ns
        self.synced = True
        self.last = None

    def _delta(
        self,
        feed: dict[str, Any],
        seq: int,
        prev: int | None,
        path: Path,
        pos: int,
        line: int,
        local_ns: int,
    ) -> None:
        bids = self.q.objects(feed["bids"])
        asks = self.q.objects(feed["asks"])
        if not self.synced:
            self.stats.skipped += 1  # no snapshot yet
            return
        last = self.last
        gap = False
        if last is not None:
            if seq <= last:
                self.stats.skipped += 1  # duplicate
                return
            if prev != last:
                gap = True
                self._gap(path, line, pos, last, seq, prev)
        delta = BookDelta(
            # never sorted ahead of the snapshot it continues (a snapshot sent on
            # resubscription may carry a later event time than the first delta after it)
            ts_ns=max(int(feed["event_time"]), self.snapshot_ts),
            local_ns=local_ns,
            symbol=self.symbol,
            bids=bids,
            asks=asks,
            sequence=seq,
            prev_sequence=prev if last is not None else None,
        )
        self.stats.deltas += 1
        self.reorder.push(delta, pos, path, line)
        self.last = seq
        self.synced = not gap

    def _gap(self, path: Path, line: int, pos: int, last: int, seq: int, prev: int | None) -> None:
        self.stats.gaps += 1
        if not self.scan.snapshot_after(pos):
            raise DataFormatError(
                path,
                line,
                f"a book delta continuing the sequence (prev_sequence_number == {last})",
                got=f"sequence_number={seq} prev_sequence_number={prev}, and no later "
                "snapshot to re-sync from",
            )
        self.stats.gap_lines.append(f"{path}:{line}")

    def _trade(self, item: dict[str, Any], path: Path, pos: int, line: int, local_ns: int) -> None:
        if item["instrument"] != self.symbol:
            self.others.add(str(item["instrument"]))
            self.stats.skipped += 1
            return
        trade_id = str(item.get("trade_id", ""))
        ts_ns = int(item["event_time"])
        if (trade_id and trade_id in self.seen) or ts_ns < self.reorder.released_ts:
            self.stats.skipped += 1
            return
        if trade_id:
            self.seen[trade_id] = None
            if len(self.seen) > _SEEN_TRADES:
                self.seen.popitem(last=False)
        taker_buys = item["is_taker_buyer"]
        if not isinstance(taker_buys, bool):
            raise TypeError("is_taker_buyer is not a boolean")
        trade = Trade(
            ts_ns=ts_ns,
            local_ns=local_ns,
            symbol=self.symbol,
            price_ticks=self.q.ticks(item["price"]),
            size_lots=self.q.lots(item["size"]),
            aggressor=Side.BUY if taker_buys else Side.SELL,
        )
        self.stats.trades += 1
        self.reorder.push(trade, pos, path, line)


def load_grvt(
    paths: Sequence[Path], instrument: Instrument, options: LoadOptions, stats: LoadStats
) -> Iterator[Event]:
    """Stream events from recorded GRVT feed files (one stream across files)."""
    scan = scan_lines(paths, _probe)
    offset = offset_from(scan.min_latency_ns, options)
    stats.local_offset_ns = offset
    reorder = Reorderer(options.reorder_window_ns, options.trades_first)
    parser = _Parser(instrument, stats, scan, reorder)
    yield from replay_lines(paths, parser.line, reorder, stats, offset, EXPECTED)
    if parser.others and stats.events == 0:
        raise DataFormatError(
            paths[0],
            None,
            f"frames for instrument {instrument.symbol}",
            got=f"only {sorted(parser.others)[:5]}",
        )
