"""Order actions and REST state for the GRVT venue: create (signed), cancel by client order id
with a TTL, cancel-all, reconcile, and the REST reads that stand in for quiet streams."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Final

from grvtmm.core.clock import NS_PER_S, Clock
from grvtmm.core.commands import CancelAll, CancelOrder, PlaceOrder
from grvtmm.core.events import (
    AccountUpdate,
    CancelRejected,
    Event,
    OpenOrderInfo,
    OrderRejected,
    ReconcileSnapshot,
    VenueError,
)
from grvtmm.core.types import Side
from grvtmm.venues.grvt import errors as err
from grvtmm.venues.grvt import parse
from grvtmm.venues.grvt.config import GrvtConfig
from grvtmm.venues.grvt.rest import GrvtRest
from grvtmm.venues.grvt.signing import (
    OrderSigningError,
    expiration_for,
    random_nonce,
    sign_order,
)
from grvtmm.venues.grvt.tracker import OrderTracker

log = logging.getLogger(__name__)

_STUCK_NS: Final = 3 * NS_PER_S  # a cancel or create unanswered this long is looked up
_FILL_LOOKBACK_NS: Final = 5 * NS_PER_S


def build_order(cmd: PlaceOrder, q: parse.Quantizer, sub_account_id: str) -> dict[str, Any]:
    """GRVT's JSON order for `cmd`, without signature and metadata."""
    inst = q.instrument
    return {
        "sub_account_id": sub_account_id,
        "is_market": False,
        "time_in_force": cmd.tif.value,
        "post_only": cmd.post_only,
        "reduce_only": cmd.reduce_only,
        "legs": [
            {
                "instrument": inst.symbol,
                "size": inst.size_str(cmd.size_lots),
                "limit_price": inst.price_str(cmd.price_ticks),
                "is_buying_asset": cmd.side is Side.BUY,
            }
        ],
    }


