"""The standard alert template in English and 中文: level, event, symbol, mode, time, details.

Messages are plain text (no parse mode), so no value from the engine or the venue can break the
markup or be rejected by Telegram for it. A message is at most `MAX_MESSAGE_CHARS` long.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grvtmm.alerts.notifier import Alert

MAX_MESSAGE_CHARS = 4096
"""Telegram's limit for one message's text."""
LANGUAGES = ("en", "zh")

ICONS = {"INFO": "ℹ️", "WARN": "⚠️", "CRITICAL": "🚨"}
LEVELS = {
    "en": {"INFO": "INFO", "WARN": "WARN", "CRITICAL": "CRITICAL"},
    "zh": {"INFO": "信息", "WARN": "警告", "CRITICAL": "严重"},
}

TITLES = {
    "en": {
        "engine_started": "Engine started",
        "engine_stopped": "Engine stopped",
        "mode_changed": "Mode changed",
        "halting": "Halting",
        "halted": "Halted",
        "breaker_tripped": "Breaker tripped",
        "flatten_retrying": "Flatten retrying",
        "flatten_done": "Flatten done",
        "large_fill": "Large fill",
        "venue_disconnected": "Venue disconnected",
        "venue_reconnected": "Venue reconnected",
        "book_lost": "Order book stream lost (quoting from the ticker)",
        "book_restored": "Order book stream restored",
        "auth_failed": "Venue authentication failed",
        "store_failed": "Store write failed",
        "shutdown_incomplete": "Shutdown left exposure open",
        "engine_warning": "Engine warning",
        "heartbeat": "Heartbeat",
        "status": "Status",
        "pnl": "PnL",
        "test": "Test message",
    },
    "zh": {
        "engine_started": "引擎已启动",
        "engine_stopped": "引擎已停止",
        "mode_changed": "模式变更",
        "halting": "紧急停机中",
        "halted": "已紧急停机",
        "breaker_tripped": "熔断触发",
        "flatten_retrying": "平仓重试",
        "flatten_done": "平仓完成",
        "large_fill": "大额成交",
        "venue_disconnected": "交易所连接断开",
        "venue_reconnected": "交易所已重连",
        "book_lost": "订单簿数据流中断（改用行情快照报价）",
        "book_restored": "订单簿数据流已恢复",
        "auth_failed": "交易所认证失败",
        "store_failed": "数据库写入失败",
        "shutdown_incomplete": "停机时仍有敞口",
        "engine_warning": "引擎警告",
        "heartbeat": "心跳汇总",
        "status": "状态",
        "pnl": "盈亏",
        "test": "测试消息",
    },
}

LABELS = {
    "en": {
        "symbol": "Symbol",
        "mode": "Mode",
        "time": "Time",
        "reason": "Reason",
        "from": "From",
        "to": "To",
        "breaker": "Breaker",
        "value": "Value",
        "limit": "Limit",
        "detail": "Detail",
        "phase": "Phase",
        "attempt": "Attempt",
        "attempts": "Attempts",
        "position": "Position",
        "open_orders": "Open orders",
        "dust": "Dust",
        "side": "Side",
        "price": "Price",
        "size": "Size",
        "notional": "Notional",
        "role": "Role",
        "fee": "Fee",
        "down_s": "Down for (s)",
        "code": "Code",
        "repeated": "Repeats folded in",
        "runtime": "Runtime",
        "equity": "Equity",
        "inventory": "Inventory notional",
        "session_volume": "Session volume",
        "pnl_total": "PnL (session)",
        "pnl_today": "PnL (today)",
        "fees": "Fees (net)",
        "rebates": "Rebates",
        "wear": "Wear (per 10k)",
        "fills": "Fills (session)",
        "fills_period": "Fills (this period)",
        "alerts": "Alerts",
    },
    "zh": {
        "symbol": "交易对",
        "mode": "模式",
        "time": "时间",
        "reason": "原因",
        "from": "原模式",
        "to": "新模式",
        "breaker": "熔断器",
        "value": "当前值",
        "limit": "阈值",
        "detail": "详情",
        "phase": "阶段",
        "attempt": "第几次",
        "attempts": "尝试次数",
        "position": "持仓",
        "open_orders": "未成交挂单",
        "dust": "残余(dust)",
        "side": "方向",
        "price": "价格",
        "size": "数量",
        "notional": "名义价值",
        "role": "角色",
        "fee": "手续费",
        "down_s": "断开时长（秒）",
        "code": "代码",
        "repeated": "期间重复次数",
        "runtime": "运行时长",
        "equity": "权益",
        "inventory": "持仓名义价值",
        "session_volume": "本次成交额",
        "pnl_total": "本次盈亏",
        "pnl_today": "今日盈亏",
        "fees": "手续费（净）",
        "rebates": "返佣",
        "wear": "磨损（万分之）",
        "fills": "本次成交笔数",
        "fills_period": "本期成交笔数",
        "alerts": "告警",
    },
}

MODES_ZH = {
    "idle": "空闲",
    "reconciling": "对账中",
    "running": "运行中",
    "paused": "已暂停",
    "stopping": "停止中",
    "halting": "紧急停机中",
    "flattening": "平仓中",
    "stopped": "已停止",
    "halted": "已紧急停机",
}
VALUES_ZH = {"buy": "买入", "sell": "卖出", "maker": "挂单", "taker": "吃单"}

TEXTS = {
    "en": {
        "help": (
            "Commands: /status /pnl /pause /resume /stop /halt. "
            "/stop and /halt ask for confirmation first."
        ),
        "confirm_stop": (
            "Stop the engine: cancel all orders and flatten the position? "
            "Send /stop confirm (or reply: confirm) within {window_s} s."
        ),
        "confirm_halt": (
            "HALT: cancel all orders, flatten and lock until someone starts it again? "
            "Send /halt confirm (or reply: confirm) within {window_s} s."
        ),
        "requested_pause": "Pause requested: quotes are being cancelled.",
        "requested_resume": "Resume requested.",
        "requested_stop": "Stop requested: cancelling and flattening.",
        "requested_halt": "Halt requested: cancelling, flattening and locking.",
        "nothing_to_confirm": "Nothing to confirm (no request in the last {window_s} s).",
        "unknown": "Unknown command. {help}",
        "test": "Telegram alerts are working.",
        "batch": "{count} alerts",
        "conflict": "another process polls this bot token: commands may go to it",
    },
    "zh": {
        "help": "命令：/status /pnl /pause /resume /stop /halt。/stop 和 /halt 需要先确认。",
        "confirm_stop": (
            "停止引擎：撤销全部挂单并平仓？请在 {window_s} 秒内发送 /stop confirm（或回复 确认）。"
        ),
        "confirm_halt": (
            "紧急停机：撤销全部挂单、平仓并锁定，直到有人重新启动？"
            "请在 {window_s} 秒内发送 /halt confirm（或回复 确认）。"
        ),
        "requested_pause": "已请求暂停：正在撤销报价。",
        "requested_resume": "已请求恢复。",
        "requested_stop": "已请求停止：正在撤单并平仓。",
        "requested_halt": "已请求紧急停机：正在撤单、平仓并锁定。",
        "nothing_to_confirm": "没有需要确认的请求（{window_s} 秒内无请求）。",
        "unknown": "未知命令。{help}",
        "test": "Telegram 告警工作正常。",
        "batch": "{count} 条告警",
        "conflict": "另一个进程正在使用同一个机器人令牌接收消息：命令可能被它接收",
    },
}


def lang_of(language: str) -> str:
    return language if language in LANGUAGES else "en"


def text(language: str, key: str, **fields: object) -> str:
    """A fixed reply in `language` with `fields` filled in."""
    return TEXTS[lang_of(language)][key].format(**fields)


def fmt_num(value: float | None) -> str:
    """A number for a message: up to 6 significant digits; n/a when unknown."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.6g}"


