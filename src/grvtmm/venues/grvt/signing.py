"""EIP-712 signatures for GRVT orders, byte-identical to the official SDK's, in tens of µs.

GRVT verifies `Order(uint64 subAccountID,bool isMarket,uint8 timeInForce,bool postOnly,
bool reduceOnly,OrderLeg[] legs,uint32 nonce,int64 expiration)` with `OrderLeg(uint256 assetID,
uint64 contractSize,uint64 limitPrice,bool isBuyingContract)` under the domain
`{name: "GRVT Exchange", version: "0", chainId}` (no verifyingContract, no salt).
`contractSize` is size × 10^base_decimals, `limitPrice` is price × 10^9 whatever the quote
decimals. The SDK truncates anything finer than those grids (and rounds values longer than 28
digits); here such a value is refused, because the exchange would otherwise match an order that
differs from the one we meant. Type hashes and domain separators are computed once; each order
costs four keccak-256 calls and one libsecp256k1 recoverable signature.
"""

from __future__ import annotations

import ctypes
import decimal
import functools
import importlib.util
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal

import coincurve
from Crypto.Hash import keccak as _pycryptodome_keccak

from grvtmm.core.clock import NS_PER_S

PRICE_DECIMALS: Final = 9
MAX_BASE_DECIMALS: Final = 19  # 10^20 > 2^64: beyond this no nonzero size fits in uint64
MAX_SIGNATURE_TTL_NS: Final = 30 * 24 * 3600 * NS_PER_S  # exchange error 2008 beyond 30 days
CHAIN_IDS: Final[Mapping[str, int]] = MappingProxyType({"prod": 325, "testnet": 326})
# The SDK's SignTimeInForce; RETAIL_PRICE_IMPROVEMENT exists in the API but has no signing code.
TIME_IN_FORCE_CODES: Final[Mapping[str, int]] = MappingProxyType(
    {"GOOD_TILL_TIME": 1, "ALL_OR_NONE": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}
)

_UINT32_MAX: Final = (1 << 32) - 1
_UINT64_MAX: Final = (1 << 64) - 1
_INT64_MAX: Final = (1 << 63) - 1
_UINT256_MAX: Final = (1 << 256) - 1
_SECP256K1_HALF_N: Final = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
_EMPTY_KECCAK: Final = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
# Scaling only moves the exponent, so any rounding under this context means an off-grid value.
_EXACT: Final = decimal.Context(
    prec=60, traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow]
)


class OrderSigningError(ValueError):
    """The order cannot be encoded exactly as GRVT's EIP-712 `Order` struct."""


def _load_raw_keccak() -> Callable[[bytes], bytes] | None:
    """Bind pycryptodome's C keccak core directly; its Python wrapper costs ~7 µs per hash."""
    spec = importlib.util.find_spec("Crypto.Hash._keccak")
    if spec is None or spec.origin is None:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        init, destroy = lib.keccak_init, lib.keccak_destroy
        reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
    except (OSError, AttributeError):
        return None
    vp, size_t, u8 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint8
    init.argtypes = [ctypes.POINTER(vp), size_t, u8]
    destroy.argtypes = reset.argtypes = [vp]
    absorb.argtypes = [vp, ctypes.c_char_p, size_t]
    digest.argtypes = [vp, ctypes.c_char_p, size_t, u8]
    for fn in (init, destroy, reset, absorb, digest):
        fn.restype = ctypes.c_int

    class _Sponge:
        """One C state per thread: it is mutable and not shareable."""

        def __init__(self) -> None:
            self.ptr = vp()
            # 64-byte capacity and 24 rounds make keccak-256; padding byte 0x01 is pre-SHA-3.
            if init(ctypes.byref(self.ptr), 64, 24) != 0:
                raise MemoryError("keccak_init failed")
            self.out = ctypes.create_string_buffer(32)

        def __del__(self) -> None:
            destroy(self.ptr)

    local = threading.local()

    def keccak256(data: bytes) -> bytes:
        try:
            sponge: _Sponge = local.sponge
        except AttributeError:
            sponge = local.sponge = _Sponge()
        reset(sponge.ptr)
        absorb(sponge.ptr, data, len(data))
        digest(sponge.ptr, sponge.out, 32, 1)
        return sponge.out.raw

    return keccak256


def _keccak_via_wrapper(data: bytes) -> bytes:
    return _pycryptodome_keccak.new(data=data, digest_bits=256).digest()


