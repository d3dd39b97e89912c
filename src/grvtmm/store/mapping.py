"""How published events and commands become rows. The worker plans a whole batch in memory
(one lookup of the orders and trade ids it touches), then writes each table with one
executemany — per-statement overhead, not SQLite, is what limits a row-at-a-time writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection

from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BreakerTripped,
    CancelRejected,
    EngineMode,
    EngineWarning,
    FlattenDone,
    FlattenProgress,
    ModeChanged,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    VenueError,
)
from grvtmm.core.types import Instrument, Side
from grvtmm.store import rows
from grvtmm.store.rows import Row
from grvtmm.store.tables import cid_text

TERMINAL: Final = frozenset({"filled", "canceled", "rejected"})
_RANK: Final = {"pending": 0, "open": 1, "partially_filled": 2}
# A session starts when the engine leaves a resting mode and ends when it comes to rest.
RESTING: Final = frozenset({EngineMode.IDLE, EngineMode.STOPPED, EngineMode.HALTED})
SESSION_END: Final = frozenset({EngineMode.STOPPED, EngineMode.HALTED})
CRITICAL_WARNINGS: Final = frozenset({"shutdown_incomplete"})
"""Warning codes stored at level critical (exposure was left open)."""


class UnmappableItem(ValueError):
    """An item cannot be rendered exactly (e.g. no instrument for its symbol)."""


@dataclass(frozen=True, slots=True)
class ModeItem:
    """A mode change with the equity known when it was published (a session's start equity)."""

    event: ModeChanged
    equity: float | None


@dataclass(frozen=True, slots=True)
class SnapshotItem:
    ts_ns: int
    equity: float
    free_margin: float
    position_lots: int
    mid_ticks: float | None


@dataclass(frozen=True, slots=True)
class InstrumentItem:
    instrument: Instrument


@dataclass(slots=True)
class WorkerState:
    """What the worker knows between batches; copied per transaction, kept on commit."""

    mode: str
    auto_sessions: bool
    instruments: dict[str, Instrument]
    current: Instrument
    session_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def copy(self) -> WorkerState:
        return WorkerState(
            self.mode,
            self.auto_sessions,
            dict(self.instruments),
            self.current,
            self.session_id,
            dict(self.counts),
        )

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def instrument(self, symbol: str) -> Instrument:
        found = self.instruments.get(symbol)
        if found is None:
            raise UnmappableItem(f"no instrument for symbol {symbol!r}")
        return found


def _side(side: Side) -> str:
    return "buy" if side is Side.BUY else "sell"


def exact(value: float) -> Decimal:
    """A float from the model → the Decimal of its shortest repr (no binary expansion digits)."""
    return Decimal(repr(value))


def _next_status(current: str, new: str) -> str:
    """A terminal status is never replaced and a status never moves backwards (late acks)."""
    if current in TERMINAL or (new not in TERMINAL and _RANK[new] < _RANK[current]):
        return current
    return new


class BatchPlan:
    """Rows planned from a batch of items, written table by table by `write()`."""

    def __init__(self, connection: Connection, state: WorkerState, items: Sequence[object]) -> None:
        self.c = connection
        self.st = state
        cids = {cid_text(i.client_order_id) for i in items if hasattr(i, "client_order_id")}
        self.status = rows.order_statuses(connection, sorted(cids))
        trade_ids = [i.trade_id for i in items if isinstance(i, OrderFilled)]
        self.trades = rows.stored_trade_ids(connection, trade_ids)
        self.new_orders: dict[str, Row] = {}
        self.changes: dict[str, Row] = {}
        self.history: list[Row] = []
        self.fills: list[Row] = []
        self.events: list[Row] = []
        self.snapshots: list[Row] = []

    def add(self, item: object) -> None:
        HANDLERS[type(item)](self, item)

    def write(self) -> None:
        rows.insert_orders(self.c, list(self.new_orders.values()))
        rows.insert_history(self.c, self.history)
        rows.update_orders(self.c, list(self.changes.values()))
        rows.insert_fills(self.c, self.fills)
        rows.insert_events(self.c, self.events)
        rows.insert_snapshots(self.c, self.snapshots)

    # ---- orders and fills ------------------------------------------------------------------
    def place(self, cmd: PlaceOrder) -> None:
        inst = self.st.instrument(cmd.symbol)
        cid = cid_text(cmd.client_order_id)
        if cid in self.status:
            self.st.count("duplicate_orders")
            return
        self.status[cid] = "pending"
        self.new_orders[cid] = {
            "client_order_id": cid,
            "venue_order_id": None,
            "session_id": self.st.session_id,
            "symbol": cmd.symbol,
            "side": _side(cmd.side),
            "price": inst.ticks_to_price(cmd.price_ticks),
            "size": inst.lots_to_size(cmd.size_lots),
            "post_only": cmd.post_only,
            "reduce_only": cmd.reduce_only,
            "tif": cmd.tif.value,
            "reason": cmd.reason[:128],
            "status": "pending",
            "created_ns": cmd.ts_ns,
            "updated_ns": cmd.ts_ns,
        }
        self._history(cid, "pending", cmd.ts_ns, {})

    def set_status(
        self,
        client_order_id: int,
        status: str,
        ts_ns: int,
        detail: dict[str, Any],
        venue_order_id: str | None = None,
    ) -> None:
        cid = cid_text(client_order_id)
        current = self.status.get(cid)
        if current is None:
            self.st.count("unknown_orders")
            return
        self._history(cid, status, ts_ns, detail)
        self.status[cid] = status = _next_status(current, status)
        row = self.new_orders.get(cid)
        if row is not None:
            row.update(status=status, updated_ns=ts_ns)
            if venue_order_id:
                row["venue_order_id"] = venue_order_id
            return
        change = self.changes.setdefault(cid, {"cid": cid, "new_venue_order_id": None})
        change.update(new_status=status, new_updated_ns=ts_ns)
        if venue_order_id:
            change["new_venue_order_id"] = venue_order_id

    def _history(self, cid: str, status: str, ts_ns: int, detail: dict[str, Any]) -> None:
        row = {
            "client_order_id": cid,
            "status": status,
            "ts_ns": ts_ns,
            "detail": rows.to_json(detail),
        }
        self.history.append(row)

    def fill(self, ev: OrderFilled) -> None:
        inst = self.st.instrument(ev.symbol)
        if ev.trade_id in self.trades:
            self.st.count("duplicate_fills")
            return
        self.trades.add(ev.trade_id)
        size = inst.lots_to_size(ev.size_lots)
        self.fills.append(
            {
                "trade_id": ev.trade_id,
                "client_order_id": cid_text(ev.client_order_id),
                "session_id": self.st.session_id,
                "symbol": ev.symbol,
                "side": _side(ev.side),
                "price": inst.ticks_to_price(ev.price_ticks),
                "size": size,
                "fee": ev.fee,
                "fee_side": "rebate" if ev.fee < 0 else "cost",
                "is_maker": ev.is_maker,
                "ts_ns": ev.ts_ns,
                "local_ns": ev.local_ns,
            }
        )
        status = "filled" if ev.leaves_lots == 0 else "partially_filled"
        detail = {"trade_id": ev.trade_id, "size": format(size, "f")}
        self.set_status(ev.client_order_id, status, ev.ts_ns, detail)

    # ---- sessions, notices, snapshots ------------------------------------------------------
    def event(self, ts_ns: int, kind: str, level: str, detail: dict[str, Any]) -> None:
        self.events.append(
            {
                "ts_ns": ts_ns,
                "session_id": self.st.session_id,
                "kind": kind,
                "level": level,
                "detail": rows.to_json(detail),
            }
        )

    def mode(self, item: ModeItem) -> None:
        ev, st = item.event, self.st
        if st.auto_sessions and ev.old in RESTING and ev.new not in RESTING:
            st.session_id = rows.start_session(
                self.c,
                started_at_ns=ev.ts_ns,
                mode=st.mode,
                symbol=st.current.symbol,
                start_equity=None if item.equity is None else exact(item.equity),
                config_version_id=rows.latest_config_id(self.c, "strategy"),
            )
        level = "critical" if ev.new is EngineMode.HALTED else "info"
        self.event(
            ev.ts_ns,
            "mode_change",
            level,
            {"old": ev.old.value, "new": ev.new.value, "reason": ev.reason},
        )
        if st.auto_sessions and ev.new in SESSION_END and st.session_id is not None:
            rows.end_session(self.c, st.session_id, ev.ts_ns)

    def snapshot(self, item: SnapshotItem) -> None:
        inst = self.st.current
        position = inst.lots_to_size(item.position_lots)
        mid = None if item.mid_ticks is None else exact(item.mid_ticks) * inst.tick_size
        self.snapshots.append(
            {
                "ts_ns": item.ts_ns,
                "session_id": self.st.session_id,
                "equity": exact(item.equity),
                "free_margin": exact(item.free_margin),
                "position": position,
                "inventory_notional": None if mid is None else position * mid,
                "mid": mid,
            }
        )

    def instrument(self, item: InstrumentItem) -> None:
        self.st.instruments[item.instrument.symbol] = item.instrument
        self.st.current = item.instrument


def _accepted(p: BatchPlan, ev: OrderAccepted) -> None:
    p.set_status(ev.client_order_id, "open", ev.ts_ns, {}, ev.venue_order_id or None)


def _canceled(p: BatchPlan, ev: OrderCanceled) -> None:
    p.set_status(ev.client_order_id, "canceled", ev.ts_ns, {"reason": ev.reason})


def _rejected(p: BatchPlan, ev: OrderRejected) -> None:
    detail: dict[str, Any] = {"reason": ev.reason, "code": ev.code}
    p.set_status(ev.client_order_id, "rejected", ev.ts_ns, detail)
    p.event(
        ev.ts_ns,
        "reject",
        "warning",
        {"what": "order", "client_order_id": str(ev.client_order_id), **detail},
    )


def _cancel_rejected(p: BatchPlan, ev: CancelRejected) -> None:
    detail = {"what": "cancel", "client_order_id": str(ev.client_order_id), "reason": ev.reason}
    p.event(ev.ts_ns, "reject", "warning", detail)


def _breaker(p: BatchPlan, ev: BreakerTripped) -> None:
    detail = {"breaker": ev.breaker, "detail": ev.detail, "value": ev.value, "limit": ev.limit}
    p.event(ev.ts_ns, "breaker", "critical", detail)


def _flatten_progress(p: BatchPlan, ev: FlattenProgress) -> None:
    detail = {
        "phase": ev.phase,
        "attempt": ev.attempt,
        "position_lots": ev.position_lots,
        "detail": ev.detail,
    }
    p.event(ev.ts_ns, "flatten_progress", "info", detail)


def _flatten_done(p: BatchPlan, ev: FlattenDone) -> None:
    detail = {"dust": ev.dust, "position_lots": ev.position_lots, "attempts": ev.attempts}
    p.event(ev.ts_ns, "flatten_done", "warning" if ev.dust else "info", detail)


def _warning(p: BatchPlan, ev: EngineWarning) -> None:
    level = "critical" if ev.code in CRITICAL_WARNINGS else "warning"
    p.event(ev.ts_ns, "warning", level, {"code": ev.code, "detail": ev.detail})


def _venue_error(p: BatchPlan, ev: VenueError) -> None:
    detail = {
        "code": "venue_error",
        "kind": ev.kind.value,
        "detail": ev.detail,
        "venue_code": ev.code,
    }
    p.event(ev.ts_ns, "warning", "error", detail)


HANDLERS: Final[dict[type[Any], Callable[[BatchPlan, Any], None]]] = {
    PlaceOrder: BatchPlan.place,
    OrderAccepted: _accepted,
    OrderCanceled: _canceled,
    OrderRejected: _rejected,
    CancelRejected: _cancel_rejected,
    OrderFilled: BatchPlan.fill,
    ModeItem: BatchPlan.mode,
    BreakerTripped: _breaker,
    FlattenProgress: _flatten_progress,
    FlattenDone: _flatten_done,
    EngineWarning: _warning,
    VenueError: _venue_error,
    SnapshotItem: BatchPlan.snapshot,
    InstrumentItem: BatchPlan.instrument,
}


def apply(connection: Connection, state: WorkerState, items: Sequence[object]) -> None:
    """Write the rows of `items` (raises UnmappableItem for an item that cannot be rendered)."""
    plan = BatchPlan(connection, state, items)
    for item in items:
        plan.add(item)
    plan.write()
