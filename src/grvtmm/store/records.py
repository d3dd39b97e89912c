"""Typed, immutable views of stored rows, and their JSON-ready forms for the API.

Client order ids are rendered as strings in JSON: they exceed 2^53, the largest integer a
JavaScript number holds exactly. Decimals are rendered as exact strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

from grvtmm.store.tables import (
    BacktestJob,
    ConfigVersion,
    EngineEventRow,
    EquitySnapshot,
    FillRow,
    OrderRow,
    OrderStatusRow,
    TradingSession,
)

T = TypeVar("T")

PPM = 1_000_000
MAX_PAGE: Final = 1_000
SECRET_FIELDS: Final = frozenset(
    {"api_key", "api_secret", "bot_token", "password", "secret_key", "private_key"}
)


class StoreError(ValueError):
    """A request the store refuses (bad paging bounds, unknown kind, secrets in a config)."""


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise StoreError(f"limit must be in [1, {MAX_PAGE}]")
    if offset < 0:
        raise StoreError("offset must be >= 0")


def reject_secrets(value: Any, path: str = "") -> None:
    """Configs and job parameters are stored in clear text, so secret-named fields are refused."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).lower() in SECRET_FIELDS and item not in (None, ""):
                raise StoreError(f"{path}{key} is a secret; store it in the secret box")
            reject_secrets(item, f"{path}{key}.")
    elif isinstance(value, list):
        for item in value:
            reject_secrets(item, path)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing, latest first, and the total number of matching rows."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    started_at_ns: int
    ended_at_ns: int | None
    mode: str
    symbol: str
    config_version_id: int | None
    start_equity: Decimal | None

    @classmethod
    def of(cls, row: TradingSession) -> SessionRecord:
        return cls(
            row.id,
            row.started_at_ns,
            row.ended_at_ns,
            row.mode,
            row.symbol,
            row.config_version_id,
            row.start_equity,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at_ns": self.started_at_ns,
            "ended_at_ns": self.ended_at_ns,
            "mode": self.mode,
            "symbol": self.symbol,
            "config_version_id": self.config_version_id,
            "start_equity": _dec(self.start_equity),
        }


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: int
    venue_order_id: str | None
    session_id: int | None
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    post_only: bool
    reduce_only: bool
    tif: str
    reason: str
    status: str
    created_ns: int
    updated_ns: int

    @classmethod
    def of(cls, row: OrderRow) -> OrderRecord:
        return cls(
            int(row.client_order_id),
            row.venue_order_id,
            row.session_id,
            row.symbol,
            row.side,
            row.price,
            row.size,
            row.post_only,
            row.reduce_only,
            row.tif,
            row.reason,
            row.status,
            row.created_ns,
            row.updated_ns,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "client_order_id": str(self.client_order_id),
            "venue_order_id": self.venue_order_id,
            "session_id": self.session_id,
            "symbol": self.symbol,
            "side": self.side,
            "price": _dec(self.price),
            "size": _dec(self.size),
            "post_only": self.post_only,
            "reduce_only": self.reduce_only,
            "tif": self.tif,
            "reason": self.reason,
            "status": self.status,
            "created_ns": self.created_ns,
            "updated_ns": self.updated_ns,
        }


