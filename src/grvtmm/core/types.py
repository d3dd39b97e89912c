"""Domain types: sides, instruments and their exact price/size quantization, fees.

Model code works in floats; prices and sizes become integer ticks and lots exactly once, here.
Bids round down, asks round up; reduce-only sizes round down; opening sizes are lifted to the
venue minimums or refused with a reason.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from decimal import Decimal

# Tolerance (in ticks or lots) for float representation error, so that a model value of
# exactly 100.3 on a 0.1 tick is tick 1003 whichever way it rounds.
_EPS_ABS = 1e-9
_EPS_REL = 1e-14


class Side(enum.IntEnum):
    """Order or aggressor side; the value is the sign of the position change."""

    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class TimeInForce(enum.Enum):
    GTT = "GOOD_TILL_TIME"
    IOC = "IMMEDIATE_OR_CANCEL"
    FOK = "FILL_OR_KILL"
    AON = "ALL_OR_NONE"


class InstrumentError(ValueError):
    """An instrument's constraints are missing or inconsistent (placement is blocked)."""


@dataclass(frozen=True, slots=True)
class SizeResult:
    """Outcome of sizing an order: `lots > 0`, or `lots == 0` and a `reason` it was refused."""

    lots: int
    lifted: bool = False
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.lots > 0


