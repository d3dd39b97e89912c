"""Alert rules (which events reach the operator, at what level) and the `Notifier` protocol.

Levels: INFO for engine start/stop, other mode changes, large fills and recoveries; WARN for
engine warnings and a degraded book stream; CRITICAL for breaker trips, halts, flatten retries,
flatten results (`dust=true` when it ended on dust), a venue disconnected longer than
`disconnect_alert_s`, venue authentication failures and store write failures.

Every event type has an operator setting `on | silent | off` (freqtrade's scheme: `silent`
delivers without sound). CRITICAL alerts ignore the setting: they are always sent, with sound.
Repeating failures (auth, store, warnings with the same code) are sent at most once per
`repeat_s`; the next one says how many were folded into it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from grvtmm.alerts.templates import fmt_money, fmt_num
from grvtmm.core import events as ev
from grvtmm.core.clock import NS_PER_S
from grvtmm.core.events import EngineMode
from grvtmm.core.sinks import Published
from grvtmm.core.types import Instrument, Side

Delivery = Literal["on", "silent", "off"]
Details = tuple[tuple[str, str], ...]


class Level(enum.Enum):
    INFO = "INFO"
    WARN = "WARN"
    CRITICAL = "CRITICAL"


EVENT_DEFAULTS: dict[str, Delivery] = {
    "startup": "on",
    "stop": "on",
    "mode": "on",
    "fill": "on",
    "venue": "on",
    "warning": "silent",
    "heartbeat": "silent",
    "breaker": "on",
    "halt": "on",
    "flatten": "on",
    "auth": "on",
    "store": "on",
}
"""Event types (the keys of the `events` setting) and their delivery when not configured.
breaker, halt, flatten, auth and store only carry CRITICAL alerts, which are always sent."""

_REPEATING = frozenset({"auth", "store", "warning"})
_MAX_REPEAT_KEYS = 256


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the operator; `details` are (label key, value text) pairs."""

    level: Level
    event: str
    title: str
    details: Details
    ts_ns: int
    symbol: str
    mode: str
    silent: bool = False


