"""Binance USD-M futures collector files → market events.

One message per line, `<local receive time> <raw json>` (hftbacktest's collector format): a REST
depth snapshot, `depth@0ms` diffs, `trade` and `bookTicker` combined-stream messages.

Ordering: events come out sorted by exchange time (`T`, else `E`; ms → ns), equal times in
receive order. That is exactly hftbacktest's `binancefutures.convert`, which stably sorts its rows
by `T`: a trade precedes the depth update it caused when its `T` is earlier or it was received
first. `LoadOptions.trades_first` puts trades first on every tie instead.

Local time: every local stamp is shifted by one constant, minus the smallest (local - exchange)
over the events this load yields, found in a first pass (hftbacktest's `correct_local_timestamp`
with zero base latency). Feed latency is then never negative and local times equal those of an
hftbacktest conversion of the same file.

Book sequence: diffs received before the first snapshot are held; when it arrives, diffs with
`u <= lastUpdateId` are dropped and the first one kept must bridge it (`pu <= lastUpdateId`, or
`U <= lastUpdateId + 1`); it is yielded with `prev_sequence = lastUpdateId` (and no earlier than
the snapshot in exchange time, should its `T` say otherwise), later ones with
`prev_sequence = pu` once `pu` equals the previous `u`. A break in that chain (a gap) is yielded
as the breaking delta with its own `pu`, so an `OrderBook` fed from it goes invalid, and diffs are
held until the next snapshot re-syncs the book; with no later snapshot in the files the gap raises
DataFormatError with its line number. While the chain is intact a later snapshot adds nothing and
is skipped. Trades other than `X == "MARKET"` are skipped, as hftbacktest does.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from grvtmm.backtest.data_common import (
    DEPTH,
    NS_PER_MS,
    SNAPSHOT,
    DataFormatError,
    LoadOptions,
    LoadStats,
    Probe,
    Quantizer,
    Reorderer,
    Scan,
    int_field,
    offset_from,
    replay_lines,
    scan_lines,
)
from grvtmm.core.events import BookDelta, BookSnapshot, Event, Level, Ticker, Trade
from grvtmm.core.types import Instrument, Side

EXPECTED = (
    "a Binance USD-M message: a depthUpdate (U, u, pu, b, a), trade (p, q, m, T) or bookTicker "
    "(b, B, a, A) stream message, or a REST depth snapshot (lastUpdateId, bids, asks)"
)

_T = int_field(b"T")
_E = int_field(b"E")
_HEAD = 100
_KIND = re.compile(rb'"e"\s*:\s*"(\w+)"')
_MARKET = re.compile(rb'"X"\s*:\s*"MARKET"')
_SNAPSHOT = re.compile(rb'"lastUpdateId"\s*:')
_STREAM = re.compile(rb'\{\s*"stream"')
_TICKER = re.compile(rb'"e"\s*:\s*"bookTicker"')


def _probe(tickers: bool) -> Probe:
    """First-pass classifier: the exchange time of each line that will yield an event."""

    def probe(payload: bytes) -> tuple[int, list[int]]:
        m = _KIND.search(payload, 0, _HEAD)
        kind = 0
        if m is None:
            if not _STREAM.match(payload) and _SNAPSHOT.search(payload):
                kind = SNAPSHOT
        elif m[1] == b"bookTicker":
            if not tickers:
                return 0, []
        elif m[1] == b"depthUpdate":
            kind = DEPTH
        elif m[1] == b"trade" and not _MARKET.search(payload):
            return 0, []
        times = _T(payload) or _E(payload)
        return kind, [times[0] * NS_PER_MS] if times else []

    return probe


def _exch_ns(obj: dict[str, Any]) -> int:
    stamp = obj.get("T")
    if stamp is None:
        stamp = obj["E"]
    return int(stamp) * NS_PER_MS


@dataclass(slots=True)
class _Diff:
    path: Path
    line: int
    pos: int
    ts_ns: int
    local_ns: int
    first: int
    last: int
    prev: int | None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class _Parser:
    """The per-line state machine; pushes events into the reorder buffer."""

    def __init__(
        self,
        instrument: Instrument,
        options: LoadOptions,
        stats: LoadStats,
        scan: Scan,
        reorder: Reorderer,
    ) -> None:
        self.symbol = instrument.symbol
        self.q = Quantizer(instrument)
        self.tickers = options.tickers
        self.stats = stats
        self.scan = scan
        self.reorder = reorder
        self.last: int | None = None
        self.bridging = False
        self.pending: deque[_Diff] = deque(maxlen=options.snapshot_buffer)

    def line(self, path: Path, pos: int, line: int, local_ns: int, payload: bytes) -> None:
        if not self.tickers and _TICKER.search(payload, 0, _HEAD):
            self.stats.skipped += 1
            return
        msg = orjson.loads(payload)
        if not isinstance(msg, dict):
            raise TypeError("the message is not a JSON object")
        data = msg.get("data", msg if "e" in msg else None)
        if data is None:
            if "lastUpdateId" in msg:
                self._snapshot(msg, path, pos, line, local_ns)
            elif "code" in msg:
                self.stats.skipped += 1  # a REST error reply the collector logged
            else:
                raise KeyError("data")
            return
        kind = data["e"]
        if kind == "depthUpdate":
            self._depth(data, path, pos, line, local_ns)
        elif kind == "trade":
            self._trade(data, path, pos, line, local_ns)
        elif kind == "bookTicker" and self.tickers:
            self._ticker(data, path, pos, line, local_ns)
        else:
            self.stats.skipped += 1

    # ---- depth --------------------------------------------------------------------------
    def _depth(self, d: dict[str, Any], path: Path, pos: int, line: int, local_ns: int) -> None:
        pu = d.get("pu")
        diff = _Diff(
            path,
            line,
            pos,
            _exch_ns(d),
            local_ns,
            int(d["U"]),
            int(d["u"]),
            None if pu is None else int(pu),
            self.q.pairs(d["b"]),
            self.q.pairs(d["a"]),
        )
        if self.last is None:
            self.pending.append(diff)
        else:
            self._apply(diff, pos, None)

    def _apply(self, diff: _Diff, at_pos: int, snap: tuple[int, int] | None) -> None:
        """Yield `diff` if it continues the book; `snap` is (ts, pos) of a just-applied
        snapshot, so held diffs of the same exchange time sort after it."""
        last = self.last
        assert last is not None
        if diff.last <= last:
            self.stats.skipped += 1  # already in the book (stale or duplicate)
            return
        if self.bridging:
            ok = (diff.prev is not None and diff.prev <= last) or diff.first <= last + 1
        elif diff.prev is not None:
            ok = diff.prev == last
        else:
            ok = diff.first == last + 1
        if not ok:
            self._gap(diff, at_pos)
            return
        pos = diff.pos
        if snap is not None and diff.ts_ns <= snap[0]:
            # a held diff newer than the snapshot by sequence is never older by time
            diff.ts_ns, pos = snap
        self._push_delta(diff, pos, last)
        self.last = diff.last
        self.bridging = False

    def _push_delta(self, diff: _Diff, pos: int, prev: int) -> None:
        delta = BookDelta(
            ts_ns=diff.ts_ns,
            local_ns=diff.local_ns,
            symbol=self.symbol,
            bids=diff.bids,
            asks=diff.asks,
            sequence=diff.last,
            prev_sequence=prev,
        )
        self.stats.deltas += 1
        self.reorder.push(delta, pos, diff.path, diff.line)

    def _gap(self, diff: _Diff, at_pos: int) -> None:
        expected = self.last
        self.stats.gaps += 1
        if not self.scan.snapshot_after(at_pos):
            raise DataFormatError(
                diff.path,
                diff.line,
                f"a depth diff continuing the book from u={expected} (pu == {expected})",
                got=f"U={diff.first} u={diff.last} pu={diff.prev}, and no later snapshot "
                "to re-sync from",
            )
        self.stats.gap_lines.append(f"{diff.path}:{diff.line}")
        prev = diff.prev if diff.prev is not None else diff.first - 1
        self._push_delta(diff, diff.pos, prev)
        self.last = None
        self.pending.clear()
        self.pending.append(diff)

    def _snapshot(
        self, msg: dict[str, Any], path: Path, pos: int, line: int, local_ns: int
    ) -> None:
        last_update_id = int(msg["lastUpdateId"])
        ts_ns = _exch_ns(msg)
        bids = self.q.pairs(msg["bids"])
        asks = self.q.pairs(msg["asks"])
        if self.last is not None:
            self.stats.skipped += 1  # the diff chain is intact: the book is already exact
            return
        snap = BookSnapshot(
            ts_ns=ts_ns,
            local_ns=local_ns,
            symbol=self.symbol,
            bids=bids,
            asks=asks,
            sequence=last_update_id,
        )
        self.stats.snapshots += 1
        self.reorder.push(snap, pos, path, line)
        self.last = last_update_id
        self.bridging = True
        held = list(self.pending)
        self.pending.clear()
        for diff in held:
            if not self._in_sync():
                self.pending.append(diff)  # a gap among the held diffs: wait for the next one
            else:
                self._apply(diff, pos, (ts_ns, pos))

    def _in_sync(self) -> bool:
        return self.last is not None

    # ---- trades and tickers -------------------------------------------------------------
    def _trade(self, d: dict[str, Any], path: Path, pos: int, line: int, local_ns: int) -> None:
        if d.get("X", "MARKET") != "MARKET":
            self.stats.skipped += 1
            return
        maker_is_buyer = d["m"]
        if not isinstance(maker_is_buyer, bool):
            raise TypeError("m is not a boolean")
        trade = Trade(
            ts_ns=_exch_ns(d),
            local_ns=local_ns,
            symbol=self.symbol,
            price_ticks=self.q.ticks(d["p"]),
            size_lots=self.q.lots(d["q"]),
            # m: the buyer is the maker, so the taker (aggressor) sold
            aggressor=Side.SELL if maker_is_buyer else Side.BUY,
        )
        self.stats.trades += 1
        self.reorder.push(trade, pos, path, line)

    def _ticker(self, d: dict[str, Any], path: Path, pos: int, line: int, local_ns: int) -> None:
        q = self.q
        ticker = Ticker(
            ts_ns=_exch_ns(d),
            local_ns=local_ns,
            symbol=self.symbol,
            bid_ticks=q.ticks(d["b"]),
            bid_lots=q.lots(d["B"]),
            ask_ticks=q.ticks(d["a"]),
            ask_lots=q.lots(d["A"]),
        )
        self.stats.tickers += 1
        self.reorder.push(ticker, pos, path, line)


def load_binance(
    paths: Sequence[Path], instrument: Instrument, options: LoadOptions, stats: LoadStats
) -> Iterator[Event]:
    """Stream events from Binance collector files (one stream across files)."""
    scan = scan_lines(paths, _probe(options.tickers))
    if scan.depth_lines and not scan.snapshots:
        raise DataFormatError(
            paths[0],
            None,
            "a REST depth snapshot (lastUpdateId, bids, asks) to start the book from",
            got=f"{scan.depth_lines} depth diffs and no snapshot",
        )
    offset = offset_from(scan.min_latency_ns, options)
    stats.local_offset_ns = offset
    reorder = Reorderer(options.reorder_window_ns, options.trades_first)
    parser = _Parser(instrument, options, stats, scan, reorder)
    yield from replay_lines(paths, parser.line, reorder, stats, offset, EXPECTED)
