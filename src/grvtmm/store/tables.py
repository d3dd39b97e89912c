"""The database schema: SQLAlchemy 2.0 typed models.

Money, prices and sizes are exact decimal strings (`DecimalText`), never floats. Client order ids
live in [2^63, 2^64), beyond BIGINT, so they are stored as zero-padded 20-digit strings, which also
sort numerically. Timestamps are int nanoseconds since the Unix epoch.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

CID_DIGITS: Final = 20
MODES: Final = ("demo", "paper", "live", "backtest")
SIDES: Final = ("buy", "sell")
FEE_SIDES: Final = ("rebate", "cost")
ORDER_STATUSES: Final = ("pending", "open", "partially_filled", "filled", "canceled", "rejected")
EVENT_KINDS: Final = (
    "mode_change",
    "breaker",
    "flatten_progress",
    "flatten_done",
    "warning",
    "reject",
)
EVENT_LEVELS: Final = ("info", "warning", "error", "critical")
JOB_STATUSES: Final = ("queued", "running", "done", "failed", "canceled")

NAMING: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere high-volume tables get BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def cid_text(client_order_id: int) -> str:
    """Client order id → its stored form (20 digits, zero-padded, so text order = number order)."""
    if not 0 <= client_order_id < 10**CID_DIGITS:
        raise ValueError("client order id out of range")
    return f"{client_order_id:0{CID_DIGITS}d}"


def decimal_text(value: Decimal | int | str) -> str:
    """Exact decimal → plain-notation string; floats are refused (they would drift)."""
    if isinstance(value, (bool, float)):
        raise TypeError("money and sizes must be Decimal, int or str, not float")
    d = value if isinstance(value, Decimal) else Decimal(value)
    if not d.is_finite():
        raise ValueError("money and sizes must be finite")
    text = format(d, "f")
    return "0" if text in ("-0", "") else text


def in_list(column: str, values: tuple[str, ...]) -> str:
    """SQL check expression: `column` is one of `values`."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored as TEXT in plain notation: exact on every backend (SQLite has none)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return decimal_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ConfigVersion(Base):
    """One saved configuration (strategy, goal, telegram, exchange-meta); never secrets."""

    __tablename__ = "config_versions"
    __table_args__ = (Index("ix_config_versions_kind_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at_ns: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)


class TradingSession(Base):
    """A run of the engine: starts at each engine start, ends at stop or halt."""

    __tablename__ = "trading_sessions"
    __table_args__ = (CheckConstraint(in_list("mode", MODES), name="mode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    ended_at_ns: Mapped[int | None] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(64))
    config_version_id: Mapped[int | None] = mapped_column(ForeignKey("config_versions.id"))
    start_equity: Mapped[Decimal | None] = mapped_column(DecimalText)


class OrderRow(Base):
    """One of our orders, keyed by client order id; `status` is its latest state."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(in_list("side", SIDES), name="side"),
        CheckConstraint(in_list("status", ORDER_STATUSES), name="status"),
        Index("ix_orders_created_ns_cid", "created_ns", "client_order_id"),
        Index("ix_orders_session_id_created_ns", "session_id", "created_ns"),
    )

    client_order_id: Mapped[str] = mapped_column(String(CID_DIGITS), primary_key=True)
    venue_order_id: Mapped[str | None] = mapped_column(String(128))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("trading_sessions.id"))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(DecimalText)
    size: Mapped[Decimal] = mapped_column(DecimalText)
    post_only: Mapped[bool] = mapped_column(Boolean)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    tif: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    updated_ns: Mapped[int] = mapped_column(BigInteger)


class OrderStatusRow(Base):
    """One status change of an order, in arrival order."""

    __tablename__ = "order_status_history"
    __table_args__ = (
        CheckConstraint(in_list("status", ORDER_STATUSES), name="status"),
        Index("ix_order_status_history_cid_id", "client_order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(
        ForeignKey("orders.client_order_id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20))
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text)


class FillRow(Base):
    """One execution of our order; a venue trade id is stored exactly once."""

    __tablename__ = "fills"
    __table_args__ = (
        CheckConstraint(in_list("side", SIDES), name="side"),
        CheckConstraint(in_list("fee_side", FEE_SIDES), name="fee_side"),
        Index("ix_fills_ts_ns_id", "ts_ns", "id"),
        Index("ix_fills_session_id_ts_ns", "session_id", "ts_ns"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    trade_id: Mapped[str] = mapped_column(String(128), unique=True)
    client_order_id: Mapped[str] = mapped_column(String(CID_DIGITS), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("trading_sessions.id"))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(DecimalText)
    size: Mapped[Decimal] = mapped_column(DecimalText)
    fee: Mapped[Decimal] = mapped_column(DecimalText)
    fee_side: Mapped[str] = mapped_column(String(8))
    is_maker: Mapped[bool] = mapped_column(Boolean)
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    local_ns: Mapped[int] = mapped_column(BigInteger)


class EquitySnapshot(Base):
    """Account and position at one moment (quote-currency money, base-unit position)."""

    __tablename__ = "equity_snapshots"
    __table_args__ = (Index("ix_equity_snapshots_session_id_ts_ns", "session_id", "ts_ns"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ts_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("trading_sessions.id"))
    equity: Mapped[Decimal] = mapped_column(DecimalText)
    free_margin: Mapped[Decimal] = mapped_column(DecimalText)
    position: Mapped[Decimal] = mapped_column(DecimalText)
    inventory_notional: Mapped[Decimal | None] = mapped_column(DecimalText)
    mid: Mapped[Decimal | None] = mapped_column(DecimalText)


class EngineEventRow(Base):
    """An engine notice for the operator: mode change, breaker, flatten step, warning, reject."""

    __tablename__ = "engine_events"
    __table_args__ = (
        CheckConstraint(in_list("kind", EVENT_KINDS), name="kind"),
        CheckConstraint(in_list("level", EVENT_LEVELS), name="level"),
        Index("ix_engine_events_ts_ns_id", "ts_ns", "id"),
        Index("ix_engine_events_session_id_ts_ns", "session_id", "ts_ns"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("trading_sessions.id"))
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str] = mapped_column(Text)


class SecretRow(Base):
    """An encrypted secret (Fernet token); the plaintext never reaches the database."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at_ns: Mapped[int] = mapped_column(BigInteger)


class BacktestJob(Base):
    """A backtest run requested over the API; `progress_ppm` is parts per million done."""

    __tablename__ = "backtest_jobs"
    __table_args__ = (CheckConstraint(in_list("status", JOB_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[str] = mapped_column(Text)
    progress_ppm: Mapped[int] = mapped_column(Integer)
    created_at_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    started_at_ns: Mapped[int | None] = mapped_column(BigInteger)
    finished_at_ns: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[str | None] = mapped_column(Text)
    report_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
