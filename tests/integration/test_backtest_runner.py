"""The backtest runner and `grvt-mm backtest`: determinism, summary shape, settings validation,
coarse CSV mode, the end-of-data stop, progress, the HTML report and the timer grid."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer import Typer
from typer.testing import CliRunner

from grvtmm.app import build_backtest_run
from grvtmm.backtest.cli import make_backtest_command, symbol_from_name
from grvtmm.backtest.data import CSV_MODE_LIMITS
from grvtmm.backtest.data_hbt import EVENT_DTYPE
from grvtmm.backtest.loop import LoopSettings, ReplayLoop
from grvtmm.backtest.report import SeriesRecorder
from grvtmm.backtest.runner import (
    BacktestError,
    BacktestSettings,
    backtest_instrument,
    infer_npz_grid,
    parse_queue,
    run_backtest,
)
from grvtmm.core.clock import SimClock
from grvtmm.core.commands import Command
from grvtmm.core.events import BookDelta, BookSnapshot, EngineMode, Event, Timer
from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import PowerProbQueue, RiskAverseQueue

T0 = 1_700_000_000_000_000_000
STEP_NS = 10_000_000
EXCH_LOCAL, BUY, SELL, DEPTH, TRADE, SNAPSHOT = (1 << 31) | (1 << 30), 1 << 29, 1 << 28, 1, 2, 4
SHARED_KEYS = (
    "fills", "buy_fills", "sell_fills", "maker_fills", "taker_fills", "volume_notional", "fees",
    "pnl_gross", "pnl_net", "wear_bps", "end_position", "max_abs_position",
    "max_abs_inventory_notional", "requotes", "rejects", "events", "loop_seconds",
    "events_per_second", "settings",
)  # fmt: skip
MACHINE_KEYS = ("loop_seconds", "events_per_second", "rows_per_second")


def write_market(path: Path, seed: int, steps: int = 2_000) -> Path:
    """A seeded random-walk L2 market (tick 0.1, lot 0.001) in hftbacktest's .npz layout,
    opening with a depth snapshot."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, float, float]] = []
    mid = 10_000
    book: dict[tuple[bool, int], float] = {}
    for i in range(steps):
        ts = T0 + i * STEP_NS
        if i and rng.random() < 0.6:  # a trade at the touch, printed before the depth it moves
            buy = bool(rng.random() < 0.5)
            price = mid + 1 if buy else mid - 1
            rows.append((TRADE | (BUY if buy else SELL), ts, price, round(rng.uniform(1, 40))))
        mid += int(rng.integers(-1, 2))
        new = {(True, mid - k): float(rng.integers(1, 60)) for k in range(1, 8)}
        new |= {(False, mid + k): float(rng.integers(1, 60)) for k in range(1, 8)}
        kind = DEPTH if i else SNAPSHOT
        for key in sorted(set(book) | set(new), key=lambda k: (not k[0], k[1])):
            rows.append((kind | (BUY if key[0] else SELL), ts, key[1], new.get(key, 0.0)))
        book = new
    data = np.zeros(len(rows), dtype=EVENT_DTYPE)
    data["ev"] = [EXCH_LOCAL | r[0] for r in rows]
    data["exch_ts"] = [r[1] for r in rows]
    data["local_ts"] = [r[1] + 3_000_000 for r in rows]
    data["px"] = [r[2] * 0.1 for r in rows]
    data["qty"] = [r[3] * 0.001 for r in rows]
    np.savez(path, data=data)
    return path


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_market(tmp_path_factory.mktemp("bt") / "btcusdt_synthetic.npz", seed=3)


def cli(*args: str) -> Any:
    app = Typer()
    app.callback()(lambda: None)
    app.command("backtest")(make_backtest_command(lambda: build_backtest_run))
    return CliRunner().invoke(app, ["backtest", *args])


def fixed(**extra: Any) -> StrategyConfig:
    return StrategyConfig(
        strategy="fixed-spread", half_spread_ticks=1, order_qty=0.002, step_ms=100, **extra
    )