def fmt_money(value: float | None) -> str:
    """An amount in quote currency with 2 decimals and thousands separators; n/a when unknown."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.2f}"


def fmt_duration(seconds: float | None) -> str:
    """`1h 02m 03s` (days as `2d 01h 00m`); n/a when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "n/a"
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    return f"{hours}h {minutes:02d}m {secs:02d}s"


def fmt_time(ts_ns: int) -> str:
    """UTC wall time of `ts_ns`, to the second."""
    moment = datetime.fromtimestamp(ts_ns / 1e9, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _mode(language: str, mode: str) -> str:
    return MODES_ZH.get(mode, mode) if language == "zh" else mode


def render_card(
    language: str,
    head: str,
    symbol: str,
    mode: str,
    ts_ns: int,
    rows: Iterable[tuple[str, str]],
) -> str:
    """Head line, then symbol · mode, time and one `Label: value` line per row."""
    lang = lang_of(language)
    labels = LABELS[lang]
    values = {**VALUES_ZH, **MODES_ZH} if lang == "zh" else {}
    lines = [
        head,
        f"{labels['symbol']}: {symbol} · {labels['mode']}: {_mode(lang, mode)}",
        f"{labels['time']}: {fmt_time(ts_ns)}",
    ]
    for key, value in rows:
        lines.append(f"{labels.get(key, key)}: {values.get(value, value)}")
    return "\n".join(lines)


def render_alert(alert: Alert, language: str) -> str:
    """One alert in the standard template."""
    lang = lang_of(language)
    level = alert.level.value
    title = TITLES[lang].get(alert.title, alert.title)
    head = f"{ICONS[level]} {LEVELS[lang][level]} · {title}"
    return render_card(lang, head, alert.symbol, alert.mode, alert.ts_ns, alert.details)


def render_batch(
    alerts: Sequence[Alert], language: str, max_chars: int = MAX_MESSAGE_CHARS
) -> tuple[str, int]:
    """As many of `alerts` (in order, at least one) as fit in one message, and how many."""
    parts = [render_alert(a, language) for a in alerts]
    if len(parts) == 1:
        return parts[0][:max_chars], 1
    header = text(language, "batch", count=len(parts))
    used = 0
    size = len(header)
    for part in parts:
        if used and size + 2 + len(part) > max_chars:
            break
        size += 2 + len(part)
        used += 1
    if used == 1 and size > max_chars:
        return parts[0][:max_chars], 1
    if used < len(parts):
        header = text(language, "batch", count=used)
    body = "\n\n".join([header, *parts[:used]])
    return body[:max_chars], used
