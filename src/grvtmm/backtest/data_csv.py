"""Simple CSV (timestamp + a mid-like price, or OHLCV bars) → a coarse one-tick book per row.

The price column is the first of `mid`, `mid_price`, `price`, `close` present in the header. Each
row becomes a BookSnapshot one tick wide around that price: bid = floor(price / tick), ask = bid + 1
(a price on the grid becomes the bid), both sides `CSV_LEVEL_LOTS` deep. With
`LoadOptions.bar_extremes` and `high`/`low` columns, a bar first visits its low and high (low
first when the bar closed up, high first when it closed down) at the bar's timestamp.
Timestamps are seconds, ms, µs or ns since the epoch (told apart by magnitude: below 1e11 s,
1e14 ms, 1e17 µs, else ns; decimals allowed) or ISO-8601 (naive times are UTC); the first row
decides and every row must be in non-decreasing time. Local time equals exchange time.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from grvtmm.backtest.data_common import DataFormatError, LoadOptions, LoadStats, open_binary
from grvtmm.core.events import BookSnapshot, Event
from grvtmm.core.types import Instrument

CSV_MODE_LIMITS = (
    "coarse CSV mode: the book is synthesised one tick wide around each row's price; there is "
    "no real depth and no queue, so a quote fills as soon as the price touches it. This "
    "overstates fills and misstates wear against an L2 replay; use it for quick looks only."
)
PRICE_COLUMNS = ("mid", "mid_price", "price", "close")
CSV_LEVEL_LOTS = 1_000_000_000
EXPECTED_HEADER = f"a CSV header with 'timestamp' and one of {', '.join(PRICE_COLUMNS)}"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?(.*)$")
_UNITS = ((1e11, 1_000_000_000), (1e14, 1_000_000), (1e17, 1_000), (math.inf, 1))


def timestamp_unit_ns(text: str) -> int:
    """ns per unit of a numeric epoch timestamp, by magnitude (0 when it is not a number)."""
    try:
        value = abs(float(text))
    except ValueError:
        return 0
    if not math.isfinite(value):
        return 0
    return next(unit for limit, unit in _UNITS if value < limit)


def parse_iso_ns(text: str) -> int:
    """ISO-8601 date-time → ns since the epoch, exactly (fractions to 9 digits); naive is UTC."""
    m = _ISO.match(text.strip())
    if m is None:
        raise ValueError(f"not an ISO-8601 time: {text!r}")
    base, frac, tz = m.groups()
    dt = datetime.fromisoformat(base + tz)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    whole_us = (dt - _EPOCH) // timedelta(microseconds=1)
    frac_ns = int((frac or "0")[:9].ljust(9, "0"))
    return whole_us * 1_000 + frac_ns


def parse_epoch_ns(text: str, unit_ns: int) -> int:
    """Numeric epoch timestamp in `unit_ns` units → integer ns (exact for decimal text)."""
    return int(Decimal(text.strip()) * unit_ns)


class _Row:
    """Column positions and timestamp mode of one CSV file."""

    def __init__(self, path: Path, header: list[str], extremes: bool) -> None:
        names = [h.strip().lower() for h in header]
        price = next((c for c in PRICE_COLUMNS if c in names), None)
        if "timestamp" not in names or price is None:
            raise DataFormatError(path, 1, EXPECTED_HEADER, got=repr(",".join(header)[:120]))
        self.ts = names.index("timestamp")
        self.price = names.index(price)
        has_bar = extremes and all(c in names for c in ("high", "low"))
        self.high = names.index("high") if has_bar else -1
        self.low = names.index("low") if has_bar else -1
        self.open = names.index("open") if has_bar and "open" in names else -1
        self.unit_ns: int | None = None

    def time_ns(self, text: str) -> int:
        if self.unit_ns is None:
            self.unit_ns = timestamp_unit_ns(text)
        if self.unit_ns == 0:
            return parse_iso_ns(text)
        return parse_epoch_ns(text, self.unit_ns)

    def prices(self, row: list[str]) -> list[Decimal]:
        """The prices to visit for this row, ending with its close/mid."""
        close = Decimal(row[self.price])
        if self.high < 0:
            return [close]
        high, low = Decimal(row[self.high]), Decimal(row[self.low])
        opened = Decimal(row[self.open]) if self.open >= 0 else close
        return [high, low, close] if close < opened else [low, high, close]


def _book(instrument: Instrument, ts_ns: int, price: Decimal, seq: int) -> BookSnapshot:
    if not price.is_finite() or price <= 0:
        raise ValueError(f"price {price} is not positive")
    bid = math.floor(price / instrument.tick_size)
    return BookSnapshot(
        ts_ns=ts_ns,
        local_ns=ts_ns,
        symbol=instrument.symbol,
        bids=((bid, CSV_LEVEL_LOTS),),
        asks=((bid + 1, CSV_LEVEL_LOTS),),
        sequence=seq,
    )


def load_csv(
    paths: Sequence[Path], instrument: Instrument, options: LoadOptions, stats: LoadStats
) -> Iterator[Event]:
    """Stream coarse one-tick book snapshots from CSV price files."""
    last_ns = -(1 << 62)
    seq = 0
    for path in paths:
        with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataFormatError(path, 1, EXPECTED_HEADER, got="an empty file")
            cols = _Row(path, header, options.bar_extremes)
            for row in reader:
                stats.lines += 1
                if not row or not "".join(row).strip():
                    continue
                try:
                    ts_ns = cols.time_ns(row[cols.ts])
                    books = [_book(instrument, ts_ns, p, seq + 1) for p in cols.prices(row)]
                except (ValueError, IndexError, InvalidOperation) as exc:
                    raise DataFormatError(
                        path,
                        reader.line_num,
                        f"a timestamp and positive prices in {header}",
                        got=f"{row[:6]} ({exc})",
                    ) from exc
                if ts_ns < last_ns:
                    raise DataFormatError(
                        path,
                        reader.line_num,
                        "timestamps in non-decreasing order",
                        got=row[cols.ts],
                    )
                last_ns = ts_ns
                seq += 1
                stats.snapshots += len(books)
                yield from books
