"""GRVT order signing: golden vectors from grvt-pysdk 0.2.1, eth-account cross-checks, exactness."""

from __future__ import annotations

import copy
import json
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from Crypto.Hash import keccak
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from grvtmm.venues.grvt.signing import (
    MAX_SIGNATURE_TTL_NS,
    OrderSigningError,
    chain_id_for,
    expiration_for,
    keccak256,
    order_digest,
    random_nonce,
    recover_signer,
    sign_order,
    signer_address,
    to_units,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "grvt" / "signing_vectors.json").read_text()
)
CASES: list[dict[str, Any]] = VECTORS["cases"]
TRAPS: list[dict[str, Any]] = VECTORS["sdk_rounding_traps"]
UINT64_MAX = 2**64 - 1
KEY = "0x" + "11" * 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# The SDK's own TIF table (pysdk.grvt_raw_signing.SignTimeInForce), restated independently here.
SDK_TIF = {"GOOD_TILL_TIME": 1, "ALL_OR_NONE": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}
EIP712_TYPES = {
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


def sign_case(case: dict[str, Any], order: dict[str, Any] | None = None) -> dict[str, Any]:
    return sign_order(
        case["order"] if order is None else order,
        private_key=case["private_key"],
        chain_id=case["chain_id"],
        asset_id=case["asset_id"],
        base_decimals=case["base_decimals"],
        nonce=case["nonce"],
        expiration_ns=case["expiration_ns"],
    )


def eth_account_message(case: dict[str, Any]) -> Any:
    """The SDK's EIP-712 message for a case, built the SDK's way (Decimal multiply, truncate)."""
    order = case["order"]
    legs = [
        {
            "assetID": case["asset_id"],
            "contractSize": int(Decimal(leg["size"]) * Decimal(10 ** case["base_decimals"])),
            "limitPrice": int(Decimal(leg["limit_price"]) * Decimal(10**9)),
            "isBuyingContract": leg["is_buying_asset"],
        }
        for leg in order["legs"]
    ]
    message = {
        "subAccountID": order["sub_account_id"],
        "isMarket": order["is_market"],
        "timeInForce": SDK_TIF[order["time_in_force"]],
        "postOnly": order["post_only"],
        "reduceOnly": order["reduce_only"],
        "legs": legs,
        "nonce": case["nonce"],
        "expiration": case["expiration_ns"],
    }
    domain = {"name": "GRVT Exchange", "version": "0", "chainId": case["chain_id"]}
    return encode_typed_data(domain, EIP712_TYPES, message)


def simple_order(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "sub_account_id": "42",
        "is_market": False,
        "time_in_force": "GOOD_TILL_TIME",
        "post_only": True,
        "reduce_only": False,
        "legs": [
            {
                "instrument": "BNB_USDT_Perp",
                "size": "0.5",
                "limit_price": "612.35",
                "is_buying_asset": True,
            }
        ],
    }
    order.update(overrides)
    return order


def sign_simple(order: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "private_key": KEY,
        "chain_id": 325,
        "asset_id": "0x0a1b2c",
        "base_decimals": 9,
        "nonce": 7,
        "expiration_ns": 1_767_225_600_000_000_000,
    }
    kwargs.update(overrides)
    return sign_order(order, **kwargs)


def test_fixture_covers_the_required_spread() -> None:
    tifs = {c["order"]["time_in_force"] for c in CASES}
    assert len(CASES) >= 12
    assert {325, 326} <= {c["chain_id"] for c in CASES}
    assert tifs == set(SDK_TIF)
    assert any(len(c["order"]["legs"]) > 1 for c in CASES)
    assert {leg["is_buying_asset"] for c in CASES for leg in c["order"]["legs"]} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_signature_is_identical_to_the_official_sdk(case: dict[str, Any]) -> None:
    assert sign_case(case) == case["signature"]


def test_vectors_reproduce_the_sdk_repository_published_values() -> None:
    # tests/pysdk/test_grvt_raw_signing.py in gravity-technologies/grvt-pysdk.
    first, second = CASES[0]["signature"], CASES[1]["signature"]
    assert first["r"] == "0xb00512d986a718b15136a8ba23de1c1ec84bbdb9958629cbbe4909bae620bb04"
    assert first["s"] == "0x79f706de61c68cc14d7734594b5d8689df2b2a7b25951f9a3f61d799f4327ffc"
    assert second["r"] == "0x365ec79d299c8bcd5f2acff89faf741a90ca02a4b8a6b1b1a5d4f3d16130f9f0"
    assert (first["v"], second["v"]) == (28, 28)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_eth_account_recovers_the_signer_and_agrees_on_the_digest(case: dict[str, Any]) -> None:
    signature = sign_case(case)
    signable = eth_account_message(case)
    vrs = (signature["v"], int(signature["r"], 16), int(signature["s"], 16))
    assert Account.recover_message(signable, vrs=vrs) == signature["signer"]
    expected_hash = Account.sign_message(signable, case["private_key"]).message_hash
    assert order_digest(
        case["order"],
        chain_id=case["chain_id"],
        asset_id=case["asset_id"],
        base_decimals=case["base_decimals"],
        nonce=case["nonce"],
        expiration_ns=case["expiration_ns"],
    ) == bytes(expected_hash)


@pytest.mark.parametrize("trap", TRAPS, ids=[t["name"] for t in TRAPS])
def test_values_the_sdk_silently_alters_are_refused(trap: dict[str, Any]) -> None:
    with pytest.raises(OrderSigningError, match="cannot be signed exactly"):
        sign_case(trap)
    # What the SDK actually signed is a different order: the one with the altered values.
    altered = copy.deepcopy(trap["order"])
    altered["legs"][0].update(trap["signed_as"])
    assert sign_case(trap, altered) == trap["signature"]


def test_signer_address_matches_eth_account_checksum() -> None:
    for case in CASES:
        assert signer_address(case["private_key"]) == Account.from_key(case["private_key"]).address


@pytest.mark.parametrize("case", CASES[:6], ids=[c["name"] for c in CASES[:6]])
def test_recover_signer_round_trips(case: dict[str, Any]) -> None:
    signature = sign_case(case)
    recovered = recover_signer(
        case["order"],
        signature,
        chain_id=case["chain_id"],
        asset_id=case["asset_id"],
        base_decimals=case["base_decimals"],
    )
    assert recovered == signature["signer"]


def test_recover_signer_detects_a_tampered_order_and_rejects_malformed_signatures() -> None:
    order = simple_order()
    signature = sign_simple(order)
    kw: dict[str, Any] = {"chain_id": 325, "asset_id": "0x0a1b2c", "base_decimals": 9}
    tampered = simple_order(reduce_only=True)
    assert recover_signer(tampered, signature, **kw) != signature["signer"]
    assert recover_signer(order, signature, **{**kw, "chain_id": 326}) != signature["signer"]
    high_s = SECP256K1_N - int(signature["s"], 16)  # the same signature in high-s form
    with pytest.raises(OrderSigningError, match="lower half"):
        recover_signer(order, {**signature, "s": f"0x{high_s:064x}"}, **kw)
    with pytest.raises(OrderSigningError, match="27 or 28"):
        recover_signer(order, {**signature, "v": 1}, **kw)
    with pytest.raises(OrderSigningError, match="64 hex"):
        recover_signer(order, {**signature, "r": "0x1234"}, **kw)


def test_market_order_without_price_signs_as_price_zero() -> None:
    legs = [{"instrument": "HYPE_USDT_Perp", "size": "3.5", "is_buying_asset": True}]
    zero = [{**legs[0], "limit_price": "0"}]
    order = simple_order(is_market=True, time_in_force="IMMEDIATE_OR_CANCEL", post_only=False)
    assert sign_simple({**order, "legs": legs}) == sign_simple({**order, "legs": zero})
    with pytest.raises(OrderSigningError, match="needs limit_price"):
        sign_simple(simple_order(legs=legs))


def test_absent_flags_sign_as_false_like_the_sdk() -> None:
    explicit = simple_order(post_only=False)
    absent = {k: v for k, v in explicit.items() if k not in ("is_market", "post_only")}
    assert sign_simple(absent) == sign_simple(explicit)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"time_in_force": "RETAIL_PRICE_IMPROVEMENT"}, "no signing code"),
        ({"time_in_force": "GTC"}, "no signing code"),
        ({"post_only": "false"}, "must be a bool"),
        ({"legs": []}, "non-empty list of legs"),
        ({"sub_account_id": "-1"}, "sub_account_id"),
        ({"sub_account_id": str(2**64)}, "outside"),
    ],
)
def test_malformed_orders_raise(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(OrderSigningError, match=message):
        sign_simple(simple_order(**overrides))


@pytest.mark.parametrize(
    ("leg_overrides", "message"),
    [
        ({"limit_price": 612.35}, "not float"),
        ({"size": "-0.5"}, "non-negative"),
        ({"size": "abc"}, "not a decimal number"),
        ({"limit_price": "NaN"}, "finite"),
        ({"limit_price": "18446744073.709551616"}, "overflows uint64"),
        ({"limit_price": "612.3500000001"}, "cannot be signed exactly"),
        ({"is_buying_asset": 1}, "must be a bool"),
    ],
)
def test_malformed_legs_raise(leg_overrides: dict[str, Any], message: str) -> None:
    leg = {**simple_order()["legs"][0], **leg_overrides}
    with pytest.raises(OrderSigningError, match=message):
        sign_simple(simple_order(legs=[leg]))


def test_legs_naming_different_instruments_are_refused() -> None:
    leg = simple_order()["legs"][0]
    with pytest.raises(OrderSigningError, match="naming"):
        sign_simple(simple_order(legs=[leg, {**leg, "instrument": "XRP_USDT_Perp"}]))


@pytest.mark.parametrize(
    "overrides",
    [{"nonce": 2**32}, {"nonce": -1}, {"expiration_ns": -1}, {"expiration_ns": 2**63}],
)
def test_out_of_range_nonce_or_expiration_raise(overrides: dict[str, Any]) -> None:
    with pytest.raises(OrderSigningError):
        sign_simple(simple_order(), **overrides)


def test_bad_private_key_raises_without_echoing_it() -> None:
    bad_key = "0x" + "ab" * 31
    with pytest.raises(OrderSigningError) as excinfo:
        sign_simple(simple_order(), private_key=bad_key)
    assert "ab" * 31 not in str(excinfo.value)
    with pytest.raises(OrderSigningError):
        sign_simple(simple_order(), private_key="0x" + "00" * 32)


def test_chain_ids() -> None:
    assert chain_id_for("prod") == 325
    assert chain_id_for("testnet") == 326
    with pytest.raises(ValueError, match="unknown"):
        chain_id_for("staging")  # type: ignore[arg-type]


def test_random_nonce_is_a_nonzero_uint32_and_reproducible() -> None:
    nonces = [random_nonce(random.Random(s)) for s in range(2000)]
    assert all(1 <= n < 2**32 for n in nonces)
    assert len(set(nonces)) > 1990
    assert random_nonce(random.Random(5)) == random_nonce(random.Random(5))


def test_expiration_for_adds_ttl_and_enforces_the_30_day_cap() -> None:
    now_ns = 1_767_225_600_000_000_000
    assert expiration_for(now_ns, 30_000_000_000) == now_ns + 30_000_000_000
    assert expiration_for(now_ns, MAX_SIGNATURE_TTL_NS) == now_ns + 30 * 86_400 * 10**9
    for ttl_ns in (0, -1, MAX_SIGNATURE_TTL_NS + 1):
        with pytest.raises(ValueError, match="ttl_ns"):
            expiration_for(now_ns, ttl_ns)


units = st.integers(min_value=0, max_value=UINT64_MAX)
decimals = st.integers(min_value=0, max_value=19)


@given(n=units, k=decimals)
def test_on_grid_values_convert_exactly_in_every_spelling(n: int, k: int) -> None:
    value = Decimal(n).scaleb(-k)
    for spelling in (str(value), f"{value:f}", f"{value:.{k + 3}f}", value, format(value, "E")):
        assert to_units(spelling, k, "x") == n


@given(n=st.integers(min_value=0, max_value=UINT64_MAX // 10), k=decimals, d=st.integers(1, 9))
def test_off_grid_values_raise_instead_of_rounding(n: int, k: int, d: int) -> None:
    value = Decimal(n * 10 + d).scaleb(-(k + 1))
    with pytest.raises(OrderSigningError, match="cannot be signed exactly"):
        to_units(f"{value:f}", k, "limit_price")
    with pytest.raises(OrderSigningError, match="cannot be signed exactly"):
        to_units(value, k, "limit_price")


@settings(max_examples=25, deadline=None)
@given(
    ticks=st.integers(min_value=1, max_value=10**8),
    lots=st.integers(min_value=1, max_value=10**6),
    buy=st.booleans(),
    nonce=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_random_grid_orders_recover_to_the_signer_under_eth_account(
    ticks: int, lots: int, buy: bool, nonce: int
) -> None:
    price, size = Decimal(ticks).scaleb(-2), Decimal(lots).scaleb(-3)
    leg = {"instrument": "BNB_USDT_Perp", "size": f"{size:f}", "limit_price": f"{price:f}"}
    case = {
        "order": simple_order(legs=[{**leg, "is_buying_asset": buy}]),
        "private_key": KEY,
        "chain_id": 326,
        "asset_id": "0x0a1b2c",
        "base_decimals": 9,
        "nonce": nonce,
        "expiration_ns": 1_767_225_600_000_000_000,
    }
    signature = sign_case(case)
    vrs = (signature["v"], int(signature["r"], 16), int(signature["s"], 16))
    assert Account.recover_message(eth_account_message(case), vrs=vrs) == signature["signer"]


@given(data=st.binary(max_size=700))
def test_keccak_matches_pycryptodome(data: bytes) -> None:
    assert keccak256(data) == keccak.new(data=data, digest_bits=256).digest()


def test_keccak_is_safe_across_threads() -> None:
    inputs = [bytes([i % 256]) * (i % 300) for i in range(400)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(keccak256, inputs))
    assert results == [keccak.new(data=d, digest_bits=256).digest() for d in inputs]
