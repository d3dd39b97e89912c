"""The standard template in both languages, and coalescing into one Telegram-sized message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grvtmm.alerts.notifier import Alert, Level
from grvtmm.alerts.templates import (
    MAX_MESSAGE_CHARS,
    fmt_duration,
    fmt_money,
    fmt_num,
    fmt_time,
    render_alert,
    render_batch,
)

TS_NS = 1_717_243_200_000_000_000  # 2024-06-01 12:00:00 UTC


def breaker_alert(detail: str = "equity 90 below peak 100") -> Alert:
    return Alert(
        level=Level.CRITICAL,
        event="breaker",
        title="breaker_tripped",
        details=(("breaker", "drawdown"), ("value", "0.1"), ("limit", "0.05"), ("detail", detail)),
        ts_ns=TS_NS,
        symbol="BNB_USDT_Perp",
        mode="halting",
    )


def test_english_template_has_level_event_symbol_mode_time_and_details() -> None:
    lines = render_alert(breaker_alert(), "en").splitlines()
    assert lines[0] == "🚨 CRITICAL · Breaker tripped"
    assert lines[1] == "Symbol: BNB_USDT_Perp · Mode: halting"
    assert lines[2] == "Time: 2024-06-01 12:00:00 UTC"
    assert lines[3:] == [
        "Breaker: drawdown",
        "Value: 0.1",
        "Limit: 0.05",
        "Detail: equity 90 below peak 100",
    ]


def test_chinese_template_translates_level_title_labels_mode_and_values() -> None:
    fill = Alert(
        level=Level.INFO,
        event="fill",
        title="large_fill",
        details=(("side", "buy"), ("role", "maker"), ("notional", "1,234.50")),
        ts_ns=TS_NS,
        symbol="BNB_USDT_Perp",
        mode="running",
    )
    lines = render_alert(fill, "zh").splitlines()
    assert lines[0] == "ℹ️ 信息 · 大额成交"
    assert lines[1] == "交易对: BNB_USDT_Perp · 模式: 运行中"
    assert lines[2] == "时间: 2024-06-01 12:00:00 UTC"
    assert lines[3:] == ["方向: 买入", "角色: 挂单", "名义价值: 1,234.50"]
    warn = render_alert(
        Alert(Level.WARN, "warning", "engine_warning", (), TS_NS, "X", "paused"), "zh"
    )
    assert warn.splitlines()[0] == "⚠️ 警告 · 引擎警告"
    change = Alert(
        Level.INFO,
        "mode",
        "mode_changed",
        (("from", "running"), ("to", "paused")),
        TS_NS,
        "X",
        "paused",
    )
    assert render_alert(change, "zh").splitlines()[3:] == ["原模式: 运行中", "新模式: 已暂停"]


@pytest.mark.parametrize(
    ("language", "head", "orders"),
    [
        ("en", "🚨 CRITICAL · Shutdown left exposure open", "Open orders: 2"),
        ("zh", "停机时仍有敞口", "未成交挂单: 2"),
    ],
)
def test_shutdown_incomplete_alert_reads_as_words(language: str, head: str, orders: str) -> None:
    alert = Alert(
        level=Level.CRITICAL,
        event="flatten",
        title="shutdown_incomplete",
        details=(("position", "0.5"), ("open_orders", "2")),
        ts_ns=TS_NS,
        symbol="BNB_USDT_Perp",
        mode="stopping",
    )
    lines = render_alert(alert, language).splitlines()
    assert head in lines[0] and orders in lines


def test_unknown_language_falls_back_to_english() -> None:
    assert render_alert(breaker_alert(), "fr") == render_alert(breaker_alert(), "en")


def test_batch_of_several_alerts_has_a_count_header_and_every_alert() -> None:
    alerts = [breaker_alert(f"detail {i}") for i in range(5)]
    body, used = render_batch(alerts, "en")
    assert used == 5
    assert body.splitlines()[0] == "5 alerts"
    assert all(f"detail {i}" in body for i in range(5))
    zh_body, _ = render_batch(alerts, "zh")
    assert zh_body.splitlines()[0] == "5 条告警"


def test_batch_stops_at_the_message_limit_and_reports_how_many_fit() -> None:
    alerts = [breaker_alert("x" * 1500 + f" #{i}") for i in range(10)]
    body, used = render_batch(alerts, "en")
    assert 1 < used < 10
    assert len(body) <= MAX_MESSAGE_CHARS
    assert body.splitlines()[0] == f"{used} alerts"
    assert f" #{used - 1}" in body and f" #{used}" not in body


@given(
    details=st.lists(st.text(min_size=0, max_size=3000), min_size=1, max_size=12),
    language=st.sampled_from(["en", "zh"]),
)
def test_batch_always_fits_and_always_makes_progress(details: list[str], language: str) -> None:
    alerts = [breaker_alert(d) for d in details]
    body, used = render_batch(alerts, language)
    assert 1 <= used <= len(alerts)
    assert 0 < len(body) <= MAX_MESSAGE_CHARS


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0h 00m 00s"), (3723.9, "1h 02m 03s"), (2 * 86_400 + 3600, "2d 01h 00m"), (None, "n/a")],
)
def test_durations(seconds: float | None, expected: str) -> None:
    assert fmt_duration(seconds) == expected


def test_numbers_money_and_time() -> None:
    assert fmt_num(0.123456789) == "0.123457"
    assert fmt_num(float("nan")) == "n/a"
    assert fmt_money(-1234.567) == "-1,234.57"
    assert fmt_money(None) == "n/a"
    assert fmt_time(0) == "1970-01-01 00:00:00 UTC"
