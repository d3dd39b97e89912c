"""GRVT error codes → the exception tree of DESIGN.md §4.7."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grvtmm.core.events import VenueErrorKind
from grvtmm.venues.grvt import errors as e

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "grvt"

TABLE: list[tuple[int, type[e.VenueError], str]] = [
    (1000, e.AuthError, "unauthenticated"),
    (1001, e.AuthError, "forbidden"),
    (1002, e.ServerError, "internal_error"),
    (1004, e.NotFound, "not_found"),
    (1005, e.ServerError, "unknown_error"),
    (1006, e.RateLimited, "rate_limited"),
    (1008, e.AuthError, "ip_not_whitelisted"),
    (1009, e.Retryable, "endpoint_deactivated"),
    (1400, e.AuthError, "no_trade_permission"),
    (2001, e.InvalidOrder, "signature_expired"),
    (2008, e.InvalidOrder, "signature_ttl_too_long"),
    (2012, e.InvalidOrder, "duplicate_client_order_id"),
    (2032, e.InvalidOrder, "post_only_requires_gtt"),
    (2062, e.InvalidOrder, "size_below_min"),
    (2064, e.InvalidOrder, "invalid_price_tick"),
    (2065, e.InvalidOrder, "size_too_granular"),
    (2066, e.InvalidOrder, "notional_below_min"),
    (2067, e.InvalidOrder, "reduce_notional_below_min"),
    (2080, e.InsufficientMargin, "insufficient_margin"),
    (2081, e.InvalidOrder, "max_position_exceeded"),
    (2090, e.InvalidOrder, "max_open_orders"),
    (2104, e.InvalidRequest, "leverage_invalid"),
    (2301, e.InvalidRequest, "cancel_ttl_too_large"),
    (2401, e.InvalidOrder, "reduce_only_would_increase"),
    (3021, e.InvalidRequest, "order_id_or_client_order_id_required"),
    (6000, e.InvalidRequest, "countdown_too_long"),
    (7304, e.InvalidOrder, "reduce_only_mode"),
]


@pytest.mark.parametrize(("code", "cls", "reason"), TABLE)
def test_code_maps_to_class_and_reason(code: int, cls: type[e.VenueError], reason: str) -> None:
    err = e.classify(code, "msg", 400)
    assert type(err) is cls
    assert err.reason == reason
    assert err.code == code


def test_tree_shape_and_event_kinds() -> None:
    assert issubclass(e.RateLimited, e.Retryable)
    assert issubclass(e.Timeout, e.Retryable)
    assert issubclass(e.Disconnected, e.Retryable)
    assert issubclass(e.InvalidOrder, e.Rejected)
    assert issubclass(e.InsufficientMargin, e.Rejected)
    assert e.classify(1006).kind is VenueErrorKind.RATE_LIMITED
    assert e.classify(1002).kind is VenueErrorKind.RETRYABLE
    assert e.classify(2064).kind is VenueErrorKind.REJECTED
    assert e.classify(1000).kind is VenueErrorKind.AUTH


def test_max_open_orders_is_not_retried_despite_http_429() -> None:
    err = e.classify(2090, "Max open orders exceeded", 429)
    assert not isinstance(err, e.Retryable)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, e.AuthError),
        (403, e.AuthError),
        (404, e.NotFound),
        (429, e.RateLimited),
        (500, e.ServerError),
        (503, e.ServerError),
        (400, e.Rejected),
    ],
)
def test_unknown_code_falls_back_to_http_status(status: int, cls: type[e.VenueError]) -> None:
    assert type(e.classify(99999, "", status)) is cls
    assert type(e.classify(None, "", status)) is cls


def test_needs_login_only_for_unauthenticated() -> None:
    assert e.classify(1000, "", 401).needs_login  # type: ignore[attr-defined]
    assert e.classify(None, "", 401).needs_login  # type: ignore[attr-defined]
    assert not e.classify(1001, "", 403).needs_login  # type: ignore[attr-defined]


def test_error_bodies_rest_and_jsonrpc() -> None:
    rest = e.from_body(json.loads((FIXTURES / "error_2064.json").read_text()), 400)
    assert isinstance(rest, e.InvalidOrder) and rest.code == 2064
    assert "Invalid limit price tick" in rest.describe()
    rpc = e.from_body(json.loads((FIXTURES / "subscribe_error.json").read_text()))
    assert isinstance(rpc, e.InvalidOrder) and rpc.code == 3000
    assert e.from_body({"result": {"ack": True}}, 200) is None
    assert isinstance(e.from_body("gateway timeout", 504), e.ServerError)


def test_missing_constraints_block_with_a_named_reason() -> None:
    err = e.InstrumentConstraintsMissing("ODD_USDT_Perp", "missing min_notional")
    assert err.reason == "instrument_constraints_missing"
    assert err.kind is VenueErrorKind.REJECTED
    assert "ODD_USDT_Perp" in str(err)
