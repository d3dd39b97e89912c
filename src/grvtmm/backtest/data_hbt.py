"""hftbacktest `.npz` event arrays → market events, read in chunks straight from the zip member.

Rows (64 bytes): `ev u8, exch_ts i8, local_ts i8, px f8, qty f8, order_id u8, ival i8, fval f8`;
`ev` = type | EXCH (1<<31) | LOCAL (1<<30) | BUY (1<<29) / SELL (1<<28), types 1 DEPTH, 2 TRADE,
3 DEPTH_CLEAR, 4 DEPTH_SNAPSHOT, 5 DEPTH_BBO.

Merging split rows: hftbacktest's `correct_event_order` writes an event whose local order differs
from its exchange order twice, an EXCH-only copy at its exchange position and a LOCAL-only copy at
its local position, both carrying both timestamps. Our events carry both times, so the loader
keeps the rows flagged EXCH (file order is exchange order) and drops the LOCAL-only copies,
checking at the end that they pair up in number with the EXCH-only rows. `local_ns` may then go
backwards from one event to the next; the replay loop orders local delivery itself.

Grouping: consecutive depth rows (DEPTH, DEPTH_BBO) with the same timestamps form one BookDelta;
a run of DEPTH_CLEAR / DEPTH_SNAPSHOT rows with the same timestamps becomes one BookSnapshot of
the whole resulting book. A clear works as in hftbacktest's depth: a bid clear removes bids at or
above its price, an ask clear asks at or below it, a clear without a finite price the whole side,
a clear without a side both sides. Levels outside the cleared range survive into the snapshot (the
loader keeps its own copy of the book for this), so the book equals hftbacktest's. Each TRADE row
is a Trade (BUY = the aggressor bought). Custom rows (type >= 100) and rows flagged neither EXCH
nor LOCAL are skipped. Ticks = round(px / tick) and lots = round(qty / lot), each checked to be
within 1e-6 of an integer.
"""

from __future__ import annotations

import io
import types
import zipfile
import zlib
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from grvtmm.backtest.data_common import DataFormatError, LoadOptions, LoadStats
from grvtmm.backtest.feed import DELTA as FEED_DELTA
from grvtmm.backtest.feed import OTHER as FEED_OTHER
from grvtmm.backtest.feed import SNAPSHOT as FEED_SNAPSHOT
from grvtmm.backtest.feed import CoalescedFeed, FeedChunk
from grvtmm.core.events import BookDelta, BookSnapshot, Event, Level, Trade
from grvtmm.core.types import Instrument, Side
from grvtmm.venues.sim.columnar import (
    KIND_ASK,
    KIND_BID,
    KIND_SKIP,
    KIND_SNAPSHOT,
    KIND_TRADE_BUY,
    KIND_TRADE_SELL,
    MarketRows,
)

EXCH_EVENT = 1 << 31
LOCAL_EVENT = 1 << 30
BUY_EVENT = 1 << 29
SELL_EVENT = 1 << 28
DEPTH_EVENT = 1
TRADE_EVENT = 2
DEPTH_CLEAR_EVENT = 3
DEPTH_SNAPSHOT_EVENT = 4
DEPTH_BBO_EVENT = 5
CUSTOM_EVENT_MIN = 100

MEMBER = "data.npy"
FIELDS = ("ev", "exch_ts", "local_ts", "px", "qty")
EVENT_DTYPE = np.dtype(
    [
        ("ev", "<u8"),
        ("exch_ts", "<i8"),
        ("local_ts", "<i8"),
        ("px", "<f8"),
        ("qty", "<f8"),
        ("order_id", "<u8"),
        ("ival", "<i8"),
        ("fval", "<f8"),
    ]
)
"""hftbacktest's 64-byte row, as its .npz files store it (the loader needs only `FIELDS`)."""
EXPECTED = (
    "an hftbacktest .npz with key 'data': a 1-d array with fields ev, exch_ts, local_ts, px, qty"
)
GRID_TOL = 1e-6

_CLS_DEPTH = 0
_CLS_SNAPSHOT = 1
_CLS_TRADE = 2
_CLS_SKIP = 3
_FEED_KIND = np.array([FEED_DELTA, FEED_SNAPSHOT, FEED_OTHER, FEED_OTHER], dtype=np.int8)

