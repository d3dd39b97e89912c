"""A fake GRVT on loopback: REST (`full/v1/...`, API-key login) and `/ws/full` JSON-RPC streams,
serving a synthetic market and filling orders with the simulator's matching core.

One server plays every host (edge, trades, market data); point all base URLs at `base_url`
and both stream URLs at `ws_url`. Faults are switched on through `exchange.faults` and the
methods below (drop streams, expire sessions, fire the dead-man switch, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fakes.grvt_exchange import SUB_ACCOUNT, ApiError, FakeExchange
from fakes.grvt_rest import API_KEY, RestEndpoints, listing
from grvtmm.core.clock import LiveClock
from grvtmm.core.events import BookDelta, BookSnapshot, Event, Trade
from grvtmm.core.types import Instrument
from grvtmm.venues.grvt.signing import signer_address
from grvtmm.venues.sim.synthetic import SyntheticMarket, SyntheticParams
from grvtmm.venues.sim.venue import paced

__all__ = ["API_KEY", "CHAIN_ID", "PRIVATE_KEY", "FakeGrvtServer"]

PRIVATE_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
CHAIN_ID = 326
PRIVATE_STREAMS = {"v1.order", "v1.state", "v1.fill", "v1.position", "v1.cancel"}


@dataclass
class Conn:
    ws: WebSocket
    private: bool
    subs: dict[tuple[str, str], str] = field(default_factory=dict)
    seq: dict[tuple[str, str], int] = field(default_factory=dict)
    out: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def frame(self, stream: str, selector: str, feed: dict[str, Any], bump: int = 1) -> None:
        """A delta: numbers run on per connection and stream."""
        key = (stream, selector)
        seq = self.seq.get(key, 0) + bump
        self.seq[key] = seq
        self._send(stream, selector, feed, seq, seq - 1)

    def snapshot(self, stream: str, selector: str, feed: dict[str, Any]) -> None:
        """A snapshot: GRVT numbers it 0; the next delta has the subscription's first number."""
        self._send(stream, selector, feed, 0, 0)

    def _send(self, stream: str, selector: str, feed: dict[str, Any], seq: int, prev: int) -> None:
        message = {
            "stream": stream,
            "selector": selector,
            "sequence_number": str(seq),
            "feed": feed,
            "prev_sequence_number": str(prev),
        }
        self.out.put_nowait(orjson.dumps(message).decode())


