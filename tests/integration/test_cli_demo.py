"""`grvt-mm demo --duration S --speed max|N --seed N --json PATH`, run through the real command
line: the summary table, the shared summary JSON shape (design §3a), determinism, pacing and
argument errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from grvtmm.__main__ import app
from grvtmm.core.clock import NS_PER_S, perf_ns

COUNTS = ("fills", "buy_fills", "sell_fills", "maker_fills", "taker_fills", "requotes", "rejects")
FIGURES = (
    "volume_notional",
    "fees",
    "pnl_gross",
    "pnl_net",
    "wear_bps",
    "end_position",
    "max_abs_position",
    "max_abs_inventory_notional",
    "loop_seconds",
    "events_per_second",
)
SUMMARY_KEYS = frozenset((*COUNTS, *FIGURES, "events", "settings"))
TIMING = ("loop_seconds", "events_per_second")
GRVT_MM = Path(sys.executable).with_name("grvt-mm")


def demo(tmp_path: Path, *args: str, name: str = "summary.json") -> tuple[str, dict[str, Any]]:
    """Run `grvt-mm demo ARGS --json PATH`; stdout and the written summary."""
    out = tmp_path / name
    result = CliRunner().invoke(app, ["demo", *args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(out.read_text())
    return result.stdout, summary


def test_demo_prints_the_table_and_writes_the_shared_summary_shape(tmp_path: Path) -> None:
    stdout, s = demo(tmp_path, "--duration", "120", "--speed", "max", "--seed", "5")
    # the table on stdout
    for label in ("demo · BNB_USDT_Perp · seed 5", "fills", "buy / sell", "maker / taker"):
        assert label in stdout
    for label in ("PnL net", "wear (bps of volume)", "end position", "final mode", "stopped"):
        assert label in stdout
    squeezed = "".join(stdout.split())  # the console may wrap a long path
    assert f"summarywrittento{tmp_path / 'summary.json'}" in squeezed
    # every key design §3a lists, with sane types
    assert s.keys() >= SUMMARY_KEYS, sorted(SUMMARY_KEYS - s.keys())
    for key in (*COUNTS, "events"):
        assert type(s[key]) is int and s[key] >= 0, key
    for key in FIGURES:
        assert isinstance(s[key], int | float) and math.isfinite(s[key]), key
    assert s["fills"] > 0 and s["events"] > 0 and s["loop_seconds"] > 0
    # the counts add up
    assert s["fills"] == s["buy_fills"] + s["sell_fills"] == s["maker_fills"] + s["taker_fills"]
    # the closing flatten leaves nothing; the extremes are consistent with trading having happened
    assert s["end_position"] == 0 and s["final_mode"] == "stopped"
    assert s["max_abs_position"] > 0 and s["max_abs_inventory_notional"] > 0
    assert s["volume_notional"] > 0
    # the money figures agree with each other
    assert s["pnl_net"] == pytest.approx(s["pnl_gross"] - s["fees"], abs=1e-9)
    assert s["wear_bps"] == pytest.approx(-s["pnl_net"] / s["volume_notional"] * 1e4, rel=1e-9)
    assert s["events_per_second"] == pytest.approx(s["events"] / s["loop_seconds"], rel=1e-9)
    # the run's settings
    settings = s["settings"]
    assert settings["mode"] == "demo" and settings["symbol"] == "BNB_USDT_Perp"
    assert settings["duration_s"] == 120 and settings["speed"] == "max" and settings["seed"] == 5
    assert isinstance(settings["strategy"], dict) and settings["strategy"]["strategy"]


def test_same_seed_gives_the_same_json_except_timing(tmp_path: Path) -> None:
    args = ("--duration", "90", "--speed", "max", "--seed", "11")
    _, a = demo(tmp_path, *args, name="a.json")
    _, b = demo(tmp_path, *args, name="b.json")
    _, c = demo(tmp_path, "--duration", "90", "--speed", "max", "--seed", "12", name="c.json")
    for summary in (a, b, c):
        for key in TIMING:
            assert summary.pop(key) > 0
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["fills"] > 0
    traded = [{k: v for k, v in x.items() if k != "settings"} for x in (a, c)]
    assert traded[0] != traded[1], "another seed must trade another market"


def test_real_time_factor_paces_the_run(tmp_path: Path) -> None:
    started = perf_ns()
    _, paced = demo(tmp_path, "--duration", "20", "--speed", "50", "--seed", "3")
    elapsed_s = (perf_ns() - started) / NS_PER_S
    expected_s = paced["sim_seconds"] / 50  # 20 s of market (+ the closing flatten) at 50×
    assert paced["settings"]["speed"] == 50
    assert paced["sim_seconds"] >= 20 and paced["end_position"] == 0
    assert elapsed_s >= expected_s - 0.05 and paced["loop_seconds"] >= expected_s - 0.05
    assert elapsed_s < expected_s + 20  # finishes; generous for a loaded machine
    # as fast as possible, the same run is far quicker than its paced wall time
    _, flat_out = demo(tmp_path, "--duration", "20", "--speed", "max", "--seed", "3", name="m.json")
    assert flat_out["loop_seconds"] < paced["loop_seconds"]
    assert flat_out["fills"] == paced["fills"]  # pacing does not change what happens


@pytest.mark.parametrize("speed", ["abc", "0", "-5", "nan", "inf"])
def test_invalid_speed_is_a_usage_error(tmp_path: Path, speed: str) -> None:
    out = tmp_path / "never.json"
    result = CliRunner().invoke(
        app, ["demo", "--duration", "5", "--speed", speed, "--json", str(out)]
    )
    assert result.exit_code == 2
    assert "Invalid value" in result.stderr
    assert "max" in result.stderr or "positive" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_installed_command_runs_the_demo_and_rejects_a_bad_speed(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    done = subprocess.run(
        [
            str(GRVT_MM),
            "demo",
            "--duration",
            "30",
            "--speed",
            "max",
            "--seed",
            "2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "end position" in done.stdout and "summary written to" in done.stdout
    summary = json.loads(out.read_text())
    assert summary.keys() >= SUMMARY_KEYS and summary["end_position"] == 0
    bad = subprocess.run(
        [str(GRVT_MM), "demo", "--duration", "5", "--speed", "abc"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "use 'max' or a positive real-time factor" in bad.stderr
    assert "Traceback" not in bad.stderr
