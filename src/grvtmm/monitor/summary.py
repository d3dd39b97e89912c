"""Session summary shared by demo, backtest and the live monitor: fills, volume, fees, PnL, wear.

wear_bps = −pnl_net / volume_notional × 10 000: the cost of the volume traded, in basis points.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from grvtmm.core.clock import NS_PER_MS
from grvtmm.core.commands import CancelOrder, Command, PlaceOrder
from grvtmm.core.events import (
    BreakerTripped,
    EngineWarning,
    Event,
    FlattenDone,
    FlattenProgress,
    ModeChanged,
    OrderFilled,
    OrderRejected,
)
from grvtmm.core.positions import PositionLedger
from grvtmm.core.types import Instrument, Side
from grvtmm.engine.risk import Breaker

REQUOTE_REASONS = frozenset({"away", "toward", "size", "max_age"})
RESTING_WINDOW = 1_000
"""Resting-time percentiles are taken over this many most recent finished orders."""


def wear_bps(pnl_net: float, volume_notional: float) -> float:
    """−PnL per unit of volume in basis points (0 when nothing traded)."""
    return -pnl_net / volume_notional * 10_000 if volume_notional > 0 else 0.0


class SessionStats:
    """Accumulates one session's figures from the event and command streams.

    A session may open with a position already held (`position_lots`, valued from
    `entry_ticks`, normally the mid at the session start), so its PnL counts only what happened
    since the start.
    """

    def __init__(
        self, instrument: Instrument, *, position_lots: int = 0, entry_ticks: float = 0.0
    ) -> None:
        self.instrument = instrument
        self.ledger = PositionLedger(instrument)
        self.ledger.adopt(position_lots, entry_ticks)
        self.fills = 0
        self.buy_fills = 0
        self.sell_fills = 0
        self.maker_fills = 0
        self.taker_fills = 0
        self.volume_notional = 0.0
        self.fees = Decimal(0)
        self.rebates = Decimal(0)
        self.fee_costs = Decimal(0)
        self.max_abs_position_lots = abs(position_lots)
        self.max_abs_inventory_notional = instrument.notional(entry_ticks, abs(position_lots))
        self.orders_placed = 0
        self.cancels = 0
        self.requotes = 0
        self.requote_reasons: dict[str, int] = {}
        self.rejects = 0
        self.reject_reasons: dict[str, int] = {}
        self.warnings: dict[str, int] = {}
        self.mode_changes: list[dict[str, Any]] = []
        self.flatten_results: list[dict[str, Any]] = []

    def observe(self, event: Event) -> None:
        if isinstance(event, OrderFilled):
            self._fill(event)
        elif isinstance(event, OrderRejected):
            self.rejects += 1
            self.reject_reasons[event.reason] = self.reject_reasons.get(event.reason, 0) + 1
        elif isinstance(event, ModeChanged):
            self.mode_changes.append(
                {
                    "ts_ns": event.ts_ns,
                    "from": event.old.value,
                    "to": event.new.value,
                    "reason": event.reason,
                }
            )
        elif isinstance(event, FlattenDone):
            self.flatten_results.append(
                {"ts_ns": event.ts_ns, "dust": event.dust, "position_lots": event.position_lots}
            )
        elif isinstance(event, EngineWarning):
            self.warnings[event.code] = self.warnings.get(event.code, 0) + 1

    def observe_command(self, command: Command) -> None:
        if isinstance(command, PlaceOrder):
            self.orders_placed += 1
            if command.reason in REQUOTE_REASONS:
                self.requotes += 1
                self.requote_reasons[command.reason] = (
                    self.requote_reasons.get(command.reason, 0) + 1
                )
        elif isinstance(command, CancelOrder):
            self.cancels += 1

    def _fill(self, e: OrderFilled) -> None:
        inst = self.instrument
        self.fills += 1
        if e.side is Side.BUY:
            self.buy_fills += 1
        else:
            self.sell_fills += 1
        if e.is_maker:
            self.maker_fills += 1
        else:
            self.taker_fills += 1
        self.volume_notional += inst.notional(e.price_ticks, e.size_lots)
        self.fees += e.fee
        if e.fee < 0:
            self.rebates += -e.fee
        else:
            self.fee_costs += e.fee
        self.ledger.apply_fill(e.side, e.price_ticks, e.size_lots, float(e.fee))
        pos = abs(self.ledger.position_lots)
        self.max_abs_position_lots = max(self.max_abs_position_lots, pos)
        self.max_abs_inventory_notional = max(
            self.max_abs_inventory_notional, inst.notional(e.price_ticks, pos)
        )

    def summary(self, mark_ticks: float) -> dict[str, Any]:
        """The shared summary shape (demo, backtest, monitor), marked to `mark_ticks`."""
        inst = self.instrument
        ledger = self.ledger
        gross = ledger.realized + ledger.unrealized(mark_ticks)
        net = gross - float(self.fees)
        return {
            "fills": self.fills,
            "buy_fills": self.buy_fills,
            "sell_fills": self.sell_fills,
            "maker_fills": self.maker_fills,
            "taker_fills": self.taker_fills,
            "volume_notional": self.volume_notional,
            "fees": float(self.fees),
            "rebates": float(self.rebates),
            "fee_costs": float(self.fee_costs),
            "pnl_gross": gross,
            "pnl_net": net,
            "wear_bps": wear_bps(net, self.volume_notional),
            "end_position": float(inst.lots_to_size(ledger.position_lots)),
            "max_abs_position": float(inst.lots_to_size(self.max_abs_position_lots)),
            "max_abs_inventory_notional": self.max_abs_inventory_notional,
            "orders_placed": self.orders_placed,
            "cancels": self.cancels,
            "requotes": self.requotes,
            "requote_reasons": dict(sorted(self.requote_reasons.items())),
            "rejects": self.rejects,
            "reject_reasons": dict(sorted(self.reject_reasons.items())),
            "warnings": dict(sorted(self.warnings.items())),
            "mode_changes": list(self.mode_changes),
            "flatten_results": list(self.flatten_results),
        }


def percentile(sorted_values: list[int], q: float) -> int | None:
    """Nearest-rank percentile (`q` in 0..1) of an ascending list; None when empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    return sorted_values[min(n - 1, max(0, math.ceil(q * n) - 1))]


