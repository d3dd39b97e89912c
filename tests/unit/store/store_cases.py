"""Repository and writer behaviour shared by the SQLite tests and the PostgreSQL integration test.

Each `check_*` takes a fresh, migrated `Store` and fails with an assertion if the behaviour is off.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from grvtmm.core.clock import NS_PER_S, SimClock
from grvtmm.core.commands import PlaceOrder
from grvtmm.core.events import (
    AccountUpdate,
    BreakerTripped,
    EngineMode,
    FlattenDone,
    FlattenProgress,
    ModeChanged,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    QuoteUpdated,
    Timer,
)
from grvtmm.core.types import Instrument, Side
from grvtmm.store import Store, StoreError, StoreWriter, WriterSettings
from grvtmm.store.tables import Base

INSTRUMENT = Instrument(
    "BTC_USDT_Perp", tick_size=Decimal("0.1"), size_step=Decimal("0.001"), min_size=Decimal("0.001")
)
CID0 = 2**63 + 1_000
T0 = 1_767_225_600 * NS_PER_S


def cid(n: int) -> int:
    return CID0 + n


def place(n: int, ts_ns: int, side: Side = Side.BUY, price_ticks: int = 1001) -> PlaceOrder:
    return PlaceOrder(
        ts_ns=ts_ns,
        client_order_id=cid(n),
        symbol=INSTRUMENT.symbol,
        side=side,
        price_ticks=price_ticks,
        size_lots=3,
        reason="quote",
    )


def fill(
    n: int,
    trade: str,
    ts_ns: int,
    *,
    fee: str = "0",
    side: Side = Side.BUY,
    price_ticks: int = 1001,
    size_lots: int = 3,
    leaves_lots: int = 0,
    is_maker: bool = True,
) -> OrderFilled:
    return OrderFilled(
        ts_ns=ts_ns,
        local_ns=ts_ns + 1,
        client_order_id=cid(n),
        trade_id=trade,
        symbol=INSTRUMENT.symbol,
        side=side,
        price_ticks=price_ticks,
        size_lots=size_lots,
        fee=Decimal(fee),
        is_maker=is_maker,
        leaves_lots=leaves_lots,
    )


def mode(old: EngineMode, new: EngineMode, ts_ns: int) -> ModeChanged:
    return ModeChanged(ts_ns=ts_ns, local_ns=ts_ns, old=old, new=new, reason="operator")


def start(ts_ns: int, old: EngineMode = EngineMode.IDLE) -> ModeChanged:
    return mode(old, EngineMode.RECONCILING, ts_ns)


def stop(ts_ns: int) -> ModeChanged:
    return mode(EngineMode.FLATTENING, EngineMode.STOPPED, ts_ns)


def writer(store: Store, **settings: Any) -> StoreWriter:
    return StoreWriter(store, INSTRUMENT, mode="demo", settings=WriterSettings(**settings))


def run(store: Store, items: list[Any], **settings: Any) -> StoreWriter:
    """Publish `items` through a fresh writer and wait until they are written."""
    w = writer(store, **settings)
    for item in items:
        w.publish(item)
    assert w.flush(20.0)
    assert w.close()
    assert w.failures == 0, w.last_error
    return w


# ---- schema ------------------------------------------------------------------------------------
def check_schema_matches_models(migrated: Engine, created: Engine) -> None:
    """`migrated` ran the migrations; `created` is an empty database for `create_all`."""
    with migrated.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    # Alembic does not compare CHECK constraints: reflect both databases and compare them
    Base.metadata.create_all(created)
    for table in Base.metadata.sorted_tables:
        assert _checks(migrated, table.name) == _checks(created, table.name), table.name
        assert _checks(migrated, table.name) or not any(
            c.__visit_name__ == "check_constraint" for c in table.constraints
        )


def _checks(engine: Engine, table: str) -> set[tuple[str, str]]:
    with engine.connect() as connection:
        found = inspect(connection).get_check_constraints(table)
    return {(c["name"], " ".join(c["sqltext"].split())) for c in found}


# ---- writer → repository -----------------------------------------------------------------------
def check_order_lifecycle(store: Store) -> None:
    items = [
        start(T0),
        place(1, T0 + 10),
        OrderAccepted(
            ts_ns=T0 + 20, local_ns=T0 + 21, client_order_id=cid(1), venue_order_id="0x1"
        ),
        fill(1, "t-1", T0 + 30, leaves_lots=2, size_lots=1),
        fill(1, "t-2", T0 + 40, leaves_lots=0, size_lots=2),
        # a late acknowledgement must not move a filled order backwards
        OrderAccepted(ts_ns=T0 + 50, local_ns=T0 + 51, client_order_id=cid(1)),
        place(2, T0 + 60, side=Side.SELL, price_ticks=1003),
        OrderCanceled(ts_ns=T0 + 70, local_ns=T0 + 71, client_order_id=cid(2), reason="requote"),
        place(3, T0 + 80),
        OrderRejected(
            ts_ns=T0 + 90, local_ns=T0 + 91, client_order_id=cid(3), reason="post_only", code=2
        ),
    ]
    run(store, items)
    first = store.order(cid(1))
    assert first is not None
    assert (first.status, first.venue_order_id, first.side) == ("filled", "0x1", "buy")
    assert (first.price, first.size) == (Decimal("100.1"), Decimal("0.003"))
    history = [h.status for h in store.order_history(cid(1))]
    assert history == ["pending", "open", "partially_filled", "filled", "open"]
    second, third = store.order(cid(2)), store.order(cid(3))
    assert second is not None and third is not None
    assert (second.status, second.side, second.price) == ("canceled", "sell", Decimal("100.3"))
    assert third.status == "rejected"
    assert store.order_history(cid(3))[-1].detail == {"reason": "post_only", "code": 2}
    rejects = store.engine_events(kinds=["reject"]).items
    assert [r.detail["client_order_id"] for r in rejects] == [str(cid(3))]


def check_duplicate_fill_stored_once(store: Store) -> None:
    f = fill(1, "dup-1", T0 + 30, fee="-0.0001")
    w = run(store, [start(T0), place(1, T0 + 10), f, f, f])
    assert store.fill_count() == 1
    assert w.counts["duplicate_fills"] == 2
    # a later delivery by another writer (e.g. after a restart) is still ignored
    run(store, [f])
    assert store.fill_count() == 1
    assert [h.status for h in store.order_history(cid(1))] == ["pending", "filled"]


def check_exact_decimals(store: Store) -> None:
    items = [start(T0), place(1, T0 + 1)]
    items += [fill(1, "a", T0 + 2, fee="0.1"), fill(1, "b", T0 + 3, fee="0.2")]
    items += [fill(1, "c", T0 + 4, fee="-0.000000000000000001", price_ticks=3)]
    run(store, items)
    totals = store.fill_totals()
    assert totals.fee_costs == Decimal("0.3")
    assert totals.fee_rebates == Decimal("0.000000000000000001")
    assert totals.fee_net == Decimal("0.299999999999999999")
    assert totals.volume_base == Decimal("0.009")
    # 100.1 * 0.003 twice + 0.3 * 0.003
    assert totals.volume_notional == Decimal("0.6015")
    page = store.fills(limit=3).items
    assert [f.fee_side for f in page] == ["rebate", "cost", "cost"]
    assert store.fills_page(limit=1)[0][0]["price"] == "0.3"


def check_sessions_and_totals(store: Store) -> None:
    items: list[Any] = [AccountUpdate(ts_ns=T0, local_ns=T0, equity=250.5, free_margin=200.0)]
    items += [start(T0 + 1), place(1, T0 + 2), fill(1, "s1", T0 + 3, fee="0.01"), stop(T0 + 4)]
    items += [start(T0 + 10, old=EngineMode.STOPPED), place(2, T0 + 11)]
    items += [fill(2, "s2", T0 + 12, fee="-0.02", side=Side.SELL, is_maker=False)]
    run(store, items)
    first, second = reversed(store.sessions().items)
    assert (first.started_at_ns, first.ended_at_ns) == (T0 + 1, T0 + 4)
    assert first.start_equity == Decimal("250.5")
    assert (second.started_at_ns, second.ended_at_ns, second.mode) == (T0 + 10, None, "demo")
    assert store.current_session() == second
    totals = store.fill_totals(session_id=second.id)
    assert (totals.fills, totals.sell_fills, totals.taker_fills) == (1, 1, 1)
    assert totals.fee_rebates == Decimal("0.02")
    assert store.fill_totals(session_id=first.id).fee_costs == Decimal("0.01")
    assert [f.trade_id for f in store.fills(session_id=first.id).items] == ["s1"]
    orders = store.orders(session_id=second.id).items
    assert [o.client_order_id for o in orders] == [cid(2)]
    assert store.end_session(second.id, T0 + 20)
    assert not store.end_session(second.id, T0 + 30)
    assert store.current_session() is None


def check_orders_paging(store: Store) -> None:
    items: list[Any] = [start(T0)] + [place(n, T0 + n) for n in range(25)]
    run(store, items)
    page = store.orders(limit=10)
    assert page.total == 25
    assert [o.client_order_id for o in page.items] == [cid(n) for n in range(24, 14, -1)]
    tail = store.orders(limit=10, offset=20)
    assert [o.client_order_id for o in tail.items] == [cid(n) for n in range(4, -1, -1)]
    assert store.orders(limit=10, offset=25).items == []
    assert store.orders(statuses=["canceled"]).total == 0
    rows, total = store.orders_page(limit=2, offset=1)
    assert total == 25
    assert [r["client_order_id"] for r in rows] == [str(cid(23)), str(cid(22))]
    for limit, offset in ((0, 0), (1001, 0), (10, -1)):
        with pytest.raises(StoreError):
            store.orders(limit=limit, offset=offset)


def check_fills_paging(store: Store) -> None:
    items: list[Any] = [start(T0), place(1, T0)]
    # exchange time decides the order, not arrival
    items += [fill(1, f"p{n}", T0 + (n * 7919) % 30, leaves_lots=1) for n in range(30)]
    run(store, items)
    page = store.fills(limit=12, offset=3)
    assert page.total == 30
    times = [f.ts_ns for f in page.items]
    assert times == sorted(times, reverse=True)
    assert times[0] == T0 + 26
    assert len(store.fills(limit=1000).items) == 30


def check_equity_series(store: Store) -> None:
    items: list[Any] = [start(T0)]
    for n in range(600):
        ts = T0 + n * NS_PER_S
        items.append(QuoteUpdated(**_quote(ts, mid_ticks=1000.5)))
        items.append(AccountUpdate(ts_ns=ts, local_ns=ts, equity=100 + n / 10, free_margin=50.0))
    run(store, items, snapshot_interval_ns=NS_PER_S)
    full = store.equity_series(max_points=1000)
    assert len(full) == 600
    assert full[1].equity == Decimal("100.1") and full[1].mid == Decimal("100.05")
    small = store.equity_series(max_points=50)
    assert 40 <= len(small) <= 50
    times = [p.ts_ns for p in small]
    assert times == sorted(set(times))
    assert small[-1] == full[-1]
    window = store.equity_series(T0 + 100 * NS_PER_S, T0 + 199 * NS_PER_S, max_points=10)
    assert 1 <= len(window) <= 10
    assert all(T0 + 100 * NS_PER_S <= p.ts_ns <= T0 + 199 * NS_PER_S for p in window)
    assert window[-1].ts_ns == T0 + 199 * NS_PER_S


def _quote(ts_ns: int, mid_ticks: float) -> dict[str, Any]:
    return {
        "ts_ns": ts_ns,
        "local_ns": ts_ns,
        "bid_ticks": 1000,
        "bid_lots": 1,
        "ask_ticks": 1001,
        "ask_lots": 1,
        "mid_ticks": mid_ticks,
    }


def check_snapshot_cadence_and_position(store: Store) -> None:
    items: list[Any] = [start(T0), QuoteUpdated(**_quote(T0, 1000.0)), place(1, T0)]
    items.append(AccountUpdate(ts_ns=T0 + 1, local_ns=T0, equity=100.0, free_margin=90.0))
    items.append(fill(1, "pos", T0 + 2, size_lots=5))
    items.append(
        AccountUpdate(ts_ns=T0 + 3 * NS_PER_S, local_ns=T0, equity=101.0, free_margin=90.0)
    )
    items.append(Timer(ts_ns=T0 + 6 * NS_PER_S, local_ns=T0))
    run(store, items, snapshot_interval_ns=5 * NS_PER_S)
    series = store.equity_series()
    assert [p.ts_ns for p in series] == [T0 + 1, T0 + 6 * NS_PER_S]
    last = series[-1]
    assert (last.equity, last.position, last.mid) == (Decimal("101.0"), Decimal("0.005"), 100)
    assert last.inventory_notional == Decimal("0.5")
    assert last.session_id == store.sessions().items[0].id


def check_engine_events(store: Store) -> None:
    items: list[Any] = [start(T0)]
    items.append(BreakerTripped(ts_ns=T0 + 1, local_ns=T0, breaker="drawdown", detail="dd 5%"))
    items += [
        FlattenProgress(ts_ns=T0 + 2 + n, local_ns=T0, phase="closing", attempt=n, position_lots=9)
        for n in range(5)
    ]
    items.append(FlattenDone(ts_ns=T0 + 10, local_ns=T0, dust=True, position_lots=1, attempts=5))
    items.append(mode(EngineMode.FLATTENING, EngineMode.HALTED, T0 + 11))
    run(store, items)
    page = store.engine_events(limit=3)
    assert page.total == 9
    assert [e.kind for e in page.items] == ["mode_change", "flatten_done", "flatten_progress"]
    assert [e.level for e in page.items] == ["critical", "warning", "info"]
    breaker = store.engine_events(kinds=["breaker"]).items[0]
    assert (breaker.level, breaker.detail["breaker"]) == ("critical", "drawdown")
    assert store.engine_events(offset=8).items[0].detail["new"] == "reconciling"
    assert store.latest_session() is not None
    assert store.current_session() is None  # the halt ended the session


def check_config_versions(store: Store) -> None:
    first = store.save_config("strategy", json.dumps({"symbol": "BTC_USDT_Perp", "gamma": 0.1}))
    second = store.save_config("strategy", json.dumps({"symbol": "BTC_USDT_Perp", "gamma": 0.2}))
    store.save_config("telegram", json.dumps({"chat_id": "42"}))
    assert second > first
    assert json.loads(store.latest_config("strategy") or "")["gamma"] == 0.2
    assert store.latest_config("goal") is None
    assert store.config_versions("strategy").total == 2
    with pytest.raises(StoreError):
        store.save_config("exchange-meta", json.dumps({"env": "prod", "api_secret": "x"}))
    with pytest.raises(StoreError):
        store.save_config("strategy", "not json")
    # a session started afterwards records the strategy version it ran with
    run(store, [start(T0)])
    session = store.current_session()
    assert session is not None and session.config_version_id == second


def check_backtest_jobs(store: Store) -> None:
    job = store.create_backtest_job({"paths": ["a.npz"], "gamma": 0.1})
    assert (job.status, job.progress, job.params["gamma"]) == ("queued", 0.0, 0.1)
    running = store.update_backtest_job(job.id, status="running", progress=0.25)
    assert running is not None and running.started_at_ns is not None
    assert running.progress == 0.25
    done = store.update_backtest_job(
        job.id, status="done", progress=1.0, result={"fills": 3}, report_path="r.html"
    )
    assert done is not None
    assert (done.status, done.result, done.report_path) == ("done", {"fills": 3}, "r.html")
    assert done.finished_at_ns is not None
    other = store.create_backtest_job({})
    assert [j.id for j in store.backtest_jobs().items] == [other.id, job.id]
    with pytest.raises(StoreError):
        store.update_backtest_job(job.id, status="exploded")
    with pytest.raises(StoreError):
        store.create_backtest_job({"grvt": {"api_key": "k"}})
    assert store.delete_backtest_job(job.id)
    assert not store.delete_backtest_job(job.id)
    assert store.backtest_job(job.id) is None


def check_secret_ciphertexts(store: Store) -> None:
    store.put_secret_ciphertext("grvt.api_key", "c1", 5)
    store.put_secret_ciphertext("grvt.api_key", "c2", 7)
    assert store.secret_ciphertext("grvt.api_key") == "c2"
    assert store.secret_times() == {"grvt.api_key": 7}
    assert store.delete_secret("grvt.api_key")
    assert store.secret_ciphertext("grvt.api_key") is None


ALL_CASES = (
    check_order_lifecycle,
    check_duplicate_fill_stored_once,
    check_exact_decimals,
    check_sessions_and_totals,
    check_orders_paging,
    check_fills_paging,
    check_equity_series,
    check_snapshot_cadence_and_position,
    check_engine_events,
    check_config_versions,
    check_backtest_jobs,
    check_secret_ciphertexts,
)


def make_store(url: str) -> Store:
    return Store(url, clock=SimClock(T0))
