"""`grvt-mm serve`: the composition root of the server process — engine, venue, store, monitor,
live stream and API in one event loop, with a bounded graceful shutdown.

Shutdown: the first SIGTERM/SIGINT stops the engine (quotes cancelled, position flattened) within
`Settings.shutdown_timeout_s`, then persists (within `CLOSE_BUDGET_S` more) and exits 0. HTTP
stops taking requests at once. A second signal cuts the flatten short:
one cancel-all goes to the venue (waited for up to `FORCED_CANCEL_S`), then the process persists
and exits. Whenever a position or open orders are left (flatten not done within the bound, or
cut short), a CRITICAL log line, a CRITICAL Telegram alert and a stored engine event
(`shutdown_incomplete`) say what is open, and the exit status is `EXIT_EXPOSED` (3).

Crash recovery (live mode): on start the venue is reconciled before anything else — every open
order on the venue is cancelled (never adopted: the dead process's quotes are stale), the
position is taken from the venue, fills since the last stored one (minus `RECOVERY_LOOKBACK_NS`)
are stored once each, orders the dead process left unfinished are looked up and their outcome
stored, and sessions it left open are ended at their last stored activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from grvtmm import __version__
from grvtmm.alerts.notifier import AlertSettings, Level
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
from grvtmm.core.events import EngineMode, EngineWarning, StartRequested, StopRequested
from grvtmm.core.types import FeeSchedule, Instrument, Side
from grvtmm.engine.engine import Engine
from grvtmm.engine.settings import EngineSettings
from grvtmm.monitor.metrics import Monitor, engine_view
from grvtmm.monitor.prometheus import build_registry, render
from grvtmm.node import Node
from grvtmm.paper import PaperUnavailable, build_paper_venue
from grvtmm.settings import Settings, answered_hosts, is_loopback
from grvtmm.store.repository import Store
from grvtmm.store.secrets import SecretBox, resolve_key
from grvtmm.store.writer import StoreWriter
from grvtmm.strategy.factory import build_strategy
from grvtmm.strategy.params import StrategyConfig
from grvtmm.venues.base import Venue
from grvtmm.venues.grvt.config import GrvtConfig
from grvtmm.venues.grvt.tracker import KnownOrder
from grvtmm.venues.grvt.venue import GrvtVenue
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import PowerProbQueue
from grvtmm.venues.sim.synthetic import SyntheticMarket, SyntheticParams, default_instrument
from grvtmm.venues.sim.venue import SimVenue, paced

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
GRVT_SECRET_NAMES = ("grvt.api_key", "grvt.api_secret", "grvt.trading_account_id")
_DONE = frozenset({EngineMode.IDLE, EngineMode.STOPPED, EngineMode.HALTED})
EXIT_OK = 0
EXIT_EXPOSED = 3
"""Exit status when the shutdown left a position or open orders (see the module docstring)."""
FORCED_CANCEL_S = 5.0
"""A second signal: how long to wait for the cancel-all to be confirmed before exiting."""
CLOSE_BUDGET_S = 20.0
"""After the flatten: the time closing the venue, HTTP, alerts (flush) and the store (drain) may
take together. A stop therefore takes at most `shutdown_timeout_s` + this (service managers'
stop timeouts must be longer)."""
RECOVERY_LOOKBACK_NS = 60 * NS_PER_S
"""Fill history is read from this long before the last stored fill (clock skew, same-ns fills);
fills already stored are recognised by trade id and not reported twice."""


class ServeError(RuntimeError):
    """The server cannot start as configured (the message says why and what to do)."""


@dataclass(slots=True)
class TradingStack:
    mode: str
    instrument: Instrument
    fees: FeeSchedule
    venue: Venue
    start_blocker: str = ""
    notices: list[str] = field(default_factory=list)


def grvt_config(
    settings: Settings, secrets: SecretBox, leverage: float | None = None
) -> GrvtConfig | None:
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
        leverage=math.ceil(leverage) if leverage else None,
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
    notices = [venue.leverage_problem] if venue.leverage_problem else []
    return TradingStack("live", instrument, venue.fees, venue, notices=notices)


async def build_stack(
    settings: Settings, clock: Clock, secrets: SecretBox, config: StrategyConfig
) -> TradingStack:
    grvt = grvt_config(settings, secrets, config.effective_leverage)
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
    try:
        venue = await build_paper_venue(
            settings,
            clock,
            symbol=config.symbol,
            leverage=config.effective_leverage,
            env=secrets.get("grvt.env"),
            equity=settings.paper_equity,
        )
    except PaperUnavailable as exc:
        raise ServeError(str(exc)) from exc
    return TradingStack("paper", venue.instrument, venue.fees, venue)


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
        self.signals = 0
        self.exit_code = EXIT_OK
        self._stop = asyncio.Event()
        self._force = asyncio.Event()

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
            settings=EngineSettings(flatten_on_start=settings.flatten_on_start),
            start_ns=clock.now_ns(),
        )
        monitor = Monitor(
            instrument, clock, snapshot_provider=lambda: engine_view(engine.snapshot())
        )
        writer = self.writer = StoreWriter(
            store, instrument, mode=stack.mode, on_failure=self._store_failed
        )
        await self._recover(store, writer, stack)
        node = self.node = Node(
            engine,
            stack.venue,
            clock,
            sinks=[writer, monitor],
            reconcile_on_connect=isinstance(stack.venue, GrvtVenue),
        )
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
        diagnostics = getattr(stack.venue, "diagnostics", None)
        registry = build_registry(
            monitor, lambda: {s.name: s.dropped for s in node.sinks}, diagnostics
        )
        services = Services(
            node=node,
            clock=clock,
            mode=stack.mode,
            passwords=passwords,
            sessions=SessionStore(clock, passwords=passwords),
            limiter=LoginLimiter(clock),
            config=config_state,
            monitor=monitor,
            secrets=secrets,
            store=store,
            series=monitor.series,
            metrics_renderer=lambda: render(registry),
            stream=hub,
            status_extra=lambda: self._status_extra(stack, passwords),
            venue_diagnostics=diagnostics,
            version=__version__,
            telegram_test=alerts.send_test,
            jobs=jobs,
        )
        services_ref.append(services)
        self.services = services

    async def _recover(self, store: Store, writer: StoreWriter, stack: TradingStack) -> None:
        """Pick up after a process that died: end the sessions it left open and hand the venue
        what the store knows (stored fills, unfinished orders) for its first reconcile."""
        ended = await asyncio.to_thread(store.end_open_sessions)
        now = self.clock.now_ns()
        for session in ended:
            log.warning(
                "serve.unclean_shutdown_recovered",
                extra={"session_id": session.id, "ended_at_ns": session.ended_at_ns},
            )
            writer.publish(
                EngineWarning(
                    ts_ns=now,
                    local_ns=now,
                    code="unclean_shutdown",
                    detail=f"session {session.id} was left open by a process that did not stop "
                    "cleanly; reconciling with the venue before trading",
                )
            )
        venue = stack.venue
        if not isinstance(venue, GrvtVenue):
            return
        inst = stack.instrument
        last_fill = await asyncio.to_thread(store.last_fill_ns, inst.symbol)
        starts = [s.started_at_ns for s in ended]
        anchor = last_fill if last_fill is not None else min(starts, default=None)
        if anchor is None:
            return  # nothing traded here before: the venue's history starts now
        since = anchor - RECOVERY_LOOKBACK_NS
        stored = await asyncio.to_thread(store.fill_keys_since, inst.symbol, since)
        unfinished = await asyncio.to_thread(store.unfinished_orders, inst.symbol)
        known = [
            KnownOrder(
                client_order_id=o.client_order_id,
                side=Side.BUY if o.side == "buy" else Side.SELL,
                price_ticks=round(o.price / inst.tick_size),
                size_lots=round(o.size / inst.size_step),
                filled_lots=round(filled / inst.size_step),
                created_ns=o.created_ns,
                order_id=o.venue_order_id or "",
                opened=o.status != "pending",
            )
            for o, filled in unfinished
        ]
        venue.resume(
            fills_since_ns=since,
            stored_fills=[(t, c, Side.BUY if sd == "buy" else Side.SELL) for t, c, sd in stored],
            unfinished=known,
        )
        log.info(
            "serve.resume",
            extra={"fills_since_ns": since, "stored_fills": len(stored), "unfinished": len(known)},
        )

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
        notices: list[str] = list(stack.notices)
        if not passwords.is_set:
            notices.append("No operator password is set: run `grvt-mm set-password`.")
        listing: str = getattr(stack.venue, "listing_problem", "")
        if listing:
            notices.append(listing)
        return {
            "notices": notices,
            "start_blocker": stack.start_blocker or listing,
            "symbol": stack.instrument.symbol,
            "telegram": self.alerts.status() if self.alerts is not None else None,
        }

    @staticmethod
    def _stream_snapshot(services: Services) -> dict[str, Any]:
        return {"status": status_body(services), "summary": services.monitor.summary()}

    async def run(
        self, *, on_ready: Callable[[int], None] | None = None, handle_signals: bool = False
    ) -> int:
        """Serve until SIGINT/SIGTERM (`handle_signals`) or `request_exit()`, then stop the
        engine (flatten, bounded) and close everything; returns the process exit status."""
        assert self.node is not None and self.services is not None
        node = self.node
        app = self.app = create_app(
            self.services, STATIC_DIR, allowed_hosts=answered_hosts(self.settings)
        )
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws_max_size=1 << 16,
            timeout_graceful_shutdown=5,
        )
        server = self.uvicorn = _Http(config)
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        node_task = asyncio.create_task(node.run(), name="node")
        ticker = asyncio.create_task(self._tick(), name="stream.tick")
        serve_task = asyncio.create_task(server.serve(), name="http")
        try:
            if self.alerts is not None:
                self.alerts.start()
            while not server.started and not serve_task.done() and not self._stop.is_set():
                await asyncio.sleep(0.01)
            if server.started and not self._stop.is_set():
                self.port = _bound_port(server) or self.port
                log.info("serve.ready", extra={"port": self.port, "mode": self.services.mode})
                if self.services.mode == "demo":
                    now = self.clock.now_ns()
                    await node.submit(StartRequested(ts_ns=now, local_ns=now, reason="demo start"))
                self.started.set()
                if on_ready is not None:
                    on_ready(self.port)
            stop = asyncio.create_task(self._stop.wait(), name="serve.stop")
            await asyncio.wait({serve_task, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
        finally:
            ticker.cancel()
            try:
                self.exit_code = await self._shutdown(node_task, serve_task)
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)
        return self.exit_code

    def _on_signal(self, sig: int) -> None:
        self.signals += 1
        name = signal.Signals(sig).name
        if self.signals == 1:
            log.warning(
                "shutdown.signal",
                extra={"signal": name, "bound_s": self.settings.shutdown_timeout_s},
            )
            self.request_exit()
        else:
            log.warning("shutdown.forced", extra={"signal": name, "signals": self.signals})
            self._force.set()

    async def _tick(self) -> None:
        assert self.services is not None
        hub = self.services.stream
        while True:
            await asyncio.sleep(1.0)
            hub.tick()

    async def _shutdown(self, node_task: asyncio.Task[None], serve_task: asyncio.Task[None]) -> int:
        """Stop the engine within the bound, report what is left open, persist, close."""
        node = self.node
        assert node is not None
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True  # HTTP winds down while the engine flattens
        engine = node.engine
        code = EXIT_OK
        if engine.mode not in _DONE and not node_task.done():
            bound_s = self.settings.shutdown_timeout_s
            log.info("shutdown.stopping", extra={"mode": engine.mode.value, "bound_s": bound_s})
            now = self.clock.now_ns()
            await node.submit(StopRequested(ts_ns=now, local_ns=now, reason="shutdown"))
            outcome = await self._wait_stopped(node_task, bound_s)
            if outcome == "forced" and not node_task.done():
                confirmed = await node.cancel_all_now("shutdown (second signal)", FORCED_CANCEL_S)
                log.warning("shutdown.cancel_all", extra={"confirmed": confirmed})
            if outcome != "stopped" and (engine.position_lots or engine.orders.live_count()):
                why = (
                    "second signal: flatten cut short after cancel-all"
                    if outcome == "forced"
                    else f"flatten not finished within {bound_s:g} s"
                )
                self._report_open(why)
                code = EXIT_EXPOSED
        close_by = self.clock.now_ns() + int(CLOSE_BUDGET_S * NS_PER_S)
        await self._bounded(node.close(), "node", close_by)
        with contextlib.suppress(asyncio.CancelledError):
            if node_task.done():
                await node_task
        await self._bounded(_settle(serve_task), "http", close_by)
        if self.alerts is not None:
            await self._bounded(self.alerts.close(), "alerts", close_by)
        if self.jobs is not None:
            await asyncio.to_thread(self.jobs.close)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close, self._left_s(close_by))
            session_id = self.writer.session_id
            if code != EXIT_OK and session_id is not None and self.store is not None:
                # this process trades no more: the session ends here, exposure or not
                await asyncio.to_thread(self.store.end_session, session_id, self.clock.now_ns())
        if self.store is not None:
            self.store.close()
        log.info("shutdown.done", extra={"exit_code": code})
        return code

    async def _wait_stopped(self, node_task: asyncio.Task[None], bound_s: float) -> str:
        """ "stopped" (the engine came to rest), "forced" (second signal) or "timeout"."""
        engine = self.node.engine if self.node is not None else None
        assert engine is not None

        async def rested() -> None:
            while engine.mode not in _DONE:
                await asyncio.sleep(0.02)

        waits = {
            asyncio.create_task(rested()): "stopped",
            asyncio.create_task(self._force.wait()): "forced",
        }
        outcome = "timeout"
        try:
            done, _ = await asyncio.wait(
                {*waits, node_task}, timeout=bound_s, return_when=asyncio.FIRST_COMPLETED
            )
            for task, name in waits.items():
                if task in done:
                    outcome = name
                    break
        finally:
            for task in waits:
                task.cancel()
        if engine.mode in _DONE:
            outcome = "stopped"
        return outcome

    def _report_open(self, why: str) -> None:
        """CRITICAL: the process exits with exposure left — log, stored event, Telegram."""
        assert self.node is not None
        engine = self.node.engine
        inst = engine.instrument
        snap = engine.snapshot()
        orders = engine.orders.live_count()
        position = inst.size_str(engine.position_lots)
        notional = f"{snap.inventory_notional:.2f}"
        detail = (
            f"{why}: position {position} {inst.symbol} (notional {notional}), "
            f"{orders} open orders, engine {snap.mode.value}, flatten phase "
            f"{snap.flatten_phase or 'none'} after {snap.flatten_attempts} attempts"
        )
        log.critical(
            "shutdown.flatten_incomplete",
            extra={
                "why": why,
                "mode": snap.mode.value,
                "position_lots": engine.position_lots,
                "position": position,
                "inventory_notional": snap.inventory_notional,
                "open_orders": orders,
            },
        )
        now = self.clock.now_ns()
        if self.writer is not None:
            self.writer.publish(
                EngineWarning(ts_ns=now, local_ns=now, code="shutdown_incomplete", detail=detail)
            )
        if self.alerts is not None:
            details = (
                ("detail", why),
                ("position", position),
                ("notional", notional),
                ("open_orders", str(orders)),
                ("mode", snap.mode.value),
            )
            alert = self.alerts.rules.make(
                Level.CRITICAL, "flatten", "shutdown_incomplete", details, now
            )
            if alert is not None:
                self.alerts.notify(alert)

    def _left_s(self, deadline_ns: int) -> float:
        """Seconds until `deadline_ns`, at least a moment (each step gets a chance)."""
        return max(0.5, (deadline_ns - self.clock.now_ns()) / NS_PER_S)

    async def _bounded(self, work: Awaitable[None], what: str, deadline_ns: int) -> None:
        timeout_s = self._left_s(deadline_ns)
        try:
            async with asyncio.timeout(timeout_s):
                await work
        except TimeoutError:
            log.error("shutdown.close_timeout", extra={"what": what, "timeout_s": timeout_s})

    def request_exit(self) -> None:
        """Begin the graceful shutdown (what the first SIGTERM/SIGINT does)."""
        self._stop.set()
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True


class _Http(uvicorn.Server):
    """uvicorn without signal handlers of its own: `Server` owns SIGINT/SIGTERM. (uvicorn's
    would re-raise the signal once serving ends, killing the process mid-flatten.)"""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _settle(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


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


async def serve(settings: Settings, *, clock: Clock | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit status (`EXIT_OK`, `EXIT_EXPOSED`)."""
    server = Server(settings, clock or LiveClock())
    await server.setup()
    return await server.run(handle_signals=True)
