"""Market-data loaders: format detection, exact quantization, ordering, sequence gaps, latency
offsets, malformed input, and a cross-check of the Binance collector file against its hftbacktest
conversion."""

from __future__ import annotations

import gzip
import inspect
import itertools
import json
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grvtmm.backtest import data_hbt
from grvtmm.backtest.data import (
    CSV_MODE_LIMITS,
    DataFormatError,
    LoadOptions,
    LoadStats,
    detect_format,
    load_events,
)
from grvtmm.backtest.data_common import Quantizer
from grvtmm.backtest.data_hbt import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EVENT_DTYPE,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
)
from grvtmm.core.book import ApplyResult, OrderBook
from grvtmm.core.events import BookDelta, BookSnapshot, Event, Ticker, Trade
from grvtmm.core.types import Instrument, Side

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "data"
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
COLLECTOR = SHARED / "binance_usdm_btcusdt_20240808.collector.gz"
NPZ = SHARED / "binance_usdm_btcusdt_20240808.hbt.npz"

BTC = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
GRVT_BTC = Instrument("BTC_USDT_Perp", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
B0_NS = 1_700_000_000_000 * 1_000_000  # the Binance fixture's exchange-time origin
MS = 1_000_000

BOTH = EXCH_EVENT | LOCAL_EVENT


def load(
    paths: Sequence[Path], fmt: str = "auto", inst: Instrument = BTC, **opts: Any
) -> tuple[list[Event], LoadStats]:
    stats = LoadStats()
    options = LoadOptions(**opts)
    return list(load_events(paths, fmt, inst, options=options, stats=stats)), stats


def write_lines(path: Path, lines: Sequence[str], compress: bool = False) -> Path:
    text = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(text) if compress else text)
    return path


def binance_lines() -> list[str]:
    return (FIXTURES / "binance_small.collector").read_text().splitlines()


def stamp(k_ms: int) -> str:
    return str(1_700_000_000_000_000_000 + k_ms * MS)


def diff_line(k_ms: int, t_ms: int, first: int, last: int, prev: int, bids: str) -> str:
    data = {"e": "depthUpdate", "E": t_ms, "T": t_ms, "s": "BTCUSDT", "U": first, "u": last}
    data |= {"pu": prev, "b": json.loads(bids), "a": []}
    return f"{stamp(k_ms)} " + json.dumps({"stream": "btcusdt@depth@0ms", "data": data})


def snapshot_line(k_ms: int, t_ms: int, last_update_id: int) -> str:
    body = {"lastUpdateId": last_update_id, "E": t_ms, "T": t_ms}
    body |= {"bids": [["100.00", "1.000"]], "asks": [["100.20", "2.000"]]}
    return f"{stamp(k_ms)} " + json.dumps(body)


def write_npz(path: Path, rows: Sequence[tuple[int, int, int, float, float]]) -> Path:
    data = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, (ev, exch, local, px, qty) in enumerate(rows):
        data[i] = (ev, exch, local, px, qty, 0, 0, 0.0)
    with path.open("wb") as fh:  # a file object: savez would append ".npz" to a name
        np.savez_compressed(fh, data=data)
    return path


def books_at(events: list[Event], times_ns: Sequence[int]) -> Iterator[OrderBook]:
    """The book built from `events` as of each exchange time (inclusive); one live object."""
    book = OrderBook()
    it = iter(events)
    nxt = next(it, None)
    for t in times_ns:
        while nxt is not None and nxt.ts_ns <= t:
            if isinstance(nxt, BookSnapshot):
                book.apply_snapshot(nxt)
            elif isinstance(nxt, BookDelta):
                book.apply_delta(nxt)
            nxt = next(it, None)
        yield book


# ---- detection ---------------------------------------------------------------------------------
def test_detects_each_format_by_content(tmp_path: Path) -> None:
    npz = write_npz(tmp_path / "x.bin", [(BOTH | TRADE_EVENT | BUY_EVENT, 1, 2, 100.0, 1.0)])
    gz = write_lines(tmp_path / "plain-name.txt", binance_lines(), compress=True)
    assert detect_format(FIXTURES / "binance_small.collector") == "binance-collector"
    assert detect_format(gz) == "binance-collector"
    assert detect_format(FIXTURES / "grvt_small.record") == "grvt-record"
    assert detect_format(FIXTURES / "mids_ms.csv") == "csv"
    assert detect_format(FIXTURES / "bars_iso.csv") == "csv"
    assert detect_format(npz) == "hbt-npz"