def _select_keccak() -> Callable[[bytes], bytes]:
    """The direct binding if it reproduces the reference hashes, else the public wrapper."""
    raw = _load_raw_keccak()
    probe = bytes(range(256)) * 2
    if raw and raw(b"").hex() == _EMPTY_KECCAK and raw(probe) == _keccak_via_wrapper(probe):
        return raw
    return _keccak_via_wrapper


keccak256: Final[Callable[[bytes], bytes]] = _select_keccak()

_LEG_TYPE: Final = (
    b"OrderLeg(uint256 assetID,uint64 contractSize,uint64 limitPrice,bool isBuyingContract)"
)
_ORDER_TYPE: Final = (
    b"Order(uint64 subAccountID,bool isMarket,uint8 timeInForce,bool postOnly,bool reduceOnly,"
    b"OrderLeg[] legs,uint32 nonce,int64 expiration)" + _LEG_TYPE
)
_LEG_TYPEHASH: Final = keccak256(_LEG_TYPE)
_ORDER_TYPEHASH: Final = keccak256(_ORDER_TYPE)
_DOMAIN_TYPEHASH: Final = keccak256(b"EIP712Domain(string name,string version,uint256 chainId)")
_TRUE: Final = (1).to_bytes(32, "big")
_FALSE: Final = bytes(32)
_TIF_WORDS: Final = {name: code.to_bytes(32, "big") for name, code in TIME_IN_FORCE_CODES.items()}


def chain_id_for(env: Literal["prod", "testnet"]) -> int:
    """EIP-712 chainId of a GRVT environment: prod 325, testnet 326."""
    try:
        return CHAIN_IDS[env]
    except KeyError:
        raise ValueError(f"unknown GRVT environment {env!r}") from None


def random_nonce(rng: random.Random) -> int:
    """A uint32 signature nonce in [1, 2^32), never 0 so it cannot read as an unset field."""
    return rng.randrange(1, _UINT32_MAX + 1)


def expiration_for(now_ns: int, ttl_ns: int) -> int:
    """Signature expiration (unix ns) `ttl_ns` after `now_ns`; GRVT caps the lifetime at 30 days."""
    if not 0 < ttl_ns <= MAX_SIGNATURE_TTL_NS:
        raise ValueError(f"ttl_ns must be in (0, {MAX_SIGNATURE_TTL_NS}], got {ttl_ns}")
    expiration_ns = now_ns + ttl_ns
    if not 0 <= expiration_ns <= _INT64_MAX:
        raise ValueError(f"expiration {expiration_ns} ns does not fit in int64")
    return expiration_ns


@functools.lru_cache(maxsize=8, typed=True)
def domain_separator(chain_id: int) -> bytes:
    """hashStruct(EIP712Domain{name: "GRVT Exchange", version: "0", chainId})."""
    chain = _uint(chain_id, _UINT256_MAX, "chain_id")
    if chain == 0:
        raise OrderSigningError("chain_id must be positive")
    return keccak256(
        _DOMAIN_TYPEHASH + keccak256(b"GRVT Exchange") + keccak256(b"0") + chain.to_bytes(32, "big")
    )


def _uint(value: object, max_value: int, field: str) -> int:
    """An integer given as int, decimal string or 0x-hex string, read as eth-account reads it."""
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.isdigit() and value.isascii():
        number = int(value)
    elif isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) > 2:
        try:
            number = int(value[2:], 16)
        except ValueError:
            raise OrderSigningError(f"{field} {value!r} is not a hex integer") from None
    else:
        raise OrderSigningError(f"{field} must be an int or integer string, got {value!r}")
    if not 0 <= number <= max_value:
        raise OrderSigningError(f"{field} {number} is outside [0, {max_value}]")
    return number


@functools.lru_cache(maxsize=64, typed=True)
def _cached_word(value: str | int, max_value: int, field: str) -> bytes:
    return _uint(value, max_value, field).to_bytes(32, "big")


def _uint_word(value: object, max_value: int, field: str) -> bytes:
    """32-byte word of an identifier that repeats on every order (account, asset), cached."""
    if type(value) is str or type(value) is int:
        return _cached_word(value, max_value, field)
    return _uint(value, max_value, field).to_bytes(32, "big")  # raises the type error


def to_units(value: object, decimals: int, field: str) -> int:
    """`value` × 10^decimals as an exact uint64; raises if it is off that grid or out of range."""
    if type(value) is str:
        # Plain "123.456" strings (what GRVT's JSON carries) take an exact integer-only path.
        whole, _, frac = value.partition(".")
        plain_whole = 0 < len(whole) <= 20 and whole.isdigit() and whole.isascii()
        if plain_whole and (not frac or (frac.isdigit() and frac.isascii())):
            frac = frac.rstrip("0")
            if len(frac) <= decimals:
                units = int(whole + frac.ljust(decimals, "0"))
                if units <= _UINT64_MAX:
                    return units
    return _decimal_units(value, decimals, field)


