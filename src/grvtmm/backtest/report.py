"""Backtest report: a self-contained HTML page with inline SVG charts (no scripts, no network).

Charts: price with our quotes and fills, inventory, equity (net and gross PnL), cumulative
volume; tables: the fee and wear breakdown, fills, the end-of-data flatten and the settings.
`SeriesRecorder` collects what the charts need while the backtest runs, in bounded memory.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grvtmm.core.clock import NS_PER_S
from grvtmm.core.events import Event, OrderFilled, QuoteUpdated
from grvtmm.core.types import Instrument, Side
from grvtmm.monitor.summary import wear_bps

if TYPE_CHECKING:
    from grvtmm.backtest.runner import RunLike

MAX_POINTS = 2_000
MAX_FILL_MARKS = 5_000
FIRST_INTERVAL_NS = NS_PER_S // 10

_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 960, 220, 70, 12, 14, 24
_BUY, _SELL, _MID, _GROSS = "#1a9850", "#d73027", "#555", "#7b7bd1"


@dataclass(slots=True)
class Sample:
    """The market and the account at one simulated instant (quote currency, base units)."""

    ts_ns: int
    mid: float | None
    bid: float | None
    ask: float | None
    position: float
    pnl_net: float
    pnl_gross: float
    volume: float


@dataclass(slots=True)
class FillMark:
    ts_ns: int
    buy: bool
    price: float
    size: float
    maker: bool


@dataclass(slots=True)
class SeriesRecorder:
    """Samples the run on a simulated-time grid that doubles whenever `max_points` is reached,
    and keeps up to `max_fills` fills for the price chart."""

    instrument: Instrument
    max_points: int = MAX_POINTS
    max_fills: int = MAX_FILL_MARKS
    interval_ns: int = FIRST_INTERVAL_NS
    samples: list[Sample] = field(default_factory=list)
    fills: list[FillMark] = field(default_factory=list)
    fills_seen: int = 0
    _bid: float | None = None
    _ask: float | None = None
    _next_ns: int = 0

    def on_event(self, event: Event) -> None:
        """Remember our quote targets and fills."""
        if isinstance(event, QuoteUpdated):
            ins = self.instrument
            self._bid = ins.price_f(event.bid_ticks) if event.bid_lots else None
            self._ask = ins.price_f(event.ask_ticks) if event.ask_lots else None
        elif isinstance(event, OrderFilled):
            self.fills_seen += 1
            if len(self.fills) < self.max_fills:
                self.fills.append(
                    FillMark(
                        event.ts_ns,
                        event.side is Side.BUY,
                        self.instrument.price_f(event.price_ticks),
                        self.instrument.size_f(event.size_lots),
                        event.is_maker,
                    )
                )

    def due_ns(self) -> int:
        """Simulated time of the next sample."""
        return self._next_ns

    def sample(self, ts_ns: int, run: RunLike) -> None:
        """Record the exchange mid, our quotes, position, PnL and volume at `ts_ns`."""
        ins = self.instrument
        mark = run.exchange.mark_ticks()
        ledger = run.stats.ledger
        gross = ledger.realized + ledger.unrealized(mark)
        fees = float(run.stats.fees)
        self.samples.append(
            Sample(
                ts_ns,
                ins.price_f(mark) if mark > 0 else None,  # no book yet
                self._bid,
                self._ask,
                ins.size_f(ledger.position_lots),
                gross - fees,
                gross,
                run.stats.volume_notional,
            )
        )
        if len(self.samples) >= self.max_points:
            self.samples = self.samples[::2]
            self.interval_ns *= 2
        self._next_ns = (ts_ns // self.interval_ns + 1) * self.interval_ns


# ---- SVG ------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Frame:
    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, t: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return _PAD_L + (t - self.x0) / span * (_W - _PAD_L - _PAD_R)

    def y(self, v: float) -> float:
        span = self.y1 - self.y0 or 1.0
        return _H - _PAD_B - (v - self.y0) / span * (_H - _PAD_T - _PAD_B)


def _clock(ts_ns: float) -> str:
    return datetime.fromtimestamp(ts_ns / NS_PER_S, UTC).strftime("%H:%M:%S")


def _num(v: float) -> str:
    return f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.0f}"


def _axes(f: _Frame) -> list[str]:
    out = [
        f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{_W - _PAD_L - _PAD_R}" '
        f'height="{_H - _PAD_T - _PAD_B}" fill="none" stroke="#ccc"/>'
    ]
    for i in range(5):
        v = f.y0 + (f.y1 - f.y0) * i / 4
        y = f.y(v)
        out.append(
            f'<line x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><text x="{_PAD_L - 4}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_num(v)}</text>'
        )
        t = f.x0 + (f.x1 - f.x0) * i / 4
        anchor = ("start", "middle", "middle", "middle", "end")[i]
        out.append(f'<text x="{f.x(t):.1f}" y="{_H - 6}" text-anchor="{anchor}">{_clock(t)}</text>')
    return out


def _path(f: _Frame, pts: list[tuple[float, float | None]], step: bool) -> str:
    """An SVG path through the points; None breaks the line; `step` holds each value."""
    parts: list[str] = []
    pen_up = True
    prev_y = 0.0
    for t, v in pts:
        if v is None:
            pen_up = True
            continue
        x, y = f.x(t), f.y(v)
        if pen_up:
            parts.append(f"M{x:.1f},{y:.1f}")
        elif step:
            parts.append(f"L{x:.1f},{prev_y:.1f}L{x:.1f},{y:.1f}")
        else:
            parts.append(f"L{x:.1f},{y:.1f}")
        pen_up, prev_y = False, y
    return "".join(parts)


@dataclass(slots=True)
class _Line:
    label: str
    color: str
    points: list[tuple[float, float | None]]
    step: bool = False
    dash: bool = False


def _chart(title: str, unit: str, lines: list[_Line], fills: list[FillMark] | None = None) -> str:
    values = [v for ln in lines for _, v in ln.points if v is not None]
    times = [t for ln in lines for t, _ in ln.points]
    if fills:
        values += [m.price for m in fills]
    if not values or not times:
        return f"<h2>{html.escape(title)}</h2><p>No data.</p>"
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.01 or 1.0
    f = _Frame(min(times), max(times), lo - pad, hi + pad)
    if lo >= 0 > lo - pad:
        f.y0 = 0.0  # non-negative series (volume) start at zero
    body = _axes(f)
    for ln in lines:
        dash = ' stroke-dasharray="4 3"' if ln.dash else ""
        body.append(
            f'<path d="{_path(f, ln.points, ln.step)}" fill="none" stroke="{ln.color}" '
            f'stroke-width="1.2"{dash}/>'
        )
    for m in fills or []:
        x, y = f.x(m.ts_ns), f.y(m.price)
        d = 4 if m.buy else -4
        color = _BUY if m.buy else _SELL
        body.append(
            f'<path d="M{x:.1f},{y - d:.1f}L{x - 4:.1f},{y + d:.1f}L{x + 4:.1f},'
            f'{y + d:.1f}Z" fill="{color}" fill-opacity="0.75"/>'
        )
    legend = " ".join(
        f'<span style="color:{ln.color}">━ {html.escape(ln.label)}</span>' for ln in lines
    )
    if fills is not None:
        legend += f' <span style="color:{_BUY}">▲ buy fill</span>'
        legend += f' <span style="color:{_SELL}">▼ sell fill</span>'
    return (
        f"<h2>{html.escape(title)} <small>({html.escape(unit)})</small></h2>"
        f"<div class=legend>{legend}</div>"
        f'<svg viewBox="0 0 {_W} {_H}" width="100%" role="img" '
        f'aria-label="{html.escape(title)}">{"".join(body)}</svg>'
    )


# ---- tables ---------------------------------------------------------------------------------
def breakdown(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Fee and wear breakdown rows: wear = gross trading cost + fees, in bps of volume."""
    volume = float(summary["volume_notional"])
    gross, fees = float(summary["pnl_gross"]), float(summary["fees"])
    fee_bps = fees / volume * 10_000 if volume > 0 else 0.0
    return [
        ("volume (quote)", f"{volume:,.2f}"),
        ("gross PnL (before fees)", f"{gross:,.4f}"),
        ("fees paid (− = net rebate)", f"{fees:,.4f}"),
        ("  rebates received", f"{float(summary.get('rebates', 0.0)):,.4f}"),
        ("  fee costs", f"{float(summary.get('fee_costs', 0.0)):,.4f}"),
        ("net PnL", f"{float(summary['pnl_net']):,.4f}"),
        ("gross wear (bps of volume)", f"{wear_bps(gross, volume):.4f}"),
        ("fee wear (bps of volume)", f"{fee_bps:.4f}"),
        ("net wear (bps of volume)", f"{float(summary['wear_bps']):.4f}"),
    ]


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _activity(summary: dict[str, Any]) -> list[tuple[str, str]]:
    keys = (
        "fills",
        "buy_fills",
        "sell_fills",
        "maker_fills",
        "taker_fills",
        "orders_placed",
        "cancels",
        "rejects",
        "end_position",
        "max_abs_position",
        "final_mode",
        "events",
        "sim_seconds",
    )
    return [(k.replace("_", " "), str(summary[k])) for k in keys if k in summary]