def test_unrecognised_files_name_the_file_and_what_was_expected(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dat"
    junk.write_text("hello world\n")
    with pytest.raises(DataFormatError) as err:
        detect_format(junk)
    assert err.value.path == str(junk) and "timestamp" in err.value.expected
    other_zip = tmp_path / "other.npz"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("prices.npy", b"")
    with pytest.raises(DataFormatError, match=r"data\.npy"):
        detect_format(other_zip)
    stamped = write_lines(tmp_path / "s.log", ['1700000000000000000 {"hello": 1}'])
    with pytest.raises(DataFormatError, match="Binance"):
        detect_format(stamped)


def test_auto_refuses_mixed_formats_and_unknown_names() -> None:
    with pytest.raises(DataFormatError, match="one format"):
        load_events([FIXTURES / "mids_ms.csv", FIXTURES / "grvt_small.record"], "auto", BTC)
    with pytest.raises(ValueError, match="unknown data format"):
        load_events([FIXTURES / "mids_ms.csv"], "parquet", BTC)


# ---- exact quantization ------------------------------------------------------------------------
TICKS = st.sampled_from(["0.1", "0.01", "0.5", "0.25", "1", "0.0001", "5"])


@given(tick=TICKS, step=TICKS, ticks=st.integers(1, 10**9), lots=st.integers(0, 10**9))
def test_decimal_strings_convert_exactly(tick: str, step: str, ticks: int, lots: int) -> None:
    inst = Instrument("X", Decimal(tick), Decimal(step), Decimal(step))
    q = Quantizer(inst)
    price, size = inst.price_str(ticks), inst.size_str(lots)
    assert q.pairs([[price, size]]) == ((ticks, lots),)
    assert q.objects([{"price": price, "size": size}]) == ((ticks, lots),)
    off_grid = str(inst.ticks_to_price(ticks) + Decimal(tick) / 2)
    with pytest.raises(ValueError):
        q.ticks(off_grid)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ticks=st.integers(1, 2 * 10**7), lots=st.integers(1, 10**7))
def test_npz_floats_round_to_exact_ticks_and_lots(tmp_path: Path, ticks: int, lots: int) -> None:
    px, qty = ticks * 0.1, lots * 0.001
    path = write_npz(tmp_path / "t.npz", [(BOTH | TRADE_EVENT | SELL_EVENT, 5, 6, px, qty)])
    (trade,), _ = load([path], "hbt-npz")
    assert isinstance(trade, Trade)
    assert (trade.price_ticks, trade.size_lots, trade.aggressor) == (ticks, lots, Side.SELL)


def test_npz_prices_off_the_tick_grid_are_refused(tmp_path: Path) -> None:
    path = write_npz(
        tmp_path / "t.npz",
        [
            (BOTH | TRADE_EVENT | BUY_EVENT, 5, 6, 100.0, 0.001),
            (BOTH | TRADE_EVENT | BUY_EVENT, 7, 8, 100.03, 0.001),
        ],
    )
    with pytest.raises(DataFormatError, match=r"row 1\)"):
        load([path], "hbt-npz")