_INFLATE: types.ModuleType = zlib
try:  # ISA-L's inflate reads a day of data in about half the time
    from isal import isal_zlib

    _INFLATE = isal_zlib
except ImportError:  # pragma: no cover - the dependency is declared; zlib is the fallback
    pass
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, _INFLATE.error, OSError, EOFError)
"""What reading a damaged member raises."""

Rows = npt.NDArray[np.void]
IntArray = npt.NDArray[np.int64]


def open_member(path: Path) -> tuple[zipfile.ZipFile, IO[bytes], np.dtype[Any], int]:
    """Open the `data` array of an .npz for streaming: (zip, stream, dtype, row count)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(path, None, EXPECTED, got=str(exc)) from exc
    if MEMBER not in zf.namelist():
        zf.close()
        raise DataFormatError(path, None, EXPECTED, got=f"members {zf.namelist()[:5]}")
    fh = _open_inflating(zf, path)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(fh)
        else:
            header = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, *_READ_ERRORS) as exc:
        fh.close()
        zf.close()
        raise DataFormatError(path, None, EXPECTED, got=str(exc)) from exc
    shape, fortran, dtype = header
    names = dtype.names or ()
    if len(shape) != 1 or fortran or any(f not in names for f in FIELDS):
        fh.close()
        zf.close()
        raise DataFormatError(path, None, EXPECTED, got=f"shape {shape}, fields {names}")
    return zf, fh, dtype, int(shape[0])


class _Inflating(io.RawIOBase):
    """A deflated zip member read through `_INFLATE` (ISA-L when installed: about twice as fast
    as zlib), checking its length and CRC-32 at the end like `zipfile` does."""

    def __init__(self, path: Path, info: zipfile.ZipInfo) -> None:
        super().__init__()
        self._fh = path.open("rb")
        self._fh.seek(info.header_offset)
        local = self._fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            self._fh.close()
            raise zipfile.BadZipFile(f"bad local header for {info.filename}")
        skip = int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
        self._fh.seek(skip, io.SEEK_CUR)
        self._left = info.compress_size
        self._size = info.file_size
        self._crc = info.CRC
        self._inflate = _INFLATE.decompressobj(-15)
        self._pending = b""
        self._out = 0
        self._sum = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view)
        got = 0
        while got < want:
            if not self._pending:
                if not self._left and self._inflate.eof:
                    break
                raw = self._fh.read(min(self._left, 1 << 18)) if self._left else b""
                self._left -= len(raw)
                if not raw and not self._left:
                    self._pending = self._inflate.flush()
                    if not self._pending:
                        break
                else:
                    self._pending = self._inflate.decompress(raw)
                self._sum = _INFLATE.crc32(self._pending, self._sum)
                self._out += len(self._pending)
                if self._out > self._size:
                    raise zipfile.BadZipFile("member longer than its header says")
            take = min(want - got, len(self._pending))
            view[got : got + take] = self._pending[:take]
            self._pending = self._pending[take:]
            got += take
        if got < want and (self._out != self._size or self._sum != self._crc):
            raise zipfile.BadZipFile("member truncated or corrupt (length or CRC-32 mismatch)")
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open_inflating(zf: zipfile.ZipFile, path: Path) -> IO[bytes]:
    """The `data` member as a stream: inflated directly when deflated, else via zipfile."""
    info = zf.getinfo(MEMBER)
    if info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 0x1:
        try:
            return io.BufferedReader(_Inflating(path, info), buffer_size=1 << 20)
        except (OSError, zipfile.BadZipFile):
            pass
    return zf.open(MEMBER)


def iter_chunks(path: Path, rows: int) -> Iterator[tuple[int, Rows]]:
    """`(index of the first row, rows)` chunks of an .npz's `data` array, never all at once."""
    zf, fh, dtype, count = open_member(path)
    with zf, fh:
        done = 0
        while done < count:
            n = min(rows, count - done)
            try:
                buf = fh.read(n * dtype.itemsize)
            except _READ_ERRORS as exc:
                raise DataFormatError(path, None, EXPECTED, got=f"{exc} (row {done})") from exc
            if len(buf) != n * dtype.itemsize:
                raise DataFormatError(path, None, EXPECTED, got=f"truncated after row {done}")
            yield done, np.frombuffer(buf, dtype=dtype)
            done += n