_CSS = (
    "body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
    "h1{font-size:20px}h2{font-size:16px;margin:22px 0 4px}svg{font-size:11px;fill:#444}"
    "table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid"
    " #eee;text-align:left}td{text-align:right;font-variant-numeric:tabular-nums}"
    ".legend{font-size:12px}.note{background:#fff4d6;padding:8px;border-radius:4px}"
    "pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}"
)


def render_report(summary: dict[str, Any], recorder: SeriesRecorder) -> str:
    """The report as one HTML document."""
    s = recorder.samples
    settings = summary.get("settings", {})
    strategy = settings.get("strategy", {}).get("strategy", "")
    title = f"Backtest · {settings.get('symbol', '')} · {strategy}"
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    if "limits" in summary:
        parts.append(f"<p class=note>{html.escape(str(summary['limits']))}</p>")
    parts.append(
        _chart(
            "Price, our quotes and fills",
            "price",
            [
                _Line("mid", _MID, [(p.ts_ns, p.mid) for p in s]),
                _Line("our bid", _BUY, [(p.ts_ns, p.bid) for p in s], step=True, dash=True),
                _Line("our ask", _SELL, [(p.ts_ns, p.ask) for p in s], step=True, dash=True),
            ],
            recorder.fills,
        )
    )
    if recorder.fills_seen > len(recorder.fills):
        parts.append(f"<p>First {len(recorder.fills)} of {recorder.fills_seen} fills shown.</p>")
    parts.append(
        _chart(
            "Inventory",
            "position (base)",
            [_Line("position", "#2b6cb0", [(p.ts_ns, p.position) for p in s], True)],
        )
    )
    parts.append(
        _chart(
            "Equity",
            "PnL (quote)",
            [
                _Line("net PnL", "#2b6cb0", [(p.ts_ns, p.pnl_net) for p in s]),
                _Line("gross PnL", _GROSS, [(p.ts_ns, p.pnl_gross) for p in s], dash=True),
            ],
        )
    )
    parts.append(
        _chart(
            "Cumulative volume",
            "volume (quote)",
            [_Line("volume", "#805ad5", [(p.ts_ns, p.volume) for p in s], True)],
        )
    )
    parts.append("<h2>Fees and wear</h2>" + _table(breakdown(summary)))
    parts.append("<h2>Activity</h2>" + _table(_activity(summary)))
    flat = summary.get("end_flatten")
    if flat:
        parts.append("<h2>Stop at the end of the data (not in the figures above)</h2>")
        parts.append(_table([(k.replace("_", " "), str(v)) for k, v in flat.items()]))
    parts.append("<h2>Settings</h2><pre>" + html.escape(json.dumps(settings, indent=2)) + "</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(path: Path, summary: dict[str, Any], recorder: SeriesRecorder) -> None:
    """Write the HTML report to `path`."""
    path.write_text(render_report(summary, recorder), encoding="utf-8")