def settings(market: Path, **kw: Any) -> BacktestSettings:
    return BacktestSettings(paths=(market,), strategy=kw.pop("strategy", fixed()), **kw)


# ---- the command ------------------------------------------------------------------------------
def test_two_runs_give_identical_json_apart_from_timing(market: Path, tmp_path: Path) -> None:
    outs = []
    for name in ("a.json", "b.json"):
        args = [str(market), "--strategy", "fixed-spread", "--set", "half_spread_ticks=1",
                "--latency-ms", "5", "--queue", "power-prob:3", "--seed", "11",
                "--json", str(tmp_path / name)]  # fmt: skip
        result = cli(*args)
        assert result.exit_code == 0, result.output
        outs.append(json.loads((tmp_path / name).read_text()))
    a, b = outs
    assert all(k in a for k in SHARED_KEYS)
    assert a["fills"] > 10 and a["maker_fills"] == a["fills"]
    for key in MACHINE_KEYS:
        a.pop(key), b.pop(key)
    assert a == b
    s = a["settings"]
    assert (s["seed"], s["queue"], s["latency_ms"], s["format"]) == (
        11,
        "power-prob:3",
        5,
        "hbt-npz",
    )
    assert (s["tick_size"], s["lot_size"], s["symbol"]) == ("0.1", "0.001", "BTC_USDT_Perp")
    assert s["strategy"]["half_spread_ticks"] == 1.0


def test_set_rejects_an_unknown_field_by_name(market: Path) -> None:
    result = cli(str(market), "--set", "half_spred_ticks=2")
    assert result.exit_code == 2
    assert "half_spred_ticks" in result.output and "unknown strategy field" in result.output


def test_set_rejects_an_invalid_value_naming_the_field(market: Path) -> None:
    result = cli(str(market), "--set", "gamma=-1")
    assert result.exit_code == 2
    assert "gamma" in result.output


def test_set_needs_name_equals_value(market: Path) -> None:
    assert cli(str(market), "--set", "gamma").exit_code == 2


def test_unknown_format_and_missing_file_are_errors(market: Path, tmp_path: Path) -> None:
    assert cli(str(market), "--format", "parquet").exit_code == 2
    missing = cli(str(tmp_path / "nope.npz"))
    assert missing.exit_code == 1 and "not found" in missing.output


def test_line_formats_need_tick_and_lot(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "binance_small.collector"
    result = cli(str(src), "--strategy", "fixed-spread")
    assert result.exit_code == 1 and "--tick-size" in result.output
    ok = cli(str(src), "--tick-size", "0.1", "--lot-size", "0.001", "--json", str(tmp_path / "s"))
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "s").read_text())["data"]["format"] == "binance-collector"


