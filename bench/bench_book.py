"""Throughput of GRVT `v1.book.d` handling: raw frame → parsed event → applied L2 book.

Run:  python bench/bench_book.py [--messages 20000] [--rounds 15] [--levels 10] [--seed 5]
                                 [--ccxt-python /path/to/venv/bin/python]

A recorded-style stream is generated first (seeded): one 50-level-per-side snapshot numbered 0,
then deltas from `first_sequence_number` on, each changing about `--levels` price levels (size
changes near the top, deletions as size "0", new levels), as GRVT's JSON text. Measured:

* `core orjson→event`: `orjson.loads` + sequence check + `parse.book_event` (dicts → event) +
  `OrderBook.apply_*`;
* `typed→event`: `fastbook.decode` (msgspec structs) + sequence check + `BookDecoder.event` +
  `OrderBook.apply_*` — what the venue emits when the engine owns the book;
* `typed→book`: `fastbook.decode` + sequence check + `BookDecoder.apply`, levels applied to the
  `OrderBook` without an event;
* `venue feed`: the venue's real path, `JsonRpcStream._receive` (text frames, as websockets hands
  them over) → `MarketFeed` (book frames through its raw hook: `fastbook` typed decoding, the
  stream's sequence rules) → event → `OrderBook`, i.e. stream statistics and event plumbing too;
* `venue feed, dicts`: the same with the raw hook off, every frame decoded by `orjson` into dicts
  (the path of every other stream, and of book frames the typed decoder refuses);
* `ccxt`: ccxt.pro's GRVT handler (`grvt().handle_order_book(client, json.loads(raw))`), run in
  the interpreter given by `--ccxt-python` (a throwaway venv with ccxt installed), on the same
  frames.

Every path's final book must be identical, and the same best bid and ask as ccxt's. Throughput is
the best of `--rounds` interleaved passes; each pass also times every message on its own (after
the snapshot) for the median and 99th percentile.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from grvtmm.core.book import OrderBook
from grvtmm.core.clock import LiveClock
from grvtmm.core.events import BookSnapshot, Event
from grvtmm.core.types import Instrument
from grvtmm.venues.grvt import fastbook, parse
from grvtmm.venues.grvt.feeds import MarketFeed
from grvtmm.venues.grvt.ws import SequenceTracker, Verdict

SYMBOL = "BNB_USDT_Perp"
INST = Instrument(
    symbol=SYMBOL,
    tick_size=Decimal("0.01"),
    size_step=Decimal("0.01"),
    min_size=Decimal("0.01"),
    min_notional=Decimal("5"),
    base_decimals=9,
    asset_id="0x030b01",
)
FIRST_SEQ = 1000


def make_stream(n: int, levels: int, seed: int) -> list[bytes]:
    """A snapshot then `n - 1` deltas of about `levels` changes each, as GRVT JSON bytes."""
    rng = random.Random(seed)
    mid = 60_000
    bids = {mid - i: rng.randint(1, 500) for i in range(1, 51)}
    asks = {mid + i: rng.randint(1, 500) for i in range(0, 50)}
    frames = [_frame(0, 0, 0, bids.items(), asks.items())]
    for k in range(1, n):
        mid += rng.choice((-1, 0, 0, 0, 1))
        changed_b: dict[int, int] = {}
        changed_a: dict[int, int] = {}
        for _ in range(levels):
            is_bid = rng.random() < 0.5
            book, out = (bids, changed_b) if is_bid else (asks, changed_a)
            away = int(rng.expovariate(0.15))
            price = mid - 1 - away if is_bid else mid + away
            roll = rng.random()
            if roll < 0.2 and price in book:
                del book[price]
                out[price] = 0
            else:
                book[price] = out[price] = rng.randint(1, 800)
        # keep the book uncrossed as the mid walks
        for p in [p for p in bids if p >= mid]:
            del bids[p]
            changed_b[p] = 0
        for p in [p for p in asks if p < mid]:
            del asks[p]
            changed_a[p] = 0
        seq = FIRST_SEQ + k - 1
        frames.append(_frame(seq, seq - 1, k, changed_b.items(), changed_a.items()))
    return frames


def _frame(seq: int, prev: int, k: int, bids: Any, asks: Any) -> bytes:
    def level(p: int, q: int) -> dict[str, Any]:
        return {"price": INST.price_str(p), "size": INST.size_str(q), "num_orders": 1 + q % 7}

    feed = {
        "event_time": str(1_732_400_000_000_000_000 + k * 50_000_000),
        "instrument": SYMBOL,
        "bids": [level(p, q) for p, q in sorted(bids, reverse=True)],
        "asks": [level(p, q) for p, q in sorted(asks)],
    }
    return orjson.dumps(
        {
            "stream": "v1.book.d",
            "selector": f"{SYMBOL}@50",
            "sequence_number": str(seq),
            "feed": feed,
            "prev_sequence_number": str(prev),
        }
    )


Step = Callable[[bytes | str], object]


def core_path() -> tuple[Step, OrderBook]:
    """orjson + sequence check + `parse.book_event` + `OrderBook.apply_*` (dict decoding)."""
    q = parse.Quantizer(INST)
    book = OrderBook(SYMBOL)
    check, key = _tracker()
    loads, book_event = orjson.loads, parse.book_event
    first, nxt = Verdict.FIRST, Verdict.NEXT

    def step(raw: bytes | str) -> None:
        msg = loads(raw)
        verdict = check(key, int(msg["sequence_number"]), None)
        if verdict is first:
            book.apply_snapshot(book_event(msg, q, snapshot=True, local_ns=0))  # type: ignore[arg-type]
        elif verdict is nxt:
            ev = book_event(msg, q, snapshot=False, local_ns=0, prev_sequence=book.sequence)
            book.apply_delta(ev)  # type: ignore[arg-type]

    return step, book


def typed_event_path() -> tuple[Step, OrderBook]:
    """msgspec typed decoding + sequence check + `BookDecoder.event` + `OrderBook.apply_*`."""
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    book = OrderBook(SYMBOL)
    check, key = _tracker()
    decode, sequence, event = fastbook.decode, fastbook.sequence, dec.event
    first, nxt = Verdict.FIRST, Verdict.NEXT

    def step(raw: bytes | str) -> None:
        frame = decode(raw)
        verdict = check(key, sequence(frame), None)
        if verdict is first:
            book.apply_snapshot(event(frame, snapshot=True, local_ns=0))  # type: ignore[arg-type]
        elif verdict is nxt:
            ev = event(frame, snapshot=False, local_ns=0, prev_sequence=book.sequence)
            book.apply_delta(ev)  # type: ignore[arg-type]

    return step, book


def typed_apply_path() -> tuple[Step, OrderBook]:
    """msgspec typed decoding + sequence check + levels applied straight to the `OrderBook`."""
    dec = fastbook.BookDecoder(parse.Quantizer(INST))
    book = OrderBook(SYMBOL)
    check, key = _tracker()
    decode, sequence, apply = fastbook.decode, fastbook.sequence, dec.apply
    first, nxt = Verdict.FIRST, Verdict.NEXT

    def step(raw: bytes | str) -> None:
        frame = decode(raw)
        verdict = check(key, sequence(frame), None)
        if verdict is first:
            apply(frame, book, snapshot=True)
        elif verdict is nxt:
            apply(frame, book, snapshot=False, prev_sequence=book.sequence)

    return step, book


def feed_path(typed: bool = True) -> tuple[Step, OrderBook]:
    """The venue's own path from a received frame to an applied event."""
    q = parse.Quantizer(INST)
    book = OrderBook(SYMBOL)

    def emit(event: Event) -> None:
        if isinstance(event, BookSnapshot):
            book.apply_snapshot(event)
        else:
            book.apply_delta(event)  # type: ignore[arg-type]

    feed = MarketFeed("ws://unused", q, clock=LiveClock(), rng=random.Random(0), emit=emit)
    stream = feed.stream
    if not typed:
        stream._on_raw = None
    key = ("v1.book.d", SYMBOL)
    stream._tracker.expect(key)
    stream._tracker.acked(key, FIRST_SEQ)
    return stream._receive, book