def _on_grid(values: npt.NDArray[np.float64], unit: float) -> tuple[IntArray, npt.NDArray[Any]]:
    """Nearest integer multiples of `unit` (0 for non-finite values), and a mask of finite
    values off the grid."""
    x = values / unit
    nearest = np.rint(x)
    with np.errstate(invalid="ignore"):
        off = np.abs(x - nearest) > GRID_TOL
    finite = np.isfinite(nearest)
    if not finite.all():
        nearest[~finite] = 0.0
    return nearest.astype(np.int64), off


class _Book:
    """hftbacktest's view of the depth, kept to resolve clears into full snapshots.

    Delta rows are kept as arrays and folded into the dicts only when a snapshot group needs
    the book, or when more than `PENDING_ROWS` are waiting (then only the last size of each
    price is applied), so the usual file (snapshots at the start only) never builds them.
    """

    __slots__ = ("asks", "bids", "pending", "pending_rows")

    PENDING_ROWS = 1 << 20

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.pending: list[tuple[npt.NDArray[np.bool_], IntArray, IntArray]] = []
        self.pending_rows = 0

    def queue(self, is_bid: npt.NDArray[np.bool_], ticks: IntArray, lots: IntArray) -> None:
        """Queue depth rows (in file order): side, price in ticks, size in lots."""
        if len(ticks):
            self.pending.append((is_bid, ticks, lots))
            self.pending_rows += len(ticks)
            if self.pending_rows > self.PENDING_ROWS:
                self.settle()

    def settle(self) -> None:
        """Apply the queued rows: each price ends with the size of its last row."""
        if not self.pending:
            return
        is_bid = np.concatenate([p[0] for p in self.pending])
        ticks = np.concatenate([p[1] for p in self.pending])
        lots = np.concatenate([p[2] for p in self.pending])
        self.pending.clear()
        self.pending_rows = 0
        for side, levels in ((is_bid, self.bids), (~is_bid, self.asks)):
            last_first_t = ticks[side][::-1]
            prices, at = np.unique(last_first_t, return_index=True)
            levels.update(zip(prices.tolist(), lots[side][::-1][at].tolist(), strict=True))

    def clear(self, ev: int, px: float, upto: int) -> None:
        whole = not np.isfinite(px)
        if ev & BUY_EVENT or not ev & SELL_EVENT:
            self.bids = {} if whole or not ev & BUY_EVENT else _below(self.bids, upto)
        if ev & SELL_EVENT or not ev & BUY_EVENT:
            self.asks = {} if whole or not ev & SELL_EVENT else _above(self.asks, upto)

    def levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        bids = sorted(((p, q) for p, q in self.bids.items() if q > 0), reverse=True)
        asks = sorted((p, q) for p, q in self.asks.items() if q > 0)
        return tuple(bids), tuple(asks)


def _below(levels: dict[int, int], upto: int) -> dict[int, int]:
    return {p: q for p, q in levels.items() if p < upto}


def _above(levels: dict[int, int], upto: int) -> dict[int, int]:
    return {p: q for p, q in levels.items() if p > upto}


