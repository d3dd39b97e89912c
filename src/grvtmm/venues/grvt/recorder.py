"""`grvt-mm record`: GRVT public market-data frames, verbatim, for later backtests.

Each WebSocket text frame becomes one line `<local receive ns> <raw json>` (the format the
`grvt-record` loader reads), in gzip files that rotate every hour of local time:
`<out>/grvt_<symbol>_<YYYYmmddTHH>.record.gz`. A restart within the hour appends a new gzip
member to the hour's file (gzip readers treat the members as one stream). The connection is
re-opened after a drop, with a backoff; the fresh subscription's first book frame is a full
snapshot, so the recording stays loadable across reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from grvtmm.core.clock import NS_PER_S, Clock, LiveClock

log = logging.getLogger(__name__)

NS_PER_HOUR = 3600 * NS_PER_S
FLUSH_EVERY_NS = 5 * NS_PER_S
"""Sync-flush the gzip stream this often, so a crash loses at most a few seconds."""
MAX_BACKOFF_S = 30.0


def hour_file(out_dir: Path, symbol: str, local_ns: int) -> Path:
    """The recording file for the UTC hour holding `local_ns`."""
    stamp = datetime.fromtimestamp(local_ns // NS_PER_S, UTC).strftime("%Y%m%dT%H")
    return out_dir / f"grvt_{symbol.lower()}_{stamp}.record.gz"


class HourlyGzipWriter:
    """Writes `<local ns> <raw>` lines into one gzip file per UTC hour of local time."""

    def __init__(self, out_dir: Path, symbol: str) -> None:
        self.out_dir = out_dir
        self.symbol = symbol
        self.lines = 0
        self.files: list[Path] = []
        self._hour = -1
        self._fh: gzip.GzipFile | None = None
        self._flushed_ns = 0
        out_dir.mkdir(parents=True, exist_ok=True)

    def write(self, local_ns: int, raw: str) -> None:
        """One frame; a frame with line breaks is re-encoded compactly to stay one line."""
        if "\n" in raw or "\r" in raw:
            raw = orjson.dumps(orjson.loads(raw)).decode()
        hour = local_ns // NS_PER_HOUR
        fh = self._fh
        if hour != self._hour or fh is None:
            self.close()
            path = hour_file(self.out_dir, self.symbol, local_ns)
            # stays open across frames until the hour ends or the writer closes
            fh = self._fh = gzip.GzipFile(path, "ab")
            self._hour, self._flushed_ns = hour, local_ns
            if path not in self.files:
                self.files.append(path)
        fh.write(f"{local_ns} {raw}\n".encode())
        self.lines += 1
        if local_ns - self._flushed_ns >= FLUSH_EVERY_NS:
            fh.flush()
            self._flushed_ns = local_ns

    def close(self) -> None:
        """Finish the current file (complete gzip trailer)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """What to record: the symbol's book deltas (`book_rate_ms`) and trades (`trade_limit`)."""

    url: str
    symbol: str
    out_dir: Path
    book_rate_ms: int = 100
    trade_limit: int = 50

    def subscriptions(self) -> list[bytes]:
        """The JSON-RPC subscribe requests sent on every (re)connect."""
        streams = (
            ("v1.book.d", f"{self.symbol}@{self.book_rate_ms}"),
            ("v1.trade", f"{self.symbol}@{self.trade_limit}"),
        )
        return [
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "subscribe",
                    "params": {"stream": stream, "selectors": [selector]},
                    "id": n,
                }
            )
            for n, (stream, selector) in enumerate(streams, 1)
        ]


async def _session(settings: RecordSettings, writer: HourlyGzipWriter, clock: Clock) -> None:
    """One connection: subscribe, then write every text frame until it closes."""
    from websockets.asyncio.client import connect

    async with connect(settings.url, max_size=1 << 24, open_timeout=10) as ws:
        for request in settings.subscriptions():
            await ws.send(request.decode())
        async for frame in ws:
            local_ns = clock.now_ns()
            writer.write(local_ns, frame if isinstance(frame, str) else frame.decode())


async def record(
    settings: RecordSettings,
    clock: Clock,
    stop: asyncio.Event,
    writer: HourlyGzipWriter | None = None,
) -> HourlyGzipWriter:
    """Record until `stop` is set, reconnecting after drops; returns the (closed) writer."""
    writer = writer or HourlyGzipWriter(settings.out_dir, settings.symbol)
    backoff_s = 0.5
    try:
        while not stop.is_set():
            session = asyncio.create_task(_session(settings, writer, clock))
            stopped = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({session, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:
                session.cancel()
                await asyncio.gather(session, return_exceptions=True)
                break
            stopped.cancel()
            from websockets import ConnectionClosed

            error = session.exception()
            log.warning("record.disconnected", extra={"detail": repr(error)})
            if error is None or isinstance(error, ConnectionClosed):
                backoff_s = 0.5
            else:
                backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff_s)
    finally:
        writer.close()
    return writer


def record_command(
    symbol: Annotated[str, typer.Option(help="GRVT perpetual, e.g. BNB_USDT_Perp")],
    out: Annotated[Path, typer.Option(help="directory for the hourly .record.gz files")],
    env: Annotated[str, typer.Option(help="prod | testnet")] = "prod",
    url: Annotated[str | None, typer.Option(help="market-data /ws/full URL override")] = None,
    book_rate_ms: Annotated[int, typer.Option(help="v1.book.d rate: 50|100|500|1000")] = 100,
) -> None:
    """Record GRVT public book and trade frames (gzip, hourly files) until interrupted."""
    from grvtmm.core.types import normalize_symbol
    from grvtmm.venues.grvt.http import Endpoints

    if env not in ("prod", "testnet"):
        raise typer.BadParameter("env must be prod or testnet", param_hint="--env")
    if book_rate_ms not in (50, 100, 500, 1000):
        raise typer.BadParameter("50, 100, 500 or 1000", param_hint="--book-rate-ms")
    settings = RecordSettings(
        url=url or Endpoints.for_env(env).market_data_ws_url,  # type: ignore[arg-type]
        symbol=normalize_symbol(symbol),
        out_dir=out,
        book_rate_ms=book_rate_ms,
    )

    async def main() -> HourlyGzipWriter:
        stop = asyncio.Event()
        try:
            return await record(settings, LiveClock(), stop)
        except asyncio.CancelledError:
            stop.set()
            raise

    typer.echo(f"recording {settings.symbol} from {settings.url} into {out} (Ctrl-C stops)")
    try:
        writer = asyncio.run(main())
    except KeyboardInterrupt:
        typer.echo("stopped")
        return
    typer.echo(f"{writer.lines} frames written to {len(writer.files)} file(s)")