def _tracker() -> tuple[Callable[[tuple[str, str], int, object], Verdict], tuple[str, str]]:
    tracker = SequenceTracker()
    key = ("v1.book.d", SYMBOL)
    tracker.expect(key)
    tracker.acked(key, FIRST_SEQ)
    return tracker.check, key


PATHS: dict[str, tuple[Callable[[], tuple[Step, OrderBook]], bool]] = {
    # name: (path, takes text frames as websockets hands them over)
    "core orjson→event": (core_path, False),
    "typed→event": (typed_event_path, False),
    "typed→book": (typed_apply_path, False),
    "venue feed": (feed_path, True),
    "venue feed, dicts": (lambda: feed_path(typed=False), True),
}


def run_path(make: Callable[[], tuple[Step, OrderBook]], frames: Sequence[bytes | str]) -> Run:
    """One timed pass over the stream, then one pass timing each message on a fresh book."""
    step, book = make()
    clock = time.perf_counter
    start = clock()
    for raw in frames:
        step(raw)
    seconds = clock() - start
    step, _ = make()
    ns = time.perf_counter_ns
    lat = array("q", bytes(8 * len(frames)))
    for i, raw in enumerate(frames):
        t0 = ns()
        step(raw)
        lat[i] = ns() - t0
    return Run(seconds, sorted(lat[1:]), book)  # the snapshot is not a per-message cost


