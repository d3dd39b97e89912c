"""The exchange behind the fake GRVT server: GRVT's order lifecycle and payload shapes over the
simulator's matching core (`MatchingEngine`), with signature checks and fault switches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from grvtmm.core.clock import NS_PER_MS, NS_PER_S, Clock
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    BookDelta,
    BookSnapshot,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Trade,
)
from grvtmm.core.types import FeeSchedule, Instrument, Side, TimeInForce
from grvtmm.venues.grvt.signing import OrderSigningError, recover_signer
from grvtmm.venues.sim.matching import MatchingEngine, RiskAverseQueue

SUB_ACCOUNT = "2147050003876484"
ACCOUNT_ID = "0xfeedfacefeedfacefeedfacefeedfacefeedface"
MAX_SIG_TTL_NS = 30 * 24 * 3600 * NS_PER_S
REJECT_MESSAGES = {
    2062: "Order size smaller than min size",
    2064: "Invalid limit price tick",
    2065: "Order size too granular",
    2066: "Order below minimum notional",
    2067: "Reduce-only order below minimum notional",
    2080: "Insufficient margin to create order",
}
_CANCEL_REASONS = {
    "canceled": "CLIENT_CANCEL",
    "ioc_expired": "IOC_CANCEL",
    "fok_expired": "FOK_CANCEL",
    "reduce_only_limit": "REDUCE_ONLY_LIMIT",
}

Publish = Callable[[str, dict[str, Any]], None]


class ApiError(Exception):
    """An error answer: HTTP status and GRVT code."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"request_id": 1, "code": self.code, "message": self.message, "status": self.status}


@dataclass
class Faults:
    """Switches the tests flip to make the fake misbehave the way GRVT can."""

    rest_script: list[tuple[int, int]] = field(default_factory=list)
    """(HTTP status, GRVT code) answered to the next private calls, before they are executed."""
    rest_script_after: list[tuple[int, int]] = field(default_factory=list)
    """(HTTP status, GRVT code) answered to the next trading calls after they were executed
    (a gateway error on the way back: the order exists although the answer says otherwise)."""
    login_script: list[tuple[int, int]] = field(default_factory=list)
    """(HTTP status, GRVT code) answered to the next API-key logins."""
    slow_rest_s: float = 0.0
    async_post_only_rejects: int = 0
    leverage_refused: bool = False
    book_subscribe_error: bool = False
    gap_next_book: int = 0
    duplicate_next_book: int = 0
    corrupt_next_book: int = 0
    """Book deltas whose first level carries an unparsable price (the frame itself is JSON)."""
    reject_quotes: list[int] = field(default_factory=list)
    """GRVT codes answered (400) to the next post-only creates, one code per create."""
    reject_flatten: list[int] = field(default_factory=list)
    """GRVT codes answered (400) to the next reduce-only creates, one code per create."""
    refuse_ws: int = 0
    """WebSocket handshakes to refuse (HTTP 403 before the upgrade) before accepting again."""
    min_notional_check: bool = False
    """Refuse orders below the instrument's min notional: 2066, or 2067 for reduce-only."""
    mute_private: bool = False
    """Private streams (orders, states, fills, positions) stay connected but publish nothing;
    what happens meanwhile is only visible over REST, and is never sent late."""


@dataclass
class OrderRecord:
    cid: int
    order_id: str
    body: dict[str, Any]
    side: Side
    price_ticks: int
    size_lots: int
    tif: TimeInForce
    traded_lots: int = 0
    status: str = "PENDING"
    reason: str = "UNSPECIFIED"
    update_ns: int = 0

    @property
    def live(self) -> bool:
        return self.status in ("PENDING", "OPEN")


