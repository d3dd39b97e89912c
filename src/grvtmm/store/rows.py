"""Row writes shared by the repository and the background writer. Each runs on a connection
inside the caller's transaction; bulk functions take many rows in one statement (executemany)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, Insert, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from grvtmm.store.tables import (
    ConfigVersion,
    EngineEventRow,
    EquitySnapshot,
    FillRow,
    OrderRow,
    OrderStatusRow,
    TradingSession,
)

Row = dict[str, Any]
CHUNK: Final = 500

_UPDATE_ORDER: Final = (
    update(OrderRow)
    .where(OrderRow.client_order_id == bindparam("cid"))
    .values(
        status=bindparam("new_status"),
        updated_ns=bindparam("new_updated_ns"),
        venue_order_id=func.coalesce(bindparam("new_venue_order_id"), OrderRow.venue_order_id),
    )
)


def _insert_ignore(connection: Connection, model: type[Any], key: str) -> Insert:
    """INSERT that skips a row whose `key` already exists (SQLite and PostgreSQL); elsewhere
    callers filter known keys first."""
    table = model.__table__
    name = connection.dialect.name
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    return insert(table)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def order_statuses(connection: Connection, cids: Sequence[str]) -> dict[str, str]:
    """Current status of each stored order among `cids`."""
    found: dict[str, str] = {}
    for chunk in _chunks(cids):
        query = select(OrderRow.client_order_id, OrderRow.status).where(
            OrderRow.client_order_id.in_(chunk)
        )
        found.update((cid, status) for cid, status in connection.execute(query))
    return found


def stored_trade_ids(connection: Connection, trade_ids: Sequence[str]) -> set[str]:
    """The trade ids among `trade_ids` that are already stored."""
    found: set[str] = set()
    for chunk in _chunks(trade_ids):
        query = select(FillRow.trade_id).where(FillRow.trade_id.in_(chunk))
        found.update(connection.execute(query).scalars())
    return found


def insert_orders(connection: Connection, orders: Sequence[Row]) -> None:
    if orders:
        connection.execute(_insert_ignore(connection, OrderRow, "client_order_id"), orders)


def update_orders(connection: Connection, changes: Sequence[Row]) -> None:
    """Rows of cid, new_status, new_updated_ns, new_venue_order_id (None keeps the stored id)."""
    if changes:
        connection.execute(_UPDATE_ORDER, changes)


def insert_history(connection: Connection, history: Sequence[Row]) -> None:
    if history:
        connection.execute(insert(OrderStatusRow), history)


def insert_fills(connection: Connection, fills: Sequence[Row]) -> None:
    if fills:
        connection.execute(_insert_ignore(connection, FillRow, "trade_id"), fills)


def insert_events(connection: Connection, events: Sequence[Row]) -> None:
    if events:
        connection.execute(insert(EngineEventRow), events)


def insert_snapshots(connection: Connection, snapshots: Sequence[Row]) -> None:
    if snapshots:
        connection.execute(insert(EquitySnapshot), snapshots)


def start_session(
    connection: Connection,
    *,
    started_at_ns: int,
    mode: str,
    symbol: str,
    start_equity: Decimal | None,
    config_version_id: int | None,
) -> int:
    """Open a session; one left open by a crash ends when the next one starts."""
    connection.execute(
        update(TradingSession)
        .where(TradingSession.ended_at_ns.is_(None))
        .values(ended_at_ns=started_at_ns)
    )
    result = connection.execute(
        insert(TradingSession),
        {
            "started_at_ns": started_at_ns,
            "ended_at_ns": None,
            "mode": mode,
            "symbol": symbol,
            "start_equity": start_equity,
            "config_version_id": config_version_id,
        },
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def end_session(connection: Connection, session_id: int, ended_at_ns: int) -> bool:
    """End an open session; False when it was already ended or does not exist."""
    result = connection.execute(
        update(TradingSession)
        .where(TradingSession.id == session_id, TradingSession.ended_at_ns.is_(None))
        .values(ended_at_ns=ended_at_ns)
    )
    return bool(result.rowcount)


def latest_config_id(connection: Connection, kind: str) -> int | None:
    value = connection.execute(
        select(func.max(ConfigVersion.id)).where(ConfigVersion.kind == kind)
    ).scalar_one_or_none()
    return None if value is None else int(value)


def to_json(detail: Mapping[str, Any]) -> str:
    return json.dumps(dict(detail), sort_keys=True, separators=(",", ":"), default=str)
