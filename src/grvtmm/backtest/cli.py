"""`grvt-mm backtest`: replay recorded data through the engine; summary, JSON and HTML report.

Defaults: latency 25 ms each way, RiskAverse queue, fees 0 (as in hftbacktest's reference table;
pass GRVT's, e.g. --maker-fee -0.0001 --taker-fee 0.00045), the strategy sees every book change
(--feed-interval-ms 50 or 100 emulates GRVT's book.d@50/100), 1 000 USDT initial equity, the
symbol taken from a `...btcusdt...` file name unless `--set symbol=...` is given.

The command is made by `make_backtest_command(load_build)`: the composition root supplies the
wiring (`grvtmm.app.build_backtest_run`) through `load_build`, which is called only when a
backtest runs, so `grvt-mm --help` stays fast.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from grvtmm.backtest.runner import BacktestSettings, Progress, RunBuilder
    from grvtmm.strategy.params import StrategyConfig

FORMAT_CHOICES = ("auto", "csv", "binance-collector", "hbt-npz", "grvt-record")
STRATEGY_CHOICES = ("avellaneda", "fixed-spread")
_USDT_NAME = re.compile(r"(?:^|[_.-])([a-z0-9]{2,12}?)[_-]?usdt(?:[_.-]|$)")

_ROWS: tuple[tuple[str, str | tuple[str, ...]], ...] = (
    ("fills", "fills"),
    ("buy / sell", ("buy_fills", "sell_fills")),
    ("maker / taker", ("maker_fills", "taker_fills")),
    ("volume (quote)", "volume_notional"),
    ("fees (quote, − = rebate)", "fees"),
    ("PnL gross", "pnl_gross"),
    ("PnL net", "pnl_net"),
    ("wear (bps of volume)", "wear_bps"),
    ("end position", "end_position"),
    ("max |position|", "max_abs_position"),
    ("orders / cancels / rejects", ("orders_placed", "cancels", "rejects")),
    ("final mode", "final_mode"),
    ("events", "events"),
    ("simulated seconds", "sim_seconds"),
    ("events / s", "events_per_second"),
)


def symbol_from_name(path: Path) -> str | None:
    """`BTC_USDT_Perp` from a file name such as `binance_usdm_btcusdt_20240808.hbt.npz`."""
    m = _USDT_NAME.search(path.name.lower())
    return f"{m.group(1).upper()}_USDT_Perp" if m else None


def parse_sets(items: list[str], strategy: str, symbol: str | None = None) -> StrategyConfig:
    """`name=value` overrides validated through StrategyConfig; errors name the field.
    `symbol` is the default symbol when no `symbol=` is given."""
    from pydantic import ValidationError

    from grvtmm.strategy.params import StrategyConfig

    fields: dict[str, Any] = {"strategy": strategy}
    if symbol is not None:
        fields["symbol"] = symbol
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise typer.BadParameter(f"{item!r}: expected name=value", param_hint="--set")
        if name == "strategy":
            raise typer.BadParameter("choose the strategy with --strategy", param_hint="--set")
        if name not in StrategyConfig.model_fields:
            known = ", ".join(sorted(StrategyConfig.model_fields))
            raise typer.BadParameter(
                f"unknown strategy field {name!r}; known fields: {known}", param_hint="--set"
            )
        fields[name] = None if value.strip().lower() in ("none", "null") else value.strip()
    try:
        return StrategyConfig.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise typer.BadParameter(problems, param_hint="--set") from None


def _decimal(value: str | None, option: str, *, positive: bool) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a number", param_hint=option) from None
    if not d.is_finite() or (positive and d <= 0):
        raise typer.BadParameter(f"{value!r} must be a positive number", param_hint=option)
    return d


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    """The headline figures as a table, then the coarse-mode limits and the final stop."""
    settings = summary["settings"]
    title = (
        f"backtest · {settings['symbol']} · {settings['strategy']['strategy']} · "
        f"{settings['queue']} · {settings['latency_ms']:g} ms"
    )
    table = Table(title=title, show_header=False)
    for label, key in _ROWS:
        if isinstance(key, tuple):
            table.add_row(label, " / ".join(_fmt(summary.get(k)) for k in key))
        elif key in summary:
            table.add_row(label, _fmt(summary[key]))
    console.print(table)
    console.print(
        "Figures are at the end of the data, before the stop (hftbacktest's convention).",
        highlight=False,
    )
    flat = summary.get("end_flatten")
    if flat:
        console.print(
            f"Stop at the end of the data: {flat['fills']} closing fill(s), "
            f"net PnL {flat['pnl_net']:,.4f}, wear {flat['wear_bps']:.4f} bps, "
            f"final position {flat['end_position']}, mode {flat['final_mode']}.",
            highlight=False,
        )
    if "limits" in summary:
        console.print(f"[yellow]{summary['limits']}[/yellow]")


def _progress_bar(console: Console, total: int | None) -> tuple[Any, Progress]:
    from rich import progress as rp

    bar = rp.Progress(
        rp.TextColumn("[bold]replay[/bold]"),
        rp.BarColumn(),
        rp.MofNCompleteColumn(),
        rp.TextColumn("rows · sim {task.fields[sim]}"),
        rp.TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("replay", total=total, sim="")

    def update(rows: int, sim_ns: int) -> None:
        from datetime import UTC, datetime

        stamp = datetime.fromtimestamp(sim_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
        bar.update(task, completed=rows, sim=stamp)

    return bar, update


def _run(
    settings: BacktestSettings,
    build: RunBuilder,
    console: Console,
    report: Path | None,
) -> dict[str, Any]:
    from grvtmm.backtest.report import SeriesRecorder, write_report
    from grvtmm.backtest.runner import (
        backtest_instrument,
        resolve_format,
        run_backtest,
        total_rows,
    )

    fmt = resolve_format(settings.paths, settings.fmt)
    instrument, inferred = backtest_instrument(settings, fmt)
    if inferred:
        console.print(
            f"tick {instrument.tick_size} and lot {instrument.size_step} inferred from the data "
            "(the finest decimals seen); pass --tick-size/--lot-size to set them"
        )
    recorder = SeriesRecorder(instrument) if report is not None else None
    if not console.is_terminal:
        summary = run_backtest(settings, build, recorder=recorder)
    else:
        bar, update = _progress_bar(console, total_rows(settings.paths, fmt))
        with bar:
            summary = run_backtest(settings, build, progress=update, recorder=recorder)
    if report is not None and recorder is not None:
        write_report(report, summary, recorder)
    return summary


def make_backtest_command(load_build: Callable[[], RunBuilder]) -> Callable[..., None]:
    """The typer command; `load_build()` returns the wiring for a simulated run."""

    def backtest_command(
        paths: Annotated[
            list[Path], typer.Argument(help="data files, replayed as one stream", metavar="PATH")
        ],
        fmt: Annotated[
            str, typer.Option("--format", help="auto|" + "|".join(FORMAT_CHOICES[1:]))
        ] = "auto",
        strategy: Annotated[str, typer.Option(help="avellaneda|fixed-spread")] = "avellaneda",
        sets: Annotated[
            list[str] | None,
            typer.Option("--set", help="strategy parameter name=value (repeatable)"),
        ] = None,
        tick_size: Annotated[
            str | None, typer.Option(help="price tick (inferred for .npz when omitted)")
        ] = None,
        lot_size: Annotated[
            str | None, typer.Option(help="size step (inferred for .npz when omitted)")
        ] = None,
        queue: Annotated[
            str, typer.Option(help="queue model: risk-averse|power-prob:N|log-prob")
        ] = "risk-averse",
        latency_ms: Annotated[
            float, typer.Option(help="order entry latency = response latency (ms)", min=0)
        ] = 25.0,
        maker_fee: Annotated[
            str, typer.Option(help="maker fee rate (−0.0001 = 1 bp rebate)")
        ] = "0",
        taker_fee: Annotated[str, typer.Option(help="taker fee rate")] = "0",
        feed_interval_ms: Annotated[
            float,
            typer.Option(
                help="strategy sees the book coalesced to this grid; 0 = every change", min=0
            ),
        ] = 0.0,
        seed: Annotated[int, typer.Option(help="seed recorded with the run")] = 0,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="write the summary JSON here")
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="write the HTML report here")
        ] = None,
    ) -> None:
        """Replay recorded market data through the engine and the simulated exchange."""
        from grvtmm.backtest.data import DataFormatError
        from grvtmm.backtest.runner import BacktestError, BacktestSettings

        if fmt not in FORMAT_CHOICES:
            raise typer.BadParameter(
                f"{fmt!r}; expected one of {FORMAT_CHOICES}", param_hint="--format"
            )
        if strategy not in STRATEGY_CHOICES:
            raise typer.BadParameter(
                f"{strategy!r}; expected one of {STRATEGY_CHOICES}", param_hint="--strategy"
            )
        if not (math.isfinite(latency_ms) and math.isfinite(feed_interval_ms)):
            raise typer.BadParameter("latency and feed interval must be finite")
        settings = BacktestSettings(
            paths=tuple(paths),
            strategy=parse_sets(
                sets or [], strategy, symbol_from_name(paths[0]) if paths else None
            ),
            fmt=fmt,
            tick_size=_decimal(tick_size, "--tick-size", positive=True),
            lot_size=_decimal(lot_size, "--lot-size", positive=True),
            queue=queue,
            latency_ms=latency_ms,
            maker_fee=_decimal(maker_fee, "--maker-fee", positive=False) or Decimal(0),
            taker_fee=_decimal(taker_fee, "--taker-fee", positive=False) or Decimal(0),
            feed_interval_ms=feed_interval_ms,
            seed=seed,
        )
        console = Console()
        try:
            summary = _run(settings, load_build(), console, report)
        except (BacktestError, DataFormatError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        print_summary(console, summary)
        if json_path is not None:
            json_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
            console.print(f"summary written to {json_path}")
        if report is not None:
            console.print(f"report written to {report}")

    return backtest_command
