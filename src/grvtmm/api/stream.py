"""`/ws/stream`: `hello`, then a `snapshot`, then `tick`s and `event`s. Each client has a bounded
queue; a client that falls behind is told to `resync` (and gets a fresh snapshot) instead of
slowing anyone else down."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from grvtmm.core import events as ev
from grvtmm.core.commands import CancelOrder, PlaceOrder
from grvtmm.core.sinks import Published

log = logging.getLogger(__name__)

STREAMED: dict[type, str] = {
    ev.OrderFilled: "fill",
    ev.OrderAccepted: "order_accepted",
    ev.OrderCanceled: "order_canceled",
    ev.OrderRejected: "order_rejected",
    ev.ModeChanged: "mode",
    ev.BreakerTripped: "breaker",
    ev.FlattenProgress: "flatten_progress",
    ev.FlattenDone: "flatten_done",
    ev.EngineWarning: "warning",
    ev.QuoteUpdated: "quote",
    ev.VenueStatus: "venue",
    PlaceOrder: "order_placed",
    CancelOrder: "cancel_sent",
}
MESSAGE_TYPES = frozenset({"tick", "event"})
_RESYNC = json.dumps({"type": "resync", "reason": "client fell behind"})


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name.lower() if isinstance(value.value, int) else value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int) and abs(value) >= 2**53:
        return str(value)  # client order ids exceed JavaScript's safe integers
    return value


def to_message(item: Published) -> dict[str, Any] | None:
    """JSON-ready event message for the stream, or None for items not streamed."""
    kind = STREAMED.get(type(item))
    if kind is None:
        return None
    body = {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}
    return {"type": "event", "kind": kind, "data": body}


class _Client:
    __slots__ = ("queue", "resync", "types")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(size)
        self.types: set[str] = set(MESSAGE_TYPES)
        self.resync = False

    def offer(self, kind: str, text: str) -> bool:
        """Queue an encoded message of type `kind`; False when the client had to be resynced."""
        if kind not in self.types or self.resync:
            return True
        try:
            self.queue.put_nowait((kind, text))
            return True
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resync = True
            self.queue.put_nowait(("resync", _RESYNC))
            return False


class StreamHub:
    """The stream sink: converts published items to messages and fans them out."""

    name = "stream"

    def __init__(
        self,
        snapshot: Callable[[], dict[str, Any]],
        *,
        queue_size: int = 512,
        hello: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._hello = hello or (lambda: {})
        self._queue_size = queue_size
        self._clients: set[_Client] = set()
        self._dropped = 0

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, item: Published) -> None:
        if not self._clients:
            return
        message = to_message(item)
        if message is not None:
            self.broadcast(message)

    def broadcast(self, message: dict[str, Any]) -> None:
        """Encode once, then hand the text to every client's queue."""
        kind = message["type"]
        text = json.dumps(message, separators=(",", ":"))
        for client in self._clients:
            if not client.offer(kind, text):
                self._dropped += 1

    def tick(self) -> None:
        """Send every client the current figures (called periodically by the app)."""
        if self._clients:
            self.broadcast({"type": "tick", "data": self._snapshot()})

    async def serve(self, websocket: WebSocket) -> None:
        client = _Client(self._queue_size)
        await websocket.send_json({"type": "hello", **self._hello()})
        await websocket.send_json({"type": "snapshot", "data": self._snapshot()})
        self._clients.add(client)
        reader = asyncio.create_task(self._read(websocket, client))
        try:
            while not reader.done():
                getter = asyncio.create_task(client.queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                kind, text = getter.result()
                await websocket.send_text(text)
                if kind == "resync":
                    client.resync = False
                    await websocket.send_json({"type": "snapshot", "data": self._snapshot()})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self._clients.discard(client)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await reader

    async def _read(self, websocket: WebSocket, client: _Client) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await websocket.receive_json()
                if isinstance(message, dict) and message.get("type") == "subscribe":
                    wanted = message.get("types")
                    if isinstance(wanted, list):
                        client.types = {t for t in wanted if t in MESSAGE_TYPES}
                        await websocket.send_json(
                            {"type": "subscribed", "types": sorted(client.types)}
                        )