# ---- Binance collector -------------------------------------------------------------------------
def test_binance_fixture_events_in_exchange_time_order() -> None:
    events, stats = load([FIXTURES / "binance_small.collector"])
    kinds = [(type(e).__name__, (e.ts_ns - B0_NS) // MS) for e in events]
    assert kinds == [
        ("BookSnapshot", 5),
        ("BookDelta", 10),
        ("Trade", 12),
        ("BookDelta", 25),  # received before the trade with the same T
        ("Trade", 25),
        ("Trade", 29),  # received after the depth update of T=30
        ("BookDelta", 30),
    ]
    snap, first, _, second, _, _, third = events
    assert isinstance(snap, BookSnapshot) and snap.sequence == 100
    assert snap.bids == ((1000, 1000), (999, 3000)) and snap.asks == ((1002, 2000), (1003, 1500))
    assert isinstance(first, BookDelta) and (first.sequence, first.prev_sequence) == (104, 100)
    assert isinstance(second, BookDelta) and (second.sequence, second.prev_sequence) == (110, 104)
    assert isinstance(third, BookDelta) and (third.sequence, third.prev_sequence) == (120, 110)
    assert second.bids == ((1000, 0),) and second.asks == ((1002, 1750),)
    trades = [e for e in events if isinstance(e, Trade)]
    assert [(t.price_ticks, t.size_lots, t.aggressor) for t in trades] == [
        (1002, 250, Side.BUY),  # m=false: the seller made, the buyer took
        (1002, 250, Side.SELL),  # m=true: the buyer made, the seller took
        (1001, 1, Side.SELL),
    ]
    assert (stats.snapshots, stats.deltas, stats.trades, stats.tickers) == (1, 3, 3, 0)
    assert stats.skipped == 3  # the stale diff, the ticker, the non-MARKET trade


def test_binance_book_from_fixture_is_valid_and_exact() -> None:
    events, _ = load([FIXTURES / "binance_small.collector"])
    book = OrderBook()
    for e in events:
        if isinstance(e, BookSnapshot):
            book.apply_snapshot(e)
        elif isinstance(e, BookDelta):
            assert book.apply_delta(e) is ApplyResult.APPLIED
    assert book.valid and book.sequence == 120
    assert book.bids == {1001: 500, 999: 3000, 998: 4000}
    assert book.asks == {1002: 1750, 1003: 1500}


def test_binance_local_offset_makes_latency_non_negative() -> None:
    events, stats = load([FIXTURES / "binance_small.collector"])
    assert stats.local_offset_ns == 1_000 * MS  # the trade/diff received 1 s "before" it happened
    latencies = [e.local_ns - e.ts_ns for e in events]
    assert min(latencies) == 0 and all(lat >= 0 for lat in latencies)
    with_tickers, stats_t = load([FIXTURES / "binance_small.collector"], tickers=True)
    assert stats_t.local_offset_ns == 1_008 * MS  # the ticker is the most "early" line
    ticker = next(e for e in with_tickers if isinstance(e, Ticker))
    assert (ticker.bid_ticks, ticker.bid_lots, ticker.ask_ticks, ticker.ask_lots) == (
        1001,
        500,
        1002,
        1750,
    )
    assert ticker.local_ns - ticker.ts_ns == 0
    fixed, stats_f = load([FIXTURES / "binance_small.collector"], local_offset_ns=7)
    assert stats_f.local_offset_ns == 7 and fixed[0].local_ns == 1_699_999_999_020_000_007


def test_trades_first_puts_trades_before_depth_on_equal_exchange_time() -> None:
    events, _ = load([FIXTURES / "binance_small.collector"], trades_first=True)
    at_25 = [type(e).__name__ for e in events if e.ts_ns == B0_NS + 25 * MS]
    assert at_25 == ["Trade", "BookDelta"]


def test_microsecond_stamps_are_rescaled(tmp_path: Path) -> None:
    micro = [line[:16] + line[19:] for line in binance_lines()]
    path = write_lines(tmp_path / "us.collector.gz", micro, compress=True)
    assert detect_format(path) == "binance-collector"
    ns_events, _ = load([FIXTURES / "binance_small.collector"])
    us_events, _ = load([path])
    assert us_events == ns_events


def test_consecutive_files_form_one_stream(tmp_path: Path) -> None:
    lines = binance_lines()
    a = write_lines(tmp_path / "a.gz", lines[:5], compress=True)
    b = write_lines(tmp_path / "b", lines[5:])
    whole, _ = load([FIXTURES / "binance_small.collector"])
    split, _ = load([a, b])
    assert split == whole


def test_gap_is_marked_then_resynced_on_the_next_snapshot(tmp_path: Path) -> None:
    t = 1_700_000_000_000
    lines = [
        snapshot_line(1, t, 100),
        diff_line(2, t + 1, 101, 105, 100, '[["100.10","1.000"]]'),
        diff_line(3, t + 2, 120, 125, 119, '[["100.00","9.000"]]'),  # gap: pu != 105
        diff_line(4, t + 3, 126, 130, 125, '[["99.90","9.000"]]'),  # held
        snapshot_line(5, t + 4, 128),
        diff_line(6, t + 5, 129, 140, 130, '[["99.80","2.000"]]'),
    ]
    events, stats = load([write_lines(tmp_path / "g", lines)], local_offset_ns=0)
    assert stats.gaps == 1 and stats.gap_lines == [f"{tmp_path / 'g'}:3"]
    seqs = [
        (type(e).__name__, getattr(e, "sequence", 0), getattr(e, "prev_sequence", 0))
        for e in events
    ]
    assert seqs == [
        ("BookSnapshot", 100, 0),
        ("BookDelta", 105, 100),
        ("BookDelta", 125, 119),  # the delta that breaks the chain, with its own pu
        ("BookSnapshot", 128, 0),
        ("BookDelta", 130, 128),  # held diff bridging the new snapshot
        ("BookDelta", 140, 130),
    ]
    assert events[4].ts_ns == events[3].ts_ns  # its T says earlier, its sequence says later
    book = OrderBook()
    results = []
    for e in events:
        if isinstance(e, BookSnapshot):
            results.append(book.apply_snapshot(e))
        elif isinstance(e, BookDelta):
            results.append(book.apply_delta(e))
    assert results[2] is ApplyResult.GAP and results[-1] is ApplyResult.APPLIED and book.valid


def test_gap_without_a_later_snapshot_fails_with_the_line(tmp_path: Path) -> None:
    t = 1_700_000_000_000
    lines = [
        snapshot_line(1, t, 100),
        diff_line(2, t + 1, 101, 105, 100, "[]"),
        diff_line(3, t + 2, 101, 106, 105, "[]"),
        diff_line(4, t + 3, 110, 112, 109, "[]"),
    ]
    with pytest.raises(DataFormatError) as err:
        load([write_lines(tmp_path / "g", lines)])
    assert err.value.line == 4 and "pu == 106" in err.value.expected


def test_diffs_without_any_snapshot_are_refused(tmp_path: Path) -> None:
    lines = [diff_line(2, 1_700_000_000_000, 101, 105, 100, "[]")]
    with pytest.raises(DataFormatError, match="snapshot"):
        load([write_lines(tmp_path / "g", lines)])


@pytest.mark.parametrize(
    ("line_no", "bad"),
    [
        (3, '1699999999012000000 {"stream":"btcusdt@trade","data":{"e":"trade"'),
        (2, "169999999901000000 {}"),
        (
            5,
            '1699999999030000000 {"stream":"x","data":{"e":"trade","T":1,"p":"1.05","q":"1",'
            '"m":true}}',
        ),
        (4, '1699999999020000000 {"lastUpdateId":100,"T":1,"bids":[["100.0"]],"asks":[]}'),
        (6, '1699999999031000000 {"stream":"x","data":{"e":"trade","T":1,"p":"1","q":"1","m":1}}'),
        (1, '1699999999005000000 ["not", "an", "object"]'),
    ],
)
def test_malformed_binance_lines_report_the_line(tmp_path: Path, line_no: int, bad: str) -> None:
    lines = binance_lines()
    lines[line_no - 1] = bad
    with pytest.raises(DataFormatError) as err:
        load([write_lines(tmp_path / "bad.gz", lines, compress=True)], "binance-collector")
    assert err.value.line == line_no and err.value.path.endswith("bad.gz")


def test_events_arriving_behind_the_reorder_window_are_refused() -> None:
    with pytest.raises(DataFormatError) as err:
        load([FIXTURES / "binance_small.collector"], reorder_window_ns=0)
    assert err.value.line == 4  # the snapshot (T=5 ms) arrives after the trade of T=12 ms left


# ---- GRVT recordings ---------------------------------------------------------------------------
def test_grvt_record_events() -> None:
    events, stats = load([FIXTURES / "grvt_small.record"], inst=GRVT_BTC)
    snap, delta1, buy, delta2, sell = events
    assert isinstance(snap, BookSnapshot) and snap.sequence == 0
    assert snap.bids == ((1000, 1000), (999, 3000)) and snap.asks == ((1002, 2000),)
    assert isinstance(delta1, BookDelta) and (delta1.sequence, delta1.prev_sequence) == (5, None)
    assert isinstance(delta2, BookDelta) and (delta2.sequence, delta2.prev_sequence) == (6, 5)
    assert delta2.asks == ((1002, 0), (1003, 750))
    assert isinstance(buy, Trade) and (buy.price_ticks, buy.size_lots, buy.aggressor) == (
        1002,
        10,
        Side.BUY,
    )
    assert isinstance(sell, Trade) and sell.aggressor is Side.SELL and sell.size_lots == 500
    assert stats.local_offset_ns == 10 * MS  # line 3: received 10 ms before its event time
    assert all(e.local_ns >= e.ts_ns for e in events)
    assert [e.ts_ns for e in events] == sorted(e.ts_ns for e in events)
    # ack, duplicate trade, duplicate delta, other instrument, mini ticker
    assert stats.skipped == 5


def test_grvt_gap_without_resubscription_fails_with_the_line(tmp_path: Path) -> None:
    lines = (FIXTURES / "grvt_small.record").read_text().splitlines()
    lines[6] = (
        lines[6]
        .replace('"sequence_number":"6"', '"sequence_number":"8"')
        .replace('"prev_sequence_number":"5"', '"prev_sequence_number":"7"')
    )
    with pytest.raises(DataFormatError) as err:
        load([write_lines(tmp_path / "g.gz", lines, compress=True)], inst=GRVT_BTC)
    assert err.value.line == 7


def test_grvt_gap_resyncs_on_a_new_snapshot(tmp_path: Path) -> None:
    lines = (FIXTURES / "grvt_small.record").read_text().splitlines()
    lines[6] = lines[6].replace('"prev_sequence_number":"5"', '"prev_sequence_number":"3"')
    resub = lines[1].replace("1700000000050000000 ", "1700000000240000000 ")
    resub = resub.replace("1700000000001000000", "1700000000235000000")
    events, stats = load([write_lines(tmp_path / "g", [*lines, resub])], inst=GRVT_BTC)
    assert stats.gaps == 1
    gap = next(e for e in events if isinstance(e, BookDelta) and e.sequence == 6)
    assert gap.prev_sequence == 3
    assert isinstance(events[-1], BookSnapshot)


def test_grvt_delta_after_a_resubscription_snapshot_stays_behind_it(tmp_path: Path) -> None:
    """The resubscription snapshot's event time is later than the first delta that continues
    it: the delta must not be sorted ahead of it (the book would drop it and then gap)."""
    lines = (FIXTURES / "grvt_small.record").read_text().splitlines()
    lines[6] = lines[6].replace('"prev_sequence_number":"5"', '"prev_sequence_number":"3"')
    resub = lines[1].replace("1700000000050000000 ", "1700000000240000000 ")
    resub = resub.replace("1700000000001000000", "1700000000235000000")
    after = (
        lines[2]
        .replace("1700000000090000000 ", "1700000000241000000 ")
        .replace('"event_time":"1700000000100000000"', '"event_time":"1700000000230000000"')
        .replace('"sequence_number":"5"', '"sequence_number":"40"')
        .replace('"prev_sequence_number":"4"', '"prev_sequence_number":"39"')
    )
    events, _ = load([write_lines(tmp_path / "g", [*lines, resub, after])], inst=GRVT_BTC)
    snap, last = events[-2], events[-1]
    assert isinstance(snap, BookSnapshot) and snap.ts_ns == 1_700_000_000_235_000_000
    assert isinstance(last, BookDelta) and last.sequence == 40
    assert last.ts_ns == snap.ts_ns
    book = OrderBook("BTC_USDT_Perp")
    results = [
        book.apply_snapshot(e) if isinstance(e, BookSnapshot) else book.apply_delta(e)
        for e in events[-2:]
    ]
    assert results == [ApplyResult.APPLIED, ApplyResult.APPLIED] and book.ready


def test_grvt_malformed_frame_reports_the_line(tmp_path: Path) -> None:
    lines = (FIXTURES / "grvt_small.record").read_text().splitlines()
    lines[3] = lines[3].replace('"price":"100.2"', '"price":"abc"')
    with pytest.raises(DataFormatError) as err:
        load([write_lines(tmp_path / "g", lines)], inst=GRVT_BTC)
    assert err.value.line == 4 and "v1.trade" in err.value.expected


def test_grvt_record_of_another_instrument_is_refused() -> None:
    other = Instrument("SOL_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"))
    with pytest.raises(DataFormatError, match="SOL_USDT_Perp"):
        load([FIXTURES / "grvt_small.record"], inst=other)


# ---- CSV ---------------------------------------------------------------------------------------
def test_csv_mids_become_one_tick_books() -> None:
    events, stats = load([FIXTURES / "mids_ms.csv"])
    assert [e.ts_ns for e in events] == [1_700_000_000_000 * MS + d * MS for d in (0, 100, 250)]
    books = [(e.bids[0][0], e.asks[0][0]) for e in events if isinstance(e, BookSnapshot)]
    assert books == [(1000, 1001), (1001, 1002), (999, 1000)]
    assert all(e.local_ns == e.ts_ns for e in events) and stats.snapshots == 3
    assert "queue" in CSV_MODE_LIMITS and "overstates fills" in CSV_MODE_LIMITS


def test_csv_bars_use_close_and_optionally_the_extremes() -> None:
    closes, _ = load([FIXTURES / "bars_iso.csv"])
    assert [e.bids[0][0] for e in closes if isinstance(e, BookSnapshot)] == [463770, 463505]
    assert closes[0].ts_ns == 1_640_991_660 * 1_000_000_000
    path_events, _ = load([FIXTURES / "bars_iso.csv"], bar_extremes=True)
    visited = [e.bids[0][0] for e in path_events if isinstance(e, BookSnapshot)]
    # bar 1 closed up: low, high, close; bar 2 closed down: high, low, close
    assert visited == [463190, 463850, 463770, 464110, 463000, 463505]


@pytest.mark.parametrize(
    ("stamp", "ts_ns"),
    [
        ("1700000000", 1_700_000_000_000_000_000),
        ("1700000000.25", 1_700_000_000_250_000_000),
        ("1700000000123456", 1_700_000_000_123_456_000),
        ("1700000000123456789", 1_700_000_000_123_456_789),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123_456_789),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000_000_000_000),
    ],
)
def test_csv_timestamp_units_are_detected(tmp_path: Path, stamp: str, ts_ns: int) -> None:
    path = write_lines(tmp_path / "p.csv", ["Timestamp,Price", f"{stamp},100.0"])
    (event,), _ = load([path])
    assert event.ts_ns == ts_ns


