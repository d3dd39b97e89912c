"""The venue connection's counters in one plain, JSON-ready shape for `/api/status`, the
dashboard and `/metrics`.

A venue that keeps such counters offers a `diagnostics()` callable (the GRVT venue and the paper
mode's public market do; the demo's simulated venue keeps none). Its answer holds the HTTP
client's counters under `http`, each WebSocket stream's under its name (`market`, `private`),
and a few single figures (`book_ok`, `duplicate_fills`, `parse_errors`); the counter groups may
be dataclasses or mappings. `venue_section` reads only the names listed here, so the shape the
dashboard and Prometheus see stays stable whatever else a venue reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

VenueDiagnostics = Callable[[], Mapping[str, Any]]
"""The venue's `diagnostics` method (or anything answering the same shape)."""

HTTP_COUNTERS: tuple[tuple[str, str], ...] = (
    ("requests", "REST requests sent (each attempt)"),
    ("retries", "REST attempts repeated after a retryable failure"),
    ("rate_limited", "REST answers saying rate limited (HTTP 429 / GRVT 1006)"),
    ("server_errors", "REST answers with a server error (5xx)"),
    ("timeouts", "REST calls that timed out"),
    ("disconnects", "REST calls whose connection failed"),
    ("logins", "API-key logins"),
    ("relogins", "Logins again after the session was refused or expired"),
    ("failures", "REST calls that failed after their retries"),
)
STREAM_COUNTERS: tuple[tuple[str, str], ...] = (
    ("connects", "WebSocket connections opened"),
    ("disconnects", "WebSocket connections lost"),
    ("resubscribes", "Subscriptions made again (gap, silence or refusal)"),
    ("gaps", "Sequence gaps seen"),
    ("duplicates", "Duplicate frames ignored"),
    ("stale", "Frames older than the last one seen, ignored"),
    ("rpc_errors", "JSON-RPC errors answered by the venue"),
    ("bad_frames", "Frames that could not be read or handled (each costs a reconnect)"),
    ("frames", "Frames received"),
)
STREAMS = ("market", "private")
SCALARS: tuple[tuple[str, str], ...] = (
    ("duplicate_fills", "Fills reported twice by the venue and counted once"),
    ("parse_errors", "Market-data frames that could not be read"),
    ("unreadable_fills", "Fill-history items that could not be read and were skipped"),
    ("rest_tickers", "Top-of-book answers polled over REST while the market stream was down"),
    ("rest_ticker_failures", "REST top-of-book polls that failed while the market stream was down"),
)


def _get(group: Any, name: str) -> Any:
    if isinstance(group, Mapping):
        return group.get(name)
    return getattr(group, name, None)


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _counters(group: Any, names: tuple[tuple[str, str], ...]) -> dict[str, int]:
    return {name: _count(_get(group, name)) for name, _ in names}


def venue_section(provider: VenueDiagnostics | None) -> dict[str, Any] | None:
    """The venue's counters as plain data, or None when the venue keeps none.

    `{"http": {...counters, "codes": {"1006": 3}}, "streams": {"market": {...}, ...},
    "book_ok": bool | None, "duplicate_fills": int, "parse_errors": int}`: `codes` counts
    failed REST answers by GRVT error code; `streams` lists only the streams the venue has
    opened; a figure the venue does not keep is absent. A provider that answers nothing (a
    simulated venue over a synthetic market) counts as none; one that fails is logged and
    treated as absent (the status must still answer).
    """
    if provider is None:
        return None
    try:
        raw = provider()
    except Exception:
        log.exception("venue.diagnostics_failed")
        return None
    if not raw:
        return None
    out: dict[str, Any] = {}
    http = raw.get("http")
    if http is not None:
        codes = _get(http, "codes") or {}
        out["http"] = {
            **_counters(http, HTTP_COUNTERS),
            "codes": {str(code): _count(n) for code, n in sorted(codes.items())},
        }
    out["streams"] = {
        name: _counters(raw[name], STREAM_COUNTERS) for name in STREAMS if raw.get(name) is not None
    }
    book_ok = raw.get("book_ok")
    out["book_ok"] = None if book_ok is None else bool(book_ok)
    for name, _ in SCALARS:
        if name in raw:
            out[name] = _count(raw[name])
    return out
