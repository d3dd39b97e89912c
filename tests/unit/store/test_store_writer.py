"""The store sink: never blocks or raises into the publisher, never loses a fill, retries and
counts failures. A second SQLite connection holding the write lock plays the slow database."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from store_cases import INSTRUMENT, T0, cid, fill, make_store, place, start, stop

from grvtmm.core.clock import NS_PER_S, perf_ns
from grvtmm.core.events import BookDelta, EngineWarning
from grvtmm.core.types import Instrument
from grvtmm.store import Store, StoreWriter, WriterSettings

WAIT_S = 20.0


@dataclass
class Alerts:
    """An `on_failure` hook that records details and lets a test wait for the next one."""

    details: list[str] = field(default_factory=list)
    seen: threading.Event = field(default_factory=threading.Event)

    def __call__(self, detail: str) -> None:
        self.details.append(detail)
        self.seen.set()

    def wait(self) -> None:
        assert self.seen.wait(WAIT_S), "no failure was reported"
        self.seen.clear()


@dataclass
class Lock:
    """Holds SQLite's write lock from a second connection until released."""

    path: Path
    connection: sqlite3.Connection | None = None

    def hold(self) -> None:
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        assert self.connection is not None
        self.connection.execute("ROLLBACK")
        self.connection.close()
        self.connection = None


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Store, Lock]]:
    path = tmp_path / "grvtmm.db"
    store = Store(f"sqlite:///{path}", busy_timeout_ms=100)
    yield store, Lock(path)
    store.close()


def make_writer(store: Store, alerts: Alerts | None = None, **settings: object) -> StoreWriter:
    options: dict[str, object] = {"retry_base_s": 0.01, "retry_max_s": 0.05, **settings}
    return StoreWriter(
        store,
        INSTRUMENT,
        mode="paper",
        settings=WriterSettings(**options),  # type: ignore[arg-type]
        on_failure=alerts,
    )


def test_publish_never_blocks_while_the_database_is_locked_and_no_fill_is_lost(
    db: tuple[Store, Lock],
) -> None:
    store, lock = db
    alerts = Alerts()
    writer = make_writer(store, alerts, max_queue=50)
    writer.publish(start(T0))
    writer.publish(place(0, T0))
    assert writer.flush(WAIT_S)
    lock.hold()
    writer.publish(place(1, T0 + 1))
    alerts.wait()  # the worker is now stuck retrying behind the lock
    began = perf_ns()
    for n in range(2_000):
        writer.publish(fill(0, f"lock-{n}", T0 + 10 + n, leaves_lots=1))
        writer.publish(EngineWarning(ts_ns=T0 + n, local_ns=T0, code="gap", detail="book gap"))
    for n in range(2, 202):  # new orders are never dropped: a later fill needs its order row
        writer.publish(place(n, T0 + 5_000 + n))
    writer.publish(stop(T0 + 10_000))  # mode changes are never dropped either
    elapsed_s = (perf_ns() - began) / NS_PER_S
    # 4 000 publishes; one blocked on the database would take at least the 0.1 s busy timeout
    assert elapsed_s < 0.1
    assert writer.pending_fills == 2_000
    assert writer.dropped == 2_000 - 50  # ordinary items beyond the bound are dropped ...
    assert writer.dropped_by_type == {"EngineWarning": 2_000 - 50}
    assert not writer.flush(0.05)  # ... and nothing can be written yet
    assert writer.failures >= 1 and writer.last_error is not None
    assert "OperationalError" in writer.last_error

    lock.release()
    assert writer.flush(WAIT_S)
    assert store.fill_count() == 2_000  # every fill, none dropped
    assert writer.pending_fills == 0 and writer.max_pending_fills == 2_000
    assert store.engine_events(kinds=["warning"]).total == 50
    assert store.order(cid(1)) is not None
    assert all(store.order(cid(n)) is not None for n in range(2, 202))
    assert store.current_session() is None
    assert writer.close()


def test_failures_are_counted_and_reported_with_backoff(db: tuple[Store, Lock]) -> None:
    store, lock = db
    alerts = Alerts()
    writer = make_writer(store, alerts)
    lock.hold()
    writer.publish(start(T0))
    alerts.wait()
    alerts.wait()  # reported again on the 2nd failure in a row, then at the 4th, 8th, ...
    lock.release()
    assert writer.flush(WAIT_S)
    assert writer.failures >= 2
    assert len(alerts.details) <= writer.failures.bit_length()
    assert all("fills waiting" in d for d in alerts.details)
    assert store.current_session() is not None
    writer.close()


