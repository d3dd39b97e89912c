"""`grvt-mm record` against the fake GRVT server: frames written verbatim with local time,
gzip, hourly files, and read back by the `grvt-record` loader as a book and trades."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import anyio
import orjson
import pytest

from fakes import eventually
from fakes.grvt_server import FakeGrvtServer
from grvtmm.backtest.data import detect_format, load_events
from grvtmm.core.book import OrderBook
from grvtmm.core.clock import LiveClock
from grvtmm.core.events import BookDelta, BookSnapshot, Trade
from grvtmm.venues.grvt.recorder import (
    NS_PER_HOUR,
    HourlyGzipWriter,
    RecordSettings,
    hour_file,
    record,
)
from grvtmm.venues.sim.synthetic import default_instrument

pytestmark = pytest.mark.anyio


async def test_records_the_fake_feed_and_the_loader_reads_it_back(tmp_path: Path) -> None:
    instrument = default_instrument()
    # real time: the fake stamps snapshots with its wall clock and deltas with paced market time
    async with FakeGrvtServer(instrument, speed=1.0) as server:
        settings = RecordSettings(server.ws_url, instrument.symbol, tmp_path)
        writer = HourlyGzipWriter(tmp_path, instrument.symbol)
        stop = asyncio.Event()
        with anyio.fail_after(30):
            task = asyncio.create_task(record(settings, LiveClock(), stop, writer))
            await eventually(lambda: writer.lines >= 25, timeout_s=25)
            await server.drop_streams()  # a reconnect mid-recording
            seen = writer.lines
            await eventually(lambda: writer.lines >= seen + 25, timeout_s=25)
            stop.set()
            await task
    assert len(server.conns) == 0
    files = sorted(tmp_path.glob("*.record.gz"))
    assert files == writer.files and len(files) in (1, 2)
    lines = [ln for f in files for ln in gzip.decompress(f.read_bytes()).splitlines()]
    assert len(lines) == writer.lines
    stamps = [int(ln.split(b" ", 1)[0]) for ln in lines]
    assert stamps == sorted(stamps)
    frames = [orjson.loads(ln.split(b" ", 1)[1]) for ln in lines]
    acks = [f for f in frames if "result" in f]
    assert len(acks) >= 4  # book and trade subscriptions, before and after the reconnect
    assert {f["stream"] for f in frames if "stream" in f} <= {"v1.book.d", "v1.trade"}
    assert detect_format(files[0]) == "grvt-record"
    events = list(load_events(files, "grvt-record", instrument))
    book_frames = [f for f in frames if f.get("stream") == "v1.book.d"]
    snapshots = [e for e in events if isinstance(e, BookSnapshot)]
    deltas = [e for e in events if isinstance(e, BookDelta)]
    assert len(snapshots) == sum(f["sequence_number"] == "0" for f in book_frames) >= 2
    assert len(deltas) == len(book_frames) - len(snapshots)
    book = OrderBook(instrument.symbol)
    book.apply_snapshot(snapshots[0])
    assert book.ready and 0 < book.best_bid < book.best_ask
    assert all(e.local_ns >= e.ts_ns for e in events if isinstance(e, Trade | BookDelta))


def test_files_rotate_every_hour_and_append_after_a_restart(tmp_path: Path) -> None:
    hour0 = 1_763_935_200 * 10**9  # 2025-11-23T22:00Z
    frame = '{"stream":"v1.trade","selector":"BNB_USDT_Perp@50","feed":{"x":1}}'
    writer = HourlyGzipWriter(tmp_path, "BNB_USDT_Perp")
    writer.write(hour0 + 1, frame)
    writer.write(hour0 + NS_PER_HOUR - 1, '{\n"pretty": true}')
    writer.write(hour0 + NS_PER_HOUR, frame)
    writer.close()
    again = HourlyGzipWriter(tmp_path, "BNB_USDT_Perp")
    again.write(hour0 + NS_PER_HOUR + 5, frame)
    again.close()
    first, second = hour_file(tmp_path, "BNB_USDT_Perp", hour0), writer.files[1]
    assert first.name == "grvt_bnb_usdt_perp_20251123T22.record.gz"
    assert writer.files == [first, second] and second.name.endswith("20251123T23.record.gz")
    assert gzip.decompress(first.read_bytes()).decode().splitlines() == [
        f"{hour0 + 1} {frame}",
        f'{hour0 + NS_PER_HOUR - 1} {{"pretty":true}}',
    ]
    assert gzip.decompress(second.read_bytes()).decode().splitlines() == [
        f"{hour0 + NS_PER_HOUR} {frame}",
        f"{hour0 + NS_PER_HOUR + 5} {frame}",
    ]
