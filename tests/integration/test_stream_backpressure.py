"""`/ws/stream` backpressure: a client that stops reading is told to `resync` (and handed a fresh
snapshot) once its bounded queue overflows; it never holds up the other clients, and what waits
for it stays bounded however much is published meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets
from starlette.websockets import WebSocketDisconnect
from test_api_server import Running, demo_settings, login, serving

from fakes import eventually
from grvtmm.api.stream import StreamHub
from grvtmm.core.clock import perf_ns

PROBE = "probe"


def probe(seq: int, pad: str = "") -> dict[str, Any]:
    return {"type": "event", "kind": PROBE, "data": {"seq": seq, "sent_ns": perf_ns(), "pad": pad}}


def probe_seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["data"]["seq"] for m in messages if m.get("kind") == PROBE]


# ---- the hub against fake sockets ---------------------------------------------------------------


class FakeSocket:
    """What `StreamHub.serve` needs from a WebSocket. Sends complete at once, or, with
    `stall_after`, block after that many messages until `release()`; the client never sends
    anything until `disconnect()`."""

    def __init__(self, stall_after: int | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self._stall_after = stall_after
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def send_json(self, data: dict[str, Any]) -> None:
        if self._stall_after is not None and len(self.received) >= self._stall_after:
            self._flowing.clear()
            self._stall_after = None
        await self._flowing.wait()
        self.received.append(data)

    async def send_text(self, text: str) -> None:
        await self.send_json(json.loads(text))

    async def receive_json(self) -> dict[str, Any]:
        message = await self._inbox.get()
        if message is None:
            raise WebSocketDisconnect(1000)
        return message

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def release(self) -> None:
        self._flowing.set()

    def disconnect(self) -> None:
        self._inbox.put_nowait(None)


@pytest.mark.anyio
async def test_hub_resyncs_a_stalled_client_and_keeps_feeding_the_others() -> None:
    queue_size = 8
    snapshots = 0

    def snapshot() -> dict[str, Any]:
        nonlocal snapshots
        snapshots += 1
        return {"n": snapshots}

    hub = StreamHub(snapshot, queue_size=queue_size)
    fast, slow = FakeSocket(), FakeSocket(stall_after=3)  # hello, snapshot, one event
    tasks = [asyncio.create_task(hub.serve(ws)) for ws in (fast, slow)]
    await eventually(lambda: hub.clients == 2)
    total, burst = 2000, queue_size // 2
    for start in range(0, total, burst):
        for seq in range(start, start + burst):
            hub.broadcast(probe(seq))
        # the fast client drains each burst while the slow one sits on a blocked send
        await eventually(lambda n=start + burst: len(probe_seqs(fast.received)) == n, 5)
    assert probe_seqs(fast.received) == list(range(total))
    assert slow.stalled and probe_seqs(slow.received) == [0]
    assert hub.dropped >= 1
    # the stalled client catches up: what was waiting for it is bounded by its queue, then it
    # is told to resync and handed a fresh snapshot
    slow.release()
    await eventually(lambda: bool(slow.received) and slow.received[-1]["type"] == "snapshot")
    kinds = [m["type"] for m in slow.received]
    assert kinds[:2] == ["hello", "snapshot"]
    first_resync = kinds.index("resync")
    assert kinds[first_resync:] == ["resync", "snapshot"]
    assert slow.received[first_resync]["reason"] == "client fell behind"
    before = probe_seqs(slow.received[:first_resync])
    assert before == list(range(len(before)))  # in order, nothing skipped silently
    assert len(before) <= queue_size + 1
    # after the resync both get live events again
    hub.broadcast(probe(total))
    await eventually(lambda: total in probe_seqs(slow.received))
    await eventually(lambda: probe_seqs(fast.received)[-1] == total)
    for ws in (fast, slow):
        ws.disconnect()
    with anyio.fail_after(5):
        await asyncio.gather(*tasks)
    assert hub.clients == 0


@pytest.mark.anyio
async def test_hub_publish_never_waits_for_a_stalled_client() -> None:
    hub = StreamHub(lambda: {}, queue_size=4)
    stuck = FakeSocket(stall_after=2)
    task = asyncio.create_task(hub.serve(stuck))
    await eventually(lambda: hub.clients == 1)
    for seq in range(10_000):  # synchronous: would deadlock if publishing awaited the client
        hub.broadcast(probe(seq))
    await eventually(lambda: stuck.stalled)
    assert stuck.received == [{"type": "hello"}, {"type": "snapshot", "data": {}}]
    assert hub.dropped == 1  # one overflow; the client is resyncing, later items are skipped
    stuck.release()
    await eventually(lambda: len(stuck.received) >= 4 and stuck.received[-1]["type"] == "snapshot")
    assert [m["type"] for m in stuck.received] == ["hello", "snapshot", "resync", "snapshot"]
    stuck.disconnect()
    with anyio.fail_after(5):
        await task


# ---- the real server ------------------------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(demo_settings(tmp_path / "data", demo_speed=1.0)) as running:
        yield running


async def small_window_socket(port: int) -> socket.socket:
    """A loopback TCP connection with a tiny receive buffer, so a client that stops reading
    pushes back on the server quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


