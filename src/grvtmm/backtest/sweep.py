"""`grvt-mm sweep`: a parameter grid (cartesian product) through the backtest runner in parallel
worker processes, ranked by wear among the runs that meet a volume target, plus a CSV.

Grid names are strategy fields (`half_spread_ticks`, `gamma`, ...) or the run settings
`latency_ms`, `queue`, `feed_interval_ms`, `maker_fee`, `taker_fee`. Workers are spawned (no
forked engine state) and each builds its run through the same wiring as `grvt-mm backtest`; the
builder travels to them by reference, so it must be a module-level function. `--ray ADDRESS`
runs the points as Ray tasks instead, when the `ray` package is installed.
"""

from __future__ import annotations

import csv
import importlib
import itertools
import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grvtmm.backtest.cli import FORMAT_CHOICES, STRATEGY_CHOICES, parse_sets, symbol_from_name

if TYPE_CHECKING:
    from grvtmm.backtest.runner import BacktestSettings, RunBuilder

RUN_FIELDS = ("latency_ms", "queue", "feed_interval_ms", "maker_fee", "taker_fee")
RESULT_KEYS = (
    "fills", "maker_fills", "taker_fills", "volume_notional", "fees", "pnl_gross", "pnl_net",
    "wear_bps", "end_position", "max_abs_position", "final_mode",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One grid point: its parameters (as given) and the settings they make."""

    index: int
    params: dict[str, str]
    settings: BacktestSettings


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """`name=v1,v2,...` options → {name: values}; errors name the option."""
    from grvtmm.strategy.params import StrategyConfig

    grid: dict[str, list[str]] = {}
    for item in items:
        name, eq, values = item.partition("=")
        name = name.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not name or not vals:
            raise typer.BadParameter(f"{item!r}: expected name=v1,v2,...", param_hint="--grid")
        if name == "strategy" or (
            name not in StrategyConfig.model_fields and name not in RUN_FIELDS
        ):
            raise typer.BadParameter(f"unknown grid field {name!r}", param_hint="--grid")
        if name in grid:
            raise typer.BadParameter(f"{name!r} given twice", param_hint="--grid")
        grid[name] = vals
    return grid


def _run_field(settings: BacktestSettings, name: str, value: str) -> BacktestSettings:
    if name == "queue":
        return replace(settings, queue=value)
    if name in ("maker_fee", "taker_fee"):
        try:
            rate = Decimal(value)
        except InvalidOperation:
            raise typer.BadParameter(f"{name}={value!r} is not a number") from None
        if name == "maker_fee":
            return replace(settings, maker_fee=rate)
        return replace(settings, taker_fee=rate)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise typer.BadParameter(f"{name}={value!r}: expected a non-negative number")
    if name == "latency_ms":
        return replace(settings, latency_ms=number)
    return replace(settings, feed_interval_ms=number)


def expand_grid(
    base: BacktestSettings, grid: dict[str, list[str]], sets: Sequence[str]
) -> list[SweepPoint]:
    """Every combination of the grid applied over `base` (strategy fields validated)."""
    points = []
    names = list(grid)
    strategy = base.strategy.strategy
    for index, combo in enumerate(itertools.product(*(grid[n] for n in names))):
        params = dict(zip(names, combo, strict=True))
        strat_sets = [f"{n}={v}" for n, v in params.items() if n not in RUN_FIELDS]
        config = parse_sets([*sets, *strat_sets], strategy, base.strategy.symbol)
        settings = replace(base, strategy=config)
        for name, value in params.items():
            if name in RUN_FIELDS:
                settings = _run_field(settings, name, value)
        points.append(SweepPoint(index, params, settings))
    return points


def run_point(build: RunBuilder, point: SweepPoint) -> dict[str, Any]:
    """Run one grid point (in a worker); the headline figures, or the error that stopped it."""
    from grvtmm.backtest.data import DataFormatError
    from grvtmm.backtest.runner import BacktestError, run_backtest

    row: dict[str, Any] = {"index": point.index, **point.params}
    try:
        summary = run_backtest(point.settings, build)
    except (BacktestError, DataFormatError) as exc:
        return {**row, "error": str(exc)}
    return {**row, **{k: summary.get(k) for k in RESULT_KEYS}, "error": ""}


def run_local(
    build: RunBuilder, points: Sequence[SweepPoint], processes: int
) -> list[dict[str, Any]]:
    """The points on a pool of spawned worker processes, in grid order."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        return list(pool.map(run_point, itertools.repeat(build), points))


def run_ray(build: RunBuilder, points: Sequence[SweepPoint], address: str) -> list[dict[str, Any]]:
    """The points as Ray tasks on the cluster at `address`, in grid order."""
    try:
        ray: Any = importlib.import_module("ray")
    except ImportError:
        raise RuntimeError("--ray needs the 'ray' package, which is not installed") from None
    ray.init(address=address, ignore_reinit_error=True)
    task = ray.remote(run_point)
    return list(ray.get([task.remote(build, p) for p in points]))


def rank(rows: Sequence[dict[str, Any]], volume_target: float) -> list[dict[str, Any]]:
    """Runs meeting the volume target by wear (lowest first), then the others by volume."""
    for row in rows:
        row["meets_target"] = not row["error"] and (row["volume_notional"] or 0) >= volume_target
    good = sorted((r for r in rows if r["meets_target"]), key=lambda r: (r["wear_bps"], r["index"]))
    rest = sorted(
        (r for r in rows if not r["meets_target"]),
        key=lambda r: (bool(r["error"]), -(r.get("volume_notional") or 0.0), r["index"]),
    )
    return [*good, *rest]


def write_csv(path: Path, ranked: Sequence[dict[str, Any]], names: Sequence[str]) -> None:
    """One row per run, in ranked order."""
    columns = ["rank", "index", *names, "meets_target", *RESULT_KEYS, "error"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for n, row in enumerate(ranked, 1):
            writer.writerow({"rank": n, **row})


def print_ranking(
    console: Console, ranked: Sequence[dict[str, Any]], names: Sequence[str], target: float
) -> None:
    """The ranked table; runs below the volume target (or failed) are marked."""
    table = Table(title=f"sweep · {len(ranked)} runs · volume target {target:,.2f}")
    for col in ("#", *names, "wear bps", "volume", "pnl net", "fees", "fills", "max |pos|", ""):
        table.add_column(col, justify="right" if col not in names else "left")
    for n, r in enumerate(ranked, 1):
        if r["error"]:
            cells = ["", "", "", "", "", "", f"[red]failed: {r['error']}[/red]"]
        else:
            mark = "" if r["meets_target"] else "[yellow]below target[/yellow]"
            cells = [
                f"{r['wear_bps']:.3f}",
                f"{r['volume_notional']:,.2f}",
                f"{r['pnl_net']:,.4f}",
                f"{r['fees']:,.4f}",
                str(r["fills"]),
                str(r["max_abs_position"]),
                mark,
            ]
        table.add_row(str(n), *(str(r[k]) for k in names), *cells)
    console.print(table)


def make_sweep_command(load_build: Callable[[], RunBuilder]) -> Callable[..., None]:
    """The typer command; `load_build()` returns the (module-level) wiring for a simulated run."""

    def sweep_command(
        paths: Annotated[list[Path], typer.Argument(help="data files", metavar="PATH")],
        grid: Annotated[list[str], typer.Option("--grid", help="name=v1,v2,... (repeatable)")],
        fmt: Annotated[str, typer.Option("--format", help="|".join(FORMAT_CHOICES))] = "auto",
        strategy: Annotated[str, typer.Option(help="avellaneda|fixed-spread")] = "avellaneda",
        sets: Annotated[
            list[str] | None, typer.Option("--set", help="fixed strategy field name=value")
        ] = None,
        tick_size: Annotated[str | None, typer.Option(help="price tick")] = None,
        lot_size: Annotated[str | None, typer.Option(help="size step")] = None,
        queue: Annotated[str, typer.Option(help="queue model")] = "risk-averse",
        latency_ms: Annotated[float, typer.Option(help="order latency (ms)", min=0)] = 25.0,
        processes: Annotated[int, typer.Option(help="worker processes", min=1)] = 2,
        ray: Annotated[str | None, typer.Option("--ray", help="Ray cluster address")] = None,
        volume_target: Annotated[
            float, typer.Option(help="minimum quote volume for a run to be ranked", min=0)
        ] = 0.0,
        csv_path: Annotated[Path, typer.Option("--csv", help="write the table here")] = Path(
            "sweep.csv"
        ),
    ) -> None:
        """Run a parameter grid through the backtest in parallel; rank by wear, write a CSV."""
        from grvtmm.backtest.cli import _decimal
        from grvtmm.backtest.runner import BacktestSettings

        if fmt not in FORMAT_CHOICES or strategy not in STRATEGY_CHOICES:
            raise typer.BadParameter(f"format {fmt!r} / strategy {strategy!r} not known")
        base = BacktestSettings(
            paths=tuple(paths),
            strategy=parse_sets(sets or [], strategy, symbol_from_name(paths[0])),
            fmt=fmt,
            tick_size=_decimal(tick_size, "--tick-size", positive=True),
            lot_size=_decimal(lot_size, "--lot-size", positive=True),
            queue=queue,
            latency_ms=latency_ms,
        )
        names = list(parse_grid(grid))
        points = expand_grid(base, parse_grid(grid), sets or [])
        console = Console()
        build = load_build()
        try:
            rows = run_ray(build, points, ray) if ray else run_local(build, points, processes)
        except RuntimeError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        ranked = rank(rows, volume_target)
        print_ranking(console, ranked, names, volume_target)
        write_csv(csv_path, ranked, names)
        console.print(f"CSV written to {csv_path}")

    return sweep_command