@dataclass
class Run:
    seconds: float
    latencies_ns: list[int]
    book: OrderBook

    def pct(self, p: float) -> float:
        lat = self.latencies_ns
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1e3


CCXT_SCRIPT = r"""
import gc, json, sys, time
import ccxt.pro as ccxtpro

class Client:
    def resolve(self, result, message_hash):
        pass

frames = [line for line in open(sys.argv[1], "rb").read().split(b"\n") if line]
market = {
    "id": "BNB_USDT_Perp", "symbol": "BNB/USDT:USDT", "base": "BNB", "quote": "USDT",
    "settle": "USDT", "baseId": "BNB", "quoteId": "USDT", "settleId": "USDT", "type": "swap",
    "spot": False, "margin": False, "swap": True, "future": False, "option": False,
    "contract": True, "linear": True, "inverse": False, "active": True, "contractSize": 1,
    "precision": {"amount": 0.01, "price": 0.01}, "limits": {}, "info": {},
}
client = Client()
gc.disable()
ex = ccxtpro.grvt()
ex.set_markets([market])
handle, loads = ex.handle_order_book, json.loads
start = time.perf_counter()
for raw in frames:
    handle(client, loads(raw))
seconds = time.perf_counter() - start
book = ex.orderbooks["BNB/USDT:USDT"]
bid, ask = book["bids"][0][0], book["asks"][0][0]
ex = ccxtpro.grvt()
ex.set_markets([market])
handle, ns = ex.handle_order_book, time.perf_counter_ns
lat = []
for raw in frames:
    t0 = ns()
    handle(client, loads(raw))
    lat.append(ns() - t0)
lat = sorted(lat[1:])
print(json.dumps({"seconds": seconds, "bid": bid, "ask": ask, "ccxt": __import__("ccxt").__version__,
                  "p50_us": lat[len(lat) // 2] / 1e3, "p99_us": lat[int(0.99 * len(lat))] / 1e3}))
"""


def run_ccxt(python: str, frames: list[bytes]) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "frames.jsonl"
        data.write_bytes(b"\n".join(frames) + b"\n")
        script = Path(tmp) / "ccxt_book.py"
        script.write_text(CCXT_SCRIPT)
        done = subprocess.run(
            [python, str(script), str(data)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        print(f"ccxt run failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--ccxt-python", default="", help="interpreter of a venv with ccxt installed")
    args = ap.parse_args()
    frames = make_stream(args.messages, args.levels, args.seed)
    texts = [f.decode() for f in frames]  # websockets hands text frames over as str
    sample = [orjson.loads(f)["feed"] for f in frames[1:1001]]
    changes = sum(len(f["bids"]) + len(f["asks"]) for f in sample) / len(sample)
    size = sum(map(len, frames)) / len(frames)
    print(f"{len(frames)} frames, {changes:.1f} level changes per delta, {size:.0f} bytes each")
    print(
        f"msgs/s: best of {args.rounds} interleaved rounds; µs/msg p50/p99: per message, "
        "from the best round; garbage collector off while timing"
    )
    best: dict[str, Run] = {}
    ccxt: dict[str, Any] | None = None
    gc.disable()
    for _ in range(args.rounds):
        for name, (make, text) in PATHS.items():
            run = run_path(make, texts if text else frames)
            if name not in best or run.seconds < best[name].seconds:
                best[name] = run
        if args.ccxt_python:
            got = run_ccxt(args.ccxt_python, frames)
            if got is not None and (ccxt is None or got["seconds"] < ccxt["seconds"]):
                ccxt = got
    gc.enable()
    n = len(frames)
    print(f"{'path':22} {'msgs/s':>9} {'p50 µs':>7} {'p99 µs':>7}  vs ccxt")
    for name, run in best.items():
        line = f"{name:22} {n / run.seconds:>9,.0f} {run.pct(0.5):>7.2f} {run.pct(0.99):>7.2f}"
        if ccxt is not None:
            line += f"  {ccxt['seconds'] / run.seconds:.1f}×"
        print(line)
    books = [(r.book.best_bid, r.book.best_ask, r.book.bids, r.book.asks) for r in best.values()]
    assert all(b == books[0] for b in books), "paths disagree on the final book"
    core = best["core orjson→event"].book
    if ccxt is not None:
        secs = ccxt["seconds"]
        label = f"ccxt {ccxt['ccxt']}"
        print(f"{label:22} {n / secs:>9,.0f} {ccxt['p50_us']:>7.2f} {ccxt['p99_us']:>7.2f}  1.0×")
        same = Decimal(str(ccxt["bid"])) == INST.ticks_to_price(core.best_bid) and Decimal(
            str(ccxt["ask"])
        ) == INST.ticks_to_price(core.best_ask)
        print(f"same best bid/ask as ccxt: {same}")


if __name__ == "__main__":
    main()