class Notifier(Protocol):
    """Where alerts go. `notify` never blocks: delivery happens on the notifier's own task."""

    def notify(self, alert: Alert) -> None: ...


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """What to send and how: the operator's Telegram configuration in the units we use."""

    chat_id: str = ""
    language: str = "en"
    heartbeat_s: float = 3600.0
    large_fill_notional: float = 1000.0
    events: Mapping[str, str] = field(default_factory=dict)
    disconnect_alert_s: float = 30.0
    repeat_s: float = 300.0

    def __post_init__(self) -> None:
        if self.language not in ("en", "zh"):
            raise ValueError(f"language must be en or zh, not {self.language!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, chat_id: str | None = None) -> AlertSettings:
        """From the stored Telegram configuration (`TelegramConfig.model_dump()`); `chat_id` is
        the fallback when the configuration has none (the environment's)."""
        language = str(config.get("language") or "en")
        return cls(
            chat_id=str(config.get("chat_id") or chat_id or "").strip(),
            language=language if language in ("en", "zh") else "en",
            heartbeat_s=float(config.get("heartbeat_minutes", 60)) * 60.0,
            large_fill_notional=float(config.get("large_fill_notional", 1000.0)),
            events=dict(config.get("events") or {}),
            disconnect_alert_s=float(config.get("disconnect_alert_s", 30.0)),
        )

    def delivery(self, event: str) -> Delivery:
        """The operator's choice for `event` (unknown values fall back to the default)."""
        value = self.events.get(event)
        if value in ("on", "silent", "off"):
            return value  # type: ignore[return-value]
        return EVENT_DEFAULTS.get(event, "on")


class AlertRules:
    """Turns published events into alerts. Pure and O(1) per item: it runs inside `publish`."""

    def __init__(self, instrument: Instrument, settings: AlertSettings) -> None:
        self.instrument = instrument
        self.settings = settings
        self.mode = EngineMode.IDLE.value
        self.suppressed = 0
        self._start_reason = ""
        self._flatten_cancels = 0
        self._down_since_ns: int | None = None
        self._down_detail = ""
        self._down_alerted = False
        self._book_ok = True
        self._last_sent_ns: dict[tuple[str, str], int] = {}
        self._folded: dict[tuple[str, str], int] = {}
        self._handlers: dict[type, Callable[[Any], Alert | None]] = {
            ev.Timer: self._on_timer,
            ev.ModeChanged: self._on_mode,
            ev.BreakerTripped: self._on_breaker,
            ev.FlattenProgress: self._on_flatten_progress,
            ev.FlattenDone: self._on_flatten_done,
            ev.OrderFilled: self._on_fill,
            ev.VenueStatus: self._on_venue_status,
            ev.VenueError: self._on_venue_error,
            ev.EngineWarning: self._on_warning,
        }

    def classify(self, item: Published) -> Alert | None:
        """The alert `item` calls for, or None."""
        handler = self._handlers.get(type(item))
        return handler(item) if handler is not None else None

    def store_failure(self, detail: str, now_ns: int) -> Alert | None:
        """A store write failed (reported by the store writer)."""
        return self.make(Level.CRITICAL, "store", "store_failed", (("detail", detail),), now_ns)

    def make(
        self, level: Level, event: str, title: str, details: Details, ts_ns: int
    ) -> Alert | None:
        """An alert after the operator's settings and the repeat limit, or None."""
        silent = False
        if level is not Level.CRITICAL:
            delivery = self.settings.delivery(event)
            if delivery == "off":
                return None
            silent = delivery == "silent"
        if event in _REPEATING:
            folded = self._fold(event, details[0][1] if details else "", ts_ns)
            if folded is None:
                return None
            if folded:
                details = (*details, ("repeated", str(folded)))
        return Alert(level, event, title, details, ts_ns, self.instrument.symbol, self.mode, silent)

    def _fold(self, event: str, key_text: str, ts_ns: int) -> int | None:
        """None: suppress (sent recently); otherwise how many were suppressed since."""
        key = (event, key_text[:80])
        last = self._last_sent_ns.get(key)
        if last is not None and ts_ns - last < self.settings.repeat_s * NS_PER_S:
            self._folded[key] = self._folded.get(key, 0) + 1
            self.suppressed += 1
            return None
        if last is None and len(self._last_sent_ns) >= _MAX_REPEAT_KEYS:
            oldest = next(iter(self._last_sent_ns))
            del self._last_sent_ns[oldest]
            self._folded.pop(oldest, None)
        self._last_sent_ns.pop(key, None)
        self._last_sent_ns[key] = ts_ns
        return self._folded.pop(key, 0)

    # ---- engine notices ----------------------------------------------------------------------
    def _on_mode(self, e: ev.ModeChanged) -> Alert | None:
        old, new = e.old, e.new
        self.mode = new.value
        reason = (("reason", e.reason),)
        if new in (EngineMode.HALTING, EngineMode.HALTED):
            return self.make(Level.CRITICAL, "halt", new.value, reason, e.local_ns)
        if new is EngineMode.RECONCILING:
            self._start_reason = e.reason
            return None
        if old is EngineMode.RECONCILING and new is EngineMode.RUNNING:
            started = (("reason", self._start_reason or e.reason),)
            return self.make(Level.INFO, "startup", "engine_started", started, e.local_ns)
        if new is EngineMode.STOPPED:
            return self.make(Level.INFO, "stop", "engine_stopped", reason, e.local_ns)
        if new is EngineMode.FLATTENING:
            return None
        details = (("from", old.value), ("to", new.value), *reason)
        return self.make(Level.INFO, "mode", "mode_changed", details, e.local_ns)

    def _on_breaker(self, e: ev.BreakerTripped) -> Alert | None:
        details = (
            ("breaker", e.breaker),
            ("value", fmt_num(e.value)),
            ("limit", fmt_num(e.limit)),
            ("detail", e.detail),
        )
        return self.make(Level.CRITICAL, "breaker", "breaker_tripped", details, e.local_ns)

    def _on_flatten_progress(self, e: ev.FlattenProgress) -> Alert | None:
        # The first cancel round and the first close attempt are the normal course of a stop;
        # only a repeat means something resists (orders not cancelled, closes not filling).
        if e.phase == "cancelling":
            self._flatten_cancels += 1
            retrying = self._flatten_cancels > 1
        else:
            retrying = e.phase == "backoff" or e.attempt > 1
        if not retrying:
            return None
        details = (
            ("phase", e.phase),
            ("attempt", str(e.attempt)),
            ("position", self._size(e.position_lots)),
            ("detail", e.detail),
        )
        return self.make(Level.CRITICAL, "flatten", "flatten_retrying", details, e.local_ns)

    def _on_flatten_done(self, e: ev.FlattenDone) -> Alert | None:
        self._flatten_cancels = 0
        details = (
            ("dust", "true" if e.dust else "false"),
            ("position", self._size(e.position_lots)),
            ("attempts", str(e.attempts)),
        )
        return self.make(Level.CRITICAL, "flatten", "flatten_done", details, e.local_ns)

    def _on_warning(self, e: ev.EngineWarning) -> Alert | None:
        details = (("code", e.code), ("detail", e.detail))
        return self.make(Level.WARN, "warning", "engine_warning", details, e.local_ns)

    # ---- venue ---------------------------------------------------------------------------------
    def _on_fill(self, e: ev.OrderFilled) -> Alert | None:
        threshold = self.settings.large_fill_notional
        inst = self.instrument
        notional = inst.notional(e.price_ticks, e.size_lots)
        if threshold <= 0 or notional < threshold:
            return None
        details = (
            ("side", "buy" if e.side is Side.BUY else "sell"),
            ("price", inst.price_str(e.price_ticks)),
            ("size", inst.size_str(e.size_lots)),
            ("notional", fmt_money(notional)),
            ("role", "maker" if e.is_maker else "taker"),
            ("fee", fmt_money(float(e.fee))),
        )
        return self.make(Level.INFO, "fill", "large_fill", details, e.local_ns)

    def _on_venue_status(self, e: ev.VenueStatus) -> Alert | None:
        if not e.connected:
            if self._down_since_ns is None:
                self._down_since_ns = e.local_ns
                self._down_detail = e.detail
            return None
        since = self._down_since_ns
        alerted = self._down_alerted
        self._down_since_ns = None
        self._down_alerted = False
        book_changed = e.book_ok != self._book_ok
        self._book_ok = e.book_ok
        if since is not None and alerted:
            down = (("down_s", fmt_num((e.local_ns - since) / NS_PER_S)), ("detail", e.detail))
            return self.make(Level.INFO, "venue", "venue_reconnected", down, e.local_ns)
        if book_changed:
            level, title = (Level.INFO, "book_restored") if e.book_ok else (Level.WARN, "book_lost")
            return self.make(level, "venue", title, (("detail", e.detail),), e.local_ns)
        return None

    def _on_timer(self, e: ev.Timer) -> Alert | None:
        since = self._down_since_ns
        if since is None or self._down_alerted:
            return None
        down_ns = e.local_ns - since
        if down_ns < self.settings.disconnect_alert_s * NS_PER_S:
            return None
        self._down_alerted = True
        details = (("down_s", fmt_num(down_ns / NS_PER_S)), ("detail", self._down_detail))
        return self.make(Level.CRITICAL, "venue", "venue_disconnected", details, e.local_ns)

    def _on_venue_error(self, e: ev.VenueError) -> Alert | None:
        if e.kind is not ev.VenueErrorKind.AUTH:
            return None
        details: Details = (("detail", e.detail),)
        if e.code is not None:
            details = (*details, ("code", str(e.code)))
        return self.make(Level.CRITICAL, "auth", "auth_failed", details, e.local_ns)

    def _size(self, lots: int) -> str:
        return self.instrument.size_str(lots)