@dataclass(frozen=True, slots=True)
class OrderStatusRecord:
    client_order_id: int
    status: str
    ts_ns: int
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: OrderStatusRow) -> OrderStatusRecord:
        return cls(int(row.client_order_id), row.status, row.ts_ns, json.loads(row.detail))

    def as_json(self) -> dict[str, Any]:
        return {
            "client_order_id": str(self.client_order_id),
            "status": self.status,
            "ts_ns": self.ts_ns,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class FillRecord:
    trade_id: str
    client_order_id: int
    session_id: int | None
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_side: str
    is_maker: bool
    ts_ns: int
    local_ns: int

    @property
    def notional(self) -> Decimal:
        """Quote-currency notional, exact."""
        return self.price * self.size

    @classmethod
    def of(cls, row: FillRow) -> FillRecord:
        return cls(
            row.trade_id,
            int(row.client_order_id),
            row.session_id,
            row.symbol,
            row.side,
            row.price,
            row.size,
            row.fee,
            row.fee_side,
            row.is_maker,
            row.ts_ns,
            row.local_ns,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "client_order_id": str(self.client_order_id),
            "session_id": self.session_id,
            "symbol": self.symbol,
            "side": self.side,
            "price": _dec(self.price),
            "size": _dec(self.size),
            "notional": _dec(self.notional),
            "fee": _dec(self.fee),
            "fee_side": self.fee_side,
            "liquidity": "maker" if self.is_maker else "taker",
            "is_maker": self.is_maker,
            "ts_ns": self.ts_ns,
        }


@dataclass(frozen=True, slots=True)
class FillTotals:
    """Exact aggregates over a set of fills. Fees: `fee_net` = `fee_costs` − `fee_rebates`."""

    fills: int
    buy_fills: int
    sell_fills: int
    maker_fills: int
    taker_fills: int
    volume_base: Decimal
    volume_notional: Decimal
    fee_net: Decimal
    fee_costs: Decimal
    fee_rebates: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "fills": self.fills,
            "buy_fills": self.buy_fills,
            "sell_fills": self.sell_fills,
            "maker_fills": self.maker_fills,
            "taker_fills": self.taker_fills,
            "volume_base": _dec(self.volume_base),
            "volume_notional": _dec(self.volume_notional),
            "fee_net": _dec(self.fee_net),
            "fee_costs": _dec(self.fee_costs),
            "fee_rebates": _dec(self.fee_rebates),
        }


@dataclass(frozen=True, slots=True)
class EquityRecord:
    ts_ns: int
    session_id: int | None
    equity: Decimal
    free_margin: Decimal
    position: Decimal
    inventory_notional: Decimal | None
    mid: Decimal | None

    @classmethod
    def of(cls, row: EquitySnapshot) -> EquityRecord:
        return cls(
            row.ts_ns,
            row.session_id,
            row.equity,
            row.free_margin,
            row.position,
            row.inventory_notional,
            row.mid,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ts_ns": self.ts_ns,
            "session_id": self.session_id,
            "equity": _dec(self.equity),
            "free_margin": _dec(self.free_margin),
            "position": _dec(self.position),
            "inventory_notional": _dec(self.inventory_notional),
            "mid": _dec(self.mid),
        }


@dataclass(frozen=True, slots=True)
class EngineEventRecord:
    id: int
    ts_ns: int
    session_id: int | None
    kind: str
    level: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: EngineEventRow) -> EngineEventRecord:
        detail = json.loads(row.detail)
        return cls(row.id, row.ts_ns, row.session_id, row.kind, row.level, detail)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts_ns": self.ts_ns,
            "session_id": self.session_id,
            "kind": self.kind,
            "level": self.level,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ConfigVersionRecord:
    id: int
    created_at_ns: int
    kind: str
    body: str

    @classmethod
    def of(cls, row: ConfigVersion) -> ConfigVersionRecord:
        return cls(row.id, row.created_at_ns, row.kind, row.body)


@dataclass(frozen=True, slots=True)
class BacktestJobRecord:
    id: int
    status: str
    params: dict[str, Any]
    progress: float
    """Fraction done, 0..1."""
    created_at_ns: int
    started_at_ns: int | None
    finished_at_ns: int | None
    result: Any
    report_path: str | None
    error: str | None

    @classmethod
    def of(cls, row: BacktestJob) -> BacktestJobRecord:
        return cls(
            row.id,
            row.status,
            json.loads(row.params),
            row.progress_ppm / PPM,
            row.created_at_ns,
            row.started_at_ns,
            row.finished_at_ns,
            None if row.result is None else json.loads(row.result),
            row.report_path,
            row.error,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "params": self.params,
            "progress": self.progress,
            "created_at_ns": self.created_at_ns,
            "started_at_ns": self.started_at_ns,
            "finished_at_ns": self.finished_at_ns,
            "result": self.result,
            "report_path": self.report_path,
            "error": self.error,
        }
