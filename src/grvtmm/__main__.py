"""Command line: `grvt-mm demo|...` (typer)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grvtmm.backtest.cli import make_backtest_command
from grvtmm.backtest.sweep import make_sweep_command
from grvtmm.venues.grvt.recorder import record_command

if TYPE_CHECKING:
    from grvtmm.backtest.runner import RunBuilder

app = typer.Typer(
    name="grvt-mm",
    help="Automated market maker for GRVT USDT perpetuals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # never print locals (they may hold secrets)
)
console = Console()


@app.callback()
def _root() -> None:
    """Automated market maker for GRVT USDT perpetuals."""


SUMMARY_ROWS = (
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
    ("requotes", "requotes"),
    ("rejects", "rejects"),
    ("final mode", "final_mode"),
    ("events", "events"),
    ("events / s", "events_per_second"),
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def print_summary(title: str, summary: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False)
    for label, key in SUMMARY_ROWS:
        if isinstance(key, tuple):
            table.add_row(label, " / ".join(_fmt(summary.get(k)) for k in key))
        elif key in summary:
            table.add_row(label, _fmt(summary[key]))
    console.print(table)
    for change in summary.get("mode_changes", []):
        console.print(f"  mode {change['from']} → {change['to']}: {change['reason']}")


def _parse_speed(speed: str) -> float | None:
    if speed == "max":
        return None
    try:
        value = float(speed)
    except ValueError:
        raise typer.BadParameter(
            "use 'max' or a positive real-time factor such as 1 or 10"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter("the real-time factor must be positive")
    return value


@app.command()
def demo(
    duration: Annotated[
        float, typer.Option(help="simulated seconds of market to trade", min=1)
    ] = 600,
    speed: Annotated[
        str, typer.Option(help="'max' (simulated clock) or a real-time factor")
    ] = "max",
    seed: Annotated[int, typer.Option(help="seed of the synthetic market")] = 7,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the summary here")] = None,
) -> None:
    """Trade the built-in synthetic market with simulated fills (offline), then stop and flatten."""
    from grvtmm.app import run_demo

    summary = run_demo(duration_s=duration, speed=_parse_speed(speed), seed=seed)
    print_summary(f"demo · {summary['settings']['symbol']} · seed {seed}", summary)
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        console.print(f"summary written to {json_path}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8080)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="database, key file, password")] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="demo | paper | live (default: live with GRVT keys, else demo; paper: GRVT "
            "public market data with simulated fills, no keys)"
        ),
    ] = None,
    shutdown_timeout: Annotated[
        float | None,
        typer.Option(
            help="seconds SIGTERM/SIGINT may take to cancel and flatten before exiting anyway "
            "(default 60, env GRVTMM_SHUTDOWN_TIMEOUT_S)",
            min=0.1,
            max=3600,
        ),
    ] = None,
) -> None:
    """API + dashboard + engine in one process. Without GRVT keys it runs the offline demo.

    SIGTERM/SIGINT stops the engine (cancel all, flatten) within the shutdown timeout and exits
    0; a second signal exits after one cancel-all. Exit status 3: a position or open orders
    were left (CRITICAL alert and stored event say what)."""
    import asyncio

    from grvtmm.logs import setup_logging
    from grvtmm.serve import ServeError
    from grvtmm.serve import serve as run_server
    from grvtmm.settings import Settings

    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "mode": mode,
            "shutdown_timeout_s": shutdown_timeout,
        }.items()
        if v is not None
    }
    if mode is not None and mode not in ("demo", "paper", "live"):
        raise typer.BadParameter("mode must be demo, paper or live")
    settings = Settings(**overrides)  # type: ignore[arg-type]
    setup_logging(json_lines=settings.log_json)
    try:
        code = asyncio.run(run_server(settings))
    except ServeError as exc:
        console.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(2) from None
    if code:
        raise typer.Exit(code)


@app.command("set-password")
def set_password(
    data_dir: Annotated[Path | None, typer.Option(help="where the password hash lives")] = None,
) -> None:
    """Set the operator password (asked twice, never echoed; stored as an argon2 hash).

    Every existing session ends: browsers and scripts log in again with the new password, also
    on a server that is running now (it refuses their tokens from the next request on)."""
    from grvtmm.api.auth import PasswordError, PasswordFile, end_sessions
    from grvtmm.settings import Settings

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))  # type: ignore[arg-type]
    password = typer.prompt("New operator password", hide_input=True, confirmation_prompt=True)
    passwords = PasswordFile(settings.data_dir / "admin_password.argon2")
    try:
        passwords.set(password)
    except PasswordError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    end_sessions(passwords)
    console.print(f"password set in {passwords.path}; all operator sessions ended")


@app.command()
def check(
    env: Annotated[str | None, typer.Option(help="prod | testnet (default: configured)")] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option(help="symbols to check (default: the stored strategy's symbol)"),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="where stored keys live")] = None,
) -> None:
    """Verify GRVT keys, connectivity, instrument constraints and the dead-man switch.

    Without --symbol the symbol checked is the one the server trades: the strategy stored in
    the data dir, or the default strategy's when none was saved."""
    import asyncio
    import dataclasses

    from grvtmm.api.state import ConfigState
    from grvtmm.core.clock import LiveClock
    from grvtmm.serve import load_grvt_config
    from grvtmm.settings import Settings
    from grvtmm.store.repository import Store
    from grvtmm.strategy.params import StrategyConfig
    from grvtmm.venues.grvt.check import run_check

    if env is not None and env not in ("prod", "testnet"):
        raise typer.BadParameter("env must be prod or testnet")
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))  # type: ignore[arg-type]
    config = load_grvt_config(settings)
    if config is None:
        console.print(
            "FAIL no GRVT keys: set GRVTMM_GRVT__API_KEY and GRVTMM_GRVT__API_SECRET "
            "or store them with PUT /api/config/exchange"
        )
        raise typer.Exit(1)
    if env is not None:
        config = dataclasses.replace(config, env=env)  # type: ignore[arg-type]
    if not symbol:  # the symbol `serve` trades: the stored strategy's, or the default's
        store = Store(settings.db_url())
        try:
            symbol = [ConfigState(StrategyConfig(), repository=store).strategy.symbol]
        finally:
            store.close()
    lines = asyncio.run(run_check(config, symbol, LiveClock()))
    for line in lines:
        console.print(line, markup=False, highlight=False)
    if any(line.startswith("FAIL") for line in lines):
        raise typer.Exit(1)


def _backtest_wiring() -> RunBuilder:
    """The composition root's wiring for a simulated backtest run (imported when used)."""
    from grvtmm.app import build_backtest_run

    return build_backtest_run


app.command("backtest")(make_backtest_command(_backtest_wiring))
app.command("sweep")(make_sweep_command(_backtest_wiring))
app.command("record")(record_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
