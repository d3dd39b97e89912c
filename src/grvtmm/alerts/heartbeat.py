"""The periodic heartbeat summary and the /status and /pnl answers, from the monitor summary.

The summary is the live monitor's `summary()` mapping (mode, session {id}, runtime_s, equity,
position, inventory_notional, fills, session_volume, pnl_total, pnl_today, fees, rebates,
wear_per_10k); a missing or unknown figure shows as n/a.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grvtmm.alerts.notifier import Alert, AlertRules, Level
from grvtmm.alerts.templates import fmt_duration, fmt_money

Summary = Mapping[str, Any]
Rows = list[tuple[str, str]]


def _float(summary: Summary, key: str) -> float | None:
    value = summary.get(key)
    return float(value) if isinstance(value, int | float) else None


def _int(summary: Summary, key: str) -> int:
    value = summary.get(key)
    return int(value) if isinstance(value, int | float) else 0


def _position(summary: Summary) -> str:
    value = _float(summary, "position")
    return "n/a" if value is None else f"{value:g}"


def status_rows(summary: Summary) -> Rows:
    """The /status answer: runtime, equity, position, inventory, session PnL and fills."""
    return [
        ("runtime", fmt_duration(_float(summary, "runtime_s"))),
        ("equity", fmt_money(_float(summary, "equity"))),
        ("position", _position(summary)),
        ("inventory", fmt_money(_float(summary, "inventory_notional"))),
        ("pnl_total", fmt_money(_float(summary, "pnl_total"))),
        ("fills", str(_int(summary, "fills"))),
    ]


def pnl_rows(summary: Summary) -> Rows:
    """The /pnl answer: session and today's PnL, volume, fees, rebates, wear and fills."""
    return [
        ("pnl_total", fmt_money(_float(summary, "pnl_total"))),
        ("pnl_today", fmt_money(_float(summary, "pnl_today"))),
        ("session_volume", fmt_money(_float(summary, "session_volume"))),
        ("fees", fmt_money(_float(summary, "fees"))),
        ("rebates", fmt_money(_float(summary, "rebates"))),
        ("wear", fmt_money(_float(summary, "wear_per_10k"))),
        ("fills", str(_int(summary, "fills"))),
    ]


class Heartbeat:
    """Builds heartbeat alerts; counts the fills since the previous heartbeat of the session."""

    def __init__(self) -> None:
        self._session_id: object = None
        self._fills = 0

    def rows(self, summary: Summary) -> Rows:
        """Mode (in the header), runtime, equity, position, volume, PnL, wear, period fills."""
        session = summary.get("session")
        session_id = session.get("id") if isinstance(session, Mapping) else None
        fills = _int(summary, "fills")
        # a new session restarts its fill count: the period then covers the session so far
        period = fills if session_id != self._session_id else fills - self._fills
        self._session_id = session_id
        self._fills = fills
        return [
            ("runtime", fmt_duration(_float(summary, "runtime_s"))),
            ("equity", fmt_money(_float(summary, "equity"))),
            ("position", _position(summary)),
            ("session_volume", fmt_money(_float(summary, "session_volume"))),
            ("pnl_total", fmt_money(_float(summary, "pnl_total"))),
            ("wear", fmt_money(_float(summary, "wear_per_10k"))),
            ("fills_period", str(max(period, 0))),
        ]

    def build(self, summary: Summary, rules: AlertRules, now_ns: int) -> Alert | None:
        """The heartbeat alert (None when the operator turned heartbeats off)."""
        return rules.make(Level.INFO, "heartbeat", "heartbeat", tuple(self.rows(summary)), now_ns)
