"""Prometheus exposition: names, help, values, a registry per monitor."""

from __future__ import annotations

import dataclasses
import json
import math
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from grvtmm.core.clock import NS_PER_S, SimClock
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookSnapshot,
    BreakerTripped,
    EngineMode,
    EngineWarning,
    Event,
    ModeChanged,
    OrderFilled,
    OrderRejected,
    ReconcileSnapshot,
)
from grvtmm.core.types import Instrument, Side
from grvtmm.monitor.metrics import Monitor
from grvtmm.monitor.prometheus import CONTENT_TYPE, build_registry, render
from grvtmm.monitor.venue_diagnostics import HTTP_COUNTERS, STREAM_COUNTERS, venue_section
from grvtmm.venues.grvt.http import HttpStats
from grvtmm.venues.grvt.ws import StreamStats

INST = Instrument("BNB_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"))
T0 = 1_767_225_600 * NS_PER_S
M = EngineMode


def _fill(t: int, side: Side, price: int, lots: int, fee: str) -> OrderFilled:
    return OrderFilled(ts_ns=t, local_ns=t, client_order_id=1, trade_id=str(t), symbol=INST.symbol,
                       side=side, price_ticks=price, size_lots=lots, fee=Decimal(fee),
                       is_maker=True)  # fmt: skip


def _place(t: int, reason: str) -> PlaceOrder:
    return PlaceOrder(ts_ns=t, client_order_id=t, symbol=INST.symbol, side=Side.BUY,
                      price_ticks=9_999, size_lots=1, reason=reason)  # fmt: skip


def _scripted_monitor() -> tuple[Monitor, SimClock]:
    clock = SimClock(T0)
    monitor = Monitor(INST, clock)
    t = T0
    items: list[Event | PlaceOrder] = [
        BookSnapshot(ts_ns=t, local_ns=t, symbol=INST.symbol, bids=((10_000, 5),), asks=((10_002, 5),)),
        _fill(t, Side.BUY, 10_000, 2, "-0.001"),  # before the session: lifetime counters only
        ModeChanged(ts_ns=t, local_ns=t, old=M.IDLE, new=M.RECONCILING, reason="start"),
        ReconcileSnapshot(ts_ns=t, local_ns=t, symbol=INST.symbol, open_orders=(),
                          position_lots=2, equity=1000.0, free_margin=900.0),
        ModeChanged(ts_ns=t, local_ns=t, old=M.RECONCILING, new=M.RUNNING, reason="reconciled"),
        _place(t + 1, "missing"),
        _place(t + 2, "away"),
        _place(t + 3, "away"),
        _fill(t + 4, Side.SELL, 10_010, 1, "-0.0005"),
        _fill(t + 5, Side.SELL, 10_010, 1, "0.002"),
        OrderRejected(ts_ns=t, local_ns=t, client_order_id=9, reason="FAIL_POST_ONLY"),
        EngineWarning(ts_ns=t, local_ns=t, code="book_gap", detail=""),
        BreakerTripped(ts_ns=t, local_ns=t, breaker="stale_data", detail="", value=12, limit=10),
    ]  # fmt: skip
    for item in items:
        monitor.publish(item)
    clock.set(T0 + 30 * NS_PER_S)
    return monitor, clock


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_text_carries_the_monitor_figures() -> None:
    monitor, _ = _scripted_monitor()
    text = render(build_registry(monitor, lambda: {"store": 3, "alerts": 0})).decode()
    v = _samples(text)
    summary = monitor.summary()
    assert v[("grvtmm_fills_total", ())] == 3
    assert v[("grvtmm_session_fills", ())] == 2
    assert v[("grvtmm_volume_notional_total", ())] == monitor.totals.volume_notional
    assert v[("grvtmm_session_volume_notional", ())] == summary["session_volume"]
    assert v[("grvtmm_rebates_total", ())] == 0.0015
    assert v[("grvtmm_fee_costs_total", ())] == 0.002
    assert v[("grvtmm_session_rebates", ())] == 0.0005
    assert v[("grvtmm_session_fee_costs", ())] == 0.002
    assert v[("grvtmm_pnl_total", ())] == summary["pnl_total"]
    assert v[("grvtmm_wear_per_10k", ())] == summary["wear_per_10k"]
    assert v[("grvtmm_position", ())] == 0.0
    assert v[("grvtmm_equity", ())] == summary["equity"]
    assert v[("grvtmm_free_margin", ())] == 900.0
    assert v[("grvtmm_session_runtime_seconds", ())] == 30.0
    assert v[("grvtmm_session_id", ())] == 1
    assert v[("grvtmm_rejects_total", (("reason", "FAIL_POST_ONLY"),))] == 1
    assert v[("grvtmm_requotes_total", (("reason", "away"),))] == 2
    assert ("grvtmm_requotes_total", (("reason", "missing"),)) not in v
    assert v[("grvtmm_orders_placed_total", (("reason", "missing"),))] == 1
    assert v[("grvtmm_warnings_total", (("code", "book_gap"),))] == 1
    assert v[("grvtmm_breaker_tripped", (("breaker", "stale_data"),))] == 1
    assert v[("grvtmm_breaker_tripped", (("breaker", "drawdown"),))] == 0
    assert v[("grvtmm_breaker_value", (("breaker", "stale_data"),))] == 12
    assert v[("grvtmm_breaker_trips_total", (("breaker", "stale_data"),))] == 1
    assert v[("grvtmm_sink_dropped_total", (("sink", "store"),))] == 3
    assert v[("grvtmm_sink_dropped_total", (("sink", "alerts"),))] == 0
    assert v[("grvtmm_engine_mode", (("mode", "running"),))] == 1
    assert v[("grvtmm_engine_mode", (("mode", "idle"),))] == 0
    assert v[("grvtmm_monitor_errors_total", ())] == 0


