"""The REST half of the fake GRVT server: API-key login, sessions, public and trading
endpoints in GRVT's `full` shapes, with the scripted failures and slow answers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from fakes.grvt_exchange import ACCOUNT_ID, SUB_ACCOUNT, ApiError, FakeExchange
from grvtmm.core.clock import NS_PER_S, LiveClock
from grvtmm.core.events import Event
from grvtmm.core.types import Instrument

API_KEY = "fake-api-key-0001"
_PUBLIC = {"all_instruments", "instruments", "instrument", "mini", "ticker"}
_ORDER_ACTIONS = {
    "full/v1/create_order",
    "full/v1/cancel_order",
    "full/v1/cancel_all_orders",
    "full/v2/bulk_orders",
}


def listing(inst: Instrument) -> dict[str, Any]:
    """GRVT's `InstrumentDisplay` for `inst`."""
    base, quote, _ = inst.symbol.split("_")
    return {
        "instrument": inst.symbol,
        "instrument_hash": inst.asset_id,
        "base": base,
        "quote": quote,
        "kind": "PERPETUAL",
        "venues": ["ORDERBOOK", "RFQ"],
        "settlement_period": "PERPETUAL",
        "base_decimals": inst.base_decimals,
        "quote_decimals": 6,
        "tick_size": str(inst.tick_size),
        "min_size": str(inst.min_size),
        "min_notional": str(inst.min_notional),
        "max_position_size": "100000.0",
        "funding_interval_hours": 8,
        "create_time": "1719300000000000000",
    }