def test_csv_missing_columns_name_the_expected_ones(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "p.csv", ["timestamp,volume", "1700000000,5"])
    with pytest.raises(DataFormatError) as err:
        load([path], "csv")
    assert err.value.line == 1 and "mid_price" in err.value.expected


@pytest.mark.parametrize(
    ("rows", "line_no"),
    [
        (["1700000000,100.0", "1700000001,abc"], 3),
        (["1700000000,100.0", "yesterday,100.0"], 3),
        (["1700000001,100.0", "1700000000,100.0"], 3),
        (["1700000000,-1"], 2),
        (["1700000000"], 2),
    ],
)
def test_malformed_csv_rows_report_the_line(tmp_path: Path, rows: list[str], line_no: int) -> None:
    path = write_lines(tmp_path / "p.csv", ["timestamp,close", *rows])
    with pytest.raises(DataFormatError) as err:
        load([path], "csv")
    assert err.value.line == line_no


# ---- hftbacktest npz ---------------------------------------------------------------------------
def test_npz_merges_split_rows_groups_depth_and_clears_like_hftbacktest(tmp_path: Path) -> None:
    bid, ask = DEPTH_EVENT | BUY_EVENT, DEPTH_EVENT | SELL_EVENT
    rows = [
        (BOTH | bid, 10, 15, 99.0, 1.0),  # a far bid the snapshot does not cover
        (BOTH | bid, 10, 15, 100.0, 2.0),
        (BOTH | ask, 10, 15, 100.2, 3.0),
        (BOTH | DEPTH_CLEAR_EVENT | BUY_EVENT, 20, 25, 99.5, 0.0),
        (BOTH | DEPTH_SNAPSHOT_EVENT | BUY_EVENT, 20, 25, 100.1, 4.0),
        (BOTH | DEPTH_CLEAR_EVENT | SELL_EVENT, 20, 25, 100.5, 0.0),
        (BOTH | DEPTH_SNAPSHOT_EVENT | SELL_EVENT, 20, 25, 100.3, 5.0),
        (EXCH_EVENT | TRADE_EVENT | BUY_EVENT, 30, 41, 100.3, 0.5),  # received after the next
        (BOTH | ask, 35, 40, 100.3, 4.5),
        (LOCAL_EVENT | TRADE_EVENT | BUY_EVENT, 30, 41, 100.3, 0.5),
    ]
    path = write_npz(tmp_path / "h.npz", rows)
    events, stats = load([path], "hbt-npz", chunk_rows=3)
    assert [type(e).__name__ for e in events] == ["BookDelta", "BookSnapshot", "Trade", "BookDelta"]
    first, snap, trade, last = events
    assert isinstance(first, BookDelta)
    assert first.bids == ((990, 1000), (1000, 2000)) and first.asks == ((1002, 3000),)
    assert isinstance(snap, BookSnapshot)
    assert snap.bids == ((1001, 4000), (990, 1000))  # 99.0 survives a clear up to 99.5
    assert snap.asks == ((1003, 5000),)
    assert (trade.ts_ns, trade.local_ns) == (30, 41)  # one event with both times
    assert isinstance(last, BookDelta) and last.local_ns == 40  # local time may go backwards
    assert (stats.snapshots, stats.deltas, stats.trades) == (1, 2, 1)


