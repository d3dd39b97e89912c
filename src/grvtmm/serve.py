"""`grvt-mm serve`: the composition root of the server process — engine, venue, store, monitor,
live stream and API in one event loop, with a bounded graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from grvtmm import __version__
from grvtmm.alerts.notifier import AlertSettings
from grvtmm.alerts.service import TelegramAlerts
from grvtmm.api.app import create_app
from grvtmm.api.auth import LoginLimiter, PasswordFile, SessionStore
from grvtmm.api.deps import Services
from grvtmm.api.routes.config import TELEGRAM_TOKEN
from grvtmm.api.routes.system import status_body
from grvtmm.api.state import ConfigState
from grvtmm.api.stream import StreamHub
from grvtmm.app import DEMO_FEES, build_backtest_run
from grvtmm.backtest.jobs import JobRunner
from grvtmm.core.clock import NS_PER_S, Clock, LiveClock
from grvtmm.core.events import EngineMode, StartRequested, StopRequested
from grvtmm.core.types import FeeSchedule, Instrument
from grvtmm.engine.engine import Engine
from grvtmm.monitor.metrics import Monitor, engine_view
from grvtmm.monitor.prometheus import build_registry, render
from grvtmm.node import Node
from grvtmm.settings import Settings, is_loopback
from grvtmm.store.repository import Store
from grvtmm.store.secrets import SecretBox, resolve_key
from grvtmm.store.writer import StoreWriter
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.base import Venue
from grvtmm.venues.grvt.config import GrvtConfig
from grvtmm.venues.grvt.venue import GrvtVenue
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import PowerProbQueue
from grvtmm.venues.sim.synthetic import SyntheticMarket, SyntheticParams, default_instrument
from grvtmm.venues.sim.venue import SimVenue, paced

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
GRVT_SECRET_NAMES = ("grvt.api_key", "grvt.api_secret", "grvt.trading_account_id")
_DONE = frozenset({EngineMode.IDLE, EngineMode.STOPPED, EngineMode.HALTED})


class ServeError(RuntimeError):
    """The server cannot start as configured (the message says why and what to do)."""


@dataclass(slots=True)
class TradingStack:
    mode: str
    instrument: Instrument
    fees: FeeSchedule
    venue: Venue
    start_blocker: str = ""


def grvt_config(settings: Settings, secrets: SecretBox) -> GrvtConfig | None:
    """GRVT credentials: stored (encrypted, set over the API) override the environment."""
    g = settings.grvt
    key = secrets.get("grvt.api_key") or (g.api_key.get_secret_value() if g.api_key else "")
    secret = secrets.get("grvt.api_secret") or (
        g.api_secret.get_secret_value() if g.api_secret else ""
    )
    account = secrets.get("grvt.trading_account_id") or g.trading_account_id or ""
    if not (key and secret):
        return None  # the trading account id may be left empty: the login names it
    env = secrets.get("grvt.env") or g.env
    return GrvtConfig(
        env="testnet" if env == "testnet" else "prod",
        api_key=key,
        api_secret=secret,
        trading_account_id=account,
        edge_url=g.edge_url or "",
        trades_url=g.trades_url or "",
        market_data_url=g.market_data_url or "",
        trades_ws_url=g.trades_ws_url or "",
        market_data_ws_url=g.market_data_ws_url or "",
    )


def demo_stack(settings: Settings, clock: Clock, equity: float, leverage: float) -> TradingStack:
    instrument = default_instrument()
    exchange = SimExchange(
        instrument,
        DEMO_FEES,
        queue=PowerProbQueue(3.0),
        entry_latency_ns=25_000_000,
        response_latency_ns=25_000_000,
        initial_equity=equity,
        leverage=leverage,
        id_prefix=f"demo-{clock.now_ns()}",
    )
    start = clock.now_ns()
    source = SyntheticMarket(SyntheticParams(), instrument, seed=settings.demo_seed, start_ns=start)
    market = paced(iter(source), clock, speed=settings.demo_speed, start_ns=start)
    return TradingStack("demo", instrument, DEMO_FEES, SimVenue(exchange, market, clock, "demo"))


async def live_stack(config: GrvtConfig, symbol: str, clock: Clock) -> TradingStack:
    venue = GrvtVenue(config, symbol, clock)
    try:
        instrument = await venue.prepare()
    except Exception as exc:
        raise ServeError(f"cannot reach GRVT ({config.env}): {exc}") from exc
    return TradingStack("live", instrument, venue.fees, venue)


async def build_stack(
    settings: Settings, clock: Clock, secrets: SecretBox, config: StrategyConfig
) -> TradingStack:
    grvt = grvt_config(settings, secrets)
    mode = settings.mode or ("live" if grvt else "demo")
    if mode == "demo":
        return demo_stack(settings, clock, 200.0, config.effective_leverage)
    if mode == "live":
        if grvt is None:
            raise ServeError(
                "live mode needs GRVT keys: set GRVTMM_GRVT__API_KEY and GRVTMM_GRVT__API_SECRET "
                "(and GRVTMM_GRVT__TRADING_ACCOUNT_ID) or PUT /api/config/exchange, then restart"
            )
        return await live_stack(grvt, config.symbol, clock)
    raise ServeError("paper mode is not available in this build; use --mode demo or --mode live")


class Server:
    """The whole process: build with `await Server.create(settings)`, then `await run()`."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.node: Node | None = None
        self.services: Services | None = None
        self.store: Store | None = None
        self.writer: StoreWriter | None = None
        self.alerts: TelegramAlerts | None = None
        self.jobs: JobRunner | None = None
        self.store_failure_hooks: list[Callable[[str], None]] = []
        self.uvicorn: uvicorn.Server | None = None
        self.app: FastAPI | None = None
        self.port = settings.port
        self.started = asyncio.Event()

    async def setup(self) -> None:
        settings = self.settings
        clock = self.clock
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        passwords = PasswordFile(data_dir / "admin_password.argon2")
        if settings.admin_password is not None and not passwords.is_set:
            passwords.set(settings.admin_password.get_secret_value())
        if not is_loopback(settings.host) and not passwords.is_set:
            raise ServeError(
                f"refusing to listen on {settings.host} without an operator password: run "
                "`grvt-mm set-password` or set GRVTMM_ADMIN_PASSWORD (or bind to 127.0.0.1)"
            )
        store = self.store = await asyncio.to_thread(Store, settings.db_url(), clock=clock)
        key_env = settings.secret_key.get_secret_value() if settings.secret_key else None
        secrets = SecretBox(store, resolve_key(key_env, data_dir), clock)
        config_state = ConfigState(StrategyConfig(), repository=store)
        stack = await build_stack(settings, clock, secrets, config_state.strategy)
        instrument = stack.instrument
        if config_state.strategy.symbol != instrument.symbol:
            config_state.strategy = config_state.merged_strategy({"symbol": instrument.symbol})
        fees = stack.fees
        engine = Engine(
            instrument=instrument,
            config=config_state.strategy,
            strategy_factory=lambda cfg: build_strategy(cfg, instrument, fees),
            fees=fees,
            start_ns=clock.now_ns(),
        )
        monitor = Monitor(
            instrument, clock, snapshot_provider=lambda: engine_view(engine.snapshot())
        )
        writer = self.writer = StoreWriter(
            store, instrument, mode=stack.mode, on_failure=self._store_failed
        )
        node = self.node = Node(engine, stack.venue, clock, sinks=[writer, monitor])
        services_ref: list[Services] = []
        hub = StreamHub(
            snapshot=lambda: self._stream_snapshot(services_ref[0]),
            hello=lambda: {"mode": stack.mode, "version": __version__, "symbol": instrument.symbol},
        )
        node.add_sink(hub)
        alerts = self.alerts = self._telegram(instrument, node, monitor, config_state, secrets)
        node.add_sink(alerts)
        self.store_failure_hooks.append(alerts.store_failure)
        jobs = self.jobs = JobRunner(store, data_dir, build_backtest_run)
        registry = build_registry(monitor, lambda: {s.name: s.dropped for s in node.sinks})
        services = Services(
            node=node,
            clock=clock,
            mode=stack.mode,
            passwords=passwords,
            sessions=SessionStore(clock),
            limiter=LoginLimiter(clock),
            config=config_state,
            monitor=monitor,
            secrets=secrets,
            store=store,
            series=monitor.series,
            metrics_renderer=lambda: render(registry),
            stream=hub,
            status_extra=lambda: self._status_extra(stack, passwords),
            version=__version__,
            telegram_test=alerts.send_test,
            jobs=jobs,
        )
        services_ref.append(services)
        self.services = services

    def _telegram(
        self,
        instrument: Instrument,
        node: Node,
        monitor: Monitor,
        config_state: ConfigState,
        secrets: SecretBox,
    ) -> TelegramAlerts:
        """Alerts and commands over Telegram; reconfigured whenever its settings change."""
        env = self.settings.telegram

        def token() -> str | None:
            stored = secrets.get(TELEGRAM_TOKEN)
            return stored or (env.bot_token.get_secret_value() if env.bot_token else None)

        def alert_settings() -> AlertSettings:
            return AlertSettings.from_config(
                config_state.telegram.model_dump(), chat_id=env.chat_id
            )

        alerts = TelegramAlerts(
            instrument,
            self.clock,
            control=node,
            summary=monitor.summary,
            settings=alert_settings(),
            token=token(),
            api_base_url=env.api_base_url,
        )

        def changed(kind: str) -> None:
            if kind == "telegram":
                alerts.configure(alert_settings(), token())

        config_state.listeners.append(changed)
        return alerts

    def _store_failed(self, detail: str) -> None:
        """Called from the writer thread: log loudly and notify the hooks (alerts)."""
        log.error("store.write_failed", extra={"detail": detail})
        for hook in self.store_failure_hooks:
            hook(detail)

    def _status_extra(self, stack: TradingStack, passwords: PasswordFile) -> dict[str, Any]:
        notices: list[str] = []
        if not passwords.is_set:
            notices.append("No operator password is set: run `grvt-mm set-password`.")
        return {
            "notices": notices,
            "start_blocker": stack.start_blocker,
            "symbol": stack.instrument.symbol,
            "telegram": self.alerts.status() if self.alerts is not None else None,
        }

    @staticmethod
    def _stream_snapshot(services: Services) -> dict[str, Any]:
        return {"status": status_body(services), "summary": services.monitor.summary()}

    async def run(self, *, on_ready: Callable[[int], None] | None = None) -> None:
        """Serve until SIGINT/SIGTERM, then stop the engine (flatten, bounded) and exit."""
        assert self.node is not None and self.services is not None
        node = self.node
        app = self.app = create_app(self.services, STATIC_DIR)
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws_max_size=1 << 16,
        )
        server = self.uvicorn = uvicorn.Server(config)
        node_task = asyncio.create_task(node.run(), name="node")
        ticker = asyncio.create_task(self._tick(), name="stream.tick")
        if self.alerts is not None:
            self.alerts.start()
        serve_task = asyncio.create_task(server.serve(), name="http")
        while not server.started and not serve_task.done():
            await asyncio.sleep(0.01)
        if server.started:
            self.port = _bound_port(server) or self.port
            log.info("serve.ready", extra={"port": self.port, "mode": self.services.mode})
            if self.services.mode == "demo":
                now = self.clock.now_ns()
                await node.submit(StartRequested(ts_ns=now, local_ns=now, reason="demo start"))
            self.started.set()
            if on_ready is not None:
                on_ready(self.port)
        try:
            await serve_task
        finally:
            ticker.cancel()
            await self._shutdown(node_task)

    async def _tick(self) -> None:
        assert self.services is not None
        hub = self.services.stream
        while True:
            await asyncio.sleep(1.0)
            hub.tick()

    async def _shutdown(self, node_task: asyncio.Task[None]) -> None:
        node = self.node
        assert node is not None
        bound_s = 60.0
        if node.engine.mode not in _DONE and not node_task.done():
            now = self.clock.now_ns()
            await node.submit(StopRequested(ts_ns=now, local_ns=now, reason="shutdown"))
            deadline = self.clock.now_ns() + int(bound_s * NS_PER_S)
            while node.engine.mode not in _DONE and self.clock.now_ns() < deadline:
                await asyncio.sleep(0.05)
            if node.engine.mode not in _DONE:
                log.critical(
                    "shutdown.flatten_incomplete",
                    extra={
                        "mode": node.engine.mode.value,
                        "position_lots": node.engine.position_lots,
                    },
                )
        await node.close()
        with contextlib.suppress(asyncio.CancelledError):
            await node_task
        if self.alerts is not None:
            await self.alerts.close()
        if self.jobs is not None:
            await asyncio.to_thread(self.jobs.close)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close, 10.0)
        if self.store is not None:
            self.store.close()

    def request_exit(self) -> None:
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True


def _bound_port(server: uvicorn.Server) -> int | None:
    for srv in getattr(server, "servers", []):
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return None


def load_grvt_config(settings: Settings) -> GrvtConfig | None:
    """GRVT credentials from the environment and the encrypted store in the data dir."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url())
    try:
        key_env = settings.secret_key.get_secret_value() if settings.secret_key else None
        box = SecretBox(store, resolve_key(key_env, settings.data_dir))
        return grvt_config(settings, box)
    finally:
        store.close()


async def serve(settings: Settings, *, clock: Clock | None = None) -> None:
    server = Server(settings, clock or LiveClock())
    await server.setup()
    await server.run()
