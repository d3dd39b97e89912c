"""Prometheus exposition of the monitor's figures (`/metrics`), one registry per app instance.

Counters (`*_total`) count since the process started and never reset; gauges show the current
session (they restart at each session start). Money is in quote currency (USDT). Unknown
gauge values are exported as NaN.

With a venue that keeps connection counters (`grvtmm.monitor.venue_diagnostics`), the
`grvtmm_venue_*` families export them: `grvtmm_venue_http_<counter>_total`,
`grvtmm_venue_http_error_codes_total{code}`, `grvtmm_venue_stream_<counter>_total{stream}`
(`market`, `private`), `grvtmm_venue_duplicate_fills_total`, `grvtmm_venue_parse_errors_total`
and the gauge `grvtmm_venue_book_ok` (0 while quoting from the ticker only). They count since the
venue was built, like the venue's own counters. Without such a venue they are absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from grvtmm.core.events import EngineMode
from grvtmm.monitor.metrics import Monitor
from grvtmm.monitor.summary import REQUOTE_REASONS
from grvtmm.monitor.venue_diagnostics import (
    HTTP_COUNTERS,
    SCALARS,
    STREAM_COUNTERS,
    VenueDiagnostics,
    venue_section,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type header for `render`'s output."""

SinkDrops = Callable[[], Mapping[str, int]]

_SESSION_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("session_runtime_seconds", "runtime_s", "Runtime of the current session in seconds"),
    ("session_fills", "fills", "Our fills in the current session"),
    ("session_volume_notional", "session_volume", "Notional traded in the current session"),
    ("session_fees", "fees", "Net fees paid in the current session (negative = net rebate)"),
    ("session_rebates", "rebates", "Maker rebates received in the current session"),
    ("session_fee_costs", "fee_costs", "Fees paid (excluding rebates) in the current session"),
    ("pnl_total", "pnl_total", "Session PnL (realized + unrealized at the mid - fees)"),
    ("pnl_today", "pnl_today", "Session PnL since UTC midnight"),
    ("wear_per_10k", "wear_per_10k", "-session PnL / session volume x 10 000"),
    ("position", "position", "Signed position in base units"),
    ("position_lots", "position_lots", "Signed position in lots of the size step"),
    ("inventory_notional", "inventory_notional", "Absolute position notional at the mid"),
    ("equity", "equity", "Account equity"),
    ("free_margin", "free_margin", "Free margin"),
    ("mid_price", "mid", "Latest mid price"),
    ("fills_last_minute", "fills_last_min", "Our fills in the last 60 s"),
    ("cancels_last_minute", "cancels_last_min", "Venue-confirmed cancels in the last 60 s"),
    ("effective_liquidity_k", "effective_liquidity_k", "Fill-intensity decay k in use"),
)


def _f(value: Any) -> float:
    return math.nan if value is None else float(value)


