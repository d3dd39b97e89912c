"""Engine decision cost per book event (avellaneda) and demo throughput.

Baseline in the same run: applying the same book events to a bare `OrderBook` (the floor any
engine pays). The engine measurement is repeated `--runs` times (the machine is shared and
noisy) and each column reports the median of the runs.
Run: .venv/bin/python bench/bench_engine.py [--duration S] [--seed N] [--runs R]
"""

from __future__ import annotations

import argparse
import statistics
import time

from grvtmm.app import DEMO_START_NS, SimRunSettings, build_sim_run, run_demo
from grvtmm.core.book import OrderBook
from grvtmm.core.commands import Command
from grvtmm.core.events import BookDelta, BookSnapshot, EngineMode, Event, StartRequested
from grvtmm.engine.engine import Engine
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.sim.synthetic import SyntheticMarket, SyntheticParams, default_instrument

NS_PER_S = 1_000_000_000


class TimedEngine:
    """Delegates to the engine, timing `on_event` for book events only."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.samples_ns: list[int] = []

    @property
    def mode(self) -> EngineMode:
        return self.engine.mode

    def on_event(self, event: Event) -> list[Command]:
        if type(event) is BookDelta or type(event) is BookSnapshot:
            t0 = time.perf_counter_ns()
            out = self.engine.on_event(event)
            self.samples_ns.append(time.perf_counter_ns() - t0)
            return out
        return self.engine.on_event(event)

    def take_notices(self) -> list[Event]:
        return self.engine.take_notices()


def pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def engine_cost(duration_s: float, seed: int) -> dict[str, float]:
    inst = default_instrument()
    params = SyntheticParams()
    run = build_sim_run(
        inst,
        StrategyConfig(symbol=inst.symbol),
        SimRunSettings(feed_interval_ns=0),
        DEMO_START_NS,
        keep_notices=False,
    )
    timed = TimedEngine(run.engine)
    run.loop.engine = timed
    start = DEMO_START_NS
    run.loop.schedule(StartRequested(ts_ns=start + 1, local_ns=start + 1))
    market = list(SyntheticMarket(params, inst, seed=seed, start_ns=start).iter_for(duration_s))
    run.loop.run(iter(market))
    book_events = [e for e in market if isinstance(e, (BookDelta, BookSnapshot))]
    base: list[int] = []
    for _ in range(3):
        book = OrderBook(inst.symbol)
        for e in book_events:
            t0 = time.perf_counter_ns()
            if isinstance(e, BookSnapshot):
                book.apply_snapshot(e)
            else:
                book.apply_delta(e)
            base.append(time.perf_counter_ns() - t0)
    samples = timed.samples_ns
    return {
        "book_events": len(samples),
        "engine_p50_us": pct(samples, 0.5),
        "engine_p99_us": pct(samples, 0.99),
        "engine_mean_us": statistics.fmean(samples) / 1000,
        "baseline_p50_us": pct(base, 0.5),
        "baseline_p99_us": pct(base, 0.99),
        "ratio_p50": pct(samples, 0.5) / pct(base, 0.5),
    }


def demo_throughput(duration_s: float, seed: int) -> dict[str, float]:
    summary = run_demo(duration_s=duration_s, speed=None, seed=seed)
    return {
        "market_events": summary["events"],
        "engine_events": summary["engine_events"],
        "loop_seconds": summary["loop_seconds"],
        "events_per_second": summary["events_per_second"],
        "engine_events_per_second": summary["engine_events"] / summary["loop_seconds"],
        "fills": summary["fills"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [engine_cost(args.duration, args.seed) for _ in range(max(1, args.runs))]
    cost = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(
        f"## Engine decision cost per book event (avellaneda, feed interval 0), "
        f"median of {len(runs)} runs"
    )
    print(
        "| book events | engine p50 µs | engine p99 µs | baseline (OrderBook only) p50 µs | p99 µs | ratio p50 |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {cost['book_events']:.0f} | {cost['engine_p50_us']:.1f} | {cost['engine_p99_us']:.1f} | "
        f"{cost['baseline_p50_us']:.2f} | {cost['baseline_p99_us']:.2f} | {cost['ratio_p50']:.1f}× |"
    )
    print("engine p50 per run µs:", ", ".join(f"{run['engine_p50_us']:.1f}" for run in runs))
    thr = demo_throughput(args.duration, args.seed)
    print("\n## Demo throughput (--speed max)")
    print("| market events | engine events | loop s | market events/s | engine events/s | fills |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {thr['market_events']} | {thr['engine_events']} | {thr['loop_seconds']:.2f} | "
        f"{thr['events_per_second']:,.0f} | {thr['engine_events_per_second']:,.0f} | {thr['fills']} |"
    )


if __name__ == "__main__":
    main()