def test_npz_clears_without_price_or_side_and_asks_listed_before_bids(tmp_path: Path) -> None:
    bid, ask = DEPTH_EVENT | BUY_EVENT, DEPTH_EVENT | SELL_EVENT
    rows = [
        (BOTH | ask, 10, 11, 100.2, 3.0),  # asks before bids in one update
        (BOTH | bid, 10, 11, 100.0, 2.0),
        (BOTH | ask, 10, 11, 100.3, 1.0),
        (BOTH | bid, 10, 11, 99.9, 1.0),
        (BOTH | DEPTH_CLEAR_EVENT | BUY_EVENT, 20, 21, float("nan"), 0.0),  # all bids
        (BOTH | DEPTH_SNAPSHOT_EVENT | SELL_EVENT, 20, 21, 100.5, 1.0),
        (BOTH | DEPTH_CLEAR_EVENT, 30, 31, 0.0, 0.0),  # no side: both sides
    ]
    events, _ = load([write_npz(tmp_path / "h.npz", rows)], "hbt-npz")
    delta, snap_asks_only, empty = events
    assert isinstance(delta, BookDelta)
    assert delta.bids == ((1000, 2000), (999, 1000)) and delta.asks == ((1002, 3000), (1003, 1000))
    assert isinstance(snap_asks_only, BookSnapshot) and snap_asks_only.bids == ()
    assert snap_asks_only.asks == ((1002, 3000), (1003, 1000), (1005, 1000))
    assert isinstance(empty, BookSnapshot) and empty.bids == () and empty.asks == ()