class _Converter:
    """Turns complete groups of EXCH rows into events."""

    def __init__(self, instrument: Instrument, stats: LoadStats) -> None:
        self.symbol = instrument.symbol
        self.tick = instrument.tick_f
        self.lot = instrument.step_f
        self.stats = stats
        self.book = _Book()
        self.last_ts = -(1 << 62)

    def check(
        self, path: Path, rows: Rows, index: npt.NDArray[np.int64]
    ) -> tuple[IntArray, IntArray]:
        """Validate types, order and the price/size grid of kept rows (index = file rows);
        returns their prices in ticks and sizes in lots."""
        typ = rows["ev"] & 0xFF
        known = ((typ >= DEPTH_EVENT) & (typ <= DEPTH_BBO_EVENT)) | (typ >= CUSTOM_EVENT_MIN)
        ts = rows["exch_ts"]
        back = np.flatnonzero(np.diff(ts) < 0)
        bad = [
            (~known, "event types 1-5 (or custom >= 100)"),
            (_flag(ts[:1] < self.last_ts, len(ts)), "exchange times in non-decreasing order"),
            (_flag_at(back + 1, len(ts)), "exchange times in non-decreasing order"),
        ]
        level = (typ != DEPTH_CLEAR_EVENT) & (typ < CUSTOM_EVENT_MIN)
        ticks, px_off = _on_grid(rows["px"], self.tick)
        lots, qty_off = _on_grid(rows["qty"], self.lot)
        bad.append((px_off & (typ < CUSTOM_EVENT_MIN), f"prices within {GRID_TOL} of a tick"))
        bad.append((level & (qty_off | ~(rows["qty"] >= 0)), f"sizes within {GRID_TOL} of a lot"))
        bad.append((level & ~(rows["px"] > 0), "positive prices"))
        sided = (rows["ev"] & (BUY_EVENT | SELL_EVENT)) != 0
        bad.append((level & ~sided, "a BUY or SELL flag on depth and trade rows"))
        for mask, what in bad:
            hit = np.flatnonzero(mask)
            if hit.size:
                row = int(index[hit[0]])
                raise DataFormatError(path, None, f"{what} (row {row})", got=_row(rows[hit[0]]))
        if len(ts):
            self.last_ts = int(ts[-1])
        return ticks, lots

    def events(
        self,
        rows: Rows,
        ticks: IntArray,
        lots: IntArray,
        cls: npt.NDArray[np.int8] | None = None,
        starts: npt.NDArray[np.intp] | None = None,
    ) -> list[Event]:
        """Events of complete groups of kept rows, in order (`ticks`, `lots`: their prices and
        sizes from `check`; `cls` and `starts`: their `classes` and `group_starts` when
        already known).

        Trades and the usual deltas (all bids before all asks) are built in bulk; only
        snapshots and deltas with interleaved sides take a per-group path.
        """
        n = len(rows)
        if n == 0:
            return []
        ev = rows["ev"]
        if cls is None or starts is None:
            cls = classes(rows)
            starts = group_starts(rows, cls)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1:] = n
        kind = cls[starts]
        splits = bid_splits(ev, starts)
        exch = rows["exch_ts"]
        local = rows["local_ts"]
        symbol = self.symbol
        out = np.empty(len(starts), dtype=object)

        trade = np.flatnonzero(kind == _CLS_TRADE)
        if trade.size:
            out[trade] = self._trades(rows, ticks, lots, starts[trade])

        depth = kind == _CLS_DEPTH
        if depth.any():
            pairs = tuple(zip(ticks.tolist(), lots.tolist(), strict=True))
            plain = np.flatnonzero(depth & (splits >= 0))
            if plain.size:
                at = starts[plain]
                deltas = [
                    BookDelta(
                        ts_ns=t,
                        local_ns=lt,
                        symbol=symbol,
                        bids=pairs[s:m],
                        asks=pairs[m:e],
                    )
                    for t, lt, s, m, e in zip(
                        exch[at].tolist(),
                        local[at].tolist(),
                        at.tolist(),
                        splits[plain].tolist(),
                        ends[plain].tolist(),
                        strict=True,
                    )
                ]
                out[plain] = deltas
            mixed = np.flatnonzero(depth & (splits < 0))
            for g in mixed.tolist():
                out[g] = self._mixed_delta(rows, pairs, int(starts[g]), int(ends[g]))
            self.stats.deltas += int(np.count_nonzero(depth))
        else:
            pairs = ()

        # The loader's book sees every delta row before the snapshot groups that follow it.
        delta_row = cls == _CLS_DEPTH
        is_bid = (ev & BUY_EVENT) != 0
        book = self.book
        done = 0
        for g in np.flatnonzero(kind == _CLS_SNAPSHOT).tolist():
            s, e = int(starts[g]), int(ends[g])
            use = delta_row[done:s]
            book.queue(is_bid[done:s][use], ticks[done:s][use], lots[done:s][use])
            out[g] = self._snapshot(rows, ticks, lots, s, e)
            done = e
        use = delta_row[done:]
        book.queue(is_bid[done:][use], ticks[done:][use], lots[done:][use])
        sizes = ends - starts
        skip = kind == _CLS_SKIP
        if skip.any():
            self.stats.skipped += int(sizes[skip].sum())
            kept: list[Event] = out[~skip].tolist()
            return kept
        events: list[Event] = out.tolist()
        return events

    def _trades(self, rows: Rows, ticks: IntArray, lots: IntArray, at: IntArray) -> list[Trade]:
        """The trades of rows `at` (each a trade row)."""
        sides = [Side.SELL, Side.BUY]
        symbol = self.symbol
        trades = [
            Trade(
                ts_ns=t,
                local_ns=lt,
                symbol=symbol,
                price_ticks=p,
                size_lots=q,
                aggressor=sides[b],
            )
            for t, lt, p, q, b in zip(
                rows["exch_ts"][at].tolist(),
                rows["local_ts"][at].tolist(),
                ticks[at].tolist(),
                lots[at].tolist(),
                ((rows["ev"][at] & BUY_EVENT) != 0).tolist(),
                strict=True,
            )
        ]
        self.stats.trades += len(trades)
        return trades

    def columns(
        self,
        rows: Rows,
        ticks: IntArray,
        lots: IntArray,
        cls: npt.NDArray[np.int8] | None = None,
        starts: npt.NDArray[np.intp] | None = None,
    ) -> tuple[MarketRows, FeedChunk]:
        """Complete groups of kept rows as the exchange's scan reads them (`MarketRows`: a
        delta's bids before its asks, as its BookDelta applies them; a snapshot group as one
        row carrying its BookSnapshot; skipped rows as no-ops) and as the engine's feed reads
        them (`FeedChunk`); the same events as `events`, without building the deltas."""
        n = len(rows)
        if cls is None or starts is None:
            cls = classes(rows)
            starts = group_starts(rows, cls)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1:] = n
        kind = cls[starts]
        ev = rows["ev"]
        buy = (ev & BUY_EVENT) != 0
        kinds = np.full(n, KIND_SKIP, dtype=np.int8)
        depth = cls == _CLS_DEPTH
        kinds[depth & buy] = KIND_BID
        kinds[depth & ~buy] = KIND_ASK
        trade = cls == _CLS_TRADE
        kinds[trade & buy] = KIND_TRADE_BUY
        kinds[trade & ~buy] = KIND_TRADE_SELL
        out = np.full(len(starts), None, dtype=object)
        trade_groups = np.flatnonzero(kind == _CLS_TRADE)
        if trade_groups.size:
            out[trade_groups] = self._trades(rows, ticks, lots, starts[trade_groups])
        depth_groups = kind == _CLS_DEPTH
        self.stats.deltas += int(np.count_nonzero(depth_groups))
        splits = bid_splits(ev, starts)
        mixed = np.flatnonzero(depth_groups & (splits < 0))
        if mixed.size:
            order = np.arange(n)
            for g in mixed.tolist():
                s, e = int(starts[g]), int(ends[g])
                seg, bid = order[s:e], buy[s:e]
                order[s:e] = np.concatenate([seg[bid], seg[~bid]])
                splits[g] = s + int(np.count_nonzero(bid))
            kinds, ticks, lots = kinds[order], ticks[order], lots[order]
        # The loader's book sees every delta row before the snapshot groups that follow it.
        snap_events: dict[int, Event] = {}
        group_end: dict[int, int] = {}
        delta_row = (kinds == KIND_BID) | (kinds == KIND_ASK)
        is_bid = kinds == KIND_BID
        book = self.book
        done = 0
        for g in np.flatnonzero(kind == _CLS_SNAPSHOT).tolist():
            s, e = int(starts[g]), int(ends[g])
            use = delta_row[done:s]
            book.queue(is_bid[done:s][use], ticks[done:s][use], lots[done:s][use])
            snap = self._snapshot(rows, ticks, lots, s, e)
            out[g] = snap
            kinds[s] = KIND_SNAPSHOT
            snap_events[s] = snap
            group_end[s] = e
            done = e
        use = delta_row[done:]
        book.queue(is_bid[done:][use], ticks[done:][use], lots[done:][use])
        skip = kind == _CLS_SKIP
        if skip.any():
            self.stats.skipped += int((ends - starts)[skip].sum())
        keep = ~skip
        at = starts[keep]
        levels = ticks[delta_row]
        center = int(np.median(levels)) if levels.size else 0
        data = np.empty((4, n), dtype=np.int64)
        data[0] = rows["exch_ts"]
        data[1] = kinds
        data[2] = ticks
        data[3] = lots
        market = MarketRows(
            data=data,
            tick_center=center,
            groups=int(np.count_nonzero(keep)),
            events=snap_events,
            group_end=group_end,
        )
        event_of_group = np.cumsum(keep) - 1
        event_of_row = np.repeat(event_of_group, ends - starts)
        feed = FeedChunk(
            kinds=_FEED_KIND[kind[keep]],
            ts_ns=rows["exch_ts"][at].astype(np.int64),
            local_ns=rows["local_ts"][at].astype(np.int64),
            events=out[keep],
            level_event=event_of_row[delta_row],
            level_bid=is_bid[delta_row].astype(np.int8),
            level_price=market.ticks[delta_row],
            level_size=market.lots[delta_row],
        )
        return market, feed

    def _mixed_delta(self, rows: Rows, pairs: tuple[Level, ...], s: int, e: int) -> BookDelta:
        is_bid = ((rows["ev"][s:e] & BUY_EVENT) != 0).tolist()
        levels = pairs[s:e]
        return BookDelta(
            ts_ns=int(rows["exch_ts"][s]),
            local_ns=int(rows["local_ts"][s]),
            symbol=self.symbol,
            bids=tuple(lv for lv, bid in zip(levels, is_bid, strict=True) if bid),
            asks=tuple(lv for lv, bid in zip(levels, is_bid, strict=True) if not bid),
        )

    def _snapshot(
        self, rows: Rows, ticks: IntArray, lots: IntArray, s: int, e: int
    ) -> BookSnapshot:
        ticks_l = ticks[s:e].tolist()
        lots_l = lots[s:e].tolist()
        evs = rows["ev"][s:e].tolist()
        pxs = rows["px"][s:e].tolist()
        book = self.book
        book.settle()
        for i in range(e - s):
            ev = evs[i]
            if ev & 0xFF == DEPTH_CLEAR_EVENT:
                book.clear(ev, pxs[i], ticks_l[i])
            elif ev & BUY_EVENT:
                book.bids[ticks_l[i]] = lots_l[i]
            else:
                book.asks[ticks_l[i]] = lots_l[i]
        bids, asks = book.levels()
        self.stats.snapshots += 1
        return BookSnapshot(
            ts_ns=int(rows["exch_ts"][s]),
            local_ns=int(rows["local_ts"][s]),
            symbol=self.symbol,
            bids=bids,
            asks=asks,
        )


