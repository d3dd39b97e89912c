"""Live stream fan-out and REST latency under load, against the real server in demo mode.

50 WebSocket clients subscribe to /ws/stream while a client polls /api/monitor/summary; we
measure the delay from an event's local timestamp to its arrival at each client, and the REST
latency, with /healthz latency in the same run as the baseline.
Run: .venv/bin/python bench/bench_stream.py [--clients 50] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from grvtmm.core.clock import LiveClock
from grvtmm.serve import Server
from grvtmm.settings import Settings

PASSWORD = "bench-password-123"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def ws_client(url: str, token: str, delays: list[float], stop: asyncio.Event) -> None:
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            if msg.get("type") == "event":
                local_ns = msg["data"].get("local_ns")  # a string: beyond JS-safe integers
                if local_ns is not None:
                    delays.append((time.time_ns() - int(local_ns)) / 1e6)


async def poll(client: httpx.AsyncClient, path: str, out: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        response = await client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200


async def load(base: str, token: str, clients: int, seconds: float) -> dict[str, list[float]]:
    """The load generator (runs in its own process so it does not share the server's loop)."""
    stop = asyncio.Event()
    delays: list[float] = []
    summary_ms: list[float] = []
    health_ms: list[float] = []
    url = base.replace("http", "ws") + "/ws/stream"
    async with httpx.AsyncClient(
        base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        jobs = [asyncio.create_task(ws_client(url, token, delays, stop)) for _ in range(clients)]
        jobs.append(asyncio.create_task(poll(http, "/api/monitor/summary", summary_ms, stop)))
        jobs.append(asyncio.create_task(poll(http, "/healthz", health_ms, stop)))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*jobs)
    return {"delays": delays, "summary": summary_ms, "health": health_ms}


def load_process(base: str, token: str, clients: int, seconds: float) -> dict[str, list[float]]:
    return asyncio.run(load(base, token, clients, seconds))


async def main(clients: int, seconds: float, speed: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            host="127.0.0.1",
            port=0,
            data_dir=Path(tmp),
            admin_password=PASSWORD,
            demo_speed=speed,  # type: ignore[arg-type]
        )
        server = Server(settings, LiveClock())
        await server.setup()
        task = asyncio.create_task(server.run())
        await server.started.wait()
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            token = (await http.post("/api/auth/login", json={"password": PASSWORD})).json()[
                "token"
            ]
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
            future = pool.submit(load_process, base, token, clients, seconds)
            result = await asyncio.wrap_future(future)
        dropped = server.services.stream.dropped if server.services else 0
        server.request_exit()
        await task
    delays, summary_ms, health_ms = result["delays"], result["summary"], result["health"]
    print(
        f"## Stream fan-out and REST under load ({clients} WS clients, {seconds:.0f} s, demo ×{speed:g})"
    )
    print("| measure | samples | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    print(
        f"| event → WS client delay | {len(delays)} | {pct(delays, 0.5):.2f} | {pct(delays, 0.99):.2f} |"
    )
    print(
        f"| GET /api/monitor/summary | {len(summary_ms)} | {pct(summary_ms, 0.5):.2f} | {pct(summary_ms, 0.99):.2f} |"
    )
    print(
        f"| GET /healthz (baseline) | {len(health_ms)} | {pct(health_ms, 0.5):.2f} | {pct(health_ms, 0.99):.2f} |"
    )
    print(f"\nstream messages dropped for lagging clients: {dropped}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=1.0, help="demo market speed")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds, args.speed))