def test_a_failing_alert_hook_does_not_stop_the_writer(db: tuple[Store, Lock]) -> None:
    store, lock = db
    raised = threading.Event()

    def hook(_detail: str) -> None:
        raised.set()
        raise RuntimeError("alert channel down")

    writer = StoreWriter(
        store, INSTRUMENT, mode="live", settings=WriterSettings(retry_base_s=0.01), on_failure=hook
    )
    lock.hold()
    writer.publish(start(T0))
    assert raised.wait(WAIT_S)
    lock.release()
    writer.publish(fill(0, "after-hook", T0 + 1))
    assert writer.flush(WAIT_S)
    assert store.fill_count() == 1
    writer.close()


def test_an_unstorable_item_is_isolated_and_reported_and_the_rest_is_written(
    db: tuple[Store, Lock],
) -> None:
    store, lock = db
    alerts = Alerts()
    writer = make_writer(store, alerts)
    lock.hold()
    writer.publish(start(T0))
    alerts.wait()
    other = Instrument("ETH_USDT_Perp", Decimal("0.01"), Decimal("0.01"), Decimal("0.01"))
    alien = fill(1, "alien", T0 + 2)
    alien = type(alien)(**{**_fields(alien), "symbol": other.symbol})
    for item in (fill(1, "ok-1", T0 + 1), alien, fill(1, "ok-2", T0 + 3)):
        writer.publish(item)
    lock.release()
    assert writer.flush(WAIT_S)
    assert sorted(f.trade_id for f in store.fills().items) == ["ok-1", "ok-2"]
    assert writer.poisoned == 1
    assert [f.trade_id for f in writer.unsaved_fills] == ["alien"]
    assert any("alien" in d for d in alerts.details)
    # once told about the instrument, the writer renders that symbol too
    writer.set_instrument(other)
    writer.publish(alien)
    assert writer.flush(WAIT_S)
    stored = {f.trade_id: f for f in store.fills().items}
    assert (stored["alien"].price, stored["alien"].size) == (Decimal("10.01"), Decimal("0.03"))
    assert not writer.close()  # the refused fill is reported as unsaved at close


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}  # type: ignore[attr-defined]


def test_publish_ignores_foreign_items_and_unneeded_market_data(db: tuple[Store, Lock]) -> None:
    store, _ = db
    writer = make_writer(store)
    writer.publish("not an event")  # type: ignore[arg-type]
    writer.publish(BookDelta(ts_ns=T0, local_ns=T0, symbol=INSTRUMENT.symbol, bids=(), asks=()))
    assert writer.pending == 0
    assert writer.flush(0.0)
    writer.close()


def test_close_writes_what_is_queued(db: tuple[Store, Lock]) -> None:
    store, _ = db
    writer = make_writer(store, batch_size=7)
    writer.publish(start(T0))
    for n in range(100):
        writer.publish(fill(0, f"c{n}", T0 + n))
    assert writer.close(WAIT_S)
    assert store.fill_count() == 100
    assert writer.written == 101


def test_close_gives_up_after_its_timeout_and_keeps_unwritten_fills(
    db: tuple[Store, Lock],
) -> None:
    store, lock = db
    alerts = Alerts()
    writer = make_writer(store, alerts)
    lock.hold()
    writer.publish(fill(0, "stuck-1", T0))
    alerts.wait()
    writer.publish(fill(0, "stuck-2", T0 + 1))
    assert not writer.close(0.05)
    assert sorted(f.trade_id for f in writer.unsaved_fills) == ["stuck-1", "stuck-2"]
    lock.release()
    assert store.fill_count() == 0


def test_unknown_orders_are_counted_not_fatal(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'x.db'}")
    writer = StoreWriter(store, INSTRUMENT, mode="backtest")
    writer.publish(fill(9, "orphan", T0))  # its PlaceOrder was never seen
    assert writer.flush(WAIT_S)
    assert store.fill_count() == 1
    assert writer.counts == {"unknown_orders": 1}
    assert writer.close()
    store.close()


def test_writer_refuses_an_unknown_mode(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match="mode"):
        StoreWriter(store, INSTRUMENT, mode="yolo")
    store.close()