def _decimal_units(value: object, decimals: int, field: str) -> int:
    if isinstance(value, str):
        try:
            amount = Decimal(value)
        except decimal.InvalidOperation:
            raise OrderSigningError(f"{field} {value!r} is not a decimal number") from None
    elif isinstance(value, Decimal):
        amount = value
    elif type(value) is int:
        amount = Decimal(value)
    else:
        raise OrderSigningError(
            f"{field} must be a decimal string, Decimal or int, not {type(value).__name__}"
        )
    if not amount.is_finite() or (amount.is_signed() and not amount.is_zero()):
        raise OrderSigningError(f"{field} {value!r} is not a finite non-negative number")
    if amount.is_zero():
        return 0
    if amount.adjusted() + decimals >= 20:  # at least 10^20 units, beyond uint64
        raise OrderSigningError(f"{field} {value!r} × 10^{decimals} overflows uint64")
    try:
        scaled = amount.scaleb(decimals, _EXACT)
    except decimal.DecimalException:
        raise OrderSigningError(f"{field} {value!r} has too many digits") from None
    units = int(scaled)
    if scaled != units:
        raise OrderSigningError(
            f"{field} {value!r} is not a multiple of 10^-{decimals}; it cannot be signed exactly"
        )
    if units > _UINT64_MAX:
        raise OrderSigningError(f"{field} {value!r} × 10^{decimals} overflows uint64")
    return units


def _flag(order: Mapping[str, Any], field: str) -> bytes:
    value = order.get(field)
    if value is None or value is False:  # absent means false, as in the SDK (`x or False`)
        return _FALSE
    if value is True:
        return _TRUE
    raise OrderSigningError(f"{field} must be a bool, got {value!r}")


def _leg_hash(
    leg: object, instrument: str, asset_word: bytes, decimals: int, market: bool
) -> bytes:
    # One asset_id is signed into every leg, so every leg must name the same instrument.
    if not isinstance(leg, dict) or leg.get("instrument") != instrument:
        raise OrderSigningError(f"every leg must be an object naming {instrument!r}")
    buying = leg.get("is_buying_asset")
    if buying is not True and buying is not False:
        raise OrderSigningError(f"is_buying_asset must be a bool, got {buying!r}")
    price = leg.get("limit_price")
    if price is None and not market:
        raise OrderSigningError("a limit order needs limit_price")
    size_units = to_units(leg.get("size"), decimals, "size")
    price_units = to_units(0 if price is None else price, PRICE_DECIMALS, "limit_price")
    return keccak256(
        b"".join(
            (
                _LEG_TYPEHASH,
                asset_word,
                size_units.to_bytes(32, "big"),
                price_units.to_bytes(32, "big"),
                _TRUE if buying else _FALSE,
            )
        )
    )


def _legs_hash(order: Mapping[str, Any], asset_id: str, base_decimals: int) -> bytes:
    legs = order.get("legs")
    if not isinstance(legs, list) or not legs or not isinstance(legs[0], dict):
        raise OrderSigningError("order needs a non-empty list of legs")
    instrument = legs[0].get("instrument")
    if not isinstance(instrument, str) or not instrument:
        raise OrderSigningError(f"leg instrument must be a name, got {instrument!r}")
    if type(base_decimals) is not int or not 0 <= base_decimals <= MAX_BASE_DECIMALS:
        raise OrderSigningError(f"base_decimals must be an int in [0, {MAX_BASE_DECIMALS}]")
    asset_word = _uint_word(asset_id, _UINT256_MAX, "asset_id")
    market = order.get("is_market") is True
    return keccak256(
        b"".join([_leg_hash(leg, instrument, asset_word, base_decimals, market) for leg in legs])
    )


def _digest(
    order: Mapping[str, Any],
    chain_id: int,
    asset_id: str,
    base_decimals: int,
    nonce: int,
    expiration_ns: int,
) -> bytes:
    tif = order.get("time_in_force")
    tif_word = _TIF_WORDS.get(tif) if type(tif) is str else None
    if tif_word is None:
        raise OrderSigningError(
            f"time_in_force {tif!r} has no signing code; use one of {sorted(TIME_IN_FORCE_CODES)}"
        )
    struct = (
        _ORDER_TYPEHASH,
        _uint_word(order.get("sub_account_id"), _UINT64_MAX, "sub_account_id"),
        _flag(order, "is_market"),
        tif_word,
        _flag(order, "post_only"),
        _flag(order, "reduce_only"),
        _legs_hash(order, asset_id, base_decimals),
        _uint(nonce, _UINT32_MAX, "nonce").to_bytes(32, "big"),
        _uint(expiration_ns, _INT64_MAX, "expiration_ns").to_bytes(32, "big"),
    )
    return keccak256(b"\x19\x01" + domain_separator(chain_id) + keccak256(b"".join(struct)))