@pytest.mark.parametrize("pending_rows", [1, 1 << 18])
def test_npz_snapshot_keeps_the_last_size_of_each_price_updated_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pending_rows: int
) -> None:
    # Deltas update one price several times (the last size wins, 0 removes it) before a
    # partial clear; folded at once or a few rows at a time, the snapshot is the same.
    monkeypatch.setattr(data_hbt._Book, "PENDING_ROWS", pending_rows)
    bid, ask = DEPTH_EVENT | BUY_EVENT, DEPTH_EVENT | SELL_EVENT
    rows = [
        (BOTH | bid, 10, 11, 98.0, 1.0),
        (BOTH | bid, 10, 11, 99.0, 1.0),
        (BOTH | ask, 10, 11, 100.9, 1.0),
        (BOTH | bid, 12, 13, 98.0, 7.0),  # 98.0: 1 -> 7
        (BOTH | ask, 12, 13, 100.9, 0.0),  # 100.9 removed
        (BOTH | bid, 14, 15, 99.0, 0.0),  # 99.0 removed ...
        (BOTH | bid, 16, 17, 99.0, 2.0),  # ... and back
        (BOTH | ask, 16, 17, 101.0, 3.0),
        (BOTH | DEPTH_CLEAR_EVENT | BUY_EVENT, 20, 21, 99.5, 0.0),
        (BOTH | DEPTH_SNAPSHOT_EVENT | BUY_EVENT, 20, 21, 99.9, 4.0),
        (BOTH | DEPTH_CLEAR_EVENT | SELL_EVENT, 20, 21, 100.5, 0.0),
        (BOTH | DEPTH_SNAPSHOT_EVENT | SELL_EVENT, 20, 21, 100.1, 5.0),
    ]
    events, stats = load([write_npz(tmp_path / "h.npz", rows)], "hbt-npz", chunk_rows=3)
    snap = events[-1]
    assert isinstance(snap, BookSnapshot)
    assert snap.bids == ((999, 4000), (990, 2000), (980, 7000))
    assert snap.asks == ((1001, 5000), (1010, 3000))
    assert (stats.deltas, stats.snapshots) == (4, 1)