def test_every_metric_has_the_prefix_and_a_help_text() -> None:
    monitor, _ = _scripted_monitor()
    families = list(text_string_to_metric_families(render(build_registry(monitor)).decode()))
    assert len(families) > 30
    for family in families:
        assert family.name.startswith("grvtmm_")
        assert family.documentation


def test_unknown_values_are_nan_not_missing() -> None:
    monitor = Monitor(INST, SimClock(T0))
    v = _samples(render(build_registry(monitor)).decode())
    assert math.isnan(v[("grvtmm_equity", ())])
    assert math.isnan(v[("grvtmm_resting_seconds", (("quantile", "0.5"),))])
    assert math.isnan(v[("grvtmm_quote_distance_ticks", (("side", "bid"),))])


def test_each_monitor_has_its_own_registry() -> None:
    a, _ = _scripted_monitor()
    b = Monitor(INST, SimClock(T0))
    text_a = render(build_registry(a)).decode()
    text_b = render(build_registry(b)).decode()
    assert _samples(text_a)[("grvtmm_fills_total", ())] == 3
    assert _samples(text_b)[("grvtmm_fills_total", ())] == 0
    assert "grvtmm_" not in render(REGISTRY).decode()
    assert CONTENT_TYPE.startswith("text/plain")


def _venue_counters() -> tuple[HttpStats, StreamStats, StreamStats, dict[str, Any]]:
    """Counters shaped as the GRVT venue's `diagnostics()` answers them."""
    http = HttpStats(requests=40, retries=3, rate_limited=2, server_errors=1, logins=1,
                     relogins=1, codes={1006: 2, 5000: 1})  # fmt: skip
    market = StreamStats(connects=2, disconnects=1, resubscribes=3, gaps=1, duplicates=4,
                         frames=900, last_frame_ns={("v1.book.d", INST.symbol): T0})  # fmt: skip
    private = StreamStats(connects=1, frames=12)
    raw: dict[str, Any] = {"http": http, "market": market, "private": private,
                           "book_ok": False, "duplicate_fills": 1, "unreadable_fills": 2}  # fmt: skip
    return http, market, private, raw


