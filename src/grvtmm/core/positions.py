"""Position and PnL ledger for one instrument (average-cost accounting, quote currency)."""

from __future__ import annotations

from grvtmm.core.types import Instrument, Side


class PositionLedger:
    """Signed position in lots, average entry in ticks, realized PnL and fees (quote currency).

    Fees are positive costs, negative rebates; `net_pnl(mark)` = realized + unrealized − fees.
    """

    __slots__ = (
        "_point_value",
        "avg_entry_ticks",
        "fees",
        "instrument",
        "position_lots",
        "realized",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._point_value = instrument.tick_f * instrument.step_f  # quote per (tick × lot)
        self.position_lots = 0
        self.avg_entry_ticks = 0.0
        self.realized = 0.0
        self.fees = 0.0

    def apply_fill(self, side: Side, price_ticks: int, lots: int, fee: float) -> float:
        """Book one fill; returns the PnL it realized (quote currency, before fees)."""
        self.fees += fee
        signed = lots * side.value
        pos = self.position_lots
        realized = 0.0
        if pos == 0 or (pos > 0) == (signed > 0):
            new_pos = pos + signed
            self.avg_entry_ticks = (self.avg_entry_ticks * abs(pos) + price_ticks * lots) / abs(
                new_pos
            )
            self.position_lots = new_pos
            return 0.0
        closed = min(abs(pos), lots)
        direction = 1 if pos > 0 else -1
        realized = (price_ticks - self.avg_entry_ticks) * closed * direction * self._point_value
        self.realized += realized
        new_pos = pos + signed
        if new_pos == 0:
            self.avg_entry_ticks = 0.0
        elif (new_pos > 0) != (pos > 0):
            self.avg_entry_ticks = float(price_ticks)  # flipped: the remainder opened here
        self.position_lots = new_pos
        return realized

    def adopt(self, position_lots: int, entry_ticks: float) -> None:
        """Take over a position found on the venue (at start or on a venue correction)."""
        self.position_lots = position_lots
        self.avg_entry_ticks = entry_ticks if position_lots else 0.0

    def unrealized(self, mark_ticks: float) -> float:
        if self.position_lots == 0:
            return 0.0
        return (mark_ticks - self.avg_entry_ticks) * self.position_lots * self._point_value

    def net_pnl(self, mark_ticks: float) -> float:
        pos = self.position_lots
        if pos == 0:
            return self.realized + 0.0 - self.fees
        unrealized = (mark_ticks - self.avg_entry_ticks) * pos * self._point_value
        return self.realized + unrealized - self.fees

    def notional(self, mark_ticks: float) -> float:
        return abs(self.position_lots) * mark_ticks * self._point_value
