"""Backtest jobs over the real API: upload a dataset, run a job in its own process to done with
progress, result and HTML report; cancel; validation (422 naming the field), 404, auth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from test_sweep import write_market

from grvtmm.api.app import create_app
from grvtmm.api.auth import LoginLimiter, PasswordFile, SessionStore
from grvtmm.api.deps import Services
from grvtmm.api.routes import backtest as backtest_routes
from grvtmm.api.state import ConfigState
from grvtmm.app import build_backtest_run
from grvtmm.backtest.jobs import JobRunner
from grvtmm.backtest.runner import BacktestSettings, run_backtest
from grvtmm.core.clock import LiveClock
from grvtmm.store.repository import Store
from grvtmm.strategy.params import StrategyConfig

pytestmark = pytest.mark.anyio
JOBS = "/api/backtest/jobs"
FIXED = {"half_spread_ticks": 1, "order_qty": 0.002}


@dataclass
class Api:
    client: httpx.AsyncClient
    runner: JobRunner
    data_dir: Path

    async def upload(self, name: str, path: Path) -> httpx.Response:
        return await self.client.post(f"/api/backtest/datasets/{name}", content=path.read_bytes())

    async def submit(self, **body: Any) -> httpx.Response:
        return await self.client.post(JOBS, json=body)

    async def settled(self, job_id: int, timeout_s: float = 60.0) -> dict[str, Any]:
        """Poll the job until it leaves queued/running."""
        with anyio.fail_after(timeout_s):
            while True:
                job: dict[str, Any] = (await self.client.get(f"{JOBS}/{job_id}")).json()
                if job["status"] not in ("queued", "running"):
                    return job
                await asyncio.sleep(0.02)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    clock = LiveClock()
    store = Store(f"sqlite:///{tmp_path / 'grvtmm.db'}", clock=clock)
    runner = JobRunner(store, tmp_path, build_backtest_run)
    sessions = SessionStore(clock)
    services = Services(
        node=None,  # type: ignore[arg-type]  # the backtest routes never touch the node
        clock=clock,
        mode="demo",
        passwords=PasswordFile(tmp_path / "admin_password.argon2"),
        sessions=sessions,
        limiter=LoginLimiter(clock),
        config=ConfigState(StrategyConfig()),
        monitor=None,  # type: ignore[arg-type]
        store=store,
        jobs=runner,
    )
    app = create_app(services)
    app.include_router(backtest_routes.router)
    headers = {"Authorization": f"Bearer {sessions.issue()}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        yield Api(client, runner, tmp_path)
    runner.close()
    store.close()


async def test_a_job_runs_to_done_with_result_and_report(api: Api, tmp_path: Path) -> None:
    market = write_market(tmp_path / "btcusdt_synth.npz", seed=5)
    up = await api.upload("btcusdt_synth.npz", market)
    assert up.status_code == 201 and up.json()["bytes"] == market.stat().st_size
    listed = (await api.client.get("/api/backtest/datasets")).json()
    assert [d["name"] for d in listed] == ["btcusdt_synth.npz"]
    created = await api.submit(dataset="btcusdt_synth.npz", strategy="fixed-spread",
                               params=FIXED, latency_ms=5)  # fmt: skip
    assert created.status_code == 201, created.text
    job = await api.settled(created.json()["id"])
    assert (job["status"], job["progress"], job["step"]) == ("done", 1.0, "done"), job
    config = StrategyConfig(strategy="fixed-spread", symbol="BTC_USDT_Perp", **FIXED)
    direct = run_backtest(
        BacktestSettings(paths=(market,), strategy=config, latency_ms=5), build_backtest_run
    )
    assert job["result"]["fills"] == direct["fills"] > 0
    assert job["result"]["pnl_net"] == pytest.approx(direct["pnl_net"])
    report = await api.client.get(job["report_url"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<svg" in report.text
    assert (api.data_dir / "backtest_reports" / f"job-{job['id']}.html").is_file()
    again = await api.client.delete(f"{JOBS}/{job['id']}")  # finished: unchanged
    assert again.status_code == 200 and again.json()["status"] == "done"


async def test_cancel_terminates_the_job_and_frees_the_slot(api: Api, tmp_path: Path) -> None:
    big = write_market(tmp_path / "btcusdt_big.npz", seed=9, steps=60_000)
    small = write_market(tmp_path / "btcusdt_small.npz", seed=5)
    assert (await api.upload("btcusdt_big.npz", big)).status_code == 201
    assert (await api.upload("btcusdt_small.npz", small)).status_code == 201
    long_job = (await api.submit(dataset="btcusdt_big.npz", strategy="fixed-spread")).json()
    queued = (await api.submit(dataset="btcusdt_small.npz", strategy="fixed-spread")).json()
    assert queued["status"] == "queued"  # one job at a time
    canceled = await api.client.delete(f"{JOBS}/{long_job['id']}")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    done = await api.settled(queued["id"])
    assert done["status"] == "done"
    after = (await api.client.get(f"{JOBS}/{long_job['id']}")).json()
    assert after["status"] == "canceled" and after["result"] is None
    assert (await api.client.get(f"{JOBS}/{long_job['id']}/report")).status_code == 404
    page = (await api.client.get(JOBS, params={"limit": 1})).json()
    assert page["total"] == 2 and [j["id"] for j in page["items"]] == [queued["id"]]


async def test_a_failing_job_records_the_error(api: Api, tmp_path: Path) -> None:
    bad = tmp_path / "mids.csv"
    bad.write_text("timestamp,mid\n1700000000000,100.0\n")
    assert (await api.upload("mids.csv", bad)).status_code == 201
    job = (await api.submit(dataset="mids.csv", strategy="fixed-spread")).json()
    settled = await api.settled(job["id"])
    assert settled["status"] == "failed" and "--tick-size" in settled["error"]


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [str(part) for e in response.json()["detail"] for part in e["loc"]]


async def test_validation_names_the_field_and_refuses_traversal(api: Api, tmp_path: Path) -> None:
    market = write_market(tmp_path / "m.npz", seed=1, steps=50)
    assert (await api.upload("m.npz", market)).status_code == 201
    assert (await api.upload("m.npz", market)).status_code == 409
    assert "half_spread_ticks" in _fields(
        await api.submit(dataset="m.npz", strategy="fixed-spread", params={"half_spread_ticks": -1})
    )
    assert "dataset" in _fields(await api.submit(dataset="../grvtmm.db"))
    assert "dataset" in _fields(await api.submit(dataset="missing.npz"))
    assert "queue" in _fields(await api.submit(dataset="m.npz", queue="power-prob:-1"))
    assert "latency_ms" in _fields(await api.submit(dataset="m.npz", latency_ms=-5))
    assert "bogus" in _fields(await api.submit(dataset="m.npz", bogus=1))
    assert "name" in _fields(await api.upload("..hidden", market))
    assert (await api.client.get(JOBS)).json()["total"] == 0


async def test_unknown_ids_are_404_and_every_route_needs_login(api: Api) -> None:
    for method, url in (("GET", f"{JOBS}/99"), ("GET", f"{JOBS}/99/report"),
                        ("DELETE", f"{JOBS}/99")):  # fmt: skip
        assert (await api.client.request(method, url)).status_code == 404
    anonymous = {"authorization": ""}
    for method, url in (("GET", JOBS), ("POST", JOBS), ("GET", f"{JOBS}/1"),
                        ("GET", f"{JOBS}/1/report"), ("DELETE", f"{JOBS}/1"),
                        ("GET", "/api/backtest/datasets"),
                        ("POST", "/api/backtest/datasets/x.csv")):  # fmt: skip
        response = await api.client.request(method, url, headers=anonymous)
        assert response.status_code == 401, (method, url)
