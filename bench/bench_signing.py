"""Latency of GRVT order signing: grvtmm's signer against the official SDK and eth-account.

Run:  python bench/bench_signing.py [--orders 5000] [--warmup 500] [--seed 7]

The same orders are signed by every available implementation, alternating in blocks of
`--block` orders so that drifts in machine speed hit all of them alike, and each signature is
timed on its own with perf_counter_ns. Baselines:
* grvt-pysdk `grvt_raw_signing.sign_order` on a prebuilt SDK `Order` (when `pysdk` imports);
* eth-account `Account.sign_typed_data` on the prebuilt EIP-712 message (integers already
  converted, so it does less work than the other two).
Before timing, every implementation's r/s/v is checked to be identical to ours.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from eth_account import Account

from grvtmm.venues.grvt.signing import PRICE_DECIMALS, chain_id_for, sign_order

PRIVATE_KEY = "0x" + hashlib.sha256(b"grvt-mm signing benchmark key").hexdigest()
ASSET_ID = "0x0a1b2c"
BASE_DECIMALS = 9
INSTRUMENT = "BNB_USDT_Perp"
ENV = "prod"
TIF_CODES = {"GOOD_TILL_TIME": 1, "IMMEDIATE_OR_CANCEL": 3}
DOMAIN = {"name": "GRVT Exchange", "version": "0", "chainId": chain_id_for(ENV)}
TYPES = {
    "Order": [
        {"name": "subAccountID", "type": "uint64"},
        {"name": "isMarket", "type": "bool"},
        {"name": "timeInForce", "type": "uint8"},
        {"name": "postOnly", "type": "bool"},
        {"name": "reduceOnly", "type": "bool"},
        {"name": "legs", "type": "OrderLeg[]"},
        {"name": "nonce", "type": "uint32"},
        {"name": "expiration", "type": "int64"},
    ],
    "OrderLeg": [
        {"name": "assetID", "type": "uint256"},
        {"name": "contractSize", "type": "uint64"},
        {"name": "limitPrice", "type": "uint64"},
        {"name": "isBuyingContract", "type": "bool"},
    ],
}

Signer = Callable[[int], tuple[str, str, int]]


def make_orders(n: int, seed: int) -> list[dict[str, Any]]:
    """Quotes around 600 USDT on a 0.01 tick, sizes on a 0.01 step, GTT post-only or IOC."""
    rng = random.Random(seed)
    orders = []
    for _ in range(n):
        ioc = rng.random() < 0.2
        price = Decimal(rng.randrange(55_000, 65_000)) / 100
        size = Decimal(rng.randrange(1, 5_000)) / 100
        orders.append(
            {
                "order": {
                    "sub_account_id": "8289849667772468",
                    "is_market": False,
                    "time_in_force": "IMMEDIATE_OR_CANCEL" if ioc else "GOOD_TILL_TIME",
                    "post_only": not ioc,
                    "reduce_only": ioc,
                    "legs": [
                        {
                            "instrument": INSTRUMENT,
                            "size": str(size),
                            "limit_price": str(price),
                            "is_buying_asset": rng.random() < 0.5,
                        }
                    ],
                },
                "nonce": rng.randrange(1, 2**32),
                "expiration_ns": 1_767_225_600_000_000_000 + rng.randrange(10**12),
            }
        )
    return orders


def ours(cases: list[dict[str, Any]]) -> Signer:
    def sign(i: int) -> tuple[str, str, int]:
        c = cases[i]
        sig = sign_order(
            c["order"],
            private_key=PRIVATE_KEY,
            chain_id=DOMAIN["chainId"],  # type: ignore[arg-type]
            asset_id=ASSET_ID,
            base_decimals=BASE_DECIMALS,
            nonce=c["nonce"],
            expiration_ns=c["expiration_ns"],
        )
        return sig["r"], sig["s"], sig["v"]

    return sign


def eth_account_baseline(cases: list[dict[str, Any]]) -> Signer:
    messages = []
    for c in cases:
        o, leg = c["order"], c["order"]["legs"][0]
        messages.append(
            {
                "subAccountID": int(o["sub_account_id"]),
                "isMarket": o["is_market"],
                "timeInForce": TIF_CODES[o["time_in_force"]],
                "postOnly": o["post_only"],
                "reduceOnly": o["reduce_only"],
                "legs": [
                    {
                        "assetID": int(ASSET_ID, 16),
                        "contractSize": int(Decimal(leg["size"]).scaleb(BASE_DECIMALS)),
                        "limitPrice": int(Decimal(leg["limit_price"]).scaleb(PRICE_DECIMALS)),
                        "isBuyingContract": leg["is_buying_asset"],
                    }
                ],
                "nonce": c["nonce"],
                "expiration": c["expiration_ns"],
            }
        )

    def sign(i: int) -> tuple[str, str, int]:
        signed = Account.sign_typed_data(PRIVATE_KEY, DOMAIN, TYPES, messages[i])
        return f"0x{signed.r:064x}", f"0x{signed.s:064x}", signed.v

    return sign


def sdk_baseline(cases: list[dict[str, Any]]) -> Signer | None:
    try:
        from pysdk import grvt_raw_signing
        from pysdk.grvt_raw_base import GrvtApiConfig
        from pysdk.grvt_raw_env import GrvtEnv
        from pysdk.grvt_raw_types import Order, OrderLeg, OrderMetadata, Signature, TimeInForce
    except ImportError:
        return None
    account = Account.from_key(PRIVATE_KEY)
    config = GrvtApiConfig(
        env=GrvtEnv.PROD,
        trading_account_id=None,
        private_key=PRIVATE_KEY,
        api_key=None,
        logger=None,
    )

    class _Instrument:
        base_decimals = BASE_DECIMALS
        instrument_hash = ASSET_ID

    instruments: Any = {INSTRUMENT: _Instrument()}
    orders = []
    for c in cases:
        o = c["order"]
        orders.append(
            Order(
                sub_account_id=o["sub_account_id"],
                is_market=o["is_market"],
                time_in_force=TimeInForce[o["time_in_force"]],
                post_only=o["post_only"],
                reduce_only=o["reduce_only"],
                legs=[OrderLeg(**leg) for leg in o["legs"]],
                signature=Signature("", "", "", 0, str(c["expiration_ns"]), c["nonce"]),
                metadata=OrderMetadata(client_order_id="9223372036854775808"),
            )
        )

    def sign(i: int) -> tuple[str, str, int]:
        sig = grvt_raw_signing.sign_order(orders[i], config, account, instruments).signature
        return sig.r, sig.s, sig.v

    return sign


def percentile_us(samples_ns: list[int], q: float) -> float:
    ordered = sorted(samples_ns)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def measure(signers: dict[str, Signer], warmup: int, n: int, block: int) -> dict[str, list[int]]:
    """Per-order latency in ns; implementations alternate in blocks so drift hits all alike."""
    for sign in signers.values():
        for i in range(warmup):
            sign(i)
    samples: dict[str, list[int]] = {name: [] for name in signers}
    gc.collect()
    for start in range(warmup, n, block):
        for name, sign in signers.items():
            out = samples[name]
            for i in range(start, min(start + block, n)):
                t0 = time.perf_counter_ns()
                sign(i)
                out.append(time.perf_counter_ns() - t0)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--block", type=int, default=250, help="orders per alternation block")
    args = parser.parse_args()
    cases = make_orders(args.warmup + args.orders, args.seed)
    signers: dict[str, Signer] = {"grvtmm sign_order": ours(cases)}
    sdk = sdk_baseline(cases)
    if sdk is not None:
        signers["grvt-pysdk 0.2.1 sign_order"] = sdk
    signers["eth-account sign_typed_data"] = eth_account_baseline(cases)
    for i in range(0, len(cases), 97):  # identical output, checked on a spread of orders
        results = {name: sign(i) for name, sign in signers.items()}
        if len(set(results.values())) != 1:
            print(f"signature mismatch on order {i}: {results}", file=sys.stderr)
            return 1
    samples = measure(signers, args.warmup, len(cases), args.block)
    ours_p50 = statistics.median(samples["grvtmm sign_order"]) / 1000
    print(f"python {sys.version.split()[0]}, {args.orders} orders after {args.warmup} warm-up")
    print("| signer | orders | p50 µs | p99 µs | p50 / grvtmm p50 |")
    print("|---|---|---|---|---|")
    for name, ns in samples.items():
        p50 = statistics.median(ns) / 1000
        print(
            f"| {name} | {len(ns)} | {p50:.1f} | {percentile_us(ns, 0.99):.1f} "
            f"| {p50 / ours_p50:.2f}× |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