class RestEndpoints:
    """Mixed into the server: needs `exchange`, `instrument`, `clock`, `sessions`, ..."""

    exchange: FakeExchange
    instrument: Instrument
    listed: Instrument | None
    clock: LiveClock
    sessions: dict[str, int]
    requests: list[str]
    leverage_set: list[tuple[str, str]]
    errors: list[str]
    extra_listings: list[dict[str, Any]]
    cookie_lifetime_s: int
    logins: int
    _tokens: itertools.count[int]

    _mini: Callable[[], dict[str, Any]]

    async def _rest(self, request: Request) -> Response:
        try:
            return await self._serve_rest(request)
        except ClientDisconnect:
            return Response(status_code=499)  # the client went away mid-request
        except Exception as exc:  # a bug in the fake must fail the test, not look like a 500
            self.errors.append(repr(exc))
            raise

    def _apply_later(self, events: list[Event]) -> None:
        def apply() -> None:
            try:
                self.exchange.apply(events)
            except Exception as exc:
                self.errors.append(repr(exc))

        asyncio.get_running_loop().call_later(0.002, apply)

    async def _serve_rest(self, request: Request) -> Response:
        path = request.path_params["path"]
        self.requests.append(path)
        body = orjson.loads(await request.body() or b"{}")
        try:
            if path == "auth/api_key/login":
                if self.exchange.faults.login_script:
                    status, code = self.exchange.faults.login_script.pop(0)
                    raise ApiError(status, code, "scripted login failure")
                return self._login(body)
            if path.startswith("full/v1/") and path[8:] in _PUBLIC:
                return _ok({"result": self._public(path[8:], body)})
            self._authorize(request.headers.get("cookie", ""))
            await self._misbehave()
            owner = body["order"] if path == "full/v1/create_order" else body
            if owner.get("sub_account_id") != SUB_ACCOUNT:
                raise ApiError(403, 2003, "Sub account does not match session")
            answer = self._trading(path, body)
            script = self.exchange.faults.rest_script_after
            if script and path in _ORDER_ACTIONS:
                status, code = script.pop(0)
                raise ApiError(status, code, "scripted failure after execution")
            return _ok(answer)
        except ApiError as exc:
            return _ok(exc.body(), exc.status)

    def _login(self, body: dict[str, Any]) -> Response:
        if body.get("api_key") != API_KEY:
            raise ApiError(401, 1000, "You need to authenticate prior to using this functionality")
        token = f"session-{next(self._tokens)}"
        expires_ns = self.clock.now_ns() + self.cookie_lifetime_s * NS_PER_S
        self.sessions[token] = expires_ns
        self.logins += 1
        expires = formatdate(expires_ns / NS_PER_S, usegmt=True)
        response = _ok({"status": "success", "sub_account_id": SUB_ACCOUNT})
        response.headers["Set-Cookie"] = f"gravity={token}; Path=/; Expires={expires}; HttpOnly"
        response.headers["X-Grvt-Account-Id"] = ACCOUNT_ID
        return response

    def _authorize(self, cookie_header: str) -> None:
        token = ""
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "gravity":
                token = value
        expires = self.sessions.get(token)
        if expires is None or expires <= self.clock.now_ns():
            raise ApiError(401, 1000, "You need to authenticate prior to using this functionality")

    async def _misbehave(self) -> None:
        faults = self.exchange.faults
        if faults.slow_rest_s:
            await asyncio.sleep(faults.slow_rest_s)
        if faults.rest_script:
            status, code = faults.rest_script.pop(0)
            raise ApiError(status, code, "scripted failure")

    def _public(self, name: str, body: dict[str, Any]) -> Any:
        mine = [listing(self.listed)] if self.listed is not None else []
        if name in ("all_instruments", "instruments"):
            return [*mine, *self.extra_listings]
        if name == "instrument":
            if not mine:
                raise ApiError(404, 1004, "Data Not Found")
            return mine[0]
        return self._mini()

    def _trading(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        ex = self.exchange
        name = path.removeprefix("full/")
        if name == "v1/create_order":
            answer, later = ex.create(body["order"])
            self._apply_later(later)
            return {"result": answer}
        if name == "v1/cancel_order":
            cid = int(body.get("client_order_id") or 0)
            if not cid:
                raise ApiError(400, 3021, "Either order ID or client order ID must be supplied")
            ex.apply(ex.cancel(cid, int(body.get("time_to_live_ms") or 100)))
            return {"result": {"ack": True}}
        if name == "v1/cancel_all_orders":
            ex.apply(ex.cancel_all())
            return {"result": {"ack": True}}
        if name == "v2/bulk_orders":
            return self._bulk(body)
        if name == "v1/cancel_on_disconnect":
            countdown = int(body.get("countdown_time") or 0)
            if countdown > 300_000:
                raise ApiError(400, 6000, "Countdown time is bigger than 300s supported")
            ex.arm_cancel_on_disconnect(countdown)
            return {"result": {"ack": True}}
        return self._queries(name, body)

    def _bulk(self, body: dict[str, Any]) -> dict[str, Any]:
        ex = self.exchange
        acks = []
        for cid in body.get("client_order_i_ds") or []:
            ex.apply(ex.cancel(int(cid), int(body.get("time_to_live_ms") or 100)))
            acks.append({"ack": True})
        orders = []
        for order in body.get("orders") or []:
            answer, later = ex.create(order)
            self._apply_later(later)
            orders.append(answer)
        return {"orders": orders, "cancel_acks": acks}

    def _queries(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        ex = self.exchange
        if name == "v1/open_orders":
            return {"result": ex.open_orders()}
        if name == "v1/order":
            rec = ex.records.get(int(body.get("client_order_id") or 0))
            if rec is None:
                raise ApiError(404, 1004, "Data Not Found")
            return {"result": ex.order_json(rec)}
        if name == "v1/positions":
            return {"result": [ex.position_json()] if ex.position_lots else []}
        if name == "v1/account_summary":
            return {"result": ex.account_json()}
        if name == "v1/fill_history":
            return self._fill_page(body)
        if name == "v1/set_initial_leverage":
            self.leverage_set.append((str(body.get("instrument")), str(body.get("leverage"))))
            return {"success": not self.exchange.faults.leverage_refused}
        raise ApiError(404, 1004, f"Data Not Found: {name}")

    def _fill_page(self, body: dict[str, Any]) -> dict[str, Any]:
        start = int(body.get("start_time") or 0)
        newest_first = [f for f in reversed(self.exchange.fills) if int(f["event_time"]) >= start]
        offset = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or 500)
        page = newest_first[offset : offset + limit]
        more = offset + limit < len(newest_first)
        return {"result": page, "next": str(offset + limit) if more else ""}


def _ok(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
