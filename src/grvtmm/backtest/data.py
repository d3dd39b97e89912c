"""Recorded market data → streams of core events for the backtester.

Formats (see each loader's module for its rules):
* `binance-collector` (data_binance): Binance USD-M `<local ns> <raw json>` collector lines.
* `hbt-npz` (data_hbt): hftbacktest event arrays.
* `grvt-record` (data_grvt): our recordings of GRVT public WebSocket frames.
* `csv` (data_csv): timestamp + mid/price/close, a coarse mode; print `CSV_MODE_LIMITS`.

Every loader streams (files are read line by line or chunk by chunk), yields events in
non-decreasing exchange time with prices in ticks and sizes in lots of the given instrument, and
treats several files as one continuous stream. Malformed input raises DataFormatError naming the
file, the line and what was expected.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, get_args

from grvtmm.backtest.data_binance import load_binance
from grvtmm.backtest.data_common import (
    STAMPED_LINE,
    ZIP_MAGIC,
    DataFormatError,
    LoadOptions,
    LoadStats,
    clip,
    open_binary,
)
from grvtmm.backtest.data_csv import CSV_MODE_LIMITS, EXPECTED_HEADER, load_csv
from grvtmm.backtest.data_grvt import load_grvt
from grvtmm.backtest.data_hbt import MEMBER, load_hbt
from grvtmm.core.events import Event
from grvtmm.core.types import Instrument

__all__ = [
    "CSV_MODE_LIMITS",
    "FORMATS",
    "DataFormatError",
    "Format",
    "LoadOptions",
    "LoadStats",
    "detect_format",
    "load_events",
]

Format = Literal["csv", "binance-collector", "hbt-npz", "grvt-record"]
FORMATS: tuple[Format, ...] = get_args(Format)
EXPECTED_ANY = (
    f"one of: {EXPECTED_HEADER}; {STAMPED_LINE} lines from Binance or GRVT; "
    f"an hftbacktest .npz holding '{MEMBER}'"
)

_SNIFF_BYTES = 1 << 16
_SNIFF_LINES = 50
_STAMPED = re.compile(rb"^\d{16}(?:\d{3})? \{")
_GRVT_MARK = re.compile(rb'"stream"\s*:\s*"v1\.|"selector"\s*:|"jsonrpc"\s*:')
_BINANCE_MARK = re.compile(
    rb'"lastUpdateId"\s*:|"e"\s*:\s*"(?:depthUpdate|trade|bookTicker|aggTrade|markPriceUpdate)"'
)

Loader = Callable[[Sequence[Path], Instrument, LoadOptions, LoadStats], Iterator[Event]]
_LOADERS: dict[str, Loader] = {
    "csv": load_csv,
    "binance-collector": load_binance,
    "hbt-npz": load_hbt,
    "grvt-record": load_grvt,
}


def detect_format(path: Path) -> Format:
    """The format of a data file, from its content (gzip or plain; zip for .npz)."""
    path = Path(path)
    with path.open("rb") as fh:
        magic = fh.read(len(ZIP_MAGIC))
    if magic == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile as exc:
            raise DataFormatError(path, None, EXPECTED_ANY, got=str(exc)) from exc
        if MEMBER in names:
            return "hbt-npz"
        raise DataFormatError(path, None, EXPECTED_ANY, got=f"a zip holding {names[:5]}")
    with open_binary(path) as fh:
        head = fh.read(_SNIFF_BYTES)
    lines = [ln for ln in head.split(b"\n")[:_SNIFF_LINES] if ln.strip()]
    first = lines[0].lstrip(b"\xef\xbb\xbf") if lines else b""
    if _STAMPED.match(first):
        for line in lines:
            if _GRVT_MARK.search(line):
                return "grvt-record"
            if _BINANCE_MARK.search(line):
                return "binance-collector"
        raise DataFormatError(
            path, None, "Binance stream messages or GRVT feed frames", got=clip(first)
        )
    columns = [c.strip().lower() for c in first.decode("utf-8", "replace").split(",")]
    if "timestamp" in columns:
        return "csv"
    raise DataFormatError(path, 1, EXPECTED_ANY, got=clip(first))


def load_events(
    paths: Sequence[Path],
    fmt: str,
    instrument: Instrument,
    *,
    options: LoadOptions | None = None,
    stats: LoadStats | None = None,
) -> Iterator[Event]:
    """Stream the events of `paths` (one continuous stream) in format `fmt` ("auto" detects).

    Files are parsed only as events are requested; `stats` is filled in as they flow.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("no data files given")
    if fmt == "auto":
        found = {detect_format(p) for p in files}
        if len(found) != 1:
            raise DataFormatError(files[0], None, "files of one format", got=str(sorted(found)))
        fmt = found.pop()
    loader = _LOADERS.get(fmt)
    if loader is None:
        raise ValueError(f"unknown data format {fmt!r}; expected auto or one of {FORMATS}")
    return loader(files, instrument, options or LoadOptions(), stats or LoadStats())