def _flag(head: npt.NDArray[np.bool_], n: int) -> npt.NDArray[np.bool_]:
    out = np.zeros(n, dtype=bool)
    out[: len(head)] = head
    return out


def _flag_at(where: npt.NDArray[np.intp], n: int) -> npt.NDArray[np.bool_]:
    out = np.zeros(n, dtype=bool)
    out[where] = True
    return out


def _row(row: Any) -> str:
    return (
        f"ev={int(row['ev']):#x} exch_ts={int(row['exch_ts'])} local_ts={int(row['local_ts'])} "
        f"px={float(row['px'])!r} qty={float(row['qty'])!r}"
    )


def classes(rows: Rows) -> npt.NDArray[np.int8]:
    """What each row becomes: part of a delta, part of a snapshot, a trade, or nothing."""
    typ = rows["ev"] & 0xFF
    cls = np.full(len(rows), _CLS_SKIP, dtype=np.int8)
    cls[(typ == DEPTH_EVENT) | (typ == DEPTH_BBO_EVENT)] = _CLS_DEPTH
    cls[(typ == DEPTH_CLEAR_EVENT) | (typ == DEPTH_SNAPSHOT_EVENT)] = _CLS_SNAPSHOT
    cls[typ == TRADE_EVENT] = _CLS_TRADE
    return cls