def test_csv_mode_prints_its_limits_and_decides_once_per_row(tmp_path: Path) -> None:
    src = tmp_path / "mids.csv"  # one-minute rows
    lines = ["timestamp,mid"] + [f"{1_700_000_000_000 + 60_000 * i},{100 + (i % 7) * 0.1:.2f}"
                                 for i in range(300)]  # fmt: skip
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "csv.json"
    result = cli(str(src), "--strategy", "fixed-spread", "--tick-size", "0.01",
                 "--lot-size", "0.01", "--json", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert " ".join(CSV_MODE_LIMITS.split()[:8]) in " ".join(result.output.split())
    summary = json.loads(out.read_text())
    assert summary["limits"] == CSV_MODE_LIMITS
    assert summary["settings"]["timer_interval_ms"] == 60_000
    assert summary["settings"]["stale_data_s"] == 600
    assert summary["final_mode"] == "running" and summary["fills"] > 0
    assert summary["engine_events"] < 10 * 300  # 100 ms timers would be 600 a row


def test_report_is_self_contained_html_with_charts(market: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    result = cli(str(market), "--strategy", "fixed-spread", "--report", str(report))
    assert result.exit_code == 0, result.output
    page = report.read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") == 4
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for title in ("Price, our quotes and fills", "Inventory", "Equity", "Cumulative volume",
                  "Fees and wear"):  # fmt: skip
        assert title in page


# ---- the runner -------------------------------------------------------------------------------
def test_headline_figures_exclude_the_end_of_data_flatten(tmp_path: Path) -> None:
    market = write_market(tmp_path / "m.npz", seed=3, steps=1_501)  # ends holding a position
    flat = run_backtest(settings(market, latency_ms=5), build_backtest_run)
    kept = run_backtest(settings(market, latency_ms=5, flatten_at_end=False), build_backtest_run)
    assert "end_flatten" not in kept
    end = flat["end_flatten"]
    assert flat["end_position"] == kept["end_position"] != 0.0
    assert flat["fills"] == kept["fills"] and flat["pnl_net"] == kept["pnl_net"]
    assert end["end_position"] == 0.0 and end["final_mode"] == "stopped"
    assert end["taker_fills"] >= 1 and end["pnl_net"] == pytest.approx(
        flat["pnl_net"] + end["pnl_net_change"]
    )


def test_more_latency_fewer_fills(market: Path) -> None:
    fills = [
        run_backtest(settings(market, latency_ms=ms, flatten_at_end=False), build_backtest_run)[
            "fills"
        ]
        for ms in (0, 40)
    ]
    assert fills[0] > fills[1]


def test_fees_are_rate_times_notional(market: Path) -> None:
    out = run_backtest(
        settings(market, maker_fee=Decimal("-0.0001"), flatten_at_end=False), build_backtest_run
    )
    assert out["taker_fills"] == 0
    assert out["fees"] == pytest.approx(-0.0001 * out["volume_notional"], rel=1e-9)
    assert out["pnl_net"] == pytest.approx(out["pnl_gross"] - out["fees"])


def test_feed_interval_coalesces_what_the_engine_sees(market: Path) -> None:
    avellaneda = StrategyConfig(strategy="avellaneda")
    every = run_backtest(settings(market, strategy=avellaneda), build_backtest_run)
    coarse = run_backtest(
        settings(market, strategy=avellaneda, feed_interval_ms=100), build_backtest_run
    )
    assert every["events"] == coarse["events"]
    assert coarse["engine_events"] < every["engine_events"]


def test_progress_reaches_every_row_and_recorder_samples(market: Path) -> None:
    seen: list[tuple[int, int]] = []
    instrument, inferred = backtest_instrument(settings(market), "hbt-npz")
    recorder = SeriesRecorder(instrument, max_points=50)
    out = run_backtest(
        settings(market), build_backtest_run, progress=lambda r, t: seen.append((r, t)),
        recorder=recorder,
    )  # fmt: skip
    assert inferred and out["data"]["grid_inferred"]
    rows = [r for r, _ in seen]
    assert rows == sorted(rows) and rows[-1] == out["data"]["rows"] == len(np.load(market)["data"])
    assert len(recorder.samples) < 50 and recorder.interval_ns > 100_000_000
    times = [s.ts_ns for s in recorder.samples]
    assert times == sorted(times) and recorder.fills_seen >= out["fills"]


def test_grid_inference_and_instrument(market: Path) -> None:
    assert infer_npz_grid(market) == (Decimal("0.1"), Decimal("0.001"))
    given = settings(market, tick_size=Decimal("0.05"), lot_size=Decimal("0.001"))
    instrument, inferred = backtest_instrument(given, "hbt-npz")
    assert not inferred and instrument.tick_size == Decimal("0.05")
    with pytest.raises(BacktestError):
        backtest_instrument(settings(market), "csv")


def test_queue_specs() -> None:
    inst = Instrument("BTC_USDT_Perp", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    assert isinstance(parse_queue("risk-averse", inst), RiskAverseQueue)
    q = parse_queue("power-prob:2.5", inst)
    assert isinstance(q, PowerProbQueue) and q.n == 2.5
    for bad in ("power-prob", "power-prob:-1", "power-prob:x", "fifo", "risk-averse:2"):
        with pytest.raises(BacktestError):
            parse_queue(bad, inst)


def test_symbol_from_file_name() -> None:
    assert symbol_from_name(Path("binance_usdm_btcusdt_20240808.hbt.npz")) == "BTC_USDT_Perp"
    assert symbol_from_name(Path("btc-perp_1m.csv")) is None


# ---- the timer grid ----------------------------------------------------------------------------
class _TimerLog:
    mode = EngineMode.RUNNING

    def __init__(self) -> None:
        self.timers: list[int] = []

    def on_event(self, event: Event) -> list[Command]:
        if isinstance(event, Timer):
            self.timers.append(event.local_ns)
        return []

    def take_notices(self) -> list[Event]:
        return []


@pytest.mark.parametrize(("from_first", "expected"), [(True, 1_234), (False, 1_200)])
def test_timers_start_one_interval_after_the_first_event(from_first: bool, expected: int) -> None:
    inst = Instrument("X", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    engine = _TimerLog()
    ex = SimExchange(inst, FeeSchedule(), queue=RiskAverseQueue())
    loop = ReplayLoop(engine, ex, SimClock(0), LoopSettings(100, 0, from_first))
    market = [
        BookDelta(ts_ns=t, local_ns=t, symbol="X", bids=((10, 1),), asks=((11, 1),))
        for t in (1_134, 1_400, 1_500)
    ]
    loop.run(market)
    assert engine.timers[0] == expected
    assert all(b - a == 100 for a, b in zip(engine.timers, engine.timers[1:], strict=False))


class _BookLog(_TimerLog):
    def __init__(self) -> None:
        super().__init__()
        self.book: list[tuple[str, int]] = []

    def on_event(self, event: Event) -> list[Command]:
        if isinstance(event, (BookSnapshot, BookDelta)):
            self.book.append((type(event).__name__, event.local_ns))
        return []


@pytest.mark.parametrize("hold", [True, False])
def test_deltas_received_before_their_snapshot_wait_for_it(hold: bool) -> None:
    # A REST snapshot (exchange time 10) received at 50, after diffs that follow it (20, 30).
    inst = Instrument("X", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    engine = _BookLog()
    ex = SimExchange(inst, FeeSchedule(), queue=RiskAverseQueue())
    loop = ReplayLoop(engine, ex, SimClock(0), LoopSettings(10**9, 0, True, hold))
    snap = BookSnapshot(ts_ns=10, local_ns=50, symbol="X", bids=((10, 1),), asks=((11, 1),))
    deltas = [
        BookDelta(ts_ns=t, local_ns=t + 5, symbol="X", bids=((10, t),), asks=())
        for t in (20, 30, 60)
    ]
    loop.run([snap, *deltas])
    if hold:
        assert engine.book == [("BookSnapshot", 50), ("BookDelta", 50), ("BookDelta", 50),
                               ("BookDelta", 65)]  # fmt: skip
    else:
        assert engine.book[0] == ("BookDelta", 25)


# ---- the columnar replay ----------------------------------------------------------------------
CLEAR = 3
NPZ = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "binance_usdm_btcusdt_20240808.hbt.npz"
)


def write_rough_market(path: Path, seed: int, steps: int = 1_500) -> Path:
    """A market that exercises the replay's corners: receive latencies that reorder events
    (whole 0-59 ms, so some land on feed window ends), a depth snapshot in mid-file (clear + snapshot rows) with far levels that survive
    it, resting outliers at a tenth and ten times the price, depth messages whose bid and ask
    rows interleave, and a drift wide enough to move the exchange's array window."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, float, float]] = []  # (flags, ts, px, qty)
    mid = 200_000
    book: dict[tuple[bool, int], float] = {}
    for i in range(steps):
        ts = T0 + i * STEP_NS
        if i and rng.random() < 0.5:
            buy = bool(rng.random() < 0.5)
            price = mid + 1 if buy else mid - 1
            rows.append(
                (TRADE | (BUY if buy else SELL), ts, price * 0.1, rng.integers(1, 40) * 0.001)
            )
        mid += int(rng.integers(-1, 2)) + (40 if i % 300 == 299 else 0)
        new = {(True, mid - k): float(rng.integers(1, 60)) for k in range(1, 8)}
        new |= {(False, mid + k): float(rng.integers(1, 60)) for k in range(1, 8)}
        if i == 0 or i == steps // 2:
            if i:
                rows.append((CLEAR | BUY, ts, (mid - 30) * 0.1, 0.0))
                rows.append((CLEAR | SELL, ts, (mid + 30) * 0.1, 0.0))
            else:
                new |= {(True, mid // 10): 5.0, (False, mid * 10): 5.0}
            for (bid, p), q in sorted(new.items()):
                rows.append((SNAPSHOT | (BUY if bid else SELL), ts, p * 0.1, q * 0.001))
        else:
            keys = sorted(set(book) | set(new), key=lambda k: (k[1], k[0]))  # sides interleave
            if i % 7 == 0:
                keys.append((True, mid // 10 + i))  # a far level comes and goes
            for key in keys:
                q = new.get(key, 0.0 if key[1] > mid // 2 else float(i % 2))
                rows.append((DEPTH | (BUY if key[0] else SELL), ts, key[1] * 0.1, q * 0.001))
        book = {k: v for k, v in new.items() if k[1] > mid // 2}
    data = np.zeros(len(rows), dtype=EVENT_DTYPE)
    data["ev"] = [EXCH_LOCAL | r[0] for r in rows]
    data["exch_ts"] = [r[1] for r in rows]
    lat = rng.integers(0, 60, size=len(rows)) * 1_000_000  # whole ms: ties with window ends
    data["local_ts"] = data["exch_ts"] + lat
    data["px"] = [r[2] for r in rows]
    data["qty"] = [r[3] for r in rows]
    np.savez(path, data=data)
    return path


@pytest.fixture(scope="module")
def rough(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rough_market(tmp_path_factory.mktemp("bt") / "rough.npz", seed=5)


def both_replays(settings: BacktestSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run through the columnar replay and through the event-by-event replay."""
    out = []
    for columnar in (True, False):
        summary = run_backtest(replace(settings, coalesce_at_load=columnar), build_backtest_run)
        for key in MACHINE_KEYS:
            summary.pop(key)
        summary["settings"].pop("coalesce_at_load", None)
        out.append(summary)
    return out[0], out[1]


@pytest.mark.parametrize(
    ("strategy", "latency_ms", "queue", "feed_ms"),
    [
        ("avellaneda", 25.0, "risk-averse", 100.0),
        ("fixed-spread", 5.0, "power-prob:3", 50.0),
        ("fixed-spread", 0.0, "log-prob", 10.0),
        ("fixed-spread", 10.0, "risk-averse", 0.0),
        ("avellaneda", 25.0, "power-prob:2", 0.0),
    ],
)
def test_columnar_replay_matches_the_event_by_event_replay(
    rough: Path, strategy: str, latency_ms: float, queue: str, feed_ms: float
) -> None:
    config = fixed() if strategy == "fixed-spread" else StrategyConfig(strategy="avellaneda")
    columnar, events = both_replays(
        settings(
            rough, strategy=config, latency_ms=latency_ms, queue=queue, feed_interval_ms=feed_ms
        )
    )
    assert events["fills"] > 5 and events["engine_events"] > 1_000
    assert columnar == events


@pytest.mark.skipif(not NPZ.is_file(), reason="shared BTCUSDT data not present")
def test_columnar_replay_matches_on_the_shared_btcusdt_day() -> None:
    base = BacktestSettings(
        paths=(NPZ,), strategy=StrategyConfig(symbol="BTC_USDT_Perp"), tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"), latency_ms=25.0, maker_fee=Decimal("-0.0001"),
        taker_fee=Decimal("0.00045"), feed_interval_ms=100.0, initial_equity=1000.0,
    )  # fmt: skip
    columnar, events = both_replays(base)
    assert events["fills"] > 50 and events["data"]["rows"] == 491_973
    assert columnar == events