class FakeExchange:
    """One instrument, one sub-account; publishes private feeds through `publish`."""

    def __init__(
        self,
        instrument: Instrument,
        *,
        signer: str,
        chain_id: int,
        clock: Clock,
        equity: Decimal = Decimal(1000),
        fees: FeeSchedule | None = None,
    ) -> None:
        self.instrument = instrument
        self.signer = signer
        self.chain_id = chain_id
        self.clock = clock
        self.fees = fees or FeeSchedule(Decimal("-0.0001"), Decimal("0.0005"))
        self.matching = MatchingEngine(instrument, self.fees, RiskAverseQueue())
        self.grid = instrument
        """The listing orders are validated against (tick, size step); see `relist`."""
        self.creates: list[tuple[int, dict[str, Any]]] = []
        """Every create received (receive time, order), accepted or not."""
        self.faults = Faults()
        self.records: dict[int, OrderRecord] = {}
        self.fills: list[dict[str, Any]] = []
        self.cash = equity
        self.entry = Decimal(0)
        self.cod_deadline_ns = 0
        self.cod_fired = 0
        self.cancel_ttl: dict[int, int] = {}
        self.publish: Publish = lambda _stream, _feed: None
        self._order_seq = 0x0101010503A12F6E000000007791F100
        self._trade_seq = 74150000
        self._last_fill_ns = 0
        self.position_lots = 0
        """The position after the fills published so far (the matching core may be ahead by
        the other fills of the batch it is publishing, so reports never run ahead of fills)."""

    # ---- orders ----------------------------------------------------------------------------
    def create(self, order: dict[str, Any]) -> tuple[dict[str, Any], list[Event]]:
        """Validate and accept an order: the PENDING answer now, the matching outcome later."""
        now = self.clock.now_ns()
        self.creates.append((now, order))
        self._verify(order, now)
        cid = int(order["metadata"]["client_order_id"])
        existing = self.records.get(cid)
        if existing is not None and existing.live:
            raise ApiError(400, 2012, "Client Order ID overlaps with existing active order")
        cmd, tif = self._command(order, cid, now)
        self._scripted_reject(cmd)
        self._order_seq += 1
        rec = OrderRecord(
            cid, f"0x{self._order_seq:032x}", order, cmd.side, cmd.price_ticks, cmd.size_lots, tif
        )
        rec.update_ns = now
        self.records[cid] = rec
        answer = self.order_json(rec)
        answer["order_id"] = "0x00"  # GRVT assigns the real id after the ack
        if self.cancel_ttl.get(cid, 0) >= now:
            return answer, [OrderCanceled(ts_ns=now, local_ns=now, client_order_id=cid)]
        if cmd.post_only and self.faults.async_post_only_rejects > 0:
            self.faults.async_post_only_rejects -= 1
            return answer, [
                OrderRejected(ts_ns=now, local_ns=now, client_order_id=cid, reason="post_only")
            ]
        events = self.matching.submit(cmd, now)
        for ev in events:
            if isinstance(ev, OrderRejected) and ev.code is not None:
                del self.records[cid]
                raise ApiError(400, ev.code, ev.reason)
        return answer, events

    def _scripted_reject(self, cmd: PlaceOrder) -> None:
        faults = self.faults
        script = faults.reject_flatten if cmd.reduce_only else faults.reject_quotes
        if script and (cmd.post_only or cmd.reduce_only):
            code = script.pop(0)
            raise ApiError(400, code, REJECT_MESSAGES.get(code, "scripted reject"))
        inst = self.instrument
        notional = inst.ticks_to_price(cmd.price_ticks) * inst.size_step * cmd.size_lots
        if faults.min_notional_check and notional < inst.min_notional:
            code = 2067 if cmd.reduce_only else 2066
            raise ApiError(400, code, REJECT_MESSAGES[code])

    def _verify(self, order: dict[str, Any], now: int) -> None:
        if not order.get("metadata", {}).get("client_order_id"):
            raise ApiError(400, 2011, "Client Order ID should be supplied when creating an order")
        sig = order.get("signature") or {}
        try:
            who = recover_signer(
                order,
                sig,
                chain_id=self.chain_id,
                asset_id=self.instrument.asset_id,
                base_decimals=self.instrument.base_decimals,
            )
        except OrderSigningError as exc:
            raise ApiError(403, 2002, f"Signature does not match payload: {exc}") from None
        if who != self.signer:
            raise ApiError(403, 2000, "Signer is not authorized")
        expiration = int(sig["expiration"])
        if expiration <= now:
            raise ApiError(403, 2001, "Signature has expired")
        if expiration > now + MAX_SIG_TTL_NS:
            raise ApiError(403, 2008, "Signature exceeds maximum allowed duration")
        if order.get("sub_account_id") != SUB_ACCOUNT:
            raise ApiError(403, 2003, "Order sub account does not match session")

    def _command(self, order: dict[str, Any], cid: int, now: int) -> tuple[PlaceOrder, TimeInForce]:
        leg = order["legs"][0]
        inst, grid = self.instrument, self.grid
        try:
            tif = TimeInForce(order["time_in_force"])
        except ValueError:
            raise ApiError(400, 2030, "Time in force must be GTT, IOC or FOK") from None
        if order.get("post_only") and tif is not TimeInForce.GTT:
            raise ApiError(400, 2032, "Post only orders must be GTT")
        price = Decimal(leg["limit_price"])
        size = Decimal(leg["size"])
        if price % grid.tick_size:
            raise ApiError(400, 2064, "Invalid limit price tick")
        if size % grid.size_step:
            raise ApiError(400, 2065, "Order size too granular")
        cmd = PlaceOrder(
            ts_ns=now,
            client_order_id=cid,
            symbol=inst.symbol,
            side=Side.BUY if leg["is_buying_asset"] else Side.SELL,
            price_ticks=int(price / inst.tick_size),
            size_lots=int(size / inst.size_step),
            post_only=bool(order.get("post_only")),
            reduce_only=bool(order.get("reduce_only")),
            tif=tif,
        )
        return cmd, tif

    def cancel(self, cid: int, ttl_ms: int) -> list[Event]:
        now = self.clock.now_ns()
        rec = self.records.get(cid)
        if rec is None or not rec.live:
            self.cancel_ttl[cid] = now + max(ttl_ms, 100) * NS_PER_MS
            return []
        return self.matching.cancel(cid, now)

    def cancel_all(self, reason: str = "CLIENT_BULK_CANCEL") -> list[Event]:
        now = self.clock.now_ns()
        events = self.matching.cancel_all(now)
        return [
            OrderCanceled(ts_ns=now, local_ns=now, client_order_id=e.client_order_id, reason=reason)
            if isinstance(e, OrderCanceled)
            else e
            for e in events
        ]

    def arm_cancel_on_disconnect(self, countdown_ms: int) -> None:
        now = self.clock.now_ns()
        self.cod_deadline_ns = 0 if countdown_ms <= 1000 else now + countdown_ms * NS_PER_MS

    def check_cancel_on_disconnect(self) -> list[Event]:
        if self.cod_deadline_ns and self.clock.now_ns() >= self.cod_deadline_ns:
            return self.fire_cancel_on_disconnect()
        return []

    def fire_cancel_on_disconnect(self) -> list[Event]:
        self.cod_deadline_ns = 0
        self.cod_fired += 1
        return self.cancel_all("CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED")

    # ---- outcomes → GRVT feeds ---------------------------------------------------------------
    def apply(self, events: list[Event] | tuple[Event, ...]) -> None:
        """Turn matching outcomes into record updates and private feed frames."""
        for ev in events:
            rec = self.records.get(getattr(ev, "client_order_id", -1))
            if rec is None:
                continue
            rec.update_ns = ev.ts_ns
            if isinstance(ev, OrderAccepted):
                if rec.tif is TimeInForce.GTT and rec.status == "PENDING":
                    self._state(rec, "OPEN", "UNSPECIFIED")
            elif isinstance(ev, OrderFilled):
                self._fill(rec, ev)
            elif isinstance(ev, OrderCanceled):
                self._state(rec, "CANCELLED", _CANCEL_REASONS.get(ev.reason, ev.reason))
            elif isinstance(ev, OrderRejected):
                self._state(rec, "REJECTED", "FAIL_POST_ONLY")

    def _state(self, rec: OrderRecord, status: str, reason: str) -> None:
        rec.status, rec.reason = status, reason
        self.publish("v1.order", self.order_json(rec))
        self.publish(
            "v1.state",
            {
                "order_id": rec.order_id,
                "client_order_id": str(rec.cid),
                "order_state": self.order_json(rec)["state"],
            },
        )

    def _fill(self, rec: OrderRecord, ev: OrderFilled) -> None:
        inst = self.instrument
        price = inst.ticks_to_price(ev.price_ticks)
        size = inst.lots_to_size(ev.size_lots)
        self._book_position(ev.side, price, ev.size_lots)
        self.cash -= ev.fee
        rec.traded_lots += ev.size_lots
        self._trade_seq += 1
        self._last_fill_ns = max(ev.ts_ns, self.clock.now_ns(), self._last_fill_ns)
        fill = {
            "event_time": str(self._last_fill_ns),  # matched now
            "sub_account_id": SUB_ACCOUNT,
            "instrument": inst.symbol,
            "is_buyer": ev.side is Side.BUY,
            "is_taker": not ev.is_maker,
            "size": inst.size_str(ev.size_lots),
            "price": inst.price_str(ev.price_ticks),
            "mark_price": str(self.mark()),
            "realized_pnl": "0",
            "fee": str(ev.fee),
            "fee_rate": str(self.fees.maker_rate if ev.is_maker else self.fees.taker_rate),
            "trade_id": f"{self._trade_seq}-1",
            "order_id": rec.order_id,
            "venue": "ORDERBOOK",
            "is_liquidation": False,
            "client_order_id": str(rec.cid),
            "signer": self.signer,
            "fee_currency": "USDT",
        }
        assert size > 0
        self.fills.append(fill)
        self.publish("v1.fill", fill)
        self.publish("v1.position", self.position_json())
        self._state(rec, "FILLED" if rec.traded_lots >= rec.size_lots else "OPEN", "UNSPECIFIED")

    def _book_position(self, side: Side, price: Decimal, lots: int) -> None:
        pos_before = self.position_lots
        self.position_lots = pos_before + side * lots
        step = self.instrument.size_step
        self.cash -= side * price * step * lots
        after = pos_before + side * lots
        if after == 0:
            self.entry = Decimal(0)
        elif pos_before == 0 or (pos_before > 0) != (after > 0):
            self.entry = price
        elif abs(after) > abs(pos_before):
            self.entry = (self.entry * abs(pos_before) + price * lots) / abs(after)

    # ---- queries -----------------------------------------------------------------------------
    def mark(self) -> Decimal:
        book = self.matching.book
        if book.best_bid and book.best_ask:
            return self.instrument.tick_size * (book.best_bid + book.best_ask) / 2
        return self.entry

    def order_json(self, rec: OrderRecord) -> dict[str, Any]:
        body = {k: v for k, v in rec.body.items() if k not in ("state", "order_id")}
        leaves = 0 if not rec.live else rec.size_lots - rec.traded_lots
        inst = self.instrument
        return {
            "order_id": rec.order_id,
            **body,
            "state": {
                "status": rec.status,
                "reject_reason": rec.reason,
                "book_size": [inst.size_str(leaves)],
                "traded_size": [inst.size_str(rec.traded_lots)],
                "update_time": str(rec.update_ns),
                "avg_fill_price": [inst.price_str(rec.price_ticks) if rec.traded_lots else "0"],
            },
        }

    def open_orders(self) -> list[dict[str, Any]]:
        live = {o.client_order_id for o in self.matching.open_orders()}
        return [self.order_json(r) for r in self.records.values() if r.cid in live]

    def position_json(self) -> dict[str, Any]:
        inst = self.instrument
        lots = self.position_lots
        size = inst.size_step * lots
        mark = self.mark()
        return {
            # a position report covers every fill made so far, so it is never stamped earlier
            "event_time": str(max(self.clock.now_ns(), self._last_fill_ns)),
            "sub_account_id": SUB_ACCOUNT,
            "instrument": inst.symbol,
            "size": _plain(size),
            "notional": _plain(size * mark),
            "entry_price": _plain(self.entry),
            "mark_price": _plain(mark),
            "unrealized_pnl": _plain((mark - self.entry) * size),
            "leverage": "10",
            "margin_type": "CROSS",
        }

    def account_json(self) -> dict[str, Any]:
        size = self.instrument.size_step * self.position_lots
        mark = self.mark()
        equity = self.cash + size * mark
        initial = abs(size * mark) / 10
        return {
            "event_time": str(self.clock.now_ns()),
            "sub_account_id": SUB_ACCOUNT,
            "margin_type": "SIMPLE_CROSS_MARGIN",
            "settle_currency": "USDT",
            "unrealized_pnl": _plain((mark - self.entry) * size),
            "total_equity": _plain(equity),
            "initial_margin": _plain(initial),
            "maintenance_margin": _plain(initial / 2),
            "available_balance": _plain(equity - initial),
            "spot_balances": [{"currency": "USDT", "balance": _plain(self.cash)}],
            "positions": [self.position_json()] if size else [],
        }

    def on_market(self, event: BookSnapshot | BookDelta | Trade) -> None:
        self.apply(self.matching.on_market(event))


def _plain(d: Decimal) -> str:
    text = format(d.normalize() if d else Decimal(0), "f")
    return text