def bid_splits(ev: npt.NDArray[np.uint64], starts: npt.NDArray[np.intp]) -> IntArray:
    """Per group, the row where its asks start when all its bids come first, else -1."""
    is_bid = (ev & BUY_EVENT) != 0
    ask_then_bid = np.zeros(len(ev), dtype=np.int64)
    ask_then_bid[1:] = is_bid[1:] & ~is_bid[:-1]
    ask_then_bid[starts] = 0
    mixed = np.add.reduceat(ask_then_bid, starts) > 0
    n_bids = np.add.reduceat(is_bid.astype(np.int64), starts)
    return np.where(mixed, -1, starts + n_bids)


def group_starts(rows: Rows, cls: npt.NDArray[np.int8]) -> npt.NDArray[np.intp]:
    """Indices where a new event starts: a change of timestamps or kind, or any trade row."""
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    new = np.ones(n, dtype=bool)
    ts = rows["exch_ts"]
    lts = rows["local_ts"]
    new[1:] = (ts[1:] != ts[:-1]) | (lts[1:] != lts[:-1]) | (cls[1:] != cls[:-1])
    new |= cls == _CLS_TRADE
    return np.flatnonzero(new)


def load_hbt(
    paths: Sequence[Path], instrument: Instrument, options: LoadOptions, stats: LoadStats
) -> Iterator[Event]:
    """Stream events from hftbacktest .npz files (one stream across files), built a chunk at a
    time; closing the stream closes the file."""
    conv = _Converter(instrument, stats)
    blocks = _group_blocks(paths, conv, options, stats)
    try:
        for block in blocks:
            yield from conv.events(*block)
    finally:
        blocks.close()