@pytest.mark.anyio
async def test_lagging_stream_client_is_resynced_and_never_blocks_another(server: Running) -> None:
    assert server.server.services is not None
    hub = server.server.services.stream
    token = await login(server.client)
    url = server.base.replace("http", "ws") + "/ws/stream"
    auth = {"Authorization": f"Bearer {token}"}
    fast_got: list[dict[str, Any]] = []
    latencies: list[int] = []
    pad = "x" * 16_384  # 16 KiB per event: a stalled reader's buffers fill after a few MB
    # without permessage-deflate, so the padding really takes 16 KiB on the wire
    options: dict[str, Any] = {"additional_headers": auth, "max_size": None, "compression": None}
    async with (
        websockets.connect(url, **options) as fast,
        websockets.connect(
            url, **options, max_queue=1, sock=await small_window_socket(server.server.port)
        ) as slow,
    ):

        async def read_fast() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in fast:
                    message = json.loads(raw)
                    if message.get("kind") == PROBE:
                        latencies.append(perf_ns() - message["data"]["sent_ns"])
                    fast_got.append(message)

        reader = asyncio.create_task(read_fast())
        await eventually(lambda: hub.clients == 2, 10)
        published, burst, limit = 0, 64, 6000  # at most ~100 MB
        with anyio.fail_after(120):
            while hub.dropped == 0 and published < limit:
                for _ in range(burst):
                    hub.broadcast(probe(published, pad))
                    published += 1
                # the fast reader keeps up burst by burst although the slow one reads nothing
                await eventually(lambda n=published: len(probe_seqs(fast_got)) == n, 10)
        assert hub.dropped >= 1, f"no overflow after {published} events of 16 KiB"
        assert probe_seqs(fast_got) == list(range(published))
        assert max(latencies) < 5_000_000_000  # ns; generous for a loaded 2-core machine
        # the slow client finally reads: what was buffered for it, in order, then resync + snapshot
        slow_got: list[dict[str, Any]] = []
        with anyio.fail_after(60):
            while (
                not slow_got
                or slow_got[-1]["type"] != "snapshot"
                or "resync" not in [m["type"] for m in slow_got]
            ):
                slow_got.append(json.loads(await slow.recv()))
        kinds = [m["type"] for m in slow_got]
        assert kinds[:2] == ["hello", "snapshot"]
        resync_at = kinds.index("resync")
        assert kinds[resync_at:] == ["resync", "snapshot"]
        before = probe_seqs(slow_got[:resync_at])
        assert before == list(range(len(before)))
        assert len(before) < published  # the rest was dropped for it, not buffered without end
        # both are live again after the resync
        hub.broadcast(probe(published))
        with anyio.fail_after(20):
            while published not in probe_seqs(slow_got):
                slow_got.append(json.loads(await slow.recv()))
        await eventually(lambda: published in probe_seqs(fast_got), 20)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