def test_npz_unpaired_split_rows_are_refused(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "h.npz", [(EXCH_EVENT | TRADE_EVENT | BUY_EVENT, 1, 2, 1.0, 1.0)])
    with pytest.raises(DataFormatError, match="LOCAL-only"):
        load([path], "hbt-npz")


def test_npz_out_of_order_exchange_rows_are_refused(tmp_path: Path) -> None:
    rows = [
        (BOTH | TRADE_EVENT | BUY_EVENT, 9, 10, 1.0, 1.0),
        (BOTH | TRADE_EVENT | BUY_EVENT, 8, 11, 1.0, 1.0),
    ]
    with pytest.raises(DataFormatError, match="non-decreasing"):
        load([write_npz(tmp_path / "h.npz", rows)], "hbt-npz")


# ---- the shared BTCUSDT file ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def collector() -> tuple[list[Event], LoadStats]:
    if not COLLECTOR.is_file():
        pytest.fail(f"shared data missing: {COLLECTOR}")
    return load([COLLECTOR], "binance-collector")


@pytest.fixture(scope="module")
def hbt() -> tuple[list[Event], LoadStats]:
    if not NPZ.is_file():
        pytest.fail(f"shared data missing: {NPZ}")
    return load([NPZ], "hbt-npz")


def test_shared_collector_counts_gaps_and_offset(collector: tuple[list[Event], LoadStats]) -> None:
    events, stats = collector
    assert (stats.lines, stats.gaps) == (93_954, 0)
    assert (stats.snapshots, stats.deltas, stats.trades, stats.tickers) == (1, 6_547, 21_313, 0)
    assert len(events) == 27_861
    assert stats.local_offset_ns == 1_272_156_851  # local clock ≈1.27 s behind the exchange
    assert min(e.local_ns - e.ts_ns for e in events) == 0
    assert all(a.ts_ns <= b.ts_ns for a, b in itertools.pairwise(events))
    assert stats.max_buffered < len(events) // 10  # the re-order buffer holds ~2 s, not the day


def test_shared_npz_counts(hbt: tuple[list[Event], LoadStats]) -> None:
    events, stats = hbt
    assert stats.lines == 491_973
    assert (stats.snapshots, stats.deltas, stats.trades) == (1, 6_551, 21_313)
    assert all(a.ts_ns <= b.ts_ns for a, b in itertools.pairwise(events))


