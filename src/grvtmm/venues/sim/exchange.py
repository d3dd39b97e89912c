"""The simulated exchange's latency and account layer around `MatchingEngine`.

One timeline, like hftbacktest with a constant latency: a command sent at local time `t`
reaches the matching engine at `t + entry_latency_ns`; every response is stamped with the
exchange processing time `ts_ns` and reaches us at `local_ns = ts_ns + response_latency_ns`.
A cancel therefore pays the entry latency too, and a fill can beat it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

from grvtmm.core.commands import CancelAll, CancelOrder, Command, PlaceOrder, Reconcile
from grvtmm.core.events import (
    AccountUpdate,
    Event,
    OrderFilled,
    PositionUpdate,
    ReconcileSnapshot,
)
from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.venues.sim.columnar import MarketRows
from grvtmm.venues.sim.matching import MatchingEngine, QueueModel

_COMMANDS = (PlaceOrder, CancelOrder, CancelAll, Reconcile)


class SimAccount:
    """Position, average entry and cash of one instrument, in exact tick·lot units.

    `cash_tick_lots` is −Σ side·price·lots over all fills and `cost_tick_lots` the signed entry
    cost of the open position (average-cost method), so realized PnL is their sum and
    realized + unrealized = cash + position × mark.
    """

    __slots__ = (
        "cash_tick_lots",
        "cost_tick_lots",
        "fees",
        "fill_count",
        "maker_fill_count",
        "position_lots",
        "volume_notional",
    )

    def __init__(self) -> None:
        self.position_lots = 0
        self.cash_tick_lots = 0
        self.cost_tick_lots = Fraction(0)
        self.fees = Decimal(0)
        self.fill_count = 0
        self.maker_fill_count = 0
        self.volume_notional = Decimal(0)

    def apply_fill(self, fill: OrderFilled, notional: Decimal) -> None:
        """Book one execution (`notional` is its exact quote value)."""
        signed = int(fill.side) * fill.size_lots
        price = fill.price_ticks
        pos = self.position_lots
        self.cash_tick_lots -= signed * price
        if pos == 0 or (pos > 0) == (signed > 0):
            self.cost_tick_lots += signed * price
        else:
            closed = min(fill.size_lots, abs(pos))
            self.cost_tick_lots -= self.cost_tick_lots * closed / abs(pos)
            opened = fill.size_lots - closed
            if opened:
                self.cost_tick_lots += int(fill.side) * opened * price
        self.position_lots = pos + signed
        self.fees += fill.fee
        self.fill_count += 1
        self.maker_fill_count += fill.is_maker
        self.volume_notional += notional

    @property
    def entry_price_ticks(self) -> float:
        """Average entry price of the open position in ticks (0.0 when flat)."""
        pos = self.position_lots
        return float(self.cost_tick_lots / pos) if pos else 0.0

    def realized_tick_lots(self) -> Fraction:
        return self.cash_tick_lots + self.cost_tick_lots

    def unrealized_tick_lots(self, mark_ticks: float) -> float:
        return self.position_lots * mark_ticks - float(self.cost_tick_lots)


class SimExchange:
    """Latency queues, the matching engine and the account, driven by a replay loop."""

    __slots__ = (
        "_arrivals",
        "_last_arrival_ns",
        "_last_local_ns",
        "_last_mid_ticks",
        "_responses",
        "_unit",
        "account",
        "engine",
        "entry_latency_ns",
        "fee_schedule",
        "initial_equity",
        "instrument",
        "leverage",
        "now_ns",
        "response_latency_ns",
    )

    def __init__(
        self,
        instrument: Instrument,
        fees: FeeSchedule,
        *,
        queue: QueueModel,
        entry_latency_ns: int = 0,
        response_latency_ns: int = 0,
        initial_equity: float = 1000.0,
        leverage: float = 20.0,
        venue_instrument: Instrument | None = None,
        id_prefix: str = "sim",
    ) -> None:
        if entry_latency_ns < 0 or response_latency_ns < 0:
            raise ValueError("latencies must be >= 0")
        if leverage <= 0:
            raise ValueError("leverage must be > 0")
        self.instrument = instrument
        self.fee_schedule = fees
        self.engine = MatchingEngine(instrument, fees, queue, venue_instrument, id_prefix)
        self.account = SimAccount()
        self.entry_latency_ns = entry_latency_ns
        self.response_latency_ns = response_latency_ns
        self.initial_equity = initial_equity
        self.leverage = leverage
        self.now_ns = 0
        self._unit = instrument.tick_f * instrument.step_f
        self._arrivals: deque[tuple[int, Command]] = deque()
        self._responses: deque[Event] = deque()
        self._last_arrival_ns = 0
        self._last_local_ns = 0
        self._last_mid_ticks = 0.0

    # ---- the timeline -------------------------------------------------------------------
    def submit(self, command: Command, local_ns: int) -> None:
        """Send `command` at local time `local_ns`; it arrives after the entry latency."""
        if not isinstance(command, _COMMANDS):
            raise TypeError(f"unsupported command {type(command).__name__}")
        # Requests stay in order on the wire (FIFO), as in the reference's order bus.
        arrival = max(local_ns + self.entry_latency_ns, self._last_arrival_ns)
        self._last_arrival_ns = arrival
        self._arrivals.append((arrival, command))

    def next_arrival_ns(self) -> int | None:
        """Exchange time of the next pending command, if any."""
        return self._arrivals[0][0] if self._arrivals else None

    def advance(self, ts_ns: int) -> None:
        """Process every command that has arrived by exchange time `ts_ns`, in arrival order."""
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] <= ts_ns:
            arrival, command = arrivals.popleft()
            self._process(command, max(arrival, self.now_ns))

    def on_market(self, event: Event) -> None:
        """Apply a market event at its exchange time, after the commands that arrived before it.

        A command arriving at exactly `event.ts_ns` is processed after the event: the reference
        replays exchange data before exchange-side order arrivals on equal timestamps.
        """
        ts = event.ts_ns
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] < ts:
            arrival, command = arrivals.popleft()
            self._process(command, max(arrival, self.now_ns))
        if ts > self.now_ns:
            self.now_ns = ts
        caused = self.engine.on_market(event)
        if caused:
            self._emit(caused)

    def on_rows(self, rows: MarketRows, start: int, until_ns: int) -> int:
        """Apply columnar market rows from `start` while their exchange time is at most
        `until_ns` (the caller processes command arrivals in between, as `advance` does);
        returns the index of the next row. It returns early after a row that caused events
        (fills), so the caller sees their responses before going on."""
        i, caused = self.engine.on_rows(rows, start, until_ns)
        if i > start:
            ts = int(rows.data[0, i - 1])
            if ts > self.now_ns:
                self.now_ns = ts
        if caused:
            self._emit(caused)
        return i

    def pop_responses(self, until_local_ns: int) -> list[Event]:
        """Responses whose local receive time is at or before `until_local_ns`, in order."""
        responses = self._responses
        due: list[Event] = []
        while responses and responses[0].local_ns <= until_local_ns:
            due.append(responses.popleft())
        return due

    def next_response_ns(self) -> int | None:
        """Local receive time of the next queued response, if any."""
        return self._responses[0].local_ns if self._responses else None

    def _process(self, command: Command, ts_ns: int) -> None:
        self.now_ns = ts_ns
        engine = self.engine
        if isinstance(command, PlaceOrder):
            self._emit(engine.submit(command, ts_ns))
        elif isinstance(command, CancelOrder):
            self._emit(engine.cancel(command.client_order_id, ts_ns))
        elif isinstance(command, CancelAll):
            self._emit(engine.cancel_all(ts_ns))
        else:
            self._emit((self._reconcile(ts_ns),))

    def _emit(self, events: tuple[Event, ...] | list[Event]) -> None:
        for event in events:
            self._respond(event)
            if isinstance(event, OrderFilled):
                self._book_fill(event)

    def _respond(self, event: Event) -> None:
        local = max(event.ts_ns + self.response_latency_ns, self._last_local_ns)
        self._last_local_ns = local
        if local != event.local_ns:
            event = replace(event, local_ns=local)
        self._responses.append(event)

    def _book_fill(self, fill: OrderFilled) -> None:
        ins = self.instrument
        notional = ins.tick_size * fill.price_ticks * (ins.size_step * fill.size_lots)
        self.account.apply_fill(fill, notional)
        ts = fill.ts_ns
        self._respond(
            PositionUpdate(
                ts_ns=ts,
                local_ns=ts,
                symbol=ins.symbol,
                size_lots=self.account.position_lots,
                entry_price_ticks=self.account.entry_price_ticks,
            )
        )
        used = self.used_margin
        equity = self.equity
        self._respond(
            AccountUpdate(
                ts_ns=ts,
                local_ns=ts,
                equity=equity,
                free_margin=equity - used,
                used_margin=used,
                source="sim",
            )
        )

    def _reconcile(self, ts_ns: int) -> ReconcileSnapshot:
        used = self.used_margin
        equity = self.equity
        return ReconcileSnapshot(
            ts_ns=ts_ns,
            local_ns=ts_ns,
            symbol=self.instrument.symbol,
            open_orders=self.engine.open_orders(),
            position_lots=self.account.position_lots,
            equity=equity,
            free_margin=equity - used,
            used_margin=used,
        )

    def set_position(self, lots: int, entry_ticks: int) -> None:
        """Start from an existing position (e.g. one left on the venue before a restart)."""
        account = self.account
        account.position_lots = lots
        account.cost_tick_lots = Fraction(lots * entry_ticks)
        account.cash_tick_lots = -lots * entry_ticks  # realized PnL stays 0
        self.engine.position_lots = lots

    # ---- account figures (quote currency) -----------------------------------------------
    def mark_ticks(self) -> float:
        """Exchange mid in ticks; the last valid mid (else the entry) while a side is empty."""
        book = self.engine.book
        if 0 < book.best_bid < book.best_ask:
            self._last_mid_ticks = (book.best_bid + book.best_ask) * 0.5
        elif not self._last_mid_ticks:
            return self.account.entry_price_ticks
        return self._last_mid_ticks

    @property
    def position_lots(self) -> int:
        return self.account.position_lots

    @property
    def entry_price_ticks(self) -> float:
        return self.account.entry_price_ticks

    @property
    def fees_paid(self) -> Decimal:
        """Total fees in quote currency, exact; negative means net rebates."""
        return self.account.fees

    @property
    def fill_count(self) -> int:
        return self.account.fill_count

    @property
    def volume_notional(self) -> Decimal:
        return self.account.volume_notional

    @property
    def realized_pnl(self) -> float:
        """Realized trading PnL before fees."""
        return float(self.account.realized_tick_lots()) * self._unit

    @property
    def unrealized_pnl(self) -> float:
        """Open position marked at the exchange mid."""
        return self.account.unrealized_tick_lots(self.mark_ticks()) * self._unit

    @property
    def equity(self) -> float:
        """initial + realized + unrealized − fees."""
        return (
            self.initial_equity + self.realized_pnl + self.unrealized_pnl - float(self.account.fees)
        )

    @property
    def used_margin(self) -> float:
        """|position notional at the mid| / leverage."""
        return abs(self.account.position_lots) * self.mark_ticks() * self._unit / self.leverage

    @property
    def free_margin(self) -> float:
        return self.equity - self.used_margin