class OrderDesk:
    """Turns commands into signed REST calls and REST answers into events."""

    def __init__(
        self,
        config: GrvtConfig,
        rest: GrvtRest,
        quantizer: parse.Quantizer,
        tracker: OrderTracker,
        *,
        clock: Clock,
        nonce_rng: random.Random,
    ) -> None:
        self.config = config
        self.rest = rest
        self.q = quantizer
        self.tracker = tracker
        self._clock = clock
        self._nonce_rng = nonce_rng
        self._key = config.signing_key()
        inst = quantizer.instrument
        self.base, self.quote = inst.symbol.split("_")[:2]
        self.since_ns = 0
        self._background: set[asyncio.Task[None]] = set()
        self.create_retries_landed = 0
        self.unreadable_fills = 0
        """Fill-history items skipped because they could not be read (logged each time)."""

    # ---- commands -------------------------------------------------------------------------
    def signed(self, cmd: PlaceOrder) -> dict[str, Any]:
        """The full signed create payload for `cmd`."""
        now = self._clock.now_ns()
        flatten = cmd.reduce_only
        expiration = cmd.expiration_ns or expiration_for(now, self.config.ttl_ns(flatten))
        order = build_order(cmd, self.q, self.rest.sub_account_id)
        inst = self.q.instrument
        try:
            order["signature"] = sign_order(
                order,
                private_key=self._key.reveal(),
                chain_id=self.config.chain_id,
                asset_id=inst.asset_id,
                base_decimals=inst.base_decimals,
                nonce=random_nonce(self._nonce_rng),
                expiration_ns=expiration,
            )
        except OrderSigningError as exc:
            raise err.InvalidOrder("unsignable_order", str(exc)) from None
        order["metadata"] = {"client_order_id": str(cmd.client_order_id)}
        return order

    async def place(self, cmd: PlaceOrder) -> list[Event]:
        order = self.signed(cmd)
        now = self._clock.now_ns()
        self.tracker.placed(cmd, now)
        try:
            result = await self.rest.create_order(order)
        except err.InvalidOrder as exc:
            if exc.reason == "duplicate_client_order_id" and exc.attempts > 1:
                # an earlier attempt of this very payload reached the exchange
                self.create_retries_landed += 1
                return []
            raise
        if result.get("state"):
            state = parse.parse_order(result, self.q).state
            return self.tracker.on_state(state, self._clock.now_ns())
        return []

    def failed(self, cmd: PlaceOrder | CancelOrder, exc: err.VenueError) -> list[Event]:
        """Events for a command the exchange refused or never answered."""
        now = self._clock.now_ns()
        cid = cmd.client_order_id
        out: list[Event] = []
        if not isinstance(exc, err.Rejected):
            out.append(
                VenueError(
                    ts_ns=now,
                    local_ns=now,
                    kind=exc.kind,
                    detail=f"{type(cmd).__name__}: {exc.describe()}",
                    code=exc.code,
                )
            )
        if isinstance(cmd, PlaceOrder):
            self.tracker.forget(cid)
            if isinstance(exc, err.Retryable):
                # it may still land: a TTL cancel by client id kills it if it does
                task = asyncio.get_running_loop().create_task(self._cancel_quietly(cid))
                self._background.add(task)  # held until done: the loop keeps only weak refs
                task.add_done_callback(self._background.discard)
            out.append(
                OrderRejected(
                    ts_ns=now, local_ns=now, client_order_id=cid, reason=exc.reason, code=exc.code
                )
            )
        else:
            out.append(
                CancelRejected(ts_ns=now, local_ns=now, client_order_id=cid, reason=exc.reason)
            )
        return out

    async def _cancel_quietly(self, cid: int) -> None:
        try:
            await self.rest.cancel_order(cid, ttl_ms=5_000)
        except err.VenueError as exc:
            log.warning("grvt.cancel_after_failed_create", extra={"reason": exc.reason})

    async def cancel(self, cmd: CancelOrder) -> list[Event]:
        self.tracker.cancel_requested(cmd.client_order_id, self._clock.now_ns())
        await self.rest.cancel_order(cmd.client_order_id, ttl_ms=self.config.cancel_ttl_ms)
        return []

    async def cancel_all(self, cmd: CancelAll) -> list[Event]:
        await self.rest.cancel_all(self.base, self.quote)
        now = self._clock.now_ns()
        # cancel_all "may not match new orders in flight": catch those by client id
        for order in self.tracker.live():
            if not order.opened:
                self.tracker.cancel_requested(order.client_order_id, now)
                await self.rest.cancel_order(order.client_order_id, self.config.cancel_ttl_ms)
        return []

    # ---- state ----------------------------------------------------------------------------
    async def reconcile(self) -> list[Event]:
        """Missed fills and order states first, then the venue's `ReconcileSnapshot`."""
        asked_ns = self._clock.now_ns()
        orders, positions, summary = await asyncio.gather(
            self.rest.open_orders(self.base, self.quote),
            self.rest.positions(self.base, self.quote),
            self.rest.account_summary(),
        )
        # fills are read after the position, so every fill the position misses is among them
        events = await self._fills()
        now = self._clock.now_ns()
        events += self._position_report(positions, asked_ns, now)
        infos = self._ours(orders)
        for info in infos:
            events += self.tracker.on_state(info.state, now)
            self.tracker.adopt(info, now)
        # Orders we track that the venue no longer lists ended while we were not looking
        # (cancel-on-disconnect, expiry, a fill; or an earlier process died): ask how.
        listed = {info.state.client_order_id for info in infos}
        inherited = self.tracker.inherited
        for order in self.tracker.live():
            cid = order.client_order_id
            if cid in listed:
                continue
            if cid in inherited or asked_ns - order.created_ns > _STUCK_NS:
                events += await self._look_up(cid)
        inherited.clear()
        account = parse.parse_account(summary)
        events.append(
            ReconcileSnapshot(
                ts_ns=now,
                local_ns=now,
                symbol=self.q.instrument.symbol,
                open_orders=tuple(
                    OpenOrderInfo(
                        client_order_id=i.state.client_order_id,
                        side=i.side,
                        price_ticks=i.price_ticks,
                        leaves_lots=i.state.book_lots,
                        venue_order_id=i.state.order_id,
                    )
                    for i in infos
                ),
                position_lots=self.tracker.position_lots() or 0,
                equity=account.equity,
                free_margin=account.free_margin,
                used_margin=account.used_margin,
            )
        )
        return events

    async def sync(self) -> list[Event]:
        """REST stand-in for the private streams: order states, fills, position."""
        asked_ns = self._clock.now_ns()
        orders, positions = await asyncio.gather(
            self.rest.open_orders(self.base, self.quote),
            self.rest.positions(self.base, self.quote),
        )
        events = await self._fills()
        now = self._clock.now_ns()
        events += self._position_report(positions, asked_ns, now)
        listed = set()
        for info in self._ours(orders):
            listed.add(info.state.client_order_id)
            events += self.tracker.on_state(info.state, now)
        for order in self.tracker.live():
            if order.client_order_id not in listed and now - order.created_ns > _STUCK_NS:
                events += await self._look_up(order.client_order_id)
        return events

    def _position_report(
        self, positions: list[dict[str, Any]], asked_ns: int, now_ns: int
    ) -> list[Event]:
        symbol = self.q.instrument.symbol
        for p in positions:
            if p.get("instrument") == symbol:
                lots, entry = parse.position_lots(p, self.q)
                report_ns = parse.ns_field(p, "event_time") or asked_ns
                return self.tracker.on_position(lots, entry, report_ns, now_ns)
        return self.tracker.on_position(0, 0.0, asked_ns, now_ns)

    async def check_stuck(self) -> list[Event]:
        """Look up orders whose cancel has gone unanswered for a while."""
        now = self._clock.now_ns()
        events: list[Event] = []
        for order in self.tracker.live():
            asked = order.cancel_requested_ns
            if asked and now - asked > _STUCK_NS:
                order.cancel_requested_ns = now
                events += await self._look_up(order.client_order_id)
        return events

    async def _look_up(self, cid: int) -> list[Event]:
        now = self._clock.now_ns()
        try:
            raw = await self.rest.get_order(cid)
        except err.NotFound:
            return self.tracker.vanished(cid, now)
        state = parse.parse_order(raw, self.q).state
        return self.tracker.on_state(state, now)

    async def _fills(self) -> list[Event]:
        start = max(self.since_ns, self.tracker.last_fill_ns - _FILL_LOOKBACK_NS)
        raw = await self.rest.fill_history(self.base, self.quote, start_ns=start)
        now = self._clock.now_ns()
        events: list[Event] = []
        for item in reversed(raw):  # oldest first
            try:
                fill = parse.parse_fill(item, self.q)
            except parse.ParseError as exc:
                # one unreadable item must not hide the others (the position report still
                # counts it)
                self.unreadable_fills += 1
                log.warning("grvt.fill_unreadable", extra={"error": str(exc)})
                continue
            if fill.event_ns >= self.since_ns:
                events += self.tracker.on_fill(fill, now)
        return events

    def _ours(self, orders: list[dict[str, Any]]) -> list[parse.OrderInfo]:
        symbol = self.q.instrument.symbol
        return [parse.parse_order(o, self.q) for o in orders if parse.order_instrument(o) == symbol]

    async def account_update(self) -> AccountUpdate:
        account = parse.parse_account(await self.rest.account_summary())
        now = self._clock.now_ns()
        return AccountUpdate(
            ts_ns=now,
            local_ns=now,
            equity=account.equity,
            free_margin=account.free_margin,
            used_margin=account.used_margin,
            source=account.source,
        )
