"""Backtest throughput: our runner vs hftbacktest 2.4.4 driving the same Python strategy.

Both replay the shared Binance BTCUSDT file with the avellaneda strategy (our
`AvellanedaStrategy`, unchanged) deciding every 100 ms:
* ours: `run_backtest` — the columnar replay (npz chunks, the exchange's compiled array-book
  scan with the RiskAverse queue, the engine's 100 ms feed coalesced while loading) and the full
  engine (requote policy, breakers);
* hftbacktest: its Rust core (NoPartialFill, RiskAverse) with `elapse(100 ms)`, calling the same
  strategy through a thin adapter (book window → OrderBook, trades → on_trade, keep/cancel/
  submit at the target ticks) via its numba jitclass API, in its own interpreter.
Throughput is input rows per second (hftbacktest's unit: one row = one event of the file),
wall time from loading the data to the end of the replay; hftbacktest's one-off JIT is excluded
and reported apart. The machine may be shared, so the two alternate: each of `--rounds` rounds
takes the best of `--repeat` runs of each, and the ratio reported is the median over rounds of
the per-round ratios, by wall time and by CPU time of the process (less sensitive to other
load).

Run: .venv/bin/python bench/bench_backtest.py [--hbt-python .venv-hbt/bin/python] [--repeat 3]
[--rounds 3] (the hftbacktest interpreter needs `pip install hftbacktest==2.4.4 pydantic`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from grvtmm.app import build_backtest_run
from grvtmm.backtest.runner import BacktestSettings, run_backtest
from grvtmm.strategy.params import StrategyConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "binance_usdm_btcusdt_20240808.hbt.npz"
HBT_PYTHON = os.environ.get("GRVTMM_HBT_PYTHON", str(ROOT / ".venv-hbt" / "bin" / "python"))
MAKER, TAKER = "-0.0001", "0.00045"

HBT_SCRIPT = r"""
import json, sys, time
src, npz, latency_ms, equity0, maker, taker, repeat = sys.argv[1:8]
sys.path.insert(0, src)
from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
from hftbacktest.order import BUY, GTX, LIMIT, NEW, NONE, PARTIALLY_FILLED
from decimal import Decimal
from grvtmm.core.book import OrderBook
from grvtmm.core.events import BookSnapshot, Trade
from grvtmm.core.types import FeeSchedule, Instrument, Side
from grvtmm.strategy.base import AccountView
from grvtmm.strategy.params import StrategyConfig
from grvtmm.strategy.quoter import AvellanedaStrategy

TICK, LOT, WINDOW, BUY_EVENT, SYM = 0.1, 0.001, 20, 1 << 29, "BTC_USDT_Perp"
LAT = int(float(latency_ms) * 1_000_000)
EQUITY0 = float(equity0)


def build():
    asset = (BacktestAsset().data([npz]).linear_asset(1.0).constant_order_latency(LAT, LAT)
             .no_partial_fill_exchange().trading_value_fee_model(float(maker), float(taker))
             .tick_size(TICK).lot_size(LOT).risk_adverse_queue_model().last_trades_capacity(100_000))
    return HashMapMarketDepthBacktest([asset])


def listed(orders):
    values, out = orders.values(), []
    while (o := values.next()) is not None:
        out.append(o)
    return out


