"""Session summary shared by demo, backtest and the live monitor: fills, volume, fees, PnL, wear.

wear_bps = −pnl_net / volume_notional × 10 000: the cost of the volume traded, in basis points.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from grvtmm.core.commands import CancelOrder, Command, PlaceOrder
from grvtmm.core.events import (
    EngineWarning,
    Event,
    FlattenDone,
    ModeChanged,
    OrderFilled,
    OrderRejected,
)
from grvtmm.core.positions import PositionLedger
from grvtmm.core.types import Instrument, Side

REQUOTE_REASONS = frozenset({"away", "toward", "size", "max_age"})


def wear_bps(pnl_net: float, volume_notional: float) -> float:
    """−PnL per unit of volume in basis points (0 when nothing traded)."""
    return -pnl_net / volume_notional * 10_000 if volume_notional > 0 else 0.0


class SessionStats:
    """Accumulates one session's figures from the event and command streams."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.ledger = PositionLedger(instrument)
        self.fills = 0
        self.buy_fills = 0
        self.sell_fills = 0
        self.maker_fills = 0
        self.taker_fills = 0
        self.volume_notional = 0.0
        self.fees = Decimal(0)
        self.rebates = Decimal(0)
        self.fee_costs = Decimal(0)
        self.max_abs_position_lots = 0
        self.max_abs_inventory_notional = 0.0
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
