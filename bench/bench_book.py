"""Throughput of GRVT `v1.book.d` handling: raw frame → parsed event → applied L2 book.

Run:  python bench/bench_book.py [--messages 200000] [--levels 10] [--seed 5]
                                 [--ccxt-python /path/to/venv/bin/python]

A recorded-style stream is generated first (seeded): one 50-level-per-side snapshot numbered 0,
then deltas from `first_sequence_number` on, each changing about `--levels` price levels (size
changes near the top, deletions as size "0", new levels), as GRVT's JSON text. Measured:

* `grvtmm core`: `orjson.loads` + sequence check + `parse.book_event` + `OrderBook.apply_*`;
* `grvtmm feed`: the venue's real path, `JsonRpcStream._dispatch` → `MarketFeed` → event →
  `OrderBook`, i.e. the above plus stream statistics and the event plumbing;
* `ccxt`: ccxt.pro's GRVT handler (`grvt().handle_order_book(client, json.loads(raw))`), run in
  the interpreter given by `--ccxt-python` (a throwaway venv with ccxt installed), on the same
  frames. Both books are checked to end at the same best bid and ask.
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
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from grvtmm.core.book import OrderBook
from grvtmm.core.clock import LiveClock
from grvtmm.core.events import BookSnapshot, Event
from grvtmm.core.types import Instrument
from grvtmm.venues.grvt import parse
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


def run_core(frames: list[bytes]) -> tuple[float, OrderBook]:
    """orjson + sequence check + parse + apply; seconds for the whole stream."""
    q = parse.Quantizer(INST)
    book = OrderBook(SYMBOL)
    tracker = SequenceTracker()
    key = ("v1.book.d", SYMBOL)
    tracker.expect(key)
    tracker.acked(key, FIRST_SEQ)
    loads, check, book_event = orjson.loads, tracker.check, parse.book_event
    start = time.perf_counter()
    for raw in frames:
        msg = loads(raw)
        seq = int(msg["sequence_number"])
        verdict = check(key, seq, None)
        if verdict is Verdict.FIRST:
            book.apply_snapshot(book_event(msg, q, snapshot=True, local_ns=0))  # type: ignore[arg-type]
        elif verdict is Verdict.NEXT:
            ev = book_event(msg, q, snapshot=False, local_ns=0, prev_sequence=book.sequence)
            book.apply_delta(ev)  # type: ignore[arg-type]
    return time.perf_counter() - start, book


def run_feed(frames: list[bytes]) -> tuple[float, OrderBook]:
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
    key = ("v1.book.d", SYMBOL)
    stream._tracker.expect(key)
    stream._tracker.acked(key, FIRST_SEQ)
    texts = [f.decode() for f in frames]  # websockets hands text frames over as str
    receive = stream._receive
    start = time.perf_counter()
    for raw in texts:
        receive(raw)
    return time.perf_counter() - start, book


CCXT_SCRIPT = r"""
import gc, json, sys, time
import ccxt.pro as ccxtpro

class Client:
    def resolve(self, result, message_hash):
        pass

frames = [line for line in open(sys.argv[1], "rb").read().split(b"\n") if line]
ex = ccxtpro.grvt()
ex.set_markets([{
    "id": "BNB_USDT_Perp", "symbol": "BNB/USDT:USDT", "base": "BNB", "quote": "USDT",
    "settle": "USDT", "baseId": "BNB", "quoteId": "USDT", "settleId": "USDT", "type": "swap",
    "spot": False, "margin": False, "swap": True, "future": False, "option": False,
    "contract": True, "linear": True, "inverse": False, "active": True, "contractSize": 1,
    "precision": {"amount": 0.01, "price": 0.01}, "limits": {}, "info": {},
}])
client = Client()
best = 0
gc.disable()
for _ in range(int(sys.argv[2])):
    ex.orderbooks = {}
    start = time.perf_counter()
    for raw in frames:
        ex.handle_order_book(client, json.loads(raw))
    elapsed = time.perf_counter() - start
    best = elapsed if not best or elapsed < best else best
book = ex.orderbooks["BNB/USDT:USDT"]
print(json.dumps({"seconds": best, "bid": book["bids"][0][0], "ask": book["asks"][0][0],
                  "ccxt": __import__("ccxt").__version__}))
"""


def run_ccxt(python: str, frames: list[bytes], repeat: int) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "frames.jsonl"
        data.write_bytes(b"\n".join(frames) + b"\n")
        script = Path(tmp) / "ccxt_book.py"
        script.write_text(CCXT_SCRIPT)
        done = subprocess.run(
            [python, str(script), str(data), str(repeat)],
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
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ccxt-python", default="", help="interpreter of a venv with ccxt installed")
    args = ap.parse_args()
    frames = make_stream(args.messages, args.levels, args.seed)
    sample = [orjson.loads(f)["feed"] for f in frames[1:1001]]
    changes = sum(len(f["bids"]) + len(f["asks"]) for f in sample) / len(sample)
    size = sum(map(len, frames)) / len(frames)
    print(f"{len(frames)} frames, {changes:.1f} level changes per delta, {size:.0f} bytes each")
    print(f"best of {args.rounds} interleaved rounds, garbage collector off while timing")
    best: dict[str, float] = {}
    books: dict[str, OrderBook] = {}
    ccxt: dict[str, Any] | None = None
    gc.disable()
    for _ in range(args.rounds):
        for name, fn in (("grvtmm core", run_core), ("grvtmm feed", run_feed)):
            seconds, books[name] = fn(frames)
            best[name] = min(best.get(name, seconds), seconds)
        if args.ccxt_python:
            got = run_ccxt(args.ccxt_python, frames, 1)
            if got is not None:
                ccxt = got
                best["ccxt"] = min(best.get("ccxt", got["seconds"]), got["seconds"])
    gc.enable()
    n = len(frames)
    for name in ("grvtmm core", "grvtmm feed"):
        line = f"{name:12} {n / best[name]:>10,.0f} msgs/s  ({best[name] / n * 1e6:.2f} µs/msg)"
        if "ccxt" in best:
            line += f"  {best['ccxt'] / best[name]:.1f}× ccxt"
        print(line)
    core = books["grvtmm core"]
    assert (core.best_bid, core.best_ask) == (
        books["grvtmm feed"].best_bid,
        books["grvtmm feed"].best_ask,
    )
    if ccxt is not None:
        secs = best["ccxt"]
        print(f"ccxt {ccxt['ccxt']:<7} {n / secs:>10,.0f} msgs/s  ({secs / n * 1e6:.2f} µs/msg)")
        same = Decimal(str(ccxt["bid"])) == INST.ticks_to_price(core.best_bid) and Decimal(
            str(ccxt["ask"])
        ) == INST.ticks_to_price(core.best_ask)
        print(f"same best bid/ask as ccxt: {same}")


if __name__ == "__main__":
    main()
