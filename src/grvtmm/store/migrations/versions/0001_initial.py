"""Initial schema: sessions, orders and their history, fills, snapshots, events, configs,
secrets and backtest jobs.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the value lists at this revision (a migration never imports live models).
MODES = ("demo", "paper", "live", "backtest")
SIDES = ("buy", "sell")
FEE_SIDES = ("rebate", "cost")
ORDER_STATUSES = ("pending", "open", "partially_filled", "filled", "canceled", "rejected")
EVENT_KINDS = ("mode_change", "breaker", "flatten_progress", "flatten_done", "warning", "reject")
EVENT_LEVELS = ("info", "warning", "error", "critical")
JOB_STATUSES = ("queued", "running", "done", "failed", "canceled")

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ns(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _money(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["session_id"],
        ["trading_sessions.id"],
        name=op.f(f"fk_{table}_session_id_trading_sessions"),
    )


def upgrade() -> None:
    _configs_and_sessions()
    _orders()
    _fills_and_snapshots()
    _events_secrets_jobs()


def _configs_and_sessions() -> None:
    op.create_table(
        "config_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        _ns("created_at_ns"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_versions")),
    )
    op.create_index(op.f("ix_config_versions_kind_id"), "config_versions", ["kind", "id"])
    op.create_table(
        "trading_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        _ns("started_at_ns"),
        _ns("ended_at_ns", nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("config_version_id", sa.Integer(), nullable=True),
        _money("start_equity", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_sessions")),
        sa.CheckConstraint(_in("mode", MODES), name=op.f("ck_trading_sessions_mode")),
        sa.ForeignKeyConstraint(
            ["config_version_id"],
            ["config_versions.id"],
            name=op.f("fk_trading_sessions_config_version_id_config_versions"),
        ),
    )
    op.create_index(
        op.f("ix_trading_sessions_started_at_ns"), "trading_sessions", ["started_at_ns"]
    )


def _orders() -> None:
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(20), nullable=False),
        sa.Column("venue_order_id", sa.String(128), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        _money("price"),
        _money("size"),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("tif", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _ns("created_ns"),
        _ns("updated_ns"),
        sa.PrimaryKeyConstraint("client_order_id", name=op.f("pk_orders")),
        sa.CheckConstraint(_in("side", SIDES), name=op.f("ck_orders_side")),
        sa.CheckConstraint(_in("status", ORDER_STATUSES), name=op.f("ck_orders_status")),
        _session_fk("orders"),
    )
    op.create_index(op.f("ix_orders_created_ns_cid"), "orders", ["created_ns", "client_order_id"])
    op.create_index(op.f("ix_orders_session_id_created_ns"), "orders", ["session_id", "created_ns"])
    op.create_table(
        "order_status_history",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("client_order_id", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        _ns("ts_ns"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_status_history")),
        sa.CheckConstraint(
            _in("status", ORDER_STATUSES), name=op.f("ck_order_status_history_status")
        ),
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["orders.client_order_id"],
            name=op.f("fk_order_status_history_client_order_id_orders"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_order_status_history_cid_id"), "order_status_history", ["client_order_id", "id"]
    )


def _fills_and_snapshots() -> None:
    op.create_table(
        "fills",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("trade_id", sa.String(128), nullable=False),
        sa.Column("client_order_id", sa.String(20), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        _money("price"),
        _money("size"),
        _money("fee"),
        sa.Column("fee_side", sa.String(8), nullable=False),
        sa.Column("is_maker", sa.Boolean(), nullable=False),
        _ns("ts_ns"),
        _ns("local_ns"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("trade_id", name=op.f("uq_fills_trade_id")),
        sa.CheckConstraint(_in("side", SIDES), name=op.f("ck_fills_side")),
        sa.CheckConstraint(_in("fee_side", FEE_SIDES), name=op.f("ck_fills_fee_side")),
        _session_fk("fills"),
    )
    op.create_index(op.f("ix_fills_client_order_id"), "fills", ["client_order_id"])
    op.create_index(op.f("ix_fills_ts_ns_id"), "fills", ["ts_ns", "id"])
    op.create_index(op.f("ix_fills_session_id_ts_ns"), "fills", ["session_id", "ts_ns"])
    op.create_table(
        "equity_snapshots",
        sa.Column("id", BIG_ID, nullable=False),
        _ns("ts_ns"),
        sa.Column("session_id", sa.Integer(), nullable=True),
        _money("equity"),
        _money("free_margin"),
        _money("position"),
        _money("inventory_notional", nullable=True),
        _money("mid", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_snapshots")),
        _session_fk("equity_snapshots"),
    )
    op.create_index(op.f("ix_equity_snapshots_ts_ns"), "equity_snapshots", ["ts_ns"])
    op.create_index(
        op.f("ix_equity_snapshots_session_id_ts_ns"), "equity_snapshots", ["session_id", "ts_ns"]
    )


def _events_secrets_jobs() -> None:
    op.create_table(
        "engine_events",
        sa.Column("id", BIG_ID, nullable=False),
        _ns("ts_ns"),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_events")),
        sa.CheckConstraint(_in("kind", EVENT_KINDS), name=op.f("ck_engine_events_kind")),
        sa.CheckConstraint(_in("level", EVENT_LEVELS), name=op.f("ck_engine_events_level")),
        _session_fk("engine_events"),
    )
    op.create_index(op.f("ix_engine_events_ts_ns_id"), "engine_events", ["ts_ns", "id"])
    op.create_index(
        op.f("ix_engine_events_session_id_ts_ns"), "engine_events", ["session_id", "ts_ns"]
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        _ns("updated_at_ns"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )
    op.create_table(
        "backtest_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("progress_ppm", sa.Integer(), nullable=False),
        _ns("created_at_ns"),
        _ns("started_at_ns", nullable=True),
        _ns("finished_at_ns", nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_jobs")),
        sa.CheckConstraint(_in("status", JOB_STATUSES), name=op.f("ck_backtest_jobs_status")),
    )
    op.create_index(op.f("ix_backtest_jobs_created_at_ns"), "backtest_jobs", ["created_at_ns"])


def downgrade() -> None:
    for table in (
        "backtest_jobs",
        "secrets",
        "engine_events",
        "equity_snapshots",
        "fills",
        "order_status_history",
        "orders",
        "trading_sessions",
        "config_versions",
    ):
        op.drop_table(table)
