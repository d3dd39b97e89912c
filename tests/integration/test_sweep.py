"""`grvt-mm sweep`: the grid runs on two spawned processes with the same runner, is ranked by
wear among runs meeting the volume target, and lands in a CSV; Ray absent fails cleanly."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer import Typer
from typer.testing import CliRunner

from grvtmm.app import build_backtest_run
from grvtmm.backtest.data_hbt import EVENT_DTYPE
from grvtmm.backtest.runner import BacktestSettings, run_backtest
from grvtmm.backtest.sweep import expand_grid, make_sweep_command, parse_grid, rank
from grvtmm.strategy.params import StrategyConfig

T0 = 1_700_000_000_000_000_000
FLAGS, BUY, SELL, DEPTH, TRADE, SNAPSHOT = (1 << 31) | (1 << 30), 1 << 29, 1 << 28, 1, 2, 4


def write_market(path: Path, seed: int, steps: int = 800) -> Path:
    """A seeded random walk: seven levels a side every 10 ms and a trade at the touch."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, float]] = []
    mid = 10_000
    for i in range(steps):
        ts = T0 + i * 10_000_000
        if i and rng.random() < 0.6:
            buy = bool(rng.random() < 0.5)
            depth = int(rng.integers(1, 4))
            rows.append(
                (TRADE | (BUY if buy else SELL), ts, mid + (depth if buy else -depth), 20.0)
            )
        mid += int(rng.integers(-1, 2))
        kind = DEPTH if i else SNAPSHOT
        for k in range(1, 8):
            rows.append((kind | BUY, ts, mid - k, float(rng.integers(1, 60))))
            rows.append((kind | SELL, ts, mid + k, float(rng.integers(1, 60))))
    data = np.zeros(len(rows), dtype=EVENT_DTYPE)
    data["ev"] = [FLAGS | r[0] for r in rows]
    data["exch_ts"] = [r[1] for r in rows]
    data["local_ts"] = [r[1] + 3_000_000 for r in rows]
    data["px"] = [r[2] * 0.1 for r in rows]
    data["qty"] = [r[3] * 0.001 for r in rows]
    np.savez(path, data=data)
    return path


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_market(tmp_path_factory.mktemp("sweep") / "btcusdt_synth.npz", seed=5)


def cli(*args: str) -> Any:
    app = Typer()
    app.callback()(lambda: None)
    app.command("sweep")(make_sweep_command(lambda: build_backtest_run))
    return CliRunner().invoke(app, ["sweep", *args])


def test_grid_runs_in_two_processes_ranked_by_wear(market: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    result = cli(str(market), "--strategy", "fixed-spread", "--set", "order_qty=0.002",
                 "--grid", "half_spread_ticks=1,2,4", "--grid", "latency_ms=5,50",
                 "--processes", "2", "--volume-target", "1", "--csv", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    assert {(r["half_spread_ticks"], r["latency_ms"]) for r in rows} == {
        (h, lat) for h in ("1", "2", "4") for lat in ("5", "50")
    }
    good = [r for r in rows if r["meets_target"] == "True"]
    assert good and all(float(r["volume_notional"]) >= 1 for r in good)
    assert rows[: len(good)] == good  # runs meeting the target come first
    wears = [float(r["wear_bps"]) for r in good]
    assert wears == sorted(wears)
    # a worker's figures are the runner's own for the same settings
    row = next(r for r in rows if (r["half_spread_ticks"], r["latency_ms"]) == ("2", "50"))
    config = StrategyConfig(strategy="fixed-spread", symbol="BTC_USDT_Perp", order_qty=0.002,
                            half_spread_ticks=2)  # fmt: skip
    direct = run_backtest(
        BacktestSettings(paths=(market,), strategy=config, latency_ms=50), build_backtest_run
    )
    assert int(row["fills"]) == direct["fills"] > 0
    assert float(row["pnl_net"]) == pytest.approx(direct["pnl_net"])


def test_runs_below_the_volume_target_are_listed_after_and_marked() -> None:
    rows = [
        {"index": 0, "error": "", "volume_notional": 50.0, "wear_bps": -1.0},
        {"index": 1, "error": "", "volume_notional": 500.0, "wear_bps": 3.0},
        {"index": 2, "error": "", "volume_notional": 900.0, "wear_bps": 1.0},
        {"index": 3, "error": "bad data", "volume_notional": None, "wear_bps": None},
    ]
    ranked = rank(rows, volume_target=100.0)
    assert [r["index"] for r in ranked] == [2, 1, 0, 3]
    assert [r["meets_target"] for r in ranked] == [True, True, False, False]


def test_grid_expands_to_the_cartesian_product_with_validation(market: Path) -> None:
    base = BacktestSettings(paths=(market,), strategy=StrategyConfig(strategy="fixed-spread"))
    points = expand_grid(
        base, parse_grid(["half_spread_ticks=1,3", "queue=risk-averse,power-prob:2"]), []
    )
    assert [(p.settings.strategy.half_spread_ticks, p.settings.queue) for p in points] == [
        (1, "risk-averse"), (1, "power-prob:2"), (3, "risk-averse"), (3, "power-prob:2"),
    ]  # fmt: skip
    result = cli(str(market), "--grid", "no_such_field=1,2")
    assert result.exit_code == 2 and "no_such_field" in result.output
    result = cli(str(market), "--strategy", "fixed-spread", "--grid", "half_spread_ticks=-1")
    assert result.exit_code == 2 and "half_spread_ticks" in result.output


def test_ray_without_the_package_fails_with_one_line(market: Path, tmp_path: Path) -> None:
    result = cli(str(market), "--strategy", "fixed-spread", "--tick-size", "0.1",
                 "--grid", "half_spread_ticks=1", "--ray", "auto", "--csv", str(tmp_path / "x.csv"))  # fmt: skip
    assert result.exit_code == 2
    assert "ray" in result.output and not (tmp_path / "x.csv").exists()