class MonitorCollector(Collector):
    """Reads the monitor (and the sinks' drop counters) at each scrape."""

    def __init__(
        self,
        monitor: Monitor,
        sink_drops: SinkDrops | None = None,
        venue_diagnostics: VenueDiagnostics | None = None,
    ) -> None:
        self.monitor = monitor
        self.sink_drops = sink_drops
        self.venue_diagnostics = venue_diagnostics

    def collect(self) -> Iterable[Metric]:
        summary = self.monitor.summary()
        yield from self._counters()
        yield from self._session(summary)
        yield from self._labelled(summary)
        yield from _venue(venue_section(self.venue_diagnostics))

    def _counters(self) -> Iterable[Metric]:
        t = self.monitor.totals
        yield CounterMetricFamily("grvtmm_fills", "Our fills since the process started", t.fills)
        yield CounterMetricFamily(
            "grvtmm_volume_notional", "Notional traded since the process started", t.volume_notional
        )
        yield CounterMetricFamily("grvtmm_rebates", "Maker rebates received", float(t.rebates))
        yield CounterMetricFamily(
            "grvtmm_fee_costs", "Fees paid (excluding rebates)", float(t.fee_costs)
        )
        yield CounterMetricFamily("grvtmm_cancels", "Venue-confirmed cancels", t.cancels)
        yield _counter("orders_placed", "Orders placed, by reason", "reason", t.placements)
        requotes = {k: v for k, v in t.placements.items() if k in REQUOTE_REASONS}
        yield _counter("requotes", "Quote replacements, by reason", "reason", requotes)
        yield _counter("rejects", "Orders rejected by the venue, by reason", "reason", t.rejects)
        yield _counter("warnings", "Engine warnings, by code", "code", t.warnings)
        yield _counter("breaker_trips", "Circuit-breaker trips", "breaker", t.breaker_trips)
        yield _counter("venue_errors", "Failed venue calls, by kind", "kind", t.venue_errors)
        drops = dict(self.sink_drops()) if self.sink_drops is not None else {}
        yield _counter("sink_dropped", "Items a side channel dropped (queue full)", "sink", drops)
        yield CounterMetricFamily(
            "grvtmm_monitor_errors", "Items the monitor failed to process", self.monitor.errors
        )

    def _session(self, summary: Mapping[str, Any]) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "grvtmm_session_id",
            "Ordinal of the current session (0 = before the first start)",
            summary["session"]["id"],
        )
        for name, key, doc in _SESSION_GAUGES:
            yield GaugeMetricFamily(f"grvtmm_{name}", doc, _f(summary[key]))

    def _labelled(self, summary: Mapping[str, Any]) -> Iterable[Metric]:
        mode = GaugeMetricFamily(
            "grvtmm_engine_mode", "1 for the engine's current mode", labels=["mode"]
        )
        for m in EngineMode:
            mode.add_metric([m.value], 1.0 if summary["mode"] == m.value else 0.0)
        yield mode
        resting = GaugeMetricFamily(
            "grvtmm_resting_seconds",
            "Time from acceptance to final fill or cancel (recent orders)",
            labels=["quantile"],
        )
        for key, q in (("p50", "0.5"), ("p90", "0.9"), ("p99", "0.99")):
            ms = summary["resting_ms"][key]
            resting.add_metric([q], math.nan if ms is None else ms / 1000.0)
        yield resting
        dist = GaugeMetricFamily(
            "grvtmm_quote_distance_ticks",
            "Ticks our target is behind the best price",
            labels=["side"],
        )
        for side in ("bid", "ask"):
            dist.add_metric([side], _f(summary["quote_distance_ticks"][side]))
        yield dist
        tripped = GaugeMetricFamily(
            "grvtmm_breaker_tripped", "1 if the breaker tripped", labels=["breaker"]
        )
        value = GaugeMetricFamily(
            "grvtmm_breaker_value", "Breaker's last measured value", labels=["breaker"]
        )
        limit = GaugeMetricFamily("grvtmm_breaker_limit", "Breaker's limit", labels=["breaker"])
        for name, b in summary["breakers"].items():
            tripped.add_metric([name], 1.0 if b["tripped"] else 0.0)
            value.add_metric([name], _f(b["value"]))
            limit.add_metric([name], _f(b["limit"]))
        yield from (tripped, value, limit)
        flatten = summary["flatten"]
        yield GaugeMetricFamily(
            "grvtmm_flatten_active", "1 while a flatten runs", 1.0 if flatten["active"] else 0.0
        )
        yield GaugeMetricFamily(
            "grvtmm_flatten_attempt", "Close orders sent by the running flatten", flatten["attempt"]
        )


def _venue(section: Mapping[str, Any] | None) -> Iterable[Metric]:
    if section is None:
        return
    http = section.get("http")
    if http is not None:
        for name, doc in HTTP_COUNTERS:
            yield CounterMetricFamily(f"grvtmm_venue_http_{name}", doc, http[name])
        yield _counter(
            "venue_http_error_codes",
            "Failed REST answers, by GRVT error code",
            "code",
            http["codes"],
        )
    streams: Mapping[str, Mapping[str, int]] = section["streams"]
    for name, doc in STREAM_COUNTERS:
        family = CounterMetricFamily(f"grvtmm_venue_stream_{name}", doc, labels=["stream"])
        for stream, counts in streams.items():
            family.add_metric([stream], counts[name])
        yield family
    for name, doc in SCALARS:
        if name in section:
            yield CounterMetricFamily(f"grvtmm_venue_{name}", doc, section[name])
    if section["book_ok"] is not None:
        yield GaugeMetricFamily(
            "grvtmm_venue_book_ok",
            "1 while the order-book stream is usable, 0 while quoting from the ticker only",
            1.0 if section["book_ok"] else 0.0,
        )


def _counter(name: str, doc: str, label: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(f"grvtmm_{name}", doc, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([key], count)
    return family


def build_registry(
    monitor: Monitor,
    sink_drops: SinkDrops | None = None,
    venue_diagnostics: VenueDiagnostics | None = None,
) -> CollectorRegistry:
    """A fresh registry holding only this monitor's collector (never the global default);
    `venue_diagnostics` adds the venue's connection counters (`grvtmm_venue_*`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(monitor, sink_drops, venue_diagnostics))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (serve with `CONTENT_TYPE`)."""
    return generate_latest(registry)
