"""Events: immutable facts, named in the past tense, each stamped in int nanoseconds.

`ts_ns` is the venue's (exchange) time of the event, `local_ns` the time we received it.
Prices are integer ticks and sizes integer lots of the event's instrument.

Instances are never mutated after construction (they are shared by the engine, the venue and
every sink); they are plain slotted dataclasses rather than frozen ones because frozen
construction costs several times more on the hot path.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, overload

from grvtmm.core.types import Side

Level = tuple[int, int]
"""One book level: (price in ticks, size in lots)."""


class LevelColumns(Sequence[Level]):
    """Book levels held as two parallel lists, prices and sizes, read as (price, size) pairs.

    Columnar sources (hftbacktest arrays, the backtest's coalesced feed) hand a delta's levels
    over this way rather than building one tuple per level; iterating yields the same pairs, in
    the same order, as the tuple of levels would, and it compares equal to that tuple.
    """

    __slots__ = ("prices", "sizes")

    def __init__(self, prices: list[int], sizes: list[int]) -> None:
        if len(prices) != len(sizes):
            raise ValueError(f"{len(prices)} prices but {len(sizes)} sizes")
        self.prices = prices
        self.sizes = sizes

    def __iter__(self) -> Iterator[Level]:
        return zip(self.prices, self.sizes, strict=False)

    def __len__(self) -> int:
        return len(self.prices)

    def __bool__(self) -> bool:
        return bool(self.prices)

    @overload
    def __getitem__(self, index: int) -> Level: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Level, ...]: ...

    def __getitem__(self, index: int | slice) -> Level | tuple[Level, ...]:
        if isinstance(index, slice):
            return tuple(zip(self.prices[index], self.sizes[index], strict=True))
        return self.prices[index], self.sizes[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LevelColumns({list(self)!r})"


@dataclass(slots=True, kw_only=True)
class Event:
    ts_ns: int
    local_ns: int


# ---- market data -------------------------------------------------------------------------
@dataclass(slots=True, kw_only=True)
class BookSnapshot(Event):
    """Full book. Bids best-first (descending), asks best-first (ascending)."""

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    sequence: int = 0


@dataclass(slots=True, kw_only=True)
class BookDelta(Event):
    """Changed levels; size 0 deletes a level. `prev_sequence` (if known) must equal the last
    applied sequence, otherwise there is a gap. Levels are a tuple of (price, size) pairs or,
    from columnar sources, `LevelColumns`; read them by iterating."""

    symbol: str
    bids: tuple[Level, ...] | LevelColumns
    asks: tuple[Level, ...] | LevelColumns
    sequence: int = 0
    prev_sequence: int | None = None


@dataclass(slots=True, kw_only=True)
class Ticker(Event):
    """Top of book only (fallback quoting input when the depth stream is unavailable).

    `source` "rest": polled over REST while the market stream is down; it prices a flatten's
    closes then, and is never quoted on."""

    symbol: str
    bid_ticks: int
    bid_lots: int
    ask_ticks: int
    ask_lots: int
    source: str = "stream"


@dataclass(slots=True, kw_only=True)
class Trade(Event):
    """A public trade; `aggressor` is the taker's side."""

    symbol: str
    price_ticks: int
    size_lots: int
    aggressor: Side


# ---- our orders and account ----------------------------------------------------------------
@dataclass(slots=True, kw_only=True)
class OrderAccepted(Event):
    client_order_id: int
    venue_order_id: str = ""


@dataclass(slots=True, kw_only=True)
class OrderFilled(Event):
    """One execution of our order. `fee` is in quote currency; negative is a rebate."""

    client_order_id: int
    trade_id: str
    symbol: str
    side: Side
    price_ticks: int
    size_lots: int
    fee: Decimal
    is_maker: bool
    leaves_lots: int = 0


@dataclass(slots=True, kw_only=True)
class OrderCanceled(Event):
    """The order is gone without (further) fills: cancelled by us, expired IOC, or by the venue."""

    client_order_id: int
    reason: str = "canceled"


@dataclass(slots=True, kw_only=True)
class OrderRejected(Event):
    """The venue refused the order. `code` is the venue's error code when it gave one."""

    client_order_id: int
    reason: str
    code: int | None = None


@dataclass(slots=True, kw_only=True)
class CancelRejected(Event):
    """A cancel failed (typically because the order had already filled or was unknown)."""

    client_order_id: int
    reason: str


@dataclass(slots=True, kw_only=True)
class AccountUpdate(Event):
    """Account figures in quote currency; `source` says which venue field they came from."""

    equity: float
    free_margin: float
    used_margin: float = 0.0
    source: str = ""


@dataclass(slots=True, kw_only=True)
class PositionUpdate(Event):
    """The venue's view of our position (signed lots) — authoritative over our own count."""

    symbol: str
    size_lots: int
    entry_price_ticks: float = 0.0


@dataclass(frozen=True, slots=True)
class OpenOrderInfo:
    client_order_id: int
    side: Side
    price_ticks: int
    leaves_lots: int
    venue_order_id: str = ""


@dataclass(slots=True, kw_only=True)
class ReconcileSnapshot(Event):
    """The venue's state at (re)connection: resting orders, position and account."""

    symbol: str
    open_orders: tuple[OpenOrderInfo, ...]
    position_lots: int
    equity: float
    free_margin: float
    used_margin: float = 0.0


class VenueErrorKind(enum.Enum):
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    RETRYABLE = "retryable"
    REJECTED = "rejected"
    INTERNAL = "internal"


@dataclass(slots=True, kw_only=True)
class VenueError(Event):
    """A venue call failed (after the venue's own retries); counted by the error-storm breaker."""

    kind: VenueErrorKind
    detail: str
    code: int | None = None


@dataclass(slots=True, kw_only=True)
class VenueStatus(Event):
    """Connectivity of the venue's streams. `book_ok` is False when only ticker data flows."""

    connected: bool
    detail: str = ""
    book_ok: bool = True


@dataclass(slots=True, kw_only=True)
class Timer(Event):
    """A periodic tick so the engine can act on deadlines (debounce, backoff, staleness)."""


# ---- operator control ------------------------------------------------------------------------
@dataclass(slots=True, kw_only=True)
class StartRequested(Event):
    reason: str = "operator"


@dataclass(slots=True, kw_only=True)
class PauseRequested(Event):
    reason: str = "operator"


@dataclass(slots=True, kw_only=True)
class ResumeRequested(Event):
    reason: str = "operator"


@dataclass(slots=True, kw_only=True)
class StopRequested(Event):
    reason: str = "operator"


@dataclass(slots=True, kw_only=True)
class HaltRequested(Event):
    reason: str = "operator"


@dataclass(slots=True, kw_only=True)
class ConfigChanged(Event):
    """New strategy configuration (already validated) to apply from the next decision."""

    config: Any


# ---- engine notices (published to the side channels; never sent to a venue) -------------------
class EngineMode(enum.Enum):
    IDLE = "idle"
    RECONCILING = "reconciling"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    HALTING = "halting"
    FLATTENING = "flattening"
    STOPPED = "stopped"
    HALTED = "halted"


@dataclass(slots=True, kw_only=True)
class ModeChanged(Event):
    old: EngineMode
    new: EngineMode
    reason: str


@dataclass(slots=True, kw_only=True)
class BreakerTripped(Event):
    breaker: str
    detail: str
    value: float = 0.0
    limit: float = 0.0


@dataclass(slots=True, kw_only=True)
class FlattenProgress(Event):
    """A flatten step: `phase` is cancelling | closing | backoff; `attempt` counts close orders."""

    phase: str
    attempt: int
    position_lots: int
    detail: str = ""


@dataclass(slots=True, kw_only=True)
class FlattenDone(Event):
    """The flatten ended: flat, or `dust` when the remainder is below the closable minimum."""

    dust: bool
    position_lots: int
    attempts: int


@dataclass(slots=True)
class QuoteUpdated(Event):
    """The strategy's target quotes (0 ticks/lots = no order on that side) and why.

    Unlike other events, its own fields may also be passed by position (the engine publishes
    one on most decisions, and keyword arguments cost twice as much); `ts_ns` and `local_ns`
    stay keyword-only.
    """

    bid_ticks: int
    bid_lots: int
    ask_ticks: int
    ask_lots: int
    mid_ticks: float
    reason: str = ""
    one_sided: str = ""
    half_spread_ticks: float = 0.0
    skew_ticks: float = 0.0
    sigma: float = 0.0
    k: float = 0.0
    inventory_ratio: float = 0.0


@dataclass(slots=True, kw_only=True)
class EngineWarning(Event):
    """Something the operator should see that is not (yet) a breaker: book gap, unknown order,
    refused config change, illegal lifecycle transition from the venue."""

    code: str
    detail: str