def test_collector_and_npz_agree_event_for_event_after_the_snapshot(
    collector: tuple[list[Event], LoadStats], hbt: tuple[list[Event], LoadStats]
) -> None:
    ours, theirs = collector[0], hbt[0]
    i = next(k for k, e in enumerate(ours) if isinstance(e, BookSnapshot))
    j = next(k for k, e in enumerate(theirs) if isinstance(e, BookSnapshot))
    snap_ours, snap_theirs = ours[i], theirs[j]
    assert isinstance(snap_ours, BookSnapshot) and isinstance(snap_theirs, BookSnapshot)
    assert (snap_ours.ts_ns, snap_ours.local_ns) == (snap_theirs.ts_ns, snap_theirs.local_ns)
    # hftbacktest keeps levels beyond the snapshot's 1000 that earlier diffs left behind
    assert set(snap_ours.bids) <= set(snap_theirs.bids)
    assert set(snap_ours.asks) <= set(snap_theirs.asks)

    def strip(e: Event) -> tuple[object, ...]:
        if isinstance(e, BookDelta):
            return ("delta", e.ts_ns, e.local_ns, e.bids, e.asks)
        assert isinstance(e, Trade)
        return ("trade", e.ts_ns, e.local_ns, e.price_ticks, e.size_lots, e.aggressor)

    assert [strip(e) for e in ours[i + 1 :]] == [strip(e) for e in theirs[j + 1 :]]


def test_books_from_collector_and_npz_match_at_sample_times(
    collector: tuple[list[Event], LoadStats], hbt: tuple[list[Event], LoadStats]
) -> None:
    ours, theirs = collector[0], hbt[0]
    snap = next(e for e in ours if isinstance(e, BookSnapshot))
    lo, hi = snap.bids[-1][0], snap.asks[-1][0]  # the range the snapshot covers
    times = list(range(snap.ts_ns, ours[-1].ts_ns + 1, 250 * MS))
    assert len(times) > 1_300
    for t, a, b in zip(times, books_at(ours, times), books_at(theirs, times), strict=True):
        assert a.valid, t
        assert (a.best_bid, a.best_ask) == (b.best_bid, b.best_ask), t
        # every level of ours is in theirs; theirs has extra only beyond the snapshot's range
        assert a.bids.items() <= b.bids.items() and a.asks.items() <= b.asks.items(), t
        assert all(p < lo for p in b.bids.keys() - a.bids.keys()), t
        assert all(p > hi for p in b.asks.keys() - a.asks.keys()), t


def test_loading_streams_instead_of_reading_everything() -> None:
    stats = LoadStats()
    events = load_events([COLLECTOR], "binance-collector", BTC, stats=stats)
    assert inspect.isgenerator(events)
    next(events)
    assert stats.lines < 2_000  # the first event needs only the first lines of the second pass
    events.close()
    npz_stats = LoadStats()
    npz_events = load_events([NPZ], "hbt-npz", BTC, stats=npz_stats)
    next(npz_events)
    assert npz_stats.lines == LoadOptions().chunk_rows  # one chunk of 491,973 rows was read
    npz_events.close()


def _trades_npz(path: Path, n: int) -> Path:
    rng = np.random.default_rng(1)
    rows = [
        (
            BOTH | TRADE_EVENT | BUY_EVENT,
            10 * i,
            10 * i + 3,
            float(rng.integers(1000, 2000)) / 10,
            0.001,
        )
        for i in range(n)
    ]
    return write_npz(path, rows)


def test_npz_member_is_read_whole_and_exactly(tmp_path: Path) -> None:
    path = _trades_npz(tmp_path / "t.npz", 30_000)
    events, stats = load([path], "hbt-npz", chunk_rows=4_096)
    expected = np.load(path)["data"]
    assert stats.lines == len(expected) == len(events)
    assert [e.price_ticks for e in events if isinstance(e, Trade)] == np.rint(
        expected["px"] / 0.1
    ).astype(int).tolist()


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_npz_member_is_a_format_error(tmp_path: Path, damage: str) -> None:
    path = _trades_npz(tmp_path / "t.npz", 30_000)
    info = zipfile.ZipFile(path).getinfo("data.npy")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    if damage == "flip":
        raw[start + info.compress_size // 2] ^= 0xFF
    else:  # the member's data stops early; the central directory still claims it all
        cut = start + info.compress_size // 2
        tail = raw[start + info.compress_size :]
        raw = raw[:cut] + bytes(info.compress_size - (cut - start)) + tail
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError):
        load([path], "hbt-npz")
