"""Shared pieces of the market-data loaders.

Errors that name the file, line and expected shape; load options and counters; reading
`<local receive time> <json>` lines from gzip or plain files; exact conversion of decimal strings
to ticks and lots; and a bounded buffer that re-orders events by exchange time.
"""

from __future__ import annotations

import gzip
import heapq
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import InvalidOperation
from pathlib import Path
from typing import IO, Any, cast

from grvtmm.core.events import Event, Level, Trade
from grvtmm.core.types import Instrument

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
NS_PER_US = 1_000
NS_PER_MS = 1_000_000
STAMPED_LINE = "'<local receive time: 19-digit ns or 16-digit µs> <raw json>'"

_CACHE_LIMIT = 1 << 20
_NO_LATENCY = 1 << 62


class DataFormatError(ValueError):
    """A data file does not have the expected shape: names the file, the line and what was
    expected (`line` is None when the problem is the file as a whole)."""

    def __init__(self, path: Path | str, line: int | None, expected: str, got: str = "") -> None:
        self.path = str(path)
        self.line = line
        self.expected = expected
        self.got = got
        where = self.path if line is None else f"{self.path}:{line}"
        message = f"{where}: expected {expected}"
        if got:
            message += f"; got {got}"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How recorded data becomes events.

    `tickers`: also yield Binance bookTicker as `Ticker` (off by default: the depth stream is
    authoritative, and tickers would shift the latency offset away from hftbacktest's).
    `local_offset_ns`: constant added to every local receive time; None estimates it from the
    data so that feed latency (local - exchange) is never negative.
    `reorder_window_ns`: how far (in exchange time) a message may arrive behind a later one.
    `trades_first`: on equal exchange time put trades before depth updates; off keeps receive
    order on ties, which is what hftbacktest's converters do (a stable sort by exchange time).
    `snapshot_buffer`: depth diffs held while waiting for a snapshot to start or re-sync from.
    The five above apply to the line formats (Binance, GRVT); an .npz keeps its recorded times
    and order.
    `chunk_rows`: rows read at a time from an .npz (about 5 × 64 bytes of memory per row).
    `bar_extremes`: for CSV OHLC bars, also visit the bar's high and low before its close.
    """

    tickers: bool = False
    local_offset_ns: int | None = None
    reorder_window_ns: int = 2_000_000_000
    trades_first: bool = False
    snapshot_buffer: int = 20_000
    chunk_rows: int = 1 << 13
    bar_extremes: bool = False


@dataclass(slots=True)
class LoadStats:
    """What a load produced and dropped; filled in while the events are consumed.

    `max_buffered` is the most events held at once for re-ordering by exchange time.
    """

    local_offset_ns: int = 0
    lines: int = 0
    snapshots: int = 0
    deltas: int = 0
    trades: int = 0
    tickers: int = 0
    gaps: int = 0
    skipped: int = 0
    max_buffered: int = 0
    gap_lines: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return self.snapshots + self.deltas + self.trades + self.tickers


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing it when it is gzip."""
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == GZIP_MAGIC:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def clip(data: bytes | str, limit: int = 80) -> str:
    """Short printable excerpt of a line for error messages."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text if len(text) <= limit else text[:limit] + "...")


def raw_lines(fh: IO[bytes], block_bytes: int = 1 << 20) -> Iterator[bytes]:
    """Lines of a byte stream without their line endings, read in large blocks."""
    rest = b""
    while True:
        block = fh.read(block_bytes)
        if not block:
            break
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def stamped_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """`(line number, local receive ns, raw json)` for each non-empty line, streamed."""
    with open_binary(path) as fh:
        for number, raw in enumerate(raw_lines(fh), 1):
            line = raw.rstrip(b"\r")
            sp = line.find(b" ")
            stamp = line[:sp]
            if sp == 19 and stamp.isdigit():
                local_ns = int(stamp)
            elif sp == 16 and stamp.isdigit():
                local_ns = int(stamp) * NS_PER_US
            elif not line.strip():
                continue
            else:
                raise DataFormatError(path, number, STAMPED_LINE, got=clip(line))
            yield number, local_ns, line[sp + 1 :]


SNAPSHOT = 1
DEPTH = 2
Probe = Callable[[bytes], tuple[int, Iterable[int]]]
"""`probe(payload) -> (kind, exchange times in ns of the events the line will yield)`; kind is
0, SNAPSHOT or DEPTH."""


@dataclass(frozen=True, slots=True)
class Scan:
    """First-pass facts about a stream: the smallest feed latency and where the snapshots are."""

    min_latency_ns: int | None
    snapshots: tuple[int, ...]
    depth_lines: int

    def snapshot_after(self, pos: int) -> bool:
        """True when a snapshot line follows position `pos` (see `position`)."""
        return bool(self.snapshots) and self.snapshots[-1] > pos


def scan_lines(paths: Sequence[Path], probe: Probe) -> Scan:
    """One cheap pass (no JSON parsing) over stamped-line files."""
    best = _NO_LATENCY
    snapshots: list[int] = []
    depth = 0
    for index, path in enumerate(paths):
        for number, local_ns, payload in stamped_lines(path):
            kind, times = probe(payload)
            if kind == SNAPSHOT:
                snapshots.append(position(index, number))
            elif kind == DEPTH:
                depth += 1
            for exch_ns in times:
                latency = local_ns - exch_ns
                if latency < best:
                    best = latency
    return Scan(None if best == _NO_LATENCY else best, tuple(snapshots), depth)


def offset_from(min_latency: int | None, options: LoadOptions) -> int:
    """The local-time shift: the configured one, else just enough to make latency >= 0."""
    if options.local_offset_ns is not None:
        return options.local_offset_ns
    if min_latency is None or min_latency >= 0:
        return 0
    return -min_latency


def int_field(pattern: bytes) -> Callable[[bytes], list[int]]:
    """A fast extractor of every integer value of one JSON key (quoted or not) in a payload."""
    regex = re.compile(rb'"' + pattern + rb'"\s*:\s*"?(\d+)')

    def find(payload: bytes) -> list[int]:
        return [int(m) for m in regex.findall(payload)]

    return find


class Quantizer:
    """Exact decimal strings → ticks / lots through the instrument, with a bounded memo."""

    __slots__ = ("_instrument", "_lots", "_ticks")

    def __init__(self, instrument: Instrument) -> None:
        self._instrument = instrument
        self._ticks: dict[Any, int] = {}
        self._lots: dict[Any, int] = {}

    def ticks(self, text: Any) -> int:
        """A positive price on the tick grid, in ticks; ValueError otherwise."""
        value = self._ticks.get(text)
        if value is None:
            try:
                value = self._instrument.parse_price_ticks(text)
            except InvalidOperation:
                raise ValueError(f"price {text!r} is not a decimal") from None
            if value <= 0:
                raise ValueError(f"price {text!r} is not positive")
            if len(self._ticks) >= _CACHE_LIMIT:
                self._ticks.clear()
            self._ticks[text] = value
        return value

    def lots(self, text: Any) -> int:
        """A non-negative size on the lot grid, in lots; ValueError otherwise."""
        value = self._lots.get(text)
        if value is None:
            try:
                value = self._instrument.parse_size_lots(text)
            except InvalidOperation:
                raise ValueError(f"size {text!r} is not a decimal") from None
            if value < 0:
                raise ValueError(f"size {text!r} is negative")
            if len(self._lots) >= _CACHE_LIMIT:
                self._lots.clear()
            self._lots[text] = value
        return value

    def pairs(self, raw: Sequence[Sequence[Any]]) -> tuple[Level, ...]:
        """`[[price, size], ...]` → levels."""
        ticks = self._ticks
        lots = self._lots
        try:
            return tuple([(ticks[p], lots[q]) for p, q in raw])
        except KeyError:
            for p, q in raw:
                if p not in ticks:
                    self.ticks(p)
                if q not in lots:
                    self.lots(q)
            return tuple([(ticks[p], lots[q]) for p, q in raw])

    def objects(self, raw: Sequence[dict[str, Any]]) -> tuple[Level, ...]:
        """`[{"price":..., "size":...}, ...]` → levels."""
        return self.pairs([(x["price"], x["size"]) for x in raw])


class Reorderer:
    """Holds events until no earlier exchange time can still arrive, then releases them sorted.

    An event is released once a message `window_ns` later (in exchange time) has been pushed.
    Ties keep the order of `pos` (file and line), then push order; with `trades_first`, trades
    go before other events of the same time. A message arriving behind an event already
    released is a DataFormatError: the window is too small for the file.
    """

    __slots__ = ("_heap", "_max_ts", "_n", "_out_ts", "_trades_first", "_window", "peak")

    def __init__(self, window_ns: int, trades_first: bool = False) -> None:
        self._window = window_ns
        self._trades_first = trades_first
        self._heap: list[tuple[int, int, int, int, Event]] = []
        self._n = 0
        self._max_ts = -_NO_LATENCY
        self._out_ts = -_NO_LATENCY
        self.peak = 0

    @property
    def released_ts(self) -> int:
        """Exchange time of the last released event."""
        return self._out_ts

    def push(self, event: Event, pos: int, path: Path, line: int) -> None:
        ts = event.ts_ns
        if ts < self._out_ts:
            raise DataFormatError(
                path,
                line,
                f"exchange times at most {self._window} ns behind later messages",
                got=f"{ts} ns after events up to {self._out_ts} ns were released",
            )
        rank = 0 if not self._trades_first or isinstance(event, Trade) else 1
        self._n += 1
        heap = self._heap
        heapq.heappush(heap, (ts, rank, pos, self._n, event))
        if len(heap) > self.peak:
            self.peak = len(heap)
        if ts > self._max_ts:
            self._max_ts = ts

    def ready(self) -> Iterator[Event]:
        """Release every event that can no longer be preceded by a later push."""
        heap = self._heap
        limit = self._max_ts - self._window
        while heap and heap[0][0] <= limit:
            item = heapq.heappop(heap)
            self._out_ts = item[0]
            yield item[4]

    def drain(self) -> Iterator[Event]:
        """Release everything (end of data)."""
        heap = self._heap
        while heap:
            item = heapq.heappop(heap)
            self._out_ts = item[0]
            yield item[4]


def position(file_index: int, line: int) -> int:
    """A sortable (file, line) key for tie-breaking."""
    return (file_index << 40) | line


LineHandler = Callable[[Path, int, int, int, bytes], None]
"""Parses one stamped line: (path, global position, line number, local ns, payload)."""


def replay_lines(
    paths: Sequence[Path],
    handle: LineHandler,
    reorder: Reorderer,
    stats: LoadStats,
    offset_ns: int,
    expected: str,
) -> Iterator[Event]:
    """Feed every `<local ns> <payload>` line of `paths` to `handle`, yielding the events the
    re-order buffer releases; a malformed line fails with its file, number and `expected`."""
    for index, path in enumerate(paths):
        for number, local_ns, payload in stamped_lines(path):
            stats.lines += 1
            try:
                handle(path, position(index, number), number, local_ns + offset_ns, payload)
            except DataFormatError:
                raise
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                raise DataFormatError(
                    path, number, expected, got=f"{type(exc).__name__}: {exc}"
                ) from exc
            yield from reorder.ready()
    yield from reorder.drain()
    stats.max_buffered = reorder.peak
