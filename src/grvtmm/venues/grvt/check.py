"""`grvt-mm check`: verify keys, connectivity, instrument constraints and the dead-man switch.

Each step yields one line, `ok   …` or `FAIL …` with the reason in plain words; a failed step
never hides the ones after it unless they depend on it (no login, no private checks).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import httpx
import orjson
import websockets

from grvtmm.core.clock import NS_PER_S, Clock
from grvtmm.core.types import InstrumentError, normalize_symbol
from grvtmm.venues.grvt import errors as err
from grvtmm.venues.grvt.config import GrvtConfig
from grvtmm.venues.grvt.http import GrvtHttp
from grvtmm.venues.grvt.instruments import InstrumentCache, describe
from grvtmm.venues.grvt.parse import parse_account
from grvtmm.venues.grvt.rest import GrvtRest
from grvtmm.venues.grvt.signing import OrderSigningError, signer_address

_HINTS = {
    "api_key_missing": "no API key configured (GRVTMM_GRVT__API_KEY)",
    "unauthenticated": "the API key was refused: check the key and that env matches it",
    "forbidden": "access denied: wrong host for this key, or a geographic block",
    "ip_not_whitelisted": "this server's IP is not on the API key's allow list",
    "login_incomplete": "login answered without a session cookie or account id",
    "trading_account_unknown": "set GRVTMM_GRVT__TRADING_ACCOUNT_ID (the key names no account)",
    "sub_account_mismatch": "the trading account id does not belong to this API key",
    "no_trade_permission": "the API key has no trade permission",
}


def ok(text: str) -> str:
    return f"ok   {text}"


def fail(text: str) -> str:
    return f"FAIL {text}"


def explain(exc: err.VenueError, where: str) -> str:
    """One line saying what failed and what to do about it."""
    hint = _HINTS.get(exc.reason)
    if hint is None and isinstance(exc, err.Timeout | err.Disconnected):
        hint = f"cannot reach {where} ({exc.message or exc.reason})"
    if hint is None:
        hint = exc.describe()
    code = f" [code {exc.code}]" if exc.code is not None else ""
    return f"{hint}{code}"


async def run_check(
    config: GrvtConfig,
    symbols: Sequence[str],
    clock: Clock,
    *,
    http_client: httpx.AsyncClient | None = None,
    ws_timeout_s: float = 5.0,
) -> list[str]:
    """Run every check against `config`'s environment; the report, one line per check."""
    endpoints = config.endpoints()
    lines = [ok(f"environment {config.env}: trades {endpoints.trades_url}")]
    http = GrvtHttp(
        endpoints,
        api_key=config.key(),
        clock=clock,
        rng=random.Random(0),
        client=http_client,
        timeout_s=config.http_timeout_s,
    )
    try:
        lines.append(_signer_line(config))
        rest = await _login(http, config, clock, lines)
        await _instruments(rest, symbols, lines)
        lines.append(await _market_stream(endpoints.market_data_ws_url, symbols, ws_timeout_s))
        if rest is not None:
            await _account(rest, lines)
            await _dead_man_switch(rest, config, lines)
    finally:
        await http.aclose()
    return lines


def _signer_line(config: GrvtConfig) -> str:
    if not config.api_secret:
        return fail("signing key: none configured (GRVTMM_GRVT__API_SECRET)")
    try:
        return ok(f"signing key: orders will be signed by {signer_address(config.api_secret)}")
    except OrderSigningError:
        return fail("signing key: not a valid secp256k1 private key in hex")


async def _login(
    http: GrvtHttp, config: GrvtConfig, clock: Clock, lines: list[str]
) -> GrvtRest | None:
    try:
        session = await http.login()
    except err.VenueError as exc:
        lines.append(fail(f"login: {explain(exc, http.endpoints.edge_url)}"))
        return None
    sub = config.trading_account_id or session.sub_account_id
    hours = (session.expires_ns - clock.now_ns()) / (3600 * NS_PER_S)
    if not sub:
        lines.append(fail(f"login: {_HINTS['trading_account_unknown']}"))
        return None
    lines.append(ok(f"login: trading account {sub}, session valid for {hours:.1f} h"))
    return GrvtRest(http, sub)


async def _instruments(rest: GrvtRest | None, symbols: Sequence[str], lines: list[str]) -> None:
    if rest is None:
        return
    cache = InstrumentCache(rest)
    try:
        await cache.refresh()
    except err.VenueError as exc:
        lines.append(fail(f"instruments: {explain(exc, rest.http.endpoints.market_data_url)}"))
        return
    for symbol in symbols:
        try:
            lines.append(ok(describe(cache.get(symbol))))
        except err.InstrumentConstraintsMissing as exc:
            lines.append(fail(f"{exc.message}; orders on it are blocked"))


async def _market_stream(url: str, symbols: Sequence[str], timeout_s: float) -> str:
    if not symbols:
        return ok("market stream: no symbol configured, not checked")
    try:
        selector = f"{normalize_symbol(symbols[0])}@0"
    except InstrumentError as exc:
        return fail(f"market stream: {exc}")
    request = {
        "jsonrpc": "2.0",
        "method": "subscribe",
        "params": {"stream": "v1.mini.d", "selectors": [selector]},
        "id": 1,
    }
    try:
        async with (
            asyncio.timeout(timeout_s),
            websockets.connect(url, open_timeout=timeout_s) as ws,
        ):
            await ws.send(orjson.dumps(request).decode())
            async for raw in ws:
                msg = orjson.loads(raw)
                failure = err.from_body(msg) if "error" in msg else None
                if failure is not None:
                    return fail(f"market stream: {explain(failure, url)}")
                if "feed" in msg:
                    return ok(f"market stream: {url} delivers {msg.get('stream')}")
    except TimeoutError:
        return fail(f"market stream: no data from {url} within {timeout_s:.0f} s")
    except (OSError, websockets.WebSocketException) as exc:
        return fail(f"market stream: cannot connect to {url} ({type(exc).__name__})")
    return fail(f"market stream: {url} closed without data")


async def _account(rest: GrvtRest, lines: list[str]) -> None:
    try:
        account = parse_account(await rest.account_summary())
    except err.VenueError as exc:
        lines.append(fail(f"account: {explain(exc, rest.http.endpoints.trades_url)}"))
        return
    lines.append(
        ok(
            f"account: equity {account.equity:.2f} USDT, available {account.free_margin:.2f}, "
            f"initial margin {account.used_margin:.2f} ({account.source})"
        )
    )


async def _dead_man_switch(rest: GrvtRest, config: GrvtConfig, lines: list[str]) -> None:
    countdown = config.cod_countdown_ms
    try:
        await rest.cancel_on_disconnect(countdown)
    except (err.VenueError, ValueError) as exc:
        text = explain(exc, "trades") if isinstance(exc, err.VenueError) else str(exc)
        lines.append(fail(f"cancel-on-disconnect: could not arm: {text}"))
        return
    try:
        await rest.cancel_on_disconnect(0)
    except err.VenueError as exc:
        lines.append(
            fail(f"cancel-on-disconnect: armed but not disarmed ({explain(exc, 'trades')})")
        )
        return
    lines.append(ok(f"cancel-on-disconnect: armed ({countdown / 1000:.0f} s) and disarmed"))
