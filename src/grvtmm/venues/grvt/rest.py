"""GRVT REST endpoints the market maker uses, as typed coroutines over `GrvtHttp`.

Bodies and results follow the `full` API (api-spec `trading_api.md`, `market_data_api.md`).
Results are returned as decoded JSON (parsing into ticks and lots happens in `parse.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from grvtmm.venues.grvt.errors import VenueError
from grvtmm.venues.grvt.http import Group, GrvtHttp

MAX_COUNTDOWN_MS: Final = 300_000
MIN_ARMED_COUNTDOWN_MS: Final = 1_001  # 0..1000 disables the dead-man switch
MAX_CANCEL_TTL_MS: Final = 5_000


def _result(body: Any, path: str) -> Any:
    if isinstance(body, dict) and "result" in body:
        return body["result"]
    raise VenueError("unexpected_response", f"{path}: no result in answer")


class GrvtRest:
    """The endpoints of one trading sub-account."""

    def __init__(self, http: GrvtHttp, sub_account_id: str) -> None:
        self.http = http
        self.sub_account_id = sub_account_id

    async def _trade(self, path: str, body: dict[str, Any], group: Group = "order") -> Any:
        ep = self.http.endpoints
        return await self.http.call(ep.trades_url, path, body, group=group, private=True)

    def _sub(self, **fields: Any) -> dict[str, Any]:
        return {"sub_account_id": self.sub_account_id, **fields}

    # ---- market data (public) ---------------------------------------------------------------
    async def all_instruments(self) -> list[dict[str, Any]]:
        """Every active instrument (`InstrumentDisplay` objects)."""
        ep = self.http.endpoints
        body = await self.http.call(
            ep.market_data_url,
            "full/v1/all_instruments",
            {"is_active": True},
            group="market",
            private=False,
        )
        result = _result(body, "all_instruments")
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    async def mini(self, instrument: str) -> dict[str, Any]:
        ep = self.http.endpoints
        body = await self.http.call(
            ep.market_data_url,
            "full/v1/mini",
            {"instrument": instrument},
            group="market",
            private=False,
        )
        result = _result(body, "mini")
        return result if isinstance(result, dict) else {}

    # ---- orders -------------------------------------------------------------------------------
    async def create_order(self, order: dict[str, Any]) -> dict[str, Any]:
        """Create a signed order; the result has `order_id` "0x00" and state PENDING."""
        result = _result(await self._trade("full/v1/create_order", {"order": order}), "create")
        return result if isinstance(result, dict) else {}

    async def cancel_order(self, client_order_id: int, ttl_ms: int = 1_000) -> None:
        """Cancel by client order id; the TTL also kills a create with that id arriving later."""
        ttl = max(0, min(ttl_ms, MAX_CANCEL_TTL_MS))
        body = self._sub(client_order_id=str(client_order_id), time_to_live_ms=str(ttl))
        _result(await self._trade("full/v1/cancel_order", body), "cancel_order")

    async def cancel_all(self, base: str, quote: str) -> None:
        """Cancel every open perpetual order on `base`/`quote` (ack only)."""
        body = self._sub(kind=["PERPETUAL"], base=[base], quote=[quote])
        _result(await self._trade("full/v1/cancel_all_orders", body, "cancel_all"), "cancel_all")

    async def bulk_orders(
        self,
        orders: Sequence[dict[str, Any]],
        cancel_client_order_ids: Sequence[int] = (),
        ttl_ms: int = 1_000,
    ) -> dict[str, Any]:
        """`v2/bulk_orders`: cancels (by client id) first, then creates, in one call."""
        body = self._sub(
            orders=list(orders),
            order_i_ds=[],
            client_order_i_ds=[str(c) for c in cancel_client_order_ids],
            time_to_live_ms=str(max(0, min(ttl_ms, MAX_CANCEL_TTL_MS))),
        )
        answer = await self._trade("full/v2/bulk_orders", body, "cancel_all")
        if isinstance(answer, dict) and isinstance(answer.get("result"), dict):
            answer = answer["result"]
        if not isinstance(answer, dict):
            raise VenueError("unexpected_response", "bulk_orders: answer is not an object")
        return answer

    async def get_order(self, client_order_id: int) -> dict[str, Any]:
        body = self._sub(client_order_id=str(client_order_id))
        result = _result(await self._trade("full/v1/order", body, "query"), "order")
        return result if isinstance(result, dict) else {}

    async def open_orders(self, base: str, quote: str) -> list[dict[str, Any]]:
        body = self._sub(kind=["PERPETUAL"], base=[base], quote=[quote])
        result = _result(await self._trade("full/v1/open_orders", body, "query"), "open_orders")
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    # ---- account ------------------------------------------------------------------------------
    async def positions(self, base: str, quote: str) -> list[dict[str, Any]]:
        body = self._sub(kind=["PERPETUAL"], base=[base], quote=[quote])
        result = _result(await self._trade("full/v1/positions", body, "query"), "positions")
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    async def account_summary(self) -> dict[str, Any]:
        body = self._sub()
        result = _result(await self._trade("full/v1/account_summary", body, "account"), "summary")
        return result if isinstance(result, dict) else {}

    async def fill_history(
        self,
        base: str,
        quote: str,
        *,
        start_ns: int = 0,
        end_ns: int = 0,
        limit: int = 500,
        max_pages: int = 20,
    ) -> list[dict[str, Any]]:
        """Fills newest first, following `next` cursors for up to `max_pages` pages."""
        fills: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(max_pages):
            body = self._sub(kind=["PERPETUAL"], base=[base], quote=[quote], limit=limit)
            if start_ns:
                body["start_time"] = str(start_ns)
            if end_ns:
                body["end_time"] = str(end_ns)
            if cursor:
                body["cursor"] = cursor
            answer = await self._trade("full/v1/fill_history", body, "query")
            page = _result(answer, "fill_history")
            if isinstance(page, list):
                fills.extend(f for f in page if isinstance(f, dict))
            cursor = str(answer.get("next") or "") if isinstance(answer, dict) else ""
            if not cursor or not page:
                break
        return fills

    async def set_initial_leverage(self, instrument: str, leverage: int) -> None:
        body = self._sub(instrument=instrument, leverage=str(leverage))
        answer = await self._trade("full/v1/set_initial_leverage", body, "account")
        if isinstance(answer, dict) and answer.get("success") is False:
            raise VenueError("leverage_not_set", f"{instrument}: exchange answered success=false")

    async def cancel_on_disconnect(self, countdown_ms: int) -> None:
        """Arm or refresh (1001..300000 ms) or disarm (0) the dead-man switch."""
        if countdown_ms != 0 and not MIN_ARMED_COUNTDOWN_MS <= countdown_ms <= MAX_COUNTDOWN_MS:
            raise ValueError(f"countdown_ms must be 0 or in [1001, 300000], got {countdown_ms}")
        body = self._sub(countdown_time=str(countdown_ms))
        await self._trade("full/v1/cancel_on_disconnect", body, "cod")