def finite_or_none(x: float) -> float | None:
    """`x`, or None when it is NaN or infinite (JSON has no NaN)."""
    return x if math.isfinite(x) else None


class LiveSession:
    """One trading session as the live monitor sees it: the shared `SessionStats` plus the
    live-only figures (placement reasons, resting times, quote distances, breaker trips,
    flatten progress). Session 0 stands for the time before the first start."""

    def __init__(
        self,
        instrument: Instrument,
        *,
        session_id: int = 0,
        start_ns: int | None = None,
        start_reason: str = "",
        position_lots: int = 0,
        mark_ticks: float = 0.0,
        equity0: float = math.nan,
    ) -> None:
        self.stats = SessionStats(instrument, position_lots=position_lots, entry_ticks=mark_ticks)
        self.id = session_id
        self.start_ns = start_ns
        self.end_ns: int | None = None
        self.start_reason = start_reason
        self.equity0 = equity0
        self.entry_pending = position_lots != 0 and mark_ticks == 0.0
        self.resting_ns: deque[int] = deque(maxlen=RESTING_WINDOW)
        self.place_reasons: dict[str, int] = {}
        self._dist_sum = [0, 0]
        self._dist_n = [0, 0]
        self.trips: dict[str, int] = {}
        self.tripped: dict[str, tuple[float, float]] = {}
        self.flatten: FlattenProgress | None = None
        self.flatten_done: FlattenDone | None = None

    def pnl(self, mark_ticks: float) -> float:
        """Session PnL in quote currency: realized + unrealized at `mark_ticks` − fees."""
        ledger = self.stats.ledger
        return ledger.net_pnl(mark_ticks or ledger.avg_entry_ticks)

    def set_mark(self, mark_ticks: float) -> None:
        """A position held at a start without a price is valued from the first mid."""
        if self.entry_pending:
            ledger = self.stats.ledger
            ledger.adopt(ledger.position_lots, mark_ticks)
            self.entry_pending = False

    def observe_place(self, command: PlaceOrder) -> None:
        self.stats.observe_command(command)
        self.place_reasons[command.reason] = self.place_reasons.get(command.reason, 0) + 1

    def observe_breaker(self, e: BreakerTripped) -> None:
        self.trips[e.breaker] = self.trips.get(e.breaker, 0) + 1
        self.tripped[e.breaker] = (e.value, e.limit)

    def observe_distance(self, bid_ticks: int | None, ask_ticks: int | None) -> None:
        """Distances of a new target from the best price of its side, in ticks."""
        if bid_ticks is not None:
            self._dist_sum[0] += bid_ticks
            self._dist_n[0] += 1
        if ask_ticks is not None:
            self._dist_sum[1] += ask_ticks
            self._dist_n[1] += 1

    def runtime_ns(self, now_ns: int) -> int:
        if self.start_ns is None:
            return 0
        end = self.end_ns if self.end_ns is not None else now_ns
        return max(0, end - self.start_ns)

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "start_reason": self.start_reason,
        }

    def resting_ms(self) -> dict[str, Any]:
        """p50/p90/p99 of acceptance → final fill or cancel, in ms, over the recent window."""
        ordered = sorted(self.resting_ns)
        out: dict[str, Any] = {}
        for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            value = percentile(ordered, q)
            out[key] = None if value is None else value / NS_PER_MS
        out["count"] = len(ordered)
        return out

    def distance_means(self) -> tuple[float | None, float | None]:
        sums, counts = self._dist_sum, self._dist_n
        return (
            sums[0] / counts[0] if counts[0] else None,
            sums[1] / counts[1] if counts[1] else None,
        )

    def breakers(self, states: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
        """Per breaker {tripped, value, limit, trips}: from `states` (the engine's view) when
        given, else from the trips seen this session."""
        out: dict[str, Any] = {}
        if states is not None:
            for s in states:
                out[str(s["breaker"])] = {
                    "tripped": bool(s["tripped"]),
                    "value": finite_or_none(float(s["value"])),
                    "limit": finite_or_none(float(s["limit"])),
                }
        else:
            for name in [b.value for b in Breaker] + list(self.tripped):
                value, limit = self.tripped.get(name, (math.nan, math.nan))
                out[name] = {
                    "tripped": name in self.tripped,
                    "value": finite_or_none(value),
                    "limit": finite_or_none(limit),
                }
        for name, entry in out.items():
            entry["trips"] = self.trips.get(name, 0)
        return out

    def figures(
        self, pnl: float, breaker_states: Iterable[Mapping[str, Any]] | None
    ) -> dict[str, Any]:
        """The session-scoped part of the monitor summary, given the session PnL."""
        stats = self.stats
        volume = stats.volume_notional
        return {
            "fills": stats.fills,
            "maker_fills": stats.maker_fills,
            "taker_fills": stats.taker_fills,
            "session_volume": volume,
            "pnl_total": pnl,
            "fees": float(stats.fees),
            "rebates": float(stats.rebates),
            "fee_costs": float(stats.fee_costs),
            "wear_per_10k": wear_bps(pnl, volume),
            "resting_ms": self.resting_ms(),
            "requote_reasons": dict(sorted(stats.requote_reasons.items())),
            "place_reasons": dict(sorted(self.place_reasons.items())),
            "rejects": stats.rejects,
            "reject_reasons": dict(sorted(stats.reject_reasons.items())),
            "warnings": dict(sorted(stats.warnings.items())),
            "breakers": self.breakers(breaker_states),
            "flatten": self.flatten_info(),
        }

    def flatten_info(self) -> dict[str, Any]:
        f = self.flatten
        done = self.flatten_done
        return {
            "active": f is not None,
            "phase": f.phase if f else "",
            "attempt": f.attempt if f else 0,
            "position_lots": f.position_lots if f else 0,
            "detail": f.detail if f else "",
            "ts_ns": f.ts_ns if f else None,
            "last_done": None
            if done is None
            else {
                "dust": done.dust,
                "position_lots": done.position_lots,
                "attempts": done.attempts,
                "ts_ns": done.ts_ns,
            },
        }