def test_venue_counters_are_exported_with_stable_names_and_labels() -> None:
    monitor, _ = _scripted_monitor()
    _, _, _, raw = _venue_counters()
    v = _samples(render(build_registry(monitor, venue_diagnostics=lambda: raw)).decode())
    assert v[("grvtmm_venue_http_requests_total", ())] == 40
    assert v[("grvtmm_venue_http_retries_total", ())] == 3
    assert v[("grvtmm_venue_http_rate_limited_total", ())] == 2
    assert v[("grvtmm_venue_http_server_errors_total", ())] == 1
    assert v[("grvtmm_venue_http_relogins_total", ())] == 1
    assert v[("grvtmm_venue_http_timeouts_total", ())] == 0
    assert v[("grvtmm_venue_http_error_codes_total", (("code", "1006"),))] == 2
    assert v[("grvtmm_venue_http_error_codes_total", (("code", "5000"),))] == 1
    assert v[("grvtmm_venue_stream_connects_total", (("stream", "market"),))] == 2
    assert v[("grvtmm_venue_stream_connects_total", (("stream", "private"),))] == 1
    assert v[("grvtmm_venue_stream_disconnects_total", (("stream", "market"),))] == 1
    assert v[("grvtmm_venue_stream_resubscribes_total", (("stream", "market"),))] == 3
    assert v[("grvtmm_venue_stream_gaps_total", (("stream", "market"),))] == 1
    assert v[("grvtmm_venue_stream_duplicates_total", (("stream", "market"),))] == 4
    assert v[("grvtmm_venue_stream_frames_total", (("stream", "private"),))] == 12
    assert v[("grvtmm_venue_duplicate_fills_total", ())] == 1
    assert v[("grvtmm_venue_unreadable_fills_total", ())] == 2
    assert v[("grvtmm_venue_book_ok", ())] == 0
    assert ("grvtmm_venue_parse_errors_total", ()) not in v  # the live venue keeps none


def test_venue_counters_are_read_at_each_scrape() -> None:
    monitor, _ = _scripted_monitor()
    http, market, _, raw = _venue_counters()
    registry = build_registry(monitor, venue_diagnostics=lambda: raw)
    before = _samples(render(registry).decode())
    http.retries += 1
    market.disconnects += 1
    raw["book_ok"] = True
    after = _samples(render(registry).decode())
    assert after[("grvtmm_venue_http_retries_total", ())] == 4
    assert before[("grvtmm_venue_http_retries_total", ())] == 3
    assert after[("grvtmm_venue_stream_disconnects_total", (("stream", "market"),))] == 2
    assert after[("grvtmm_venue_book_ok", ())] == 1


def test_venue_families_are_absent_without_a_provider_or_when_it_fails() -> None:
    monitor, _ = _scripted_monitor()

    def broken() -> dict[str, Any]:
        raise RuntimeError("venue gone")

    for provider in (None, broken, dict):
        text = render(build_registry(monitor, venue_diagnostics=provider)).decode()
        names = {f.name for f in text_string_to_metric_families(text)}
        assert not {n for n in names if n.startswith(("grvtmm_venue_http", "grvtmm_venue_stream"))}
        assert "grvtmm_venue_book_ok" not in names
        assert "grvtmm_fills" in names  # the monitor's own figures still export


def test_venue_families_have_the_prefix_and_a_help_text() -> None:
    monitor, _ = _scripted_monitor()
    _, _, _, raw = _venue_counters()
    text = render(build_registry(monitor, venue_diagnostics=lambda: raw)).decode()
    venue = [f for f in text_string_to_metric_families(text) if f.name.startswith("grvtmm_venue_")]
    assert len(venue) >= len(HTTP_COUNTERS) + len(STREAM_COUNTERS) + 3
    assert all(f.documentation for f in venue)


def test_the_listed_counters_are_the_venue_stats_fields() -> None:
    """A renamed venue counter must not silently export as 0."""
    http_fields = {f.name for f in dataclasses.fields(HttpStats)}
    stream_fields = {f.name for f in dataclasses.fields(StreamStats)}
    assert {name for name, _ in HTTP_COUNTERS} == http_fields - {"codes"}
    assert {name for name, _ in STREAM_COUNTERS} == stream_fields - {"last_frame_ns"}


def test_venue_section_is_plain_json_for_the_status() -> None:
    _, _, _, raw = _venue_counters()
    section = venue_section(lambda: raw)
    assert section is not None
    assert json.loads(json.dumps(section)) == section
    assert section["http"]["codes"] == {"1006": 2, "5000": 1}
    assert section["http"]["rate_limited"] == 2
    assert set(section["streams"]) == {"market", "private"}
    assert section["streams"]["market"]["gaps"] == 1
    assert "last_frame_ns" not in section["streams"]["market"]
    assert section["book_ok"] is False
    assert section["duplicate_fills"] == 1
    paper = venue_section(lambda: {"http": {"requests": 3}, "market": raw["market"],
                                   "book_ok": True, "parse_errors": 2})  # fmt: skip
    assert paper is not None
    assert set(paper["streams"]) == {"market"}
    assert paper["http"]["requests"] == 3 and paper["http"]["codes"] == {}
    assert paper["parse_errors"] == 2 and "duplicate_fills" not in paper
    assert venue_section(None) is None
    assert venue_section(dict) is None  # a venue that keeps nothing shows no section