def run():
    t0 = time.perf_counter()
    c0 = time.process_time()
    hbt = build()
    instrument = Instrument(SYM, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    config = StrategyConfig(symbol=SYM)
    strategy = AvellanedaStrategy(config, instrument, FeeSchedule(Decimal(maker), Decimal(taker)))
    book = OrderBook(SYM)
    next_id, decisions, in_strategy = 1, 0, 0.0
    while hbt.elapse(100_000_000) == 0:
        now = hbt.current_timestamp
        for tr in hbt.last_trades(0):
            strategy.on_trade(Trade(ts_ns=int(tr["exch_ts"]), local_ns=int(tr["local_ts"]),
                                    symbol=SYM, price_ticks=round(tr["px"] / TICK),
                                    size_lots=round(tr["qty"] / LOT),
                                    aggressor=Side.BUY if int(tr["ev"]) & BUY_EVENT else Side.SELL))
        hbt.clear_last_trades(0)
        depth = hbt.depth(0)
        bb, ba = depth.best_bid_tick, depth.best_ask_tick
        if bb <= 0 or ba <= 0 or bb >= ba:
            continue
        bids = tuple((t, q) for t in range(bb, bb - WINDOW, -1)
                     if (q := round(depth.bid_qty_at_tick(t) / LOT)) > 0)
        asks = tuple((t, q) for t in range(ba, ba + WINDOW)
                     if (q := round(depth.ask_qty_at_tick(t) / LOT)) > 0)
        s0 = time.perf_counter()
        book.apply_snapshot(BookSnapshot(ts_ns=now, local_ns=now, symbol=SYM, bids=bids, asks=asks))
        strategy.on_book(book, now)
        position = hbt.position(0)
        sv = hbt.state_values(0)
        mid = (bb + ba) * 0.5 * TICK
        equity = EQUITY0 + sv.balance + position * mid - sv.fee
        used = abs(position) * mid / config.effective_leverage
        orders = listed(hbt.orders(0))
        live = [o for o in orders if o.status in (NONE, NEW, PARTIALLY_FILLED)]
        bid_lots = sum(round(o.leaves_qty / LOT) for o in live if o.side == BUY)
        ask_lots = sum(round(o.leaves_qty / LOT) for o in live if o.side != BUY)
        target = strategy.quote(book, AccountView(round(position / LOT), equity, equity - used,
                                                  used, bid_lots, ask_lots), now)
        in_strategy += time.perf_counter() - s0
        decisions += 1
        want = {1: target.bid, -1: target.ask}
        have = set()
        for o in live:
            side = 1 if o.side == BUY else -1
            q = want[side]
            if q is not None and o.price_tick == q.price_ticks and round(o.qty / LOT) == q.size_lots:
                have.add(side)
            elif o.cancellable:
                hbt.cancel(0, o.order_id, False)
        for side, q in want.items():
            if q is not None and side not in have:
                submit = hbt.submit_buy_order if side == 1 else hbt.submit_sell_order
                submit(0, next_id, q.price_ticks * TICK, q.size_lots * LOT, GTX, LIMIT, False)
                next_id += 1
        hbt.clear_inactive_orders(0)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    sv = hbt.state_values(0)
    return {"seconds": seconds, "cpu_seconds": cpu, "decisions": decisions, "strategy_seconds": in_strategy,
            "fills": int(sv.num_trades), "volume": sv.trading_value, "orders": next_id - 1}


t0 = time.perf_counter()
build()
jit = time.perf_counter() - t0
runs = [run() for _ in range(int(repeat))]
print(json.dumps({"jit_seconds": jit, "runs": runs}))
"""


def _rows(path: Path) -> int:
    from grvtmm.backtest.data_hbt import open_member

    zf, fh, _, count = open_member(path)
    fh.close()
    zf.close()
    return count


def ours(path: Path, latency_ms: float, equity: float) -> dict[str, Any]:
    settings = BacktestSettings(
        paths=(path,),
        strategy=StrategyConfig(symbol="BTC_USDT_Perp"),
        tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"),
        latency_ms=latency_ms,
        maker_fee=Decimal(MAKER),
        taker_fee=Decimal(TAKER),
        feed_interval_ms=100,
        initial_equity=equity,
        flatten_at_end=False,
    )
    t0 = time.perf_counter()
    c0 = time.process_time()
    summary = run_backtest(settings, build_backtest_run)
    summary["wall_seconds"] = time.perf_counter() - t0
    summary["cpu_seconds"] = time.process_time() - c0
    return summary


def hbt(python: str, path: Path, latency_ms: float, equity: float, repeat: int) -> dict[str, Any]:
    args = [python, "-c", HBT_SCRIPT, str(ROOT / "src"), str(path), str(latency_ms), str(equity),
            MAKER, TAKER, str(repeat)]  # fmt: skip
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"hftbacktest run failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--hbt-python", default=HBT_PYTHON)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--equity", type=float, default=1000.0)
    a = parser.parse_args()
    rows = _rows(a.data)
    print(f"{a.data.name}: {rows:,} rows, avellaneda every 100 ms, RiskAverse, "
          f"{a.latency_ms:g} ms latency; {a.rounds} rounds, best of {a.repeat} per round\n")  # fmt: skip
    print("| round | ours wall s | ours CPU s | hftbacktest wall s | hftbacktest CPU s "
          "| ratio (wall) | ratio (CPU) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    walls: list[float] = []
    cpus: list[float] = []
    best: dict[str, Any] = {}
    rbest: dict[str, Any] = {}
    jit = 0.0
    t0 = time.perf_counter()
    ours(a.data, a.latency_ms, a.equity)  # loads (or, on a new machine, compiles) numba code
    first = time.perf_counter() - t0
    for k in range(1, a.rounds + 1):
        mine = [ours(a.data, a.latency_ms, a.equity) for _ in range(a.repeat)]
        ref = hbt(a.hbt_python, a.data, a.latency_ms, a.equity, a.repeat)
        jit = ref["jit_seconds"]
        m_wall = min(s["wall_seconds"] for s in mine)
        m_cpu = min(s["cpu_seconds"] for s in mine)
        r_wall = min(r["seconds"] for r in ref["runs"])
        r_cpu = min(r["cpu_seconds"] for r in ref["runs"])
        walls.append(r_wall / m_wall)
        cpus.append(r_cpu / m_cpu)
        print(f"| {k} | {m_wall:.2f} | {m_cpu:.2f} | {r_wall:.2f} | {r_cpu:.2f} "
              f"| {walls[-1]:.2f}× | {cpus[-1]:.2f}× |", flush=True)  # fmt: skip
        b = min(mine, key=lambda s: s["wall_seconds"])
        if not best or b["wall_seconds"] < best["wall_seconds"]:
            best = b
        rb = min(ref["runs"], key=lambda r: r["seconds"])
        if not rbest or rb["seconds"] < rbest["seconds"]:
            rbest = rb
    ours_rate, ref_rate = rows / best["wall_seconds"], rows / rbest["seconds"]
    print("\n| engine | best wall s | rows/s | decisions | µs/decision in strategy | fills "
          "| volume |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    print(f"| grvt-mm runner (full engine) | {best['wall_seconds']:.2f} | {ours_rate:,.0f} "
          f"| {best['engine_events']:,} engine events | – | {best['fills']} "
          f"| {best['volume_notional']:,.0f} |")  # fmt: skip
    print(f"| hftbacktest 2.4.4 + Python strategy | {rbest['seconds']:.2f} | {ref_rate:,.0f} "
          f"| {rbest['decisions']:,} | {rbest['strategy_seconds'] / rbest['decisions'] * 1e6:.1f} "
          f"| {rbest['fills']} | {rbest['volume']:,.0f} |")  # fmt: skip
    print(f"\nratio ours / hftbacktest (rows/s), median of {a.rounds} rounds: "
          f"{statistics.median(walls):.2f}× by wall time, {statistics.median(cpus):.2f}× by CPU "
          f"time (not counted, once per process: hftbacktest's JIT {jit:.1f} s; our first run "
          f"took {first:.1f} s, {first - best['wall_seconds']:.1f} s more than the best, "
          "loading numba and the compiled scan from its disk cache)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
