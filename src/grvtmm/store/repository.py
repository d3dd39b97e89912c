"""`Store`: the database behind the API — sessions, orders, fills, equity, events, configs,
secrets (ciphertext only) and backtest jobs. Synchronous; call it off the event loop."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.orm import Session

from grvtmm.core.clock import Clock, LiveClock
from grvtmm.store import rows
from grvtmm.store.db import make_engine, write_transaction
from grvtmm.store.jobs import BacktestJobs
from grvtmm.store.migrations import upgrade_engine
from grvtmm.store.records import (
    ConfigVersionRecord,
    EngineEventRecord,
    EquityRecord,
    FillRecord,
    FillTotals,
    OrderRecord,
    OrderStatusRecord,
    Page,
    SessionRecord,
    StoreError,
    check_page,
    reject_secrets,
)
from grvtmm.store.tables import (
    MODES,
    ConfigVersion,
    EngineEventRow,
    EquitySnapshot,
    FillRow,
    OrderRow,
    OrderStatusRow,
    SecretRow,
    TradingSession,
    cid_text,
)

R = TypeVar("R")


class Store(BacktestJobs):
    """Typed access to the trading database at a SQLAlchemy URL; migrates to the latest schema
    on open. SQLite files run in WAL mode with a busy timeout (`busy_timeout_ms`)."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock | None = None,
        busy_timeout_ms: int = 5_000,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.clock: Clock = clock or LiveClock()
        self.engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        if migrate:
            upgrade_engine(self.engine)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ---- helpers ---------------------------------------------------------------------------
    def _page(self, query: Select[R], limit: int, offset: int) -> tuple[list[R], int]:
        check_page(limit, offset)
        count = select(func.count()).select_from(query.order_by(None).subquery())
        with Session(self.engine) as session:
            total = int(session.execute(count).scalar_one())
            items = list(session.scalars(query.limit(limit).offset(offset)))
        return items, total

    def _one(self, query: Select[R]) -> R | None:
        with Session(self.engine) as session:
            return session.scalars(query.limit(1)).first()

    # ---- sessions --------------------------------------------------------------------------
    def start_session(
        self,
        *,
        mode: str,
        symbol: str,
        started_at_ns: int | None = None,
        start_equity: Decimal | None = None,
        config_version_id: int | None = None,
    ) -> SessionRecord:
        """Open a trading session (ending any session a crash left open)."""
        if mode not in MODES:
            raise StoreError(f"mode must be one of {', '.join(MODES)}")
        start = self.clock.now_ns() if started_at_ns is None else started_at_ns
        with write_transaction(self.engine) as connection:
            session_id = rows.start_session(
                connection,
                started_at_ns=start,
                mode=mode,
                symbol=symbol,
                start_equity=start_equity,
                config_version_id=config_version_id,
            )
        record = self.session(session_id)
        assert record is not None
        return record

    def end_session(self, session_id: int, ended_at_ns: int | None = None) -> bool:
        """End an open session; False when it was already ended or does not exist."""
        end = self.clock.now_ns() if ended_at_ns is None else ended_at_ns
        with write_transaction(self.engine) as connection:
            return rows.end_session(connection, session_id, end)

    def session(self, session_id: int) -> SessionRecord | None:
        row = self._one(select(TradingSession).where(TradingSession.id == session_id))
        return None if row is None else SessionRecord.of(row)

    def latest_session(self) -> SessionRecord | None:
        """The most recently started session, open or ended."""
        row = self._one(select(TradingSession).order_by(TradingSession.id.desc()))
        return None if row is None else SessionRecord.of(row)

    def current_session(self) -> SessionRecord | None:
        """The open session, if the engine is running one."""
        latest = self.latest_session()
        return latest if latest is not None and latest.ended_at_ns is None else None

    def sessions(self, limit: int = 50, offset: int = 0) -> Page[SessionRecord]:
        query = select(TradingSession).order_by(TradingSession.id.desc())
        items, total = self._page(query, limit, offset)
        return Page([SessionRecord.of(r) for r in items], total, limit, offset)

    # ---- orders ----------------------------------------------------------------------------
    def orders(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        session_id: int | None = None,
        statuses: Sequence[str] | None = None,
    ) -> Page[OrderRecord]:
        """Orders, latest first (by creation time)."""
        query = select(OrderRow).order_by(
            OrderRow.created_ns.desc(), OrderRow.client_order_id.desc()
        )
        if session_id is not None:
            query = query.where(OrderRow.session_id == session_id)
        if statuses:
            query = query.where(OrderRow.status.in_(list(statuses)))
        items, total = self._page(query, limit, offset)
        return Page([OrderRecord.of(r) for r in items], total, limit, offset)

    def order(self, client_order_id: int) -> OrderRecord | None:
        cid = cid_text(client_order_id)
        row = self._one(select(OrderRow).where(OrderRow.client_order_id == cid))
        return None if row is None else OrderRecord.of(row)

    def order_history(self, client_order_id: int) -> list[OrderStatusRecord]:
        """The order's status changes in arrival order."""
        query = (
            select(OrderStatusRow)
            .where(OrderStatusRow.client_order_id == cid_text(client_order_id))
            .order_by(OrderStatusRow.id)
        )
        with Session(self.engine) as session:
            return [OrderStatusRecord.of(r) for r in session.scalars(query)]

    def orders_page(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """JSON-ready order history, latest first, and the total count."""
        page = self.orders(limit, offset)
        return [o.as_json() for o in page.items], page.total

    # ---- fills -----------------------------------------------------------------------------
    def fills(
        self, limit: int = 50, offset: int = 0, *, session_id: int | None = None
    ) -> Page[FillRecord]:
        """Fills, latest first (by exchange time)."""
        query = select(FillRow).order_by(FillRow.ts_ns.desc(), FillRow.id.desc())
        if session_id is not None:
            query = query.where(FillRow.session_id == session_id)
        items, total = self._page(query, limit, offset)
        return Page([FillRecord.of(r) for r in items], total, limit, offset)

    def fills_page(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """JSON-ready fills (with fee side and liquidity), latest first, and the total count."""
        page = self.fills(limit, offset)
        return [f.as_json() for f in page.items], page.total

    def fill_count(self) -> int:
        with Session(self.engine) as session:
            return int(session.execute(select(func.count(FillRow.id))).scalar_one())

    def fill_totals(
        self,
        *,
        session_id: int | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> FillTotals:
        """Exact counts, volume and fees over the fills of a session and/or time range."""
        query = select(FillRow.side, FillRow.price, FillRow.size, FillRow.fee, FillRow.is_maker)
        if session_id is not None:
            query = query.where(FillRow.session_id == session_id)
        if start_ns is not None:
            query = query.where(FillRow.ts_ns >= start_ns)
        if end_ns is not None:
            query = query.where(FillRow.ts_ns <= end_ns)
        counts = {"fills": 0, "buy": 0, "maker": 0}
        base = notional = costs = rebates = Decimal(0)
        with Session(self.engine) as session:
            for side, price, size, fee, is_maker in session.execute(
                query.execution_options(yield_per=2_000)
            ):
                counts["fills"] += 1
                counts["buy"] += side == "buy"
                counts["maker"] += bool(is_maker)
                base += size
                notional += price * size
                if fee < 0:
                    rebates -= fee
                else:
                    costs += fee
        n = counts["fills"]
        return FillTotals(
            fills=n,
            buy_fills=counts["buy"],
            sell_fills=n - counts["buy"],
            maker_fills=counts["maker"],
            taker_fills=n - counts["maker"],
            volume_base=base,
            volume_notional=notional,
            fee_net=costs - rebates,
            fee_costs=costs,
            fee_rebates=rebates,
        )

    # ---- crash recovery --------------------------------------------------------------------
    def last_fill_ns(self, symbol: str) -> int | None:
        """Exchange time of the newest stored fill of `symbol` (None: no fill stored)."""
        query = select(func.max(FillRow.ts_ns)).where(FillRow.symbol == symbol)
        with Session(self.engine) as session:
            value = session.execute(query).scalar_one_or_none()
        return None if value is None else int(value)

    def fill_keys_since(self, symbol: str, since_ns: int) -> list[tuple[str, int, str]]:
        """(trade id, client order id, side) of the stored fills of `symbol` from `since_ns`."""
        query = select(FillRow.trade_id, FillRow.client_order_id, FillRow.side).where(
            FillRow.symbol == symbol, FillRow.ts_ns >= since_ns
        )
        with Session(self.engine) as session:
            return [(t, int(c), s) for t, c, s in session.execute(query)]

    def unfinished_orders(self, symbol: str, limit: int = 500) -> list[tuple[OrderRecord, Decimal]]:
        """The newest `limit` orders of `symbol` whose stored status is not final, each with its
        stored filled size (what a process that died knew last)."""
        query = (
            select(OrderRow)
            .where(
                OrderRow.symbol == symbol,
                OrderRow.status.in_(["pending", "open", "partially_filled"]),
            )
            .order_by(OrderRow.created_ns.desc())
            .limit(limit)
        )
        with Session(self.engine) as session:
            orders = [OrderRecord.of(r) for r in session.scalars(query)]
            filled: dict[str, Decimal] = {}
            if orders:
                cids = [cid_text(o.client_order_id) for o in orders]
                sizes = select(FillRow.client_order_id, FillRow.size).where(
                    FillRow.client_order_id.in_(cids)
                )
                for cid, size in session.execute(sizes):
                    filled[cid] = filled.get(cid, Decimal(0)) + size
        return [(o, filled.get(cid_text(o.client_order_id), Decimal(0))) for o in orders]

    def end_open_sessions(self) -> list[SessionRecord]:
        """End the sessions a dead process left open, each at its last stored activity (fill,
        engine event or equity snapshot; its start when none). Returns them as ended."""
        with write_transaction(self.engine) as connection:
            open_ids = [
                int(i)
                for i in connection.execute(
                    select(TradingSession.id).where(TradingSession.ended_at_ns.is_(None))
                ).scalars()
            ]
            for session_id in open_ids:
                last = [
                    connection.execute(
                        select(func.max(col)).where(table_session == session_id)
                    ).scalar_one_or_none()
                    for col, table_session in (
                        (FillRow.ts_ns, FillRow.session_id),
                        (EngineEventRow.ts_ns, EngineEventRow.session_id),
                        (EquitySnapshot.ts_ns, EquitySnapshot.session_id),
                        (TradingSession.started_at_ns, TradingSession.id),
                    )
                ]
                end = max(int(v) for v in last if v is not None)
                connection.execute(
                    update(TradingSession)
                    .where(TradingSession.id == session_id)
                    .values(ended_at_ns=end)
                )
        return [r for i in open_ids if (r := self.session(i)) is not None]

    # ---- equity ----------------------------------------------------------------------------
    def equity_series(
        self,
        start_ns: int | None = None,
        end_ns: int | None = None,
        max_points: int = 500,
        *,
        session_id: int | None = None,
    ) -> list[EquityRecord]:
        """Snapshots in [start_ns, end_ns] in time order, downsampled to at most `max_points`
        (the last snapshot of each equal-width time bucket)."""
        if max_points < 1:
            raise StoreError("max_points must be >= 1")
        where = []
        if session_id is not None:
            where.append(EquitySnapshot.session_id == session_id)
        if start_ns is not None:
            where.append(EquitySnapshot.ts_ns >= start_ns)
        if end_ns is not None:
            where.append(EquitySnapshot.ts_ns <= end_ns)
        with Session(self.engine) as session:
            n, lo, hi = session.execute(
                select(
                    func.count(EquitySnapshot.id),
                    func.min(EquitySnapshot.ts_ns),
                    func.max(EquitySnapshot.ts_ns),
                ).where(*where)
            ).one()
            query = select(EquitySnapshot).where(*where)
            if n > max_points:
                bucket_ns = (hi - lo) // max_points + 1
                bucket = (EquitySnapshot.ts_ns - lo) // bucket_ns
                ids = select(func.max(EquitySnapshot.id)).where(*where).group_by(bucket)
                query = select(EquitySnapshot).where(EquitySnapshot.id.in_(ids))
            result = session.scalars(query.order_by(EquitySnapshot.ts_ns, EquitySnapshot.id))
            return [EquityRecord.of(r) for r in result]

    # ---- engine events ---------------------------------------------------------------------
    def engine_events(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        session_id: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> Page[EngineEventRecord]:
        """Engine notices, latest first."""
        query = select(EngineEventRow).order_by(
            EngineEventRow.ts_ns.desc(), EngineEventRow.id.desc()
        )
        if session_id is not None:
            query = query.where(EngineEventRow.session_id == session_id)
        if kinds:
            query = query.where(EngineEventRow.kind.in_(list(kinds)))
        items, total = self._page(query, limit, offset)
        return Page([EngineEventRecord.of(r) for r in items], total, limit, offset)

    # ---- config versions -------------------------------------------------------------------
    def save_config(self, kind: str, body: str) -> int:
        """Save a new version of a JSON config of `kind`; returns its id. Never secrets."""
        if not kind or len(kind) > 32:
            raise StoreError("config kind must be 1..32 characters")
        try:
            parsed = json.loads(body)
        except ValueError:
            raise StoreError("config body must be JSON") from None
        reject_secrets(parsed)
        with write_transaction(self.engine) as connection:
            result = connection.execute(
                insert(ConfigVersion),
                {"created_at_ns": self.clock.now_ns(), "kind": kind, "body": body},
            )
            key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def latest_config(self, kind: str) -> str | None:
        """The body of the newest config of `kind`."""
        record = self.latest_config_version(kind)
        return None if record is None else record.body

    def latest_config_version(self, kind: str) -> ConfigVersionRecord | None:
        query = select(ConfigVersion).where(ConfigVersion.kind == kind)
        row = self._one(query.order_by(ConfigVersion.id.desc()))
        return None if row is None else ConfigVersionRecord.of(row)

    def config_versions(
        self, kind: str, limit: int = 50, offset: int = 0
    ) -> Page[ConfigVersionRecord]:
        query = select(ConfigVersion).where(ConfigVersion.kind == kind)
        items, total = self._page(query.order_by(ConfigVersion.id.desc()), limit, offset)
        return Page([ConfigVersionRecord.of(r) for r in items], total, limit, offset)

    # ---- secrets (ciphertext only; see SecretBox) ------------------------------------------
    def put_secret_ciphertext(self, name: str, ciphertext: str, updated_at_ns: int) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(delete(SecretRow).where(SecretRow.name == name))
            connection.execute(
                insert(SecretRow),
                {"name": name, "ciphertext": ciphertext, "updated_at_ns": updated_at_ns},
            )

    def secret_ciphertext(self, name: str) -> str | None:
        row = self._one(select(SecretRow).where(SecretRow.name == name))
        return None if row is None else str(row.ciphertext)

    def secret_times(self) -> dict[str, int]:
        """Secret names and when each was last set (ns); never values."""
        with Session(self.engine) as session:
            result = session.execute(select(SecretRow.name, SecretRow.updated_at_ns))
            return {name: int(ts) for name, ts in result}

    def delete_secret(self, name: str) -> bool:
        with write_transaction(self.engine) as connection:
            result = connection.execute(delete(SecretRow).where(SecretRow.name == name))
            return bool(result.rowcount)