def _dec(value: Decimal | str | int | float) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable perpetual and its venue constraints.

    `min_size` and `size_step` are in base units, `tick_size` and `min_notional` in quote units.
    `base_decimals` is the venue's integer scaling of sizes (GRVT signs size × 10^base_decimals).
    """

    symbol: str
    tick_size: Decimal
    size_step: Decimal
    min_size: Decimal
    min_notional: Decimal = Decimal(0)
    base_decimals: int = 9
    asset_id: str = ""
    tick_f: float = field(init=False, repr=False, compare=False)
    step_f: float = field(init=False, repr=False, compare=False)
    min_lots: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("tick_size", "size_step", "min_size", "min_notional"):
            object.__setattr__(self, name, _dec(getattr(self, name)))
        if not self.tick_size.is_finite() or self.tick_size <= 0:
            raise InstrumentError(f"{self.symbol}: tick_size must be > 0, got {self.tick_size}")
        if not self.size_step.is_finite() or self.size_step <= 0:
            raise InstrumentError(f"{self.symbol}: size_step must be > 0, got {self.size_step}")
        if not self.min_size.is_finite() or self.min_size < 0:
            raise InstrumentError(f"{self.symbol}: min_size must be >= 0, got {self.min_size}")
        if not self.min_notional.is_finite() or self.min_notional < 0:
            raise InstrumentError(f"{self.symbol}: min_notional must be >= 0")
        if self.base_decimals < 0:
            raise InstrumentError(f"{self.symbol}: base_decimals must be >= 0")
        object.__setattr__(self, "tick_f", float(self.tick_size))
        object.__setattr__(self, "step_f", float(self.size_step))
        min_lots = max(1, math.ceil(self.min_size / self.size_step))
        object.__setattr__(self, "min_lots", min_lots)

    # ---- prices -------------------------------------------------------------------------
    def price_to_ticks(self, price: float, side: Side) -> int:
        """Model price → integer ticks: bids round down, asks round up (never more aggressive)."""
        x = price / self.tick_f
        eps = _EPS_ABS + abs(x) * _EPS_REL
        if side is Side.BUY:
            return math.floor(x + eps)
        return math.ceil(x - eps)

    def nearest_ticks(self, price: float) -> int:
        """Model price → nearest integer tick (for market data, not for orders)."""
        return round(price / self.tick_f)

    def ticks_to_price(self, ticks: int) -> Decimal:
        """Integer ticks → exact decimal price."""
        return self.tick_size * ticks

    def price_str(self, ticks: int) -> str:
        """Integer ticks → exact decimal string in plain notation (no exponent)."""
        return _plain(self.tick_size * ticks)

    def price_f(self, ticks: float) -> float:
        return ticks * self.tick_f

    def parse_price_ticks(self, text: str | Decimal) -> int:
        """Exact decimal price → ticks; raises if it is not on the tick grid."""
        q, r = divmod(_dec(text), self.tick_size)
        if r != 0:
            raise InstrumentError(
                f"{self.symbol}: price {text} is not a multiple of tick {self.tick_size}"
            )
        return int(q)

    # ---- sizes --------------------------------------------------------------------------
    def lots_to_size(self, lots: int) -> Decimal:
        return self.size_step * lots

    def size_str(self, lots: int) -> str:
        return _plain(self.size_step * lots)

    def size_f(self, lots: float) -> float:
        return lots * self.step_f

    def parse_size_lots(self, text: str | Decimal) -> int:
        """Exact decimal size → lots; raises if it is not a multiple of the size step."""
        q, r = divmod(_dec(text), self.size_step)
        if r != 0:
            raise InstrumentError(
                f"{self.symbol}: size {text} is not a multiple of step {self.size_step}"
            )
        return int(q)

    def floor_lots(self, size: float) -> int:
        """Model size → whole lots, rounded down (reduce-only orders)."""
        x = size / self.step_f
        return max(0, math.floor(x + _EPS_ABS + abs(x) * _EPS_REL))

    def notional(self, ticks: int | float, lots: int | float) -> float:
        """Quote-currency notional of `lots` at `ticks`."""
        return ticks * self.tick_f * lots * self.step_f

    def min_lots_at(self, price_ticks: int) -> int:
        """Smallest lot count that meets both the minimum size and the minimum notional."""
        if price_ticks <= 0:
            raise InstrumentError(f"{self.symbol}: price must be positive")
        lots = self.min_lots
        if self.min_notional > 0:
            unit = self.tick_size * price_ticks * self.size_step
            lots = max(lots, math.ceil(self.min_notional / unit))
        return lots

    def opening_lots(
        self, size: float, price_ticks: int, max_lots: int | None = None
    ) -> SizeResult:
        """Size an order that opens or adds to a position.

        Rounds to the nearest step, then lifts to the minimum size / notional; refuses when the
        size is not positive or the lifted size would exceed `max_lots`.
        """
        if not math.isfinite(size) or size <= 0:
            return SizeResult(0, reason="size_not_positive")
        x = size / self.step_f
        lots = max(0, math.floor(x + 0.5))
        floor_lots = self.min_lots_at(price_ticks)
        lifted = lots < floor_lots
        lots = max(lots, floor_lots)
        if max_lots is not None and lots > max_lots:
            if lifted:
                return SizeResult(0, reason="venue_minimum_exceeds_limit")
            lots = max_lots
            if lots < floor_lots:
                return SizeResult(0, reason="venue_minimum_exceeds_limit")
        return SizeResult(lots, lifted=lifted)

    def closing_lots(self, position_lots: int) -> SizeResult:
        """Size a reduce-only order that closes `|position_lots|`; below the minimum it is dust."""
        lots = abs(position_lots)
        if lots == 0:
            return SizeResult(0, reason="flat")
        if lots < self.min_lots:
            return SizeResult(0, reason="dust")
        return SizeResult(lots)

    def is_dust(self, position_lots: int) -> bool:
        return 0 < abs(position_lots) < self.min_lots

    def scaled_size(self, lots: int) -> int:
        """Size as the venue's integer (size × 10^base_decimals), exact."""
        return int(self.size_step * lots * (Decimal(10) ** self.base_decimals))


def _plain(d: Decimal) -> str:
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of notional; negative means a rebate (e.g. maker -0.0001 = -1 bp)."""

    maker_rate: Decimal = Decimal(0)
    taker_rate: Decimal = Decimal(0)

    def fee(self, notional: Decimal, is_maker: bool) -> Decimal:
        return (self.maker_rate if is_maker else self.taker_rate) * notional


def normalize_symbol(symbol: str) -> str:
    """`bnb-usdt-perp`, `BNB_USDT_PERP`, `BNB_USDT-PERP` → `BNB_USDT_Perp` (GRVT's form)."""
    text = symbol.strip().replace("-", "_").upper()
    if not text:
        raise InstrumentError("empty symbol")
    parts = [p for p in text.split("_") if p]
    if parts[-1] == "PERP":
        parts = parts[:-1]
    if len(parts) == 1:
        parts.append("USDT")
    return "_".join([*parts, "Perp"])
