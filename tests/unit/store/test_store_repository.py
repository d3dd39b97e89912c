"""Repository behaviour on real SQLite files (the same cases run on PostgreSQL in integration)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from store_cases import (
    ALL_CASES,
    INSTRUMENT,
    T0,
    check_schema_matches_models,
    cid,
    fill,
    make_store,
    place,
    run,
    start,
)

from grvtmm.core.types import Side
from grvtmm.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = make_store(f"sqlite:///{tmp_path / 'grvtmm.db'}")
    yield s
    s.close()


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.__name__.removeprefix("check_"))
def test_repository_case_on_sqlite(store: Store, case: Callable[[Store], None]) -> None:
    case(store)


def test_migration_builds_the_models_schema_on_sqlite(store: Store, tmp_path: Path) -> None:
    created = create_engine(f"sqlite:///{tmp_path / 'created.db'}")
    check_schema_matches_models(store.engine, created)
    created.dispose()


def test_sqlite_file_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout_ms=1234)
    with s.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 1234
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    s.close()


def test_restart_keeps_sessions_orders_and_fills(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'grvtmm.db'}"
    first = make_store(url)
    run(first, [start(T0), place(1, T0 + 1), fill(1, "r1", T0 + 2, fee="-0.01")])
    first.close()

    again = make_store(url)
    session = again.current_session()
    assert session is not None and session.started_at_ns == T0
    assert again.order(cid(1)) is not None
    assert [f.trade_id for f in again.fills().items] == ["r1"]
    # the engine starts again: a new session; the venue re-sends the old fill on reconcile
    run(again, [start(T0 + 100), fill(1, "r1", T0 + 2, fee="-0.01"), place(2, T0 + 101)])
    sessions = again.sessions().items
    assert [s.started_at_ns for s in sessions] == [T0 + 100, T0]
    assert sessions[1].ended_at_ns == T0 + 100  # the session the restart interrupted is closed
    assert again.fill_count() == 1
    assert again.fill_totals(session_id=sessions[1].id).fee_rebates == Decimal("0.01")
    assert again.orders().total == 2
    again.close()


def test_client_order_ids_above_int64_round_trip(store: Store) -> None:
    top = 2**64 - 1
    order = place(0, T0, side=Side.SELL)
    order = type(order)(**{**_fields(order), "client_order_id": top})
    run(store, [start(T0), order])
    stored = store.order(top)
    assert stored is not None and stored.client_order_id == top
    assert store.orders_page()[0][0]["client_order_id"] == str(top)


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}  # type: ignore[attr-defined]


def test_migrate_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'grvtmm.db'}"
    s = make_store(url)
    s.save_config("strategy", '{"symbol": "BTC_USDT_Perp"}')
    s.close()
    s = make_store(url)
    assert s.latest_config("strategy") == '{"symbol": "BTC_USDT_Perp"}'
    with sqlite3.connect(tmp_path / "grvtmm.db") as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    s.close()


def test_in_memory_url_shares_one_database(tmp_path: Path) -> None:
    s = make_store("sqlite://")
    run(s, [start(T0), place(1, T0)])
    assert s.orders().total == 1
    assert INSTRUMENT.symbol == s.orders().items[0].symbol
    s.close()