def order_digest(
    order: Mapping[str, Any],
    *,
    chain_id: int,
    asset_id: str,
    base_decimals: int,
    nonce: int,
    expiration_ns: int,
) -> bytes:
    """The 32-byte EIP-712 digest keccak(0x1901 ‖ domainSeparator ‖ hashStruct(order))."""
    return _digest(order, chain_id, asset_id, base_decimals, nonce, expiration_ns)


def _checksum_address(public_key: coincurve.PublicKey) -> str:
    """EIP-55 mixed-case address of an uncompressed secp256k1 public key."""
    lower = keccak256(public_key.format(compressed=False)[1:])[-20:].hex()
    mask = keccak256(lower.encode("ascii")).hex()[:40]
    return "0x" + "".join(
        c.upper() if m in "89abcdef" else c for c, m in zip(lower, mask, strict=True)
    )


@dataclass(frozen=True, slots=True)
class _Signer:
    key: coincurve.PrivateKey
    address: str


@functools.lru_cache(maxsize=8)
def _signer(private_key: str) -> _Signer:
    hex_key = private_key[2:] if private_key[:2] in ("0x", "0X") else private_key
    try:
        if len(hex_key) != 64:
            raise ValueError
        key = coincurve.PrivateKey(bytes.fromhex(hex_key))
    except ValueError:
        # Never echo the key itself.
        raise OrderSigningError("private_key must be a valid secp256k1 key in hex") from None
    return _Signer(key=key, address=_checksum_address(key.public_key))


def signer_address(private_key: str) -> str:
    """EIP-55 checksummed address of `private_key` (the `signer` GRVT expects)."""
    return _signer(private_key).address


def sign_order(
    order: dict[str, Any],
    *,
    private_key: str,
    chain_id: int,
    asset_id: str,
    base_decimals: int,
    nonce: int,
    expiration_ns: int,
) -> dict[str, Any]:
    """GRVT's `signature` object for `order`, identical to grvt-pysdk's for the same inputs."""
    digest = _digest(order, chain_id, asset_id, base_decimals, nonce, expiration_ns)
    signer = _signer(private_key)
    # libsecp256k1 uses the RFC 6979 nonce and low-s form, as eth-account's signer does.
    sig: bytes = signer.key.sign_recoverable(digest, hasher=None)
    return {
        "signer": signer.address,
        "r": "0x" + sig[:32].hex(),
        "s": "0x" + sig[32:64].hex(),
        "v": sig[64] + 27,
        "expiration": str(expiration_ns),
        "nonce": nonce,
    }


def _signature_word(signature: Mapping[str, Any], field: str) -> bytes:
    value = signature.get(field)
    if not (isinstance(value, str) and len(value) == 66 and value[:2] == "0x"):
        raise OrderSigningError(f"signature {field} must be 0x and 64 hex characters")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise OrderSigningError(f"signature {field} is not hex") from None


def recover_signer(
    order: Mapping[str, Any],
    signature: Mapping[str, Any],
    *,
    chain_id: int,
    asset_id: str,
    base_decimals: int,
) -> str:
    """Checksummed address that produced `signature` over `order`; rejects what GRVT rejects."""
    r, s = _signature_word(signature, "r"), _signature_word(signature, "s")
    v = signature.get("v")
    if type(v) is not int or v not in (27, 28):
        raise OrderSigningError(f"signature v must be 27 or 28, got {v!r}")
    if int.from_bytes(s, "big") > _SECP256K1_HALF_N:
        raise OrderSigningError("signature s is not in the lower half of the curve order")
    nonce = _uint(signature.get("nonce"), _UINT32_MAX, "nonce")
    expiration_ns = _uint(signature.get("expiration"), _INT64_MAX, "expiration")
    digest = _digest(order, chain_id, asset_id, base_decimals, nonce, expiration_ns)
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            r + s + bytes([v - 27]), digest, hasher=None
        )
    except ValueError:
        raise OrderSigningError("signature does not recover to a public key") from None
    return _checksum_address(public_key)