class FakeGrvtServer(RestEndpoints):
    """Start with `async with FakeGrvtServer(...) as server:`; URLs are on `127.0.0.1`."""

    def __init__(
        self,
        instrument: Instrument,
        *,
        market: Iterable[Event] | None = None,
        params: SyntheticParams | None = None,
        seed: int = 1,
        speed: float = 1.0,
        cookie_lifetime_s: int = 24 * 3600,
        equity: Decimal = Decimal(1000),
    ) -> None:
        if not instrument.asset_id:
            instrument = dataclasses.replace(instrument, asset_id="0x030b01")
        self.instrument = instrument
        self.listed: Instrument | None = instrument
        """What `all_instruments` lists for the traded symbol (None: not listed); `relist`."""
        self.clock = LiveClock()
        self.exchange = FakeExchange(
            instrument,
            signer=signer_address(PRIVATE_KEY),
            chain_id=CHAIN_ID,
            clock=self.clock,
            equity=equity,
        )
        self.exchange.publish = self._publish_private
        self._market = market or SyntheticMarket(params, instrument, seed=seed)
        self._shift_ticks = 0
        self._speed = speed
        self.cookie_lifetime_s = cookie_lifetime_s
        odd = listing(dataclasses.replace(instrument, symbol="ODD_USDT_Perp", asset_id="0x039901"))
        del odd["min_notional"]  # a listing that lacks a constraint
        self.extra_listings: list[dict[str, Any]] = [odd]
        self.sessions: dict[str, int] = {}
        self.conns: list[Conn] = []
        self.requests: list[str] = []
        self.leverage_set: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.logins = 0
        self.refused_ws = 0
        self.private_muted = 0
        """Private frames not sent because `faults.mute_private` was on."""
        self._tokens = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._server: uvicorn.Server | None = None
        self._market_ready = asyncio.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/full"

    # ---- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> FakeGrvtServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                WebSocketRoute("/ws/full", self._ws),
                Route("/{path:path}", self._rest, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(
            app, log_level="critical", lifespan="off", ws="websockets-sansio", access_log=False
        )
        self._server = uvicorn.Server(config)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._server.serve(sockets=[sock])),
            loop.create_task(self._run_market()),
            loop.create_task(self._watch_cancel_on_disconnect()),
        ]
        while not self._server.started:
            await asyncio.sleep(0.005)
        await self._market_ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in list(self.conns):
            conn.out.put_nowait(None)
        assert self._server is not None
        self._server.should_exit = True
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.errors:
            raise AssertionError(f"fake GRVT server failed: {self.errors}")

    # ---- faults ------------------------------------------------------------------------------
    async def drop_streams(self) -> None:
        """Close every WebSocket connection (as a gateway restart would)."""
        for conn in list(self.conns):
            conn.out.put_nowait(None)

    def send_raw(self, text: str) -> None:
        """Send `text` as one frame on every stream connection (e.g. something not JSON)."""
        for conn in list(self.conns):
            conn.out.put_nowait(text)

    def expire_sessions(self) -> None:
        """Invalidate every session cookie: private calls answer 401 / code 1000."""
        self.sessions.clear()

    def relist(self, listing: Instrument | None) -> None:
        """Change the traded instrument's listing mid-run (None: drop it from the listings).

        New creates are validated against the new tick size and size step; the market and
        the matching core keep running on the original grid (use a listing whose grid is a
        multiple of it)."""
        self.listed = listing
        if listing is not None:
            self.exchange.grid = listing

    def shift_market(self, ticks: int) -> None:
        """Move the whole market by `ticks` at once (a price jump): the book is re-laid at the
        new prices and every later market event follows. Meant for moments when no client is
        subscribed (a stream outage): a subscribed client would see the jump only at its next
        snapshot."""
        self._shift_ticks += ticks
        book = self.exchange.matching.book
        now = self.clock.now_ns()
        self.exchange.on_market(
            BookSnapshot(
                ts_ns=now,
                local_ns=now,
                symbol=self.instrument.symbol,
                bids=tuple(sorted(((p + ticks, q) for p, q in book.bids.items()), reverse=True)),
                asks=tuple(sorted((p + ticks, q) for p, q in book.asks.items())),
            )
        )

    def _shifted(self, event: Event) -> Event:
        shift = self._shift_ticks
        if not shift:
            return event
        if isinstance(event, Trade):
            return dataclasses.replace(event, price_ticks=event.price_ticks + shift)
        if isinstance(event, BookSnapshot | BookDelta):
            return dataclasses.replace(
                event,
                bids=tuple((p + shift, q) for p, q in event.bids),
                asks=tuple((p + shift, q) for p, q in event.asks),
            )
        return event

    def fire_cancel_on_disconnect(self) -> None:
        self.exchange.apply(self.exchange.fire_cancel_on_disconnect())

    # ---- market -----------------------------------------------------------------------------
    async def _run_market(self) -> None:
        source: AsyncIterator[Event] = paced(self._market, self.clock, self._speed)
        try:
            async for raw in source:
                event = self._shifted(raw)
                if isinstance(event, BookSnapshot | BookDelta | Trade):
                    self.exchange.on_market(event)
                    self._publish_market(event)
                    self._market_ready.set()
        except Exception as exc:
            self.errors.append(repr(exc))
            self._market_ready.set()
            raise

    def _publish_market(self, event: BookSnapshot | BookDelta | Trade) -> None:
        inst = self.instrument
        symbol = inst.symbol
        faults = self.exchange.faults
        if isinstance(event, Trade):
            feed = {
                "event_time": str(event.ts_ns),
                "instrument": symbol,
                "is_taker_buyer": event.aggressor > 0,
                "size": inst.size_str(event.size_lots),
                "price": inst.price_str(event.price_ticks),
                "trade_id": f"{event.ts_ns}-1",
                "venue": "ORDERBOOK",
            }
            self._fanout("v1.trade", feed)
            return
        feed = {
            "event_time": str(event.ts_ns),
            "instrument": symbol,
            "bids": [_level(inst, p, q) for p, q in event.bids],
            "asks": [_level(inst, p, q) for p, q in event.asks],
        }
        bump, copies = 1, 1
        if faults.corrupt_next_book > 0 and (feed["bids"] or feed["asks"]):
            faults.corrupt_next_book -= 1
            side = "bids" if feed["bids"] else "asks"
            feed[side] = [{**feed[side][0], "price": "12x.5"}, *feed[side][1:]]
        if faults.gap_next_book > 0:
            faults.gap_next_book -= 1
            bump = 2
        elif faults.duplicate_next_book > 0:
            faults.duplicate_next_book -= 1
            copies = 2
        for conn in self.conns:
            sel = conn.subs.get(("v1.book.d", symbol))
            if sel is not None:
                conn.frame("v1.book.d", symbol, feed, bump)
                for _ in range(copies - 1):
                    conn.seq[("v1.book.d", symbol)] -= 1
                    conn.frame("v1.book.d", symbol, feed)
        self._fanout("v1.mini.d", self._mini())

    def _mini(self) -> dict[str, Any]:
        inst = self.instrument
        book = self.exchange.matching.book
        return {
            "event_time": str(self.clock.now_ns()),
            "instrument": inst.symbol,
            "mark_price": str(self.exchange.mark()),
            "best_bid_price": inst.price_str(book.best_bid),
            "best_bid_size": inst.size_str(book.bids.get(book.best_bid, 0)),
            "best_ask_price": inst.price_str(book.best_ask),
            "best_ask_size": inst.size_str(book.asks.get(book.best_ask, 0)),
        }

    def _fanout(self, stream: str, feed: dict[str, Any]) -> None:
        for conn in self.conns:
            if (stream, self.instrument.symbol) in conn.subs:
                conn.frame(stream, self.instrument.symbol, feed)

    def _publish_private(self, stream: str, feed: dict[str, Any]) -> None:
        if self.exchange.faults.mute_private:
            self.private_muted += 1
            return
        selector = f"{SUB_ACCOUNT}-{self.instrument.symbol}"
        for conn in self.conns:
            if conn.private and (stream, selector) in conn.subs:
                conn.frame(stream, selector, feed)

    async def _watch_cancel_on_disconnect(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self.exchange.apply(self.exchange.check_cancel_on_disconnect())

    # ---- WebSocket --------------------------------------------------------------------------
    async def _ws(self, ws: WebSocket) -> None:
        faults = self.exchange.faults
        if faults.refuse_ws > 0:
            faults.refuse_ws -= 1
            self.refused_ws += 1
            await ws.close(code=1013)  # before accept: the handshake is answered 403
            return
        await ws.accept()
        cookie = ws.headers.get("cookie", "")
        try:
            self._authorize(cookie)
            private = True
        except ApiError:
            private = False
        conn = Conn(ws, private)
        self.conns.append(conn)
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        try:
            while True:
                self._rpc(conn, orjson.loads(await ws.receive_text()))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _writer(self, conn: Conn) -> None:
        while True:
            text = await conn.out.get()
            if text is None:
                if conn in self.conns:
                    self.conns.remove(conn)
                with contextlib.suppress(RuntimeError):
                    await conn.ws.close(code=1012)
                return
            await conn.ws.send_text(text)

    def _rpc(self, conn: Conn, msg: dict[str, Any]) -> None:
        params = msg.get("params") or {}
        stream = str(params.get("stream", ""))
        selectors = [str(s) for s in params.get("selectors") or []]
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": msg.get("id"), "method": msg.get("method")}
        if msg.get("method") == "unsubscribe":
            for sel in selectors:
                conn.subs.pop((stream, sel.split("@")[0]), None)
            reply["result"] = {"stream": stream, "unsubs": selectors}
        elif msg.get("method") != "subscribe":
            reply["error"] = {"code": 1003, "message": "unsupported method"}
        elif stream in PRIVATE_STREAMS and not conn.private:
            reply["error"] = {"code": 1000, "message": "You need to authenticate"}
        elif stream == "v1.book.d" and self.exchange.faults.book_subscribe_error:
            reply["error"] = {"code": 1002, "message": "Internal Error"}
        else:
            for sel in selectors:
                conn.subs[(stream, sel.split("@")[0])] = sel
            firsts = [str(conn.seq.get((stream, s.split("@")[0]), 0) + 1) for s in selectors]
            reply["result"] = {
                "stream": stream,
                "subs": selectors,
                "unsubs": [],
                "num_snapshots": [1] * len(selectors),
                "first_sequence_number": firsts,
            }
        conn.out.put_nowait(orjson.dumps(reply).decode())
        if "result" in reply and stream == "v1.book.d" and msg.get("method") == "subscribe":
            self._book_snapshot(conn)

    def _book_snapshot(self, conn: Conn) -> None:
        inst = self.instrument
        bids, asks = self.exchange.matching.book.top_levels(500)
        feed = {
            "event_time": str(self.clock.now_ns()),
            "instrument": inst.symbol,
            "bids": [_level(inst, p, q) for p, q in bids],
            "asks": [_level(inst, p, q) for p, q in asks],
        }
        conn.snapshot("v1.book.d", inst.symbol, feed)


def _level(inst: Instrument, price: int, lots: int) -> dict[str, Any]:
    return {"price": inst.price_str(price), "size": inst.size_str(lots), "num_orders": 1}