def load_hbt_columns(
    paths: Sequence[Path],
    instrument: Instrument,
    options: LoadOptions,
    stats: LoadStats,
    feed: CoalescedFeed,
) -> Iterator[MarketRows]:
    """Stream hftbacktest .npz files as chunks of rows for the exchange's compiled scan
    (`Converter.columns`), each chunk's engine events going to `feed` first (finished when the
    data ends); closing the stream closes the file."""
    conv = _Converter(instrument, stats)
    blocks = _group_blocks(paths, conv, options, stats)
    try:
        for block in blocks:
            market, chunk = conv.columns(*block)
            feed.add(chunk)
            yield market
        feed.finish()
    finally:
        blocks.close()


_Block = tuple[Rows, IntArray, IntArray, npt.NDArray[np.int8] | None, npt.NDArray[np.intp] | None]


def _group_blocks(
    paths: Sequence[Path], conv: _Converter, options: LoadOptions, stats: LoadStats
) -> Generator[_Block, None, None]:
    """Complete groups of kept rows, a chunk at a time: (rows, ticks, lots, classes, group
    starts), the last two None when not computed yet."""
    carry: Rows | None = None
    carry_ticks: IntArray = np.zeros(0, dtype=np.int64)
    carry_lots: IntArray = np.zeros(0, dtype=np.int64)
    exch_only = 0
    local_only = 0
    for path in paths:
        for first, chunk in iter_chunks(path, options.chunk_rows):
            ev = chunk["ev"]
            exch = (ev & EXCH_EVENT) != 0
            local = (ev & LOCAL_EVENT) != 0
            exch_only += int(np.count_nonzero(exch & ~local))
            local_only += int(np.count_nonzero(local & ~exch))
            stats.skipped += int(np.count_nonzero(~exch & ~local))
            stats.lines += len(chunk)
            kept = chunk[exch]
            ticks, lots = conv.check(path, kept, first + np.flatnonzero(exch))
            if carry is None:
                rows = kept
            else:
                rows = np.concatenate([carry, kept])
                ticks = np.concatenate([carry_ticks, ticks])
                lots = np.concatenate([carry_lots, lots])
            if len(rows) == 0:
                continue
            # The last group stays behind: the next chunk may continue it.
            cls = classes(rows)
            starts = group_starts(rows, cls)
            cut = int(starts[-1])
            carry, carry_ticks, carry_lots = rows[cut:], ticks[cut:], lots[cut:]
            if cut:
                yield rows[:cut], ticks[:cut], lots[:cut], cls[:cut], starts[:-1]
    if carry is not None:
        yield carry, carry_ticks, carry_lots, None, None
    if exch_only != local_only:
        raise DataFormatError(
            paths[-1],
            None,
            "every LOCAL-only row paired with an EXCH-only row (hftbacktest's split events)",
            got=f"{exch_only} EXCH-only and {local_only} LOCAL-only rows",
        )
