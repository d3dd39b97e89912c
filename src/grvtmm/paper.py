"""Paper mode: the simulated exchange fed by GRVT's real public market data, no keys needed.

The venue is a `SimVenue` over a `SimExchange` built for the GRVT instrument (tick, size step,
minimums from the public instrument list) with GRVT's fee schedule, the demo's queue model and
order latencies; its market is `PublicMarket` (book, mini ticker and trades over `/ws/full`).
Our quotes rest only in the simulator: nothing is ever sent to GRVT but public subscriptions.
Feed trouble reaches the engine as it does live: a dropped connection is a `VenueStatus`
(disconnected, then connected again after the reconnect and a fresh book snapshot), and a book
that stops arriving trips the engine's stale-data breaker.

The GRVT environment and host overrides come from the same settings as live trading
(`GRVTMM_GRVT__ENV`, `GRVTMM_GRVT__MARKET_DATA_URL`, `GRVTMM_GRVT__MARKET_DATA_WS_URL`, ...);
API keys, if configured, are ignored.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from grvtmm.core.clock import Clock
from grvtmm.core.events import Event
from grvtmm.core.types import FeeSchedule
from grvtmm.settings import GrvtSettings, Settings
from grvtmm.venues.grvt.config import GrvtConfig
from grvtmm.venues.grvt.errors import VenueError
from grvtmm.venues.grvt.public import PublicMarket
from grvtmm.venues.sim.exchange import SimExchange
from grvtmm.venues.sim.matching import PowerProbQueue
from grvtmm.venues.sim.venue import SimVenue

__all__ = [
    "PAPER_EQUITY",
    "LocalTimeline",
    "PaperUnavailable",
    "build_paper_venue",
    "paper_venue",
    "public_config",
]

PAPER_EQUITY: Final = 200.0
"""Starting capital of the simulated account in USDT (the same as demo mode)."""
PAPER_QUEUE_POWER: Final = 3.0
"""Queue model of the simulator: `PowerProbQueue(3.0)`, as in demo mode and backtests."""
PAPER_ENTRY_LATENCY_NS: Final = 25_000_000
"""Simulated time for an order or cancel to reach GRVT's matching engine."""
PAPER_RESPONSE_LATENCY_NS: Final = 25_000_000
"""Simulated time for an ack or fill to come back from GRVT."""


class PaperUnavailable(RuntimeError):
    """GRVT's public market data cannot be used (the message says why and what to check)."""


def public_config(grvt: GrvtSettings, env: str | None = None) -> GrvtConfig:
    """A keyless GRVT config: environment and host overrides from the settings, no credentials.

    `env` (e.g. the environment stored with keys set over the API) overrides `grvt.env`.
    """
    chosen = env or grvt.env
    return GrvtConfig(
        env="testnet" if chosen == "testnet" else "prod",
        edge_url=grvt.edge_url or "",
        trades_url=grvt.trades_url or "",
        market_data_url=grvt.market_data_url or "",
        trades_ws_url=grvt.trades_ws_url or "",
        market_data_ws_url=grvt.market_data_ws_url or "",
        cancel_on_disconnect=False,
    )


class LocalTimeline:
    """The public market on our clock's timeline, for the simulated exchange.

    GRVT stamps events with its own clock. An exchange time later than our receive time (clock
    skew) is set to the receive time, so the simulator never runs ahead of the live clock and
    never holds back our acks and fills; the measured feed latency is kept otherwise.
    """

    def __init__(self, source: PublicMarket) -> None:
        self.source = source

    def __aiter__(self) -> LocalTimeline:
        return self

    async def __anext__(self) -> Event:
        event = await self.source.__anext__()
        if event.ts_ns > event.local_ns:
            event = dataclasses.replace(event, ts_ns=event.local_ns)
        return event

    async def aclose(self) -> None:
        await self.source.aclose()

    def diagnostics(self) -> dict[str, Any]:
        """The public market's connection counters (HTTP, market stream, book state)."""
        return self.source.diagnostics()

    @property
    def listing_problem(self) -> str:
        """Why paper trading must stop (GRVT changed the listing); empty otherwise."""
        return self.source.listing_problem


async def paper_venue(
    config: GrvtConfig,
    symbol: str,
    clock: Clock,
    *,
    equity: float = PAPER_EQUITY,
    leverage: float = 20.0,
) -> SimVenue:
    """Load `symbol` from GRVT's public instrument list and build the paper venue.

    Raises `grvtmm.venues.grvt.errors.VenueError` when GRVT cannot be reached or does not list
    the symbol as a usable perpetual.
    """
    market = PublicMarket(config, symbol, clock)
    try:
        instrument = await market.prepare()
    except BaseException:
        await market.aclose()
        raise
    exchange = SimExchange(
        instrument,
        FeeSchedule(config.maker_fee_rate, config.taker_fee_rate),
        queue=PowerProbQueue(PAPER_QUEUE_POWER),
        entry_latency_ns=PAPER_ENTRY_LATENCY_NS,
        response_latency_ns=PAPER_RESPONSE_LATENCY_NS,
        initial_equity=equity,
        leverage=leverage,
        id_prefix=f"paper-{clock.now_ns()}",
    )
    return SimVenue(exchange, LocalTimeline(market), clock, "paper")


async def build_paper_venue(
    settings: Settings,
    clock: Clock,
    *,
    symbol: str,
    leverage: float,
    env: str | None = None,
    equity: float = PAPER_EQUITY,
) -> SimVenue:
    """The paper venue as `grvt-mm serve --mode paper` runs it; raises `PaperUnavailable`."""
    config = public_config(settings.grvt, env)
    try:
        return await paper_venue(config, symbol, clock, equity=equity, leverage=leverage)
    except VenueError as exc:
        raise PaperUnavailable(
            f"paper mode needs GRVT's public market data ({config.env}, "
            f"{config.endpoints().market_data_url}): {exc.describe()}"
        ) from exc
