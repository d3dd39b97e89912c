"""GRVT failures as a small exception tree, mapped from the exchange's error codes.

`VenueError → Retryable(RateLimited, Timeout, Disconnected, ServerError) | Rejected(InvalidOrder,
InsufficientMargin, InvalidRequest, NotFound) | AuthError`, plus `InstrumentConstraintsMissing`
for instruments whose listing lacks a constraint (order placement is blocked). Codes come from
GRVT's error tables (api-spec, 2026-05); the HTTP status decides when a code is unknown.
Exception text never contains credentials: only codes, reasons and the exchange's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from grvtmm.core.events import VenueErrorKind


class VenueError(Exception):
    """A GRVT call failed. `code` is GRVT's error code, `reason` a stable snake_case label."""

    kind: VenueErrorKind = VenueErrorKind.INTERNAL

    def __init__(
        self,
        reason: str,
        message: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        self.reason = reason
        self.message = message
        self.code = code
        self.http_status = http_status
        self.attempts = 1
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: reason, code and the exchange's message."""
        parts = [self.reason]
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.http_status is not None:
            parts.append(f"http {self.http_status}")
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text


class Retryable(VenueError):
    """Worth retrying after a pause: the request may succeed unchanged."""

    kind = VenueErrorKind.RETRYABLE


class RateLimited(Retryable):
    kind = VenueErrorKind.RATE_LIMITED


class Timeout(Retryable):
    pass


class Disconnected(Retryable):
    pass


class ServerError(Retryable):
    pass


class Rejected(VenueError):
    """The exchange refused the request as sent; retrying it unchanged will fail again."""

    kind = VenueErrorKind.REJECTED


class InvalidOrder(Rejected):
    pass


class InsufficientMargin(Rejected):
    pass


class InvalidRequest(Rejected):
    pass


class NotFound(Rejected):
    pass


class AuthError(VenueError):
    """Credentials, session, permissions or signer are wrong; `needs_login` for 401/1000."""

    kind = VenueErrorKind.AUTH

    @property
    def needs_login(self) -> bool:
        return self.code == 1000 or (self.code is None and self.http_status == 401)


class InstrumentConstraintsMissing(VenueError):
    """The instrument's listing lacks a constraint (tick, min size, notional, decimals, asset)."""

    kind = VenueErrorKind.REJECTED

    def __init__(self, symbol: str, missing: str) -> None:
        super().__init__("instrument_constraints_missing", f"{symbol}: {missing}")
        self.symbol = symbol


_A, _R, _IO, _IM = AuthError, Retryable, InvalidOrder, InsufficientMargin
_IR, _NF = InvalidRequest, NotFound

_CODES: dict[int, tuple[type[VenueError], str]] = {
    1000: (_A, "unauthenticated"),
    1001: (_A, "forbidden"),
    1002: (ServerError, "internal_error"),
    1003: (_IR, "malformed_request"),
    1004: (_NF, "not_found"),
    1005: (ServerError, "unknown_error"),
    1006: (RateLimited, "rate_limited"),
    1008: (_A, "ip_not_whitelisted"),
    1009: (_R, "endpoint_deactivated"),
    1012: (_A, "invalid_chain_id"),
    1101: (_IR, "selector_format"),
    1102: (_IR, "selector_format"),
    1103: (_IR, "selector_format"),
    1400: (_A, "no_trade_permission"),
    2000: (_A, "unauthorized_signer"),
    2001: (_IO, "signature_expired"),
    2002: (_IO, "signature_mismatch"),
    2003: (_A, "sub_account_mismatch"),
    2004: (_A, "session_key_expired"),
    2005: (_IO, "signature_v_invalid"),
    2006: (_IO, "signature_rs_invalid"),
    2007: (_IO, "signature_s_high"),
    2008: (_IO, "signature_ttl_too_long"),
    2010: (_IO, "order_id_not_empty"),
    2011: (_IO, "client_order_id_missing"),
    2012: (_IO, "duplicate_client_order_id"),
    2013: (_IO, "duplicate_client_order_id"),
    2020: (_IO, "market_order_with_price"),
    2021: (_IO, "limit_order_without_price"),
    2030: (_IO, "invalid_time_in_force"),
    2032: (_IO, "post_only_requires_gtt"),
    2042: (_IO, "one_leg_only"),
    2050: (_IO, "state_not_empty"),
    2060: (_IO, "instrument_inactive"),
    2061: (_IO, "instrument_invalid"),
    2062: (_IO, "size_below_min"),
    2064: (_IO, "invalid_price_tick"),
    2065: (_IO, "size_too_granular"),
    2066: (_IO, "notional_below_min"),
    2067: (_IO, "reduce_notional_below_min"),
    2080: (_IM, "insufficient_margin"),
    2081: (_IO, "max_position_exceeded"),
    2082: (_IO, "pre_order_check_failed"),
    2083: (_IO, "max_position_exceeded_tier"),
    2084: (_IO, "post_order_check_failed"),
    2090: (_IO, "max_open_orders"),
    2233: (_IR, "both_order_ids_given"),
    2234: (_IR, "bulk_mixed_instruments"),
    2235: (_IR, "bulk_too_many"),
    2236: (_IR, "bulk_invalid"),
    2237: (_IR, "bulk_not_api_source"),
    2300: (_IR, "cancel_ttl_disabled"),
    2301: (_IR, "cancel_ttl_too_large"),
    2400: (_IO, "reduce_only_no_position"),
    2401: (_IO, "reduce_only_would_increase"),
    2402: (_IO, "reduce_only_too_large"),
    3000: (_IO, "instrument_invalid"),
    3020: (_IR, "sub_account_not_uint64"),
    3021: (_IR, "order_id_or_client_order_id_required"),
    3030: (_IR, "feed_rate_invalid"),
    3031: (_IR, "depth_invalid"),
    6000: (_IR, "countdown_too_long"),
    7201: (_IO, "price_outside_protection_band"),
    7304: (_IO, "reduce_only_mode"),
}
for _code in range(2100, 2109):
    _CODES.setdefault(_code, (_IR, "leverage_invalid"))
CODES: Final[Mapping[int, tuple[type[VenueError], str]]] = MappingProxyType(_CODES)


def classify(code: int | None, message: str = "", http_status: int | None = None) -> VenueError:
    """The exception for a GRVT error `code` (or, if unknown, for the HTTP status)."""
    known = CODES.get(code) if code is not None else None
    if known is not None:
        cls, reason = known
        return cls(reason, message, code=code, http_status=http_status)
    cls, reason = _by_status(http_status)
    return cls(reason, message, code=code, http_status=http_status)


def _by_status(status: int | None) -> tuple[type[VenueError], str]:
    if status is None:
        return VenueError, "unknown_error"
    if status == 401:
        return AuthError, "unauthenticated"
    if status == 403:
        return AuthError, "forbidden"
    if status == 404:
        return NotFound, "not_found"
    if status == 408:
        return Timeout, "timeout"
    if status == 429:
        return RateLimited, "rate_limited"
    if status >= 500:
        return ServerError, "server_error"
    if status >= 400:
        return Rejected, "rejected"
    return VenueError, "unexpected_response"


def from_body(body: Any, http_status: int | None = None) -> VenueError | None:
    """The error in a REST or JSON-RPC body, or None if the body reports no error."""
    if not isinstance(body, dict):
        if http_status is not None and http_status >= 400:
            return classify(None, "", http_status)
        return None
    err = body.get("error")
    source = err if isinstance(err, dict) else body
    code = _int_or_none(source.get("code"))
    if code is None and (http_status is None or http_status < 400):
        return None
    message = source.get("message")
    return classify(code, message if isinstance(message, str) else "", http_status)


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# Asynchronous outcomes on the order/state streams that mean "never rested" rather than a
# cancel of a live order (reject reasons of GRVT's OrderRejectReason enum).
REJECT_REASONS: Final = frozenset(
    {
        "FAIL_POST_ONLY",
        "FAIL_REDUCE_ONLY",
        "MM_PROTECTION",
        "SELF_TRADE_PROTECTION",
        "SELF_MATCHED_SUBACCOUNT",
        "OVERLAPPING_CLIENT_ORDER_ID",
        "BELOW_MARGIN",
        "INSTRUMENT_INVALID",
        "INSTRUMENT_DEACTIVATED",
        "UNAUTHORISED",
        "SESSION_KEY_EXPIRED",
        "SUB_ACCOUNT_NOT_FOUND",
        "NO_TRADE_PERMISSION",
        "EXCEED_MAX_POSITION_SIZE",
        "EXCEED_MAX_SIGNATURE_EXPIRATION",
        "TOO_MANY_MAKER_ORDERS",
        "INSUFFICIENT_BALANCE",
        "BELOW_MARGIN_WITH_PENALTY_DEVIATION",
    }
)
